"""Where things are in the checkout (operations code runs from a checkout, never from the
wheel)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
#: first-party plugins (library service integrations), published with the examples
FIRST_PARTY = ROOT / "plugins"
KOHA_BRIDGE = ROOT / "koha-bridge"
MONITORING = ROOT / "monitoring"
INFRA = ROOT / "infra"
PLAYBOOKS = ROOT / "playbooks"


def published_plugins(root: Path = ROOT) -> list[Path]:
    """The plugin folders every environment and release publishes: the examples and the
    first-party plugins."""
    return sorted((p for d in (root / "examples", root / "plugins") if d.is_dir()
                   for p in d.iterdir() if (p / "plugin.toml").exists()),
                  key=lambda p: p.name)

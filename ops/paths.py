"""Where things are in the checkout (operations code runs from a checkout, never from the
wheel)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MONITORING = ROOT / "monitoring"
INFRA = ROOT / "infra"
PLAYBOOKS = ROOT / "playbooks"

"""How the registry's rows read as JSON, and small facts derived from them, shared by the
publishing, catalogue and marketplace services."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..manifest import Manifest, parse_manifest
from ..versions import parse_range
from .db import Release


def valid_range(text: str) -> bool:
    try:
        parse_range(text)
    except ValueError:
        return False
    return True


def package_file(r: Release) -> str:
    """The package's file name (its storage key is ``…/<sha256>.<file name>``)."""
    return stored_file(r.path)


def stored_file(key: str) -> str:
    """The file name in a package's storage key ``…/<sha256>.<file name>``."""
    return Path(key).name.split(".", 1)[1]


def aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def manifest_of(release: Release) -> Manifest:
    return parse_manifest(release.manifest)


def _size(n: int) -> str:
    return f"{n // 1024**2} MiB" if n >= 1024**2 else f"{n // 1024} KiB"


def asks_for(m: Manifest) -> list[str]:
    """What a release asks of the host that installs it, in plain words (the plugin page
    shows these before anyone installs it)."""
    from urllib.parse import urlsplit

    from ..koha import EVENTS, SLOTS

    p, out = m.permissions, []
    if p.network:
        out.append("Connects to " + ", ".join(p.network) + " (nothing else on the network)")
    for name, up in sorted(m.upstreams.items()):
        who = urlsplit(up.url).hostname
        creds = (", with credentials the host holds (the plugin never sees them)"
                 if up.auth.type != "none" else "")
        out.append(f"Calls the library service {name} at {who} through the host{creds}")
    if p.secrets:
        out.append("Reads secrets the library sets for it: " + ", ".join(p.secrets))
    for event in p.hooks:
        out.append(f"Is told when {EVENTS[event][0]}" if event in EVENTS
                   else f"Is told of {event}")
    for c in m.ui.components:
        out.append(f"Adds a component to Koha's pages: {SLOTS.get(c.slot, c.slot)}")
    if m.backend is not None:
        r = m.resources
        out.append(f"Keeps up to {_size(p.kv_quota)} of its own data; runs sandboxed with "
                   f"{_size(r.memory)} of memory, {r.timeout_ms / 1000:g} s per call, "
                   + (f"{r.workers} worker{'s' if r.workers > 1 else ''}"
                      if r.most_workers == r.workers
                      else f"{r.workers} to {r.most_workers} workers (more under load)"))
    return out


def release_view(r: Release) -> dict[str, Any]:
    return {"plugin": r.plugin, "version": r.version, "state": r.state, "yanked": r.yanked,
            "sha256": r.sha256, "size": r.size, "signer": r.signer, "host_api": r.host_api,
            "dependencies": r.dependencies, "checks": r.checks, "downloads": r.downloads,
            "published_at": aware(r.published_at).isoformat(),
            "asks_for": asks_for(manifest_of(r))}

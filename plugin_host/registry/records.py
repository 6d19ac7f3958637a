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
    return Path(r.path).name.split(".", 1)[1]


def aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def manifest_of(release: Release) -> Manifest:
    return parse_manifest(release.manifest)


def release_view(r: Release) -> dict[str, Any]:
    return {"plugin": r.plugin, "version": r.version, "state": r.state, "yanked": r.yanked,
            "sha256": r.sha256, "size": r.size, "signer": r.signer, "host_api": r.host_api,
            "dependencies": r.dependencies, "checks": r.checks, "downloads": r.downloads,
            "published_at": aware(r.published_at).isoformat()}

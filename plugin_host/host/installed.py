"""An installed plugin as the host serves it: its manifest, code, state and running
backend (mirrors its database rows)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..manifest import Manifest
from ..runtime import PluginRuntime


@dataclass
class Installed:
    manifest: Manifest
    code_dir: Path
    enabled: bool
    config: dict[str, Any]
    signer: str | None
    sha256: str
    previous_version: str | None = None
    integrity: dict[str, str] = field(default_factory=dict)  # ui module → sha384-…
    runtime: PluginRuntime | None = None
    error: str | None = None

    @property
    def effective_config(self) -> dict[str, Any]:
        """What the plugin sees as ``ctx.config``: its defaults (``[config]``) under what
        was set (``config``, as given: the fleet compares it with the declared one)."""
        return {**self.manifest.default_config(), **self.config}

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def state(self) -> str:
        if not self.enabled:
            return "disabled"
        if self.error:
            return "failed"
        if self.runtime is not None and self.runtime.crash_looping:
            return "crash-looping"
        return "enabled"

    def ui_components(self) -> list[dict[str, Any]]:
        return [{"slot": c.slot, "module": c.module, "export": c.export,
                 "integrity": self.integrity[c.module]} for c in self.manifest.ui.components]


def sri(data: bytes) -> str:
    """A Subresource Integrity value (sha384) for a UI bundle."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def integrity(manifest: Manifest, code_dir: Path) -> dict[str, str]:
    """SRI hashes of a plugin's UI component bundles, by module path."""
    return {c.module: sri((code_dir / c.module).read_bytes())
            for c in manifest.ui.components}

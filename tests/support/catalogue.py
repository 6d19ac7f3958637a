"""A small catalogue to publish on a registry: a chain of dependencies."""

from __future__ import annotations

from pathlib import Path

from .plugins import variant
from .servers import RegistryProc, publish_and_approve

CHAIN = [("base-lib", "2.0.0", {}),
         ("marc-utils", "2.1.0", {"base-lib": "^2"}),
         ("hello-world", "1.1.0", {"marc-utils": "^2.1"})]


def publish_chain(reg: RegistryProc, tmp: Path, key: Path) -> None:
    """base-lib 2.0.0 ← marc-utils 2.1.0 ← hello-world 1.1.0, each approved."""
    for name, version, deps in CHAIN:
        publish_and_approve(reg, variant(tmp, name, version, deps, key))

"""invoke collections, one module each; the root ``tasks.py`` composes them.

``./dev --list`` shows every task; ``./dev TASK --help`` shows its options.
"""

from __future__ import annotations

from pathlib import Path

from ..paths import ROOT


def state_dir(c) -> Path:
    """Where environments, keys and deploy logs live (``dev.state_dir``, git-ignored)."""
    return ROOT / c.config.dev.state_dir

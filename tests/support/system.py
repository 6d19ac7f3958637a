"""System components the tests need: in CI (``CI=true``) a missing one fails the test,
elsewhere it skips it, saying how to install it."""

from __future__ import annotations

import os
import shutil

import pytest


def require(ok: bool, what: str) -> None:
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI must run this test)")
    pytest.skip(what)


def require_tool(tool: str, install: str) -> str:
    """The tool's path, or fail (CI) / skip naming ``install``."""
    path = shutil.which(tool)
    require(path is not None, f"{tool} is not installed ({install})")
    return path

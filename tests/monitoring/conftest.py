"""Monitoring tests use the real promtool, amtool, Prometheus and Alertmanager."""

from __future__ import annotations

import os
import shutil

import pytest

from ops.paths import MONITORING, ROOT  # noqa: F401  (used by the test modules)


def require(tool: str) -> str:
    """The tool's path; a missing tool fails in CI and skips elsewhere."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (apt-get install prometheus prometheus-alertmanager)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path

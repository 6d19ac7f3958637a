"""Real deploy targets: three Debian 12 containers running sshd (Docker, from a base image
built once with debootstrap), and a real build of this repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from plugin_host import __version__

from ..support.paths import ROOT
from ..support.system import require


@pytest.fixture(scope="session")
def broken_build(wheelhouse, tmp_path_factory) -> tuple[Path, str]:
    """A wheelhouse holding a release whose `plugin-host serve` exits at once."""
    tmp = tmp_path_factory.mktemp("broken")
    src = tmp / "src"
    shutil.copytree(ROOT / "plugin_host", src / "plugin_host",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / f, src / f)
    version = f"{__version__}+broken"
    init = src / "plugin_host" / "__init__.py"
    init.write_text(init.read_text().replace(f'__version__ = "{__version__}"',
                                             f'__version__ = "{version}"'))
    cli = src / "plugin_host" / "cli.py"
    cli.write_text(cli.read_text().replace(
        '    """Run the plugin host (settings also from PLUGIN_HOST_* variables)."""',
        '    """Run the plugin host (settings also from PLUGIN_HOST_* variables)."""\n'
        '    raise SystemExit("this build cannot start")'))
    broken = tmp / "wheelhouse"
    shutil.copytree(wheelhouse, broken)
    for w in broken.glob("koha_plugin_host-*.whl"):
        w.unlink()
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(broken),
                    str(src)], check=True, capture_output=True)
    return broken, version


@pytest.fixture(scope="session")
def testhosts(tmp_path_factory):
    """Three fresh containers and the `test` inventory; removed afterwards."""
    from ops.containers import docker_ready, ensure_dockerd
    from ops.deploy import testhosts_down, testhosts_up

    require(shutil.which("dockerd") is not None or docker_ready(),
            "Docker is not installed (apt-get install docker.io)")
    require(os.geteuid() == 0 or docker_ready(), "dockerd is not running and needs root")
    ensure_dockerd()
    inventory = testhosts_up(tmp_path_factory.mktemp("state"), 3, log=lambda m: None)
    yield inventory
    testhosts_down()

"""The authoring guide's commands, run as written (every ```sh block, in order)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ops.processes import free_port, open_for_workers

from .support.paths import ROOT


def sh_blocks(doc: Path) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", doc.read_text(), flags=re.S)


def test_authoring_guide_runs_as_written(tmp_path):
    open_for_workers(tmp_path)  # a root host runs plugin workers as another uid
    blocks = sh_blocks(ROOT / "docs" / "plugins" / "authoring.md")
    assert len(blocks) >= 6
    script = "set -eu\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + "\n".join(blocks)
    env = {**os.environ, "HOME": str(tmp_path), "PORT": str(free_port()),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    r = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=180)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr + (tmp_path / "host.log").read_text()
    assert "install: 201" in out
    assert '{"message":"Hello Ada from shelf-check"}' in out
    assert '{"counter":1}' in out
    assert '"result":{"seen":42}' in out
    assert '"integrity":"sha384-' in out
    assert "upgrade: 200" in out
    assert '{"message":"Welcome Ada from shelf-check"}' in out
    assert '{"counter":2}' in out
    assert '"uninstalled":"shelf-check"' in out
    assert out.count("4 passed") == 2  # the tests in process and on a real host, twice

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
           "RPORT": str(free_port()), "XDG_CONFIG_HOME": str(tmp_path / ".config"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for var in ("PLUGIN_REGISTRY_URL", "PLUGIN_REGISTRY_TOKEN", "PLUGIN_HOST_URL",
                "PLUGIN_HOST_ADMIN_TOKEN"):
        env.pop(var, None)
    r = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    out = r.stdout
    logs = "".join(p.read_text() for p in tmp_path.glob("*.log")) + "".join(
        p.read_text() for p in tmp_path.glob("shelf-check/*.log"))
    assert r.returncode == 0, out + r.stderr + logs[-5000:]
    # the dev loop: served, a save switched to, an event delivered
    assert '{"message":"Hi Ada from shelf-check"}' in out
    assert out.count("4 passed") == 2  # the tests in process and on a real host, twice
    # publish, review, install by name, call
    assert "key: 201" in out and "published shelf-check 0.1.0: in review" in out
    assert "shelf-check 0.1.0: approved" in out
    assert "installed shelf-check 0.1.0" in out
    assert '{"message":"Hello Ada from shelf-check"}' in out
    assert '{"counter":1}' in out
    assert 'shelf-check 0.1.0: ok {"seen":42}' in out
    assert '"integrity":"sha384-' in out
    # a new version from the registry, live
    assert "upgraded shelf-check 0.1.0 → 0.2.0" in out
    assert '{"message":"Welcome Ada from shelf-check"}' in out
    assert '{"counter":2}' in out
    assert "uninstalled shelf-check (its data kept)" in out

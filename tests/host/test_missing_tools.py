"""A machine without the sandbox's tools: the host names what is missing and the package
that brings it, gives workers the layers it still can, and a host that requires a layer
it cannot give refuses plugins with that reason instead of running them with less.

The machine is real; only the tool is missing from the host's PATH (a folder linking
every other program of /usr/bin and /bin), as on a server where the package was never
installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="only a root host switches uid")


def path_without(tmp_path: Path, *missing: str) -> str:
    """A PATH with every program of /usr/bin and /bin but ``missing``."""
    folder = tmp_path / f"bin-without-{'-'.join(missing)}"
    folder.mkdir()
    for d in ("/usr/bin", "/bin"):
        for p in Path(d).iterdir():
            if p.name not in missing and not (folder / p.name).exists():
                (folder / p.name).symlink_to(p)
    return str(folder)


def sandbox_report(path: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "plugin_host.cli", "sandbox", "--json"],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PATH": path})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_without_bubblewrap_workers_get_landlock_and_the_reason_is_named(tmp_path):
    report = sandbox_report(path_without(tmp_path, "bwrap"))
    assert report["machine"]["bubblewrap"] == {
        "available": False, "reason": "bwrap is not installed (apt-get install bubblewrap)"}
    assert report["machine"]["landlock"]["available"] is True
    assert "landlock" in report["layers"] and "bubblewrap" not in report["layers"]


def test_a_host_that_requires_bubblewrap_refuses_plugins_without_it(tmp_path, host_factory,
                                                                     packages):
    host = host_factory(env={"PATH": path_without(tmp_path, "bwrap")},
                        extra_args=["--sandbox-require", "bubblewrap"])
    r = host.install(packages["hello-world"])
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "sandbox_unavailable"
    assert "requires sandbox layer(s) bubblewrap, which it cannot provide" in err["message"]
    assert "bwrap is not installed (apt-get install bubblewrap)" in err["message"]
    assert host.installed() == []


@ROOT_ONLY
def test_a_root_host_without_setpriv_runs_no_worker_as_root(tmp_path, host_factory,
                                                            packages):
    """setpriv is how a root host drops workers to their own uid: without it no optional
    layer is offered, and a plugin is refused rather than run as root."""
    path = path_without(tmp_path, "setpriv")
    reason = "setpriv is not installed (apt-get install util-linux)"
    report = sandbox_report(path)
    assert {layer: v["reason"] for layer, v in report["machine"].items()} == dict.fromkeys(
        ("bubblewrap", "seccomp", "landlock", "cgroups"), reason)
    host = host_factory(env={"PATH": path})
    r = host.install(packages["hello-world"])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"] == (
        f"hello-world: workers cannot run unprivileged on this host: {reason}")
    assert host.installed() == []

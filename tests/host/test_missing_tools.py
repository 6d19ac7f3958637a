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


def test_a_bubblewrap_that_cannot_make_namespaces_is_named(tmp_path):
    """As in a container that forbids user namespaces: bwrap is there but fails (here a
    stand-in bwrap that fails as the real one does there); its own words are shown."""
    from ops.processes import open_for_workers

    open_for_workers(tmp_path)  # a root host probes it as the workers' user
    path = path_without(tmp_path, "bwrap")
    fake = Path(path) / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace, "
                    "likely because the kernel does not allow non-privileged user "
                    "namespaces' >&2\nexit 1\n")
    fake.chmod(0o755)
    report = sandbox_report(path)
    reason = report["machine"]["bubblewrap"]["reason"]
    assert reason.startswith("bwrap cannot create namespaces here: bwrap: No permissions"), \
        reason
    assert "landlock" in report["layers"]


@pytest.mark.parametrize(("args", "message"), [
    (["--worker-pids", "0"], "worker_pids: Input should be greater than or equal to"),
    (["--sandbox-layers", "bubblewrap,chroot"], "sandbox: unknown layer(s) chroot; known: "),
    (["--database-url", "oracle+nothing://db/koha"], "database_url: "),
])
def test_sandbox_and_database_settings_that_cannot_work_stop_the_host(tmp_path, keys, args,
                                                                      message):
    from ops.processes import free_port

    from ..support.servers import ADMIN_TOKEN

    r = subprocess.run(
        [sys.executable, "-m", "plugin_host.cli", "serve", "--port", str(free_port()),
         "--data-dir", str(tmp_path / "h"), "--trusted-key", str(keys["pub"]),
         "--admin-token", ADMIN_TOKEN, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr

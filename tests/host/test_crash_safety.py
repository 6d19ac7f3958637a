"""A host killed in the middle of installing, upgrading or uninstalling starts again
consistent: the database is the truth, and files it does not know are removed."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import pytest

from ..support.waiting import wait_until


def kill_during(host, action, delays) -> None:
    """Start ``action`` and SIGKILL the host after each delay in turn (restarting it)."""
    for delay in delays:
        t = threading.Thread(target=lambda: _quiet(action), daemon=True)
        t.start()
        time.sleep(delay)
        os.killpg(host.proc.pid, signal.SIGKILL)
        host.proc.wait()
        t.join(30)
        host.start()
        check_consistent(host)


def _quiet(action) -> None:
    with contextlib.suppress(Exception):  # the connection drops with the host
        action()


def check_consistent(host) -> None:
    """Every code folder and package file on disk belongs to a row, and every row's
    folder exists; the plugins that are enabled serve."""
    listed = {p["name"]: p for p in host.admin.get("/admin/plugins").json()["plugins"]}
    plugins_dir = host.data_dir / "plugins"
    on_disk = {(p.parent.name, p.name) for p in plugins_dir.glob("*/*")} \
        if plugins_dir.exists() else set()
    for name, version in on_disk:
        assert name in listed, f"orphan folder {name}/{version}"
        assert version in (listed[name]["version"], listed[name]["previous_version"]), \
            f"orphan folder {name}/{version}"
    assert not list(plugins_dir.glob("*/.*partial*")) if plugins_dir.exists() else True
    packages = {f.name for f in (host.data_dir / "packages").glob("*")}
    for f in packages:
        assert f.split("-")[0] in {n.split("-")[0] for n in listed}, f"orphan package {f}"
    for name, p in listed.items():
        assert (plugins_dir / name / p["version"]).is_dir()
        if p["enabled"] and name == "hello-world":
            r = host.client.get("/plugins/hello-world/api/greet/Ada")
            assert r.status_code == 200, r.text


@pytest.mark.parametrize("what", ["install", "upgrade", "uninstall"])
def test_sigkill_mid_operation_leaves_a_consistent_host(host, packages, plugin_copy, keys,
                                                         tmp_path, what):
    from ..support.paths import EXAMPLES
    from ..support.plugins import signed

    v2 = plugin_copy(EXAMPLES / "hello-world")
    toml = (v2 / "plugin.toml").read_text()
    (v2 / "plugin.toml").write_text(toml.replace('version = "1.0.0"', 'version = "1.1.0"'))
    newer = signed(v2, keys["key"], tmp_path / "pkg")
    if what != "install":
        assert host.install(packages["hello-world"]).status_code == 201
    actions = {
        "install": lambda: host.install(packages["hello-world"]),
        "upgrade": lambda: host.admin.post("/admin/plugins/hello-world/upgrade", content=newer,
                                           headers={"Content-Type": "application/zip"}),
        "uninstall": lambda: host.admin.delete("/admin/plugins/hello-world"),
    }
    # kill at different moments: before, while and after the files are written
    kill_during(host, actions[what], [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0])


def scratch_mounts(host) -> set[str]:
    root = str((host.data_dir / "plugin-data").resolve()) + "/"
    return {line.split()[4] for line in open("/proc/self/mountinfo")
            if line.split()[4].startswith(root)}


def test_a_killed_host_leaves_no_scratch_behind(host_factory, packages):
    """Landlock mode as root: each worker's scratch is a tmpfs of its own. A host killed
    outright cannot detach them; the next start does, before any worker runs."""
    from ..support.system import require

    require(os.geteuid() == 0, "scratch tmpfs mounts need the host run as root")
    host = host_factory(extra_args=["--sandbox-layers", "landlock,seccomp"])
    assert host.install(packages["hello-world"]).status_code == 201
    assert wait_until(lambda: len(scratch_mounts(host)) == 2)  # the worker and its spare
    first = scratch_mounts(host)
    assert all(os.stat(mount).st_uid == 65534 for mount in first)  # each its own tmpfs
    assert host.admin.post("/admin/plugins/hello-world/disable").status_code == 200
    assert scratch_mounts(host) == set()  # detached with its worker
    assert host.admin.post("/admin/plugins/hello-world/enable").status_code == 200
    left = scratch_mounts(host)
    os.killpg(host.proc.pid, signal.SIGKILL)
    host.proc.wait()
    assert scratch_mounts(host) == left  # nothing could detach it
    host.start()
    assert wait_until(lambda: len(scratch_mounts(host)) == 2)
    now = scratch_mounts(host)
    assert now.isdisjoint(left), (left, now)
    assert not any(os.path.exists(p) for p in left)
    assert host.client.get("/plugins/hello-world/api/greet/Ada").status_code == 200

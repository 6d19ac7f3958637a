"""The cgroup v2 set-up, against a directory tree standing in for ``/sys/fs/cgroup``.

A stand-in, because nothing real can run here: this machine is cgroup v1 with every
controller bound to its v1 hierarchies, so no cgroup2 hierarchy offering the memory and
pids controllers can be mounted. What is checked is what the host writes where (the
delegated subtree's layout and each worker's limits) and the reasons it gives when the
subtree is not usable; the kernel enforcing such limits is tested for real under v1
(test_cgroups.py, and the escape suite's attacks in test_escape.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plugin_host.runtime import cgroups


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A delegated service cgroup, as systemd makes it with ``Delegate=yes``: two
    processes in it, the memory, pids and cpu controllers offered."""
    root = tmp_path / "cgroup"
    own = root / "system.slice" / "koha-plugin-host.service"
    own.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (own / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.subtree_control").write_text("")
    (own / "cgroup.procs").write_text("4242\n4243\n")
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", root)
    where = {"": "/system.slice/koha-plugin-host.service"}
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: dict(where))
    return own, where


def test_the_host_moves_into_a_leaf_and_gives_each_worker_its_limits(tree):
    own, where = tree
    h = cgroups.detect()
    assert isinstance(h, cgroups.V2), h
    # cgroup v2 lets only leaves hold processes: the host's moved into <own>/host
    assert (own / "host" / "cgroup.procs").read_text() in ("4242", "4243")
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (own / "workers" / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"

    g = h.create("shelf", cgroups.Limits(memory=64 << 20, pids=32, cpus=0.5))
    d = g.dirs[0]
    assert d.parent == own / "workers" and d.name.startswith("shelf-")
    assert {f.name: f.read_text() for f in d.iterdir()} == {
        "memory.max": str(64 << 20), "memory.swap.max": "0", "memory.oom.group": "1",
        "pids.max": "32"}
    assert g.enter_prefix()[-2:] == [str(d / "cgroup.procs"), "--"]
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 2\n")
    assert g.oom_kills() == 2
    g.kill()  # one write kills the whole group
    assert (d / "cgroup.kill").read_text() == "1"

    # restarted inside its leaf already (the unit's processes were moved last time);
    # the kernel gives the leaf its interface files
    leaf = own / "host"
    (leaf / "cgroup.controllers").write_text("cpu memory pids\n")
    (leaf / "cgroup.subtree_control").write_text("")
    where[""] += "/host"
    again = cgroups.V2.detect()
    assert isinstance(again, cgroups.V2) and again.workers == own / "workers"


def test_a_subtree_that_is_not_usable_is_named_with_the_fix(tree):
    own, _ = tree
    (own / "cgroup.controllers").write_text("cpu\n")
    why = cgroups.V2.detect()
    assert why == (f"the host's cgroup {own} does not offer memory, pids (delegate the "
                   "controllers: Delegate=yes in the systemd unit)")
    (own / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.subtree_control").unlink()  # not delegated: not there to write
    assert cgroups.V2.detect() == (f"the host's cgroup {own} is not delegated to uid "
                                   f"{os.geteuid()} "
                                   "(Delegate=yes in the systemd unit)")


def test_no_cgroup2_hierarchy_at_all(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", tmp_path / "nothing")
    assert cgroups.V2.detect() == "no cgroup v2 hierarchy at /sys/fs/cgroup"


def test_groups_of_reads_the_unified_hierarchy(tree):
    """On a v2 machine /proc/PID/cgroup's ``0::/path`` line is the worker's one group."""
    lines = Path(f"/proc/{os.getpid()}/cgroup").read_text().splitlines()
    unified = next(line.split(":", 2)[2] for line in lines if line.startswith("0::"))
    assert cgroups.groups_of(os.getpid())[""] == cgroups.CGROUP_ROOT / unified.lstrip("/")

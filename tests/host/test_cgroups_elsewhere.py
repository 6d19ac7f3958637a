"""Control-group set-ups this machine does not have, against directory trees standing in
for ``/sys/fs/cgroup``: cgroup v2, and cgroup v1 without swap accounting or a cpu
hierarchy (older kernels, some distributions' defaults).

A stand-in, because nothing real can run here: this machine is cgroup v1 with every
controller bound to its v1 hierarchies (so no cgroup2 hierarchy offering the memory and
pids controllers can be mounted) and with swap accounting and the cpu controller on.
What is checked is what the host writes where (the delegated subtree's layout and each
worker's limits) and the reasons it gives when a hierarchy is not usable; the kernel
enforcing such limits is tested for real under v1 (test_cgroups.py, and the escape
suite's attacks in test_escape.py)."""

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


def test_v2_close_removes_only_this_hosts_groups(tree):
    own, _ = tree
    h = cgroups.detect()
    assert isinstance(h, cgroups.V2)
    mine = own / "workers" / f"shelf-{os.getpid()}-1"
    theirs = own / "workers" / "shelf-999999-1"  # another host sharing the subtree
    mine.mkdir()
    theirs.mkdir()
    h.close()
    # each of its own groups is killed at once (one write; in a real cgroupfs the empty
    # group is then removed), another host's is left alone
    assert (mine / "cgroup.kill").read_text() == "1"
    assert not (theirs / "cgroup.kill").exists()


@pytest.fixture
def v1_tree(tmp_path, monkeypatch):
    """cgroup v1 with memory (no swap accounting) and pids hierarchies, no cpu one."""
    mounts = {c: (tmp_path / c, "/") for c in ("memory", "pids")}
    for mount, _ in mounts.values():
        mount.mkdir()
    monkeypatch.setattr(cgroups, "_v1_mounts", lambda: dict(mounts))
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: {"memory": "/", "pids": "/"})
    return tmp_path, mounts


def test_v1_without_swap_accounting_or_a_cpu_hierarchy_still_caps_memory_and_pids(v1_tree):
    tmp_path, _ = v1_tree
    h = cgroups.V1.detect()
    assert isinstance(h, cgroups.V1) and set(h.bases) == {"memory", "pids"}
    g = h.create("shelf", cgroups.Limits(memory=64 << 20, pids=32, cpus=0.5))
    mem, pids = (d for d in g.dirs)
    assert {f.name: f.read_text() for f in mem.iterdir()} == {
        "memory.limit_in_bytes": str(64 << 20)}  # no memsw file: nothing written there
    assert (pids / "pids.max").read_text() == "32"
    assert mem.parent == tmp_path / "memory" / f"plugin-host-{os.getpid()}"


def test_v1_hierarchies_that_cannot_be_used_are_named(v1_tree, monkeypatch):
    tmp_path, mounts = v1_tree
    base = tmp_path / "memory" / f"plugin-host-{os.getpid()}"
    base.write_text("")  # in the way of the host's own group
    assert cgroups.V1.detect() == f"cannot create {base}: File exists"
    monkeypatch.setattr(cgroups, "_v1_mounts", lambda: {"memory": mounts["memory"]})
    assert cgroups.V1.detect() == "no cgroup v1 pids hierarchy is mounted"

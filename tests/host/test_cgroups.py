"""The cgroups layer, seen from outside: each worker in its own control group with the
manifest's memory, the host's pids and CPU share; the kernel kills a worker at its
memory limit and the call says so; groups go with their workers, and a host killed
with SIGKILL leaves nothing the next one does not remove.

The attacks these limits stop run in tests/host/test_escape.py (NEEDS_CGROUPS), in both
sandbox modes. cgroup v1 (this machine) needs root; a host run as a plain user reports
the layer missing (also in test_escape.py).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from plugin_host.runtime.cgroups import groups_of

from ..support.escapes import ATTEMPTS, make_plugin
from ..support.plugins import signed
from ..support.servers import Host
from ..support.system import require
from ..support.waiting import wait_until

MIB = 1024 * 1024
BUSY = ('import time\n'
        '    end = time.monotonic() + 1.2\n'
        '    while time.monotonic() < end:\n'
        '        pass\n'
        '    return "spun"')


@pytest.fixture(scope="module")
def cg_host(tmp_path_factory, keys):
    require(os.geteuid() == 0, "the cgroups layer (cgroup v1 here) needs the host run as root")
    tmp = tmp_path_factory.mktemp("cgroups")
    host = Host(tmp / "host", keys["pub"],
                extra_args=["--worker-pids", "32", "--worker-cpus", "0.2",
                            "--sandbox-require", "cgroups"]).start()
    for slug, body in {"probe": 'return "ok"', "busy": BUSY,
                       "pipes": ATTEMPTS["hoard-memory-in-pipes"][0]}.items():
        src = make_plugin(tmp, slug, body)
        assert host.install(signed(src, keys["key"], tmp / "pkg")).status_code == 201
    yield host
    host.stop()


def worker_pid(host: Host, plugin: str) -> int:
    workers = host.admin.get(f"/admin/plugins/{plugin}").json()["runtime"]["workers"]
    assert workers, f"{plugin} has no worker"
    return workers[0]["pid"]


def session(leader: int) -> list[int]:
    """The worker's launcher and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [leader]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def read(d: Path, name: str) -> str:
    return (d / name).read_text().strip()


def test_each_worker_is_in_its_own_group_with_its_limits(cg_host):
    report = cg_host.admin.get("/admin/sandbox").json()
    assert "cgroups" in report["layers"]
    assert report["cgroups"] == {"version": 1, "pids": 32, "cpus": 0.2}
    leader = worker_pid(cg_host, "escape-probe")
    groups = groups_of(leader)
    mem, pids, cpu = groups["memory"], groups["pids"], groups["cpu"]
    assert mem.parent.name == f"plugin-host-{cg_host.proc.pid}"
    # every process of the worker, the sandboxed Python included, is inside
    procs = session(leader)
    assert len(procs) >= 2
    assert {groups_of(p)["memory"] for p in procs} == {mem}
    assert {groups_of(p)["pids"] for p in procs} == {pids}
    assert int(read(mem, "memory.limit_in_bytes")) == 64 * MIB  # resources.memory
    assert int(read(mem, "memory.memsw.limit_in_bytes")) == 64 * MIB  # no swap either
    assert read(pids, "pids.max") == "32"
    assert read(cpu, "cpu.cfs_quota_us") == "20000"
    assert read(cpu, "cpu.cfs_period_us") == "100000"
    # and another plugin's worker is in another group
    assert groups_of(worker_pid(cg_host, "escape-busy"))["memory"] != mem


def test_a_busy_worker_gets_its_cpu_share_and_no_more(cg_host):
    leader = worker_pid(cg_host, "escape-busy")
    cpu = groups_of(leader)["cpu"]

    def cpu_seconds() -> float:
        ticks = 0
        for pid in session(leader):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    before = cpu_seconds()
    r = cg_host.client.post("/plugins/escape-busy/api/attempt", json={})
    assert r.status_code == 200 and r.json()["escaped"] is True, r.text  # it ran 1.2 s
    used = cpu_seconds() - before
    # 0.2 CPU for 1.2 s is 0.24 s; unthrottled it would be about 1.2 s
    assert used < 0.6, f"the worker used {used:.2f} CPU-seconds in 1.2 s"
    stat = dict(line.split() for line in read(cpu, "cpu.stat").splitlines())
    assert int(stat["nr_throttled"]) > 0


def test_a_worker_over_its_memory_is_killed_and_the_call_says_why(cg_host):
    old = worker_pid(cg_host, "escape-pipes")
    old_groups = groups_of(old)
    r = cg_host.client.post("/plugins/escape-pipes/api/attempt", json={})
    assert r.status_code == 502, r.text
    err = r.json()["error"]
    assert err["code"] == "plugin_out_of_memory"
    assert "killed at its memory limit (64 MiB, resources.memory)" in err["message"]
    # its group went with it; a new worker in a new group serves the next call
    assert wait_until(lambda: not old_groups["memory"].exists()
                      and not old_groups["pids"].exists())
    assert wait_until(lambda: cg_host.admin.get("/admin/plugins/escape-pipes").json()
                      ["runtime"]["workers"])
    assert groups_of(worker_pid(cg_host, "escape-pipes"))["memory"] != old_groups["memory"]
    metrics = cg_host.client.get("/metrics").text
    assert ('plugin_host_worker_restarts_total{plugin="escape-pipes",reason="memory_limit"} 1.0'
            in metrics)
    assert 'outcome="out_of_memory"' in metrics
    again = cg_host.client.post("/plugins/escape-pipes/api/attempt", json={})
    assert again.json()["error"]["code"] == "plugin_out_of_memory"  # a fresh worker each time
    assert cg_host.client.post("/plugins/escape-probe/api/attempt", json={}).status_code == 200


def test_groups_go_with_their_plugin_and_their_host(tmp_path, keys):
    require(os.geteuid() == 0, "the cgroups layer (cgroup v1 here) needs the host run as root")
    src = make_plugin(tmp_path, "probe", 'return "ok"')
    pkg = signed(src, keys["key"], tmp_path / "pkg")
    host = Host(tmp_path / "host", keys["pub"]).start()
    try:
        assert host.install(pkg).status_code == 201
        groups = groups_of(worker_pid(host, "escape-probe"))
        subtree = {c: d.parent for c, d in groups.items() if c in ("memory", "pids", "cpu")}
        assert host.admin.delete("/admin/plugins/escape-probe").status_code == 200
        assert wait_until(lambda: not any(d.exists() for d in groups.values()
                                          if d.parent in subtree.values()))
        # a host killed outright leaves its subtree; the next host removes it
        assert host.install(pkg).status_code == 201
        os.kill(host.proc.pid, signal.SIGKILL)
        host.proc.wait()
        assert all(d.exists() for d in subtree.values())
    finally:
        host.stop()
    again = Host(tmp_path / "host", keys["pub"]).start()
    try:
        assert wait_until(lambda: not any(d.exists() for d in subtree.values()))
        assert again.client.post("/plugins/escape-probe/api/attempt", json={}).json() == \
            {"escaped": True, "result": "'ok'"}
    finally:
        again.stop()
    assert wait_until(lambda: not any(
        (d.parent / f"plugin-host-{again.proc.pid}").exists() for d in subtree.values()))

"""The ``cgroups`` sandbox layer: one control group per worker, holding all its processes,
so that memory the address-space limit does not see (tmpfs and shared memory, memfds,
pipe and socket buffers, page tables), threads and processes, and CPU time are capped
for the worker as a whole, and a worker over its memory is killed by the kernel.

Two hierarchies are supported:

- **cgroup v2** (``/sys/fs/cgroup`` is cgroup2): the host needs a delegated subtree (the
  systemd unit's ``Delegate=yes``, or a container's own cgroup). The host moves itself
  into ``<own>/host`` (cgroup v2 lets only leaves hold processes), enables the
  memory, pids and cpu controllers below its own cgroup, and makes
  ``<own>/workers/<n>`` per worker: ``memory.max``, ``memory.swap.max = 0``,
  ``memory.oom.group = 1`` (the whole worker goes), ``pids.max``, ``cpu.max``.
- **cgroup v1** (the memory and pids hierarchies mounted apart, as on this kind of test
  machine or older distributions): writable only by root. The host makes
  ``<own>/plugin-host-<pid>/<n>`` in the memory, pids and (if present) cpu hierarchies:
  ``memory.limit_in_bytes`` and ``memory.memsw.limit_in_bytes`` (no swap either),
  ``pids.max``, ``cpu.cfs_quota_us``.

A worker enters its group before anything of it runs: its command starts with a tiny
``sh`` that writes its own pid into each group's ``cgroup.procs`` and then ``exec``s the
launcher, so every process the launcher makes is born inside.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: the command that puts itself in each group named before ``--`` and then runs the rest
ENTER = ('while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; '
         'shift; exec "$@"')
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    memory: int  # bytes, swap included
    pids: int  # processes and threads
    cpus: float  # CPU time per wall second; 0 = no quota


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _own_cgroups() -> dict[str, str]:
    """/proc/self/cgroup: controller (or "" for cgroup v2) → our path in it."""
    own: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            own[c] = path
    return own


def _v1_mounts() -> dict[str, tuple[Path, str]]:
    """cgroup v1 controller → (mount point, the hierarchy's root as mounted there)."""
    mounts: dict[str, tuple[Path, str]] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(rfields) < 3 or rfields[0] != "cgroup":
            continue
        for option in rfields[2].split(","):
            if option in ("memory", "pids", "cpu"):
                mounts[option] = (Path(fields[4]), fields[3])
    return mounts


def _below(mount: Path, root: str, path: str) -> Path:
    rel = path[len(root):] if root != "/" and path.startswith(root) else path
    return mount / rel.lstrip("/")


class Group:
    """One worker's control group (one directory per hierarchy in v1, one in v2)."""

    def __init__(self, dirs: list[Path], version: int):
        self.dirs = dirs
        self.version = version

    def enter_prefix(self) -> list[str]:
        """Put in front of the worker's command: it joins the group, then execs."""
        return ["/bin/sh", "-c", ENTER, "cgroup-enter",
                *(str(d / "cgroup.procs") for d in self.dirs), "--"]

    def _read(self, name: str) -> str:
        for d in self.dirs:
            with contextlib.suppress(OSError):
                return (d / name).read_text()
        return ""

    def oom_kills(self) -> int:
        """How many of the worker's processes the kernel killed at the memory limit."""
        text = self._read("memory.events" if self.version == 2 else "memory.oom_control")
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError):
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
        return found

    def kill(self) -> None:
        """Kill every process in the group, wherever it moved in its session."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                _write(self.dirs[0] / "cgroup.kill", "1")
                return
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def remove(self, wait: float = 2.0) -> bool:
        """Kill what is left and remove the group; True once every directory is gone
        (a dying process keeps it busy for a moment)."""
        deadline = time.monotonic() + wait
        while True:
            self.kill()
            left = []
            for d in self.dirs:
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(d)
            self.dirs = left or self.dirs
            if not left:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


class Hierarchy:
    """Where this host makes its workers' groups, and how."""

    version: int = 0

    def create(self, name: str, limits: Limits) -> Group:
        raise NotImplementedError

    def close(self) -> None:
        """Remove the host's own subtree (at shutdown)."""


class V1(Hierarchy):
    version = 1

    def __init__(self, bases: dict[str, Path]):
        self.bases = bases  # controller → <own>/plugin-host-<pid>
        self._seq = itertools.count(1)

    @classmethod
    def detect(cls) -> V1 | str:
        mounts, own = _v1_mounts(), _own_cgroups()
        missing = [c for c in ("memory", "pids") if c not in mounts]
        if missing:
            return f"no cgroup v1 {' or '.join(missing)} hierarchy is mounted"
        bases: dict[str, Path] = {}
        for c in ("memory", "pids", "cpu"):
            if c not in mounts:
                continue
            mount, root = mounts[c]
            parent = _below(mount, root, own.get(c, "/"))
            if not os.access(parent, os.W_OK):
                if c == "cpu":
                    continue  # CPU quota is the one part a host can do without
                return (f"{parent} is not writable by uid {os.geteuid()} (cgroup v1 needs "
                        "root; or delegate a cgroup v2 subtree to the host)")
            bases[c] = parent / f"plugin-host-{os.getpid()}"
        for base in bases.values():
            _remove_stale(base.parent)
            try:
                base.mkdir(exist_ok=True)
            except OSError as e:
                return f"cannot create {base}: {e.strerror}"
        return cls(bases)

    def create(self, name: str, limits: Limits) -> Group:
        leaf = f"{name}-{next(self._seq)}"
        dirs = [base / leaf for base in self.bases.values()]
        group = Group(dirs, 1)
        try:
            for d in dirs:
                d.mkdir()
            mem = self.bases["memory"] / leaf
            _write(mem / "memory.limit_in_bytes", str(limits.memory))
            if (mem / "memory.memsw.limit_in_bytes").exists():
                _write(mem / "memory.memsw.limit_in_bytes", str(limits.memory))
            _write(self.bases["pids"] / leaf / "pids.max", str(limits.pids))
            if "cpu" in self.bases and limits.cpus > 0:
                cpu = self.bases["cpu"] / leaf
                _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", str(int(limits.cpus * CPU_PERIOD_US)))
        except OSError:
            group.remove(wait=0)
            raise
        return group

    def close(self) -> None:
        for base in self.bases.values():
            for child in _children(base):
                Group([child], 1).remove(wait=0.5)
            with contextlib.suppress(OSError):
                base.rmdir()


class V2(Hierarchy):
    version = 2

    def __init__(self, workers: Path):
        self.workers = workers
        self._seq = itertools.count(1)

    @classmethod
    def detect(cls) -> V2 | str:
        if not (CGROUP_ROOT / "cgroup.controllers").exists():
            return "no cgroup v2 hierarchy at /sys/fs/cgroup"
        own = CGROUP_ROOT / _own_cgroups().get("", "/").lstrip("/")
        available = (own / "cgroup.controllers").read_text().split()
        missing = [c for c in ("memory", "pids") if c not in available]
        if missing:
            return (f"the host's cgroup {own} does not offer {', '.join(missing)} "
                    "(delegate the controllers: Delegate=yes in the systemd unit)")
        if not os.access(own / "cgroup.subtree_control", os.W_OK) or \
                not os.access(own / "cgroup.procs", os.W_OK):
            return (f"the host's cgroup {own} is not delegated to uid {os.geteuid()} "
                    "(Delegate=yes in the systemd unit)")
        wanted = " ".join(f"+{c}" for c in ("memory", "pids", "cpu") if c in available)
        try:
            host_leaf, workers = own / "host", own / "workers"
            if own.name != "host":  # cgroup v2 lets only leaves hold processes
                host_leaf.mkdir(exist_ok=True)
                for pid in (own / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):  # a process that just ended
                        _write(host_leaf / "cgroup.procs", pid)
            else:
                own, workers = own.parent, own.parent / "workers"
            _write(own / "cgroup.subtree_control", wanted)
            workers.mkdir(exist_ok=True)
            for child in _children(workers):
                Group([child], 2).remove(wait=0.5)
            _write(workers / "cgroup.subtree_control", wanted)
        except OSError as e:
            return f"cannot set up worker groups below {own}: {e.strerror}"
        return cls(workers)

    def create(self, name: str, limits: Limits) -> Group:
        d = self.workers / f"{name}-{os.getpid()}-{next(self._seq)}"
        group = Group([d], 2)
        try:
            d.mkdir()
            _write(d / "memory.max", str(limits.memory))
            with contextlib.suppress(FileNotFoundError):  # no swap accounting
                _write(d / "memory.swap.max", "0")
            _write(d / "memory.oom.group", "1")
            _write(d / "pids.max", str(limits.pids))
            if limits.cpus > 0 and (d / "cpu.max").exists():
                _write(d / "cpu.max", f"{int(limits.cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}")
        except OSError:
            group.remove(wait=0)
            raise
        return group

    def close(self) -> None:
        for child in _children(self.workers):
            if child.name.rsplit("-", 2)[-2:-1] == [str(os.getpid())]:
                Group([child], 2).remove(wait=0.5)


def _children(d: Path) -> Iterator[Path]:
    with contextlib.suppress(OSError):
        yield from (c for c in d.iterdir() if c.is_dir())


def _remove_stale(parent: Path) -> None:
    """Subtrees left by hosts that are gone (a SIGKILLed host): their workers died with
    them (``--die-with-parent``), so the groups are empty or nearly so."""
    for d in _children(parent):
        if not d.name.startswith("plugin-host-"):
            continue
        pid = d.name.removeprefix("plugin-host-")
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            for child in _children(d):
                Group([child], 1).remove(wait=0.5)
            with contextlib.suppress(OSError):
                d.rmdir()


def groups_of(pid: int) -> dict[str, Path]:
    """Where a process's groups are: controller (memory, pids, cpu; "" for cgroup v2) →
    directory (``plugin-host sandbox`` and the tests read limits there)."""
    found: dict[str, Path] = {}
    text = Path(f"/proc/{pid}/cgroup").read_text()
    mounts = _v1_mounts()
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if not controllers and (CGROUP_ROOT / "cgroup.controllers").exists():
            found[""] = CGROUP_ROOT / path.lstrip("/")
        for c in controllers.split(","):
            if c in mounts:
                found[c] = _below(*mounts[c], path)
    return found


def detect() -> Hierarchy | str:
    """The hierarchy this host can use, or why none (cgroup v2 preferred)."""
    v2 = V2.detect()
    if isinstance(v2, Hierarchy):
        return v2
    v1 = V1.detect()
    if isinstance(v1, Hierarchy):
        return v1
    return f"{v2}; {v1}" if (CGROUP_ROOT / "cgroup.controllers").exists() else v1

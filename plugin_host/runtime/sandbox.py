"""Which sandbox layers this machine offers, and how a worker is launched inside them.

Layers, strongest first (docs/security/sandbox.md says what each one stops):

- ``bubblewrap``: new user, pid, ipc, uts, cgroup and network namespaces (no interfaces),
  a root file system of read-only runtime paths plus the plugin's code (read-only) and
  its private data dir; a size-capped private /tmp; nothing else of the host;
- ``seccomp``: a syscall filter (worker/confine.py);
- ``landlock``: file-system confinement, used where bubblewrap is absent;
- ``cgroups``: a control group per worker capping its memory (shared memory, tmpfs,
  memfds and kernel buffers included), processes and threads, and CPU (runtime/cgroups.py);
- always: ``rlimits``, ``scrubbed-env``, ``no-inherited-fds``, ``unprivileged`` (a host
  running as root switches workers to ``worker_uid``; no worker is ever real root),
  ``process``.

Detection runs once per host process. The host's ``sandbox_require`` setting names the
layers it insists on; a worker that cannot have them is refused, naming what is missing.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plugin_host

from ..errors import PluginHostError
from ..manifest import Manifest
from ..worker.confine import landlock_abi
from . import cgroups
from . import scratch as scratch_tmpfs
from .identity import (
    DEFAULT_IDENTITY,
    DEFAULT_WORKER_GID,
    DEFAULT_WORKER_UID,
    Identity,
    unreachable,
)

__all__ = ["DEFAULT_WORKER_GID", "DEFAULT_WORKER_UID", "Identity", "Launch", "SandboxPolicy",
           "SandboxUnavailable", "Support", "detect", "release_cgroups", "unreachable"]

OPTIONAL_LAYERS = ("bubblewrap", "seccomp", "landlock", "cgroups")
BASE_LAYERS = ("rlimits", "scrubbed-env", "no-inherited-fds", "unprivileged", "process")
ALL_LAYERS = OPTIONAL_LAYERS + BASE_LAYERS
TMP_BYTES = 64 * 1024 * 1024
INSIDE_CODE, INSIDE_DATA = "/plugin", "/data"
#: processes and threads one worker may have (cgroups layer)
DEFAULT_WORKER_PIDS = 64
#: CPU time one worker may use per wall-clock second (cgroups layer); 0 = no quota
DEFAULT_WORKER_CPUS = 1.0


def worker_limits(manifest: Manifest) -> dict[str, int]:
    """Resource limits the worker sets on itself before it imports plugin code."""
    return {"address_space": manifest.resources.memory, "open_files": 256,
            "file_size": 64 * 1024 * 1024, "core": 0}


class SandboxUnavailable(PluginHostError):
    code = "sandbox_unavailable"
    status = 422


@dataclass(frozen=True)
class Support:
    """What the machine offers: each optional layer maps to None (usable) or the reason,
    and ``identity`` says why workers cannot run unprivileged (None if they can)."""

    missing: dict[str, str | None]
    identity: str | None = None
    hierarchy: cgroups.Hierarchy | None = None
    #: why a worker's scratch outside bubblewrap cannot be a size-capped tmpfs (None: it
    #: can; the host must be root and allowed to mount)
    scratch_tmpfs: str | None = "not probed"

    @property
    def available(self) -> list[str]:
        return [layer for layer in OPTIONAL_LAYERS if self.missing.get(layer) is None]


def _run(argv: list[str], **kw: Any) -> str | None:
    """None if ``argv`` succeeds, else why not."""
    try:
        r = subprocess.run(argv, capture_output=True, timeout=20, **kw)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if r.returncode != 0:
        return (r.stderr.decode(errors="replace").strip() or f"exit status {r.returncode}")[-300:]
    return None


def _check_identity(identity: Identity) -> str | None:
    if identity.switches and shutil.which("setpriv") is None:
        return "setpriv is not installed (apt-get install util-linux)"
    return None


def _check_bwrap(identity: Identity) -> str | None:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bwrap is not installed (apt-get install bubblewrap)"
    # the same identity, namespaces and mounts a worker gets: in a container whose /proc
    # is partly masked, mounting a new /proc is what fails
    failed = _run([*identity.prefix(), bwrap, "--unshare-all", "--unshare-user", "--uid",
                   "65534", "--gid", "65534", "--die-with-parent", "--ro-bind", "/", "/",
                   "--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev", "true"],
                  cwd="/")
    return f"bwrap cannot create namespaces here: {failed}" if failed else None


def _check_seccomp() -> str | None:
    if importlib.util.find_spec("pyseccomp") is None:
        return "the pyseccomp package is not installed"
    try:
        import pyseccomp  # noqa: F401  (loads libseccomp)
    except (ImportError, OSError, AttributeError, RuntimeError) as e:
        return f"libseccomp cannot be loaded: {e} (apt-get install libseccomp2)"
    return None


def _check_landlock(runtime_unreadable: str | None) -> str | None:
    if landlock_abi() < 1:
        return "the kernel has no Landlock support"
    return runtime_unreadable


def _check_runtime_readable(identity: Identity) -> str | None:
    """Without bubblewrap the worker reads the runtime in place, as its own uid."""
    if not identity.switches:
        return None
    failed = _run([*identity.prefix(), sys.executable, "-c", "import plugin_host.worker"],
                  cwd="/", env={"PATH": "/usr/bin:/bin"})
    if failed:
        return (f"uid {identity.uid} cannot run the host's Python runtime "
                f"({sys.executable}, {Path(plugin_host.__file__).parent}): {failed}; "
                "install the host where other users can read it, or run it as a plain user")
    return None


_made: list[cgroups.Hierarchy] = []


@atexit.register
def release_cgroups() -> None:
    """Remove the control groups this process made for workers (once they have stopped):
    at a service's shutdown, and at exit, which a server killed by a signal may never
    reach (the next host or registry removes what a dead one left)."""
    for hierarchy in _made:
        hierarchy.close()


@functools.cache
def detect(identity: Identity = DEFAULT_IDENTITY) -> Support:
    """What this machine offers workers of ``identity`` (probed once per identity)."""
    bad_identity = _check_identity(identity)
    if bad_identity:
        return Support(dict.fromkeys(OPTIONAL_LAYERS, bad_identity), bad_identity)
    # without bubblewrap the worker reads the runtime in place: probed once, used twice
    unreadable = _check_runtime_readable(identity)
    hierarchy = cgroups.detect()
    support = {"bubblewrap": _check_bwrap(identity), "seccomp": _check_seccomp(),
               "landlock": _check_landlock(unreadable),
               "cgroups": hierarchy if isinstance(hierarchy, str) else None}
    if isinstance(hierarchy, cgroups.Hierarchy):
        _made.append(hierarchy)
    return Support(support, unreadable if support["bubblewrap"] is not None else None,
                   hierarchy if isinstance(hierarchy, cgroups.Hierarchy) else None,
                   _check_scratch_tmpfs())


def _check_scratch_tmpfs() -> str | None:
    """Can this host give Landlock-mode workers a tmpfs scratch? Root, and allowed to
    mount (a container without CAP_SYS_ADMIN is not)."""
    if os.geteuid() != 0:
        return "the host is not root, so it cannot mount a tmpfs per worker"
    probe = Path(tempfile.mkdtemp(prefix="koha-scratch-probe-"))
    try:
        scratch_tmpfs.cap(probe, 1024 * 1024, DEFAULT_WORKER_UID, DEFAULT_WORKER_GID)
    except OSError as e:
        return f"mounting a tmpfs failed: {e.strerror}"
    finally:
        scratch_tmpfs.release(probe)
    return None


@dataclass
class Launch:
    """How to start one worker: the command, the code dir it sees, what it must apply,
    and the descriptors it must be given (bubblewrap binds them)."""

    argv: list[str]
    code_dir: str
    confine: dict[str, Any]
    layers: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "/"
    cgroup: cgroups.Group | None = None


def _runtime_paths() -> list[str]:
    """What the interpreter and this package need to run, read-only."""
    paths = {sys.base_prefix, sys.prefix, str(Path(plugin_host.__file__).resolve().parent)}
    return sorted(p for p in paths if not p.startswith("/usr/"))


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        p = Path(top)
        if p.is_symlink():
            args += ["--symlink", str(p.readlink()), top]
        elif p.is_dir():
            args += ["--ro-bind", top, top]
    return [*args, "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]


class SandboxPolicy:
    """The host's choice of layers (settings) against what the machine offers."""

    def __init__(self, use: list[str] | None, require: list[str], support: Support | None = None,
                 on_refusal: Callable[[str, str], None] | None = None,
                 identity: Identity | None = None, pids: int = DEFAULT_WORKER_PIDS,
                 cpus: float = DEFAULT_WORKER_CPUS):
        """``on_refusal(plugin, layer)`` is told of each plugin refused for a missing
        required layer (the host counts them in a metric); ``pids`` and ``cpus`` are
        each worker's share under the cgroups layer."""
        unknown = sorted((set(use or []) | set(require)) - set(ALL_LAYERS))
        if unknown:
            raise PluginHostError(f"sandbox: unknown layer(s) {', '.join(unknown)}; "
                                  f"known: {', '.join(ALL_LAYERS)}", code="bad_setting")
        self.identity = identity or Identity()
        self.support = support or detect(self.identity)
        wanted = set(OPTIONAL_LAYERS if use is None else use)
        self.optional = [layer for layer in self.support.available if layer in wanted]
        if "bubblewrap" in self.optional and "landlock" in self.optional:
            self.optional.remove("landlock")  # namespaces already confine the file system
        self.require = list(require)
        self.on_refusal = on_refusal or (lambda plugin, layer: None)
        self.pids, self.cpus = pids, cpus

    @property
    def layers(self) -> list[str]:
        return [*self.optional, *BASE_LAYERS]

    def report(self) -> dict[str, Any]:
        """What an operator needs to judge this host's sandbox level."""
        hierarchy = self.support.hierarchy
        bwrap = "bubblewrap" in self.optional
        return {"layers": self.layers, "required": self.require,
                "scratch": {"tmpfs": bwrap or self.support.scratch_tmpfs is None,
                            "reason": None if bwrap else self.support.scratch_tmpfs},
                "worker_uid": self.identity.effective_uid,
                "cgroups": {"version": hierarchy.version, "pids": self.pids,
                            "cpus": self.cpus} if "cgroups" in self.optional and hierarchy
                else None,
                "machine": {layer: {"available": reason is None, "reason": reason}
                            for layer, reason in self.support.missing.items()}}

    def check(self, plugin: str) -> None:
        missing = [layer for layer in self.require if layer not in self.layers]
        if missing:
            for layer in missing:
                self.on_refusal(plugin, layer)
            off = "turned off by the sandbox_layers setting"
            reasons = "; ".join(f"{layer}: {self.support.missing.get(layer) or off}"
                                for layer in missing)
            raise SandboxUnavailable(
                f"{plugin}: this host requires sandbox layer(s) {', '.join(missing)}, "
                f"which it cannot provide ({reasons})")
        if self.support.identity and "bubblewrap" not in self.optional:
            self.on_refusal(plugin, "unprivileged")
            raise SandboxUnavailable(f"{plugin}: workers cannot run unprivileged on this "
                                     f"host: {self.support.identity}")

    def launch(self, manifest: Manifest, code_dir: Path, scratch: Path, fd: int) -> Launch:
        """The worker's command. Its writable space is scratch: a size-capped tmpfs at
        /data and /tmp under bubblewrap, else the ``scratch`` folder (removed with the
        worker; a size-capped tmpfs too when the host runs as root). State that must last
        goes in ``ctx.kv``."""
        self.check(manifest.name)
        worker = [sys.executable, "-m", "plugin_host.worker", str(fd)]
        confine: dict[str, Any] = {"rlimits": worker_limits(manifest),
                                   "seccomp": "seccomp" in self.optional}
        self.check_reachable(manifest.name, [*_runtime_paths(), str(code_dir)])
        group = self._group(manifest)
        prefix = [*(group.enter_prefix() if group else []), *self.identity.prefix()]
        if "bubblewrap" in self.optional:
            launch = self._bubblewrap(prefix, worker, confine, code_dir)
            launch.cgroup = group
            return launch
        if self.identity.switches:  # the worker writes its scratch as its own uid
            os.chown(scratch.parent, self.identity.uid, self.identity.gid)
            if self.support.scratch_tmpfs is None:  # a 64 MiB tmpfs (runtime/scratch.py)
                try:
                    scratch_tmpfs.cap(scratch, TMP_BYTES, self.identity.uid,
                                      self.identity.gid)
                except OSError as e:
                    if group is not None:
                        group.remove(wait=0)
                    raise SandboxUnavailable(f"{manifest.name}: {e.strerror}") from None
            else:  # a container that may not mount: a folder, capped per file only
                os.chown(scratch, self.identity.uid, self.identity.gid)
        if "landlock" in self.optional:
            confine["landlock"] = {
                "read": ["/usr", "/bin", "/lib", "/lib64", "/etc/ld.so.cache", "/dev/null",
                         "/dev/urandom", *_runtime_paths(), str(code_dir)],
                "write": [str(scratch)]}
        return Launch([*prefix, *worker], str(code_dir), confine, self.layers,
                      {"TMPDIR": str(scratch)}, str(scratch), group)

    def _group(self, manifest: Manifest) -> cgroups.Group | None:
        """The worker's control group (cgroups layer), limits written, not yet joined."""
        hierarchy = self.support.hierarchy
        if "cgroups" not in self.optional or hierarchy is None:
            return None
        limits = cgroups.Limits(manifest.resources.memory, self.pids, self.cpus)
        try:
            return hierarchy.create(manifest.name, limits)
        except OSError as e:
            raise SandboxUnavailable(f"{manifest.name}: cannot create the worker's control "
                                     f"group: {e}") from None

    def _bubblewrap(self, prefix: list[str], worker: list[str], confine: dict[str, Any],
                    code_dir: Path) -> Launch:
        """bubblewrap, started as the worker's identity: /proc and /dev read-only, /tmp
        and /data size-capped tmpfs, the runtime and the plugin's code read-only."""
        argv = [*prefix, "bwrap", "--unshare-all", "--unshare-user", "--uid", "65534",
                "--gid", "65534", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                "--hostname", "plugin", *_system_binds(),
                # tmpfs first: the runtime may itself live under /tmp (a CI checkout)
                "--size", str(TMP_BYTES), "--tmpfs", "/tmp",
                "--size", str(TMP_BYTES), "--tmpfs", INSIDE_DATA]
        for p in _runtime_paths():
            argv += ["--ro-bind", p, p]
        argv += ["--ro-bind", str(code_dir), INSIDE_CODE,
                 "--proc", "/proc", "--remount-ro", "/proc",
                 "--dev", "/dev", "--remount-ro", "/dev", "--chdir", INSIDE_DATA, *worker]
        return Launch(argv, INSIDE_CODE, confine, self.layers, {"TMPDIR": "/tmp"}, "/")

    def check_reachable(self, plugin: str, paths: list[str]) -> None:
        """A host running as root switches workers to ``worker_uid``: that uid must be
        able to reach the runtime and the plugin's code, or the worker could not start.
        Say so, with the fix, instead of a worker that dies while loading."""
        if not self.identity.switches:
            return
        for path in paths:
            why = unreachable(path, self.identity.uid, self.identity.gid)
            if why:
                raise SandboxUnavailable(
                    f"{plugin}: workers run as uid {self.identity.uid} (the host runs as "
                    f"root), which cannot reach {path}: {why}. Let other users traverse "
                    "it (chmod o+x), move the host's data folder, or run the host as a "
                    "plain user")

"""Which sandbox layers this machine offers, and how a worker is launched inside them.

Layers, strongest first (docs/security/sandbox.md says what each one stops):

- ``bubblewrap``: new user, pid, ipc, uts, cgroup and network namespaces (no interfaces),
  a root file system of read-only runtime paths plus the plugin's code (read-only) and
  its private data dir; a size-capped private /tmp; nothing else of the host;
- ``seccomp``: a syscall filter (worker/confine.py);
- ``landlock``: file-system confinement, used where bubblewrap is absent;
- always: ``rlimits``, ``scrubbed-env``, ``no-inherited-fds``, ``process``.

Detection runs once per host process. The host's ``sandbox_require`` setting names the
layers it insists on; a worker that cannot have them is refused, naming what is missing.
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plugin_host

from ..errors import PluginHostError
from ..manifest import Manifest
from ..worker.confine import landlock_abi

OPTIONAL_LAYERS = ("bubblewrap", "seccomp", "landlock")
BASE_LAYERS = ("rlimits", "scrubbed-env", "no-inherited-fds", "process")
ALL_LAYERS = OPTIONAL_LAYERS + BASE_LAYERS
TMP_BYTES = 64 * 1024 * 1024
INSIDE_CODE, INSIDE_DATA = "/plugin", "/data"


def worker_limits(manifest: Manifest) -> dict[str, int]:
    """Resource limits the worker sets on itself before it imports plugin code."""
    return {"address_space": manifest.resources.memory, "open_files": 256,
            "file_size": 64 * 1024 * 1024, "core": 0}


class SandboxUnavailable(PluginHostError):
    code = "sandbox_unavailable"
    status = 422


@dataclass(frozen=True)
class Support:
    """What the machine offers: each optional layer maps to None (usable) or the reason."""

    missing: dict[str, str | None]

    @property
    def available(self) -> list[str]:
        return [layer for layer in OPTIONAL_LAYERS if self.missing.get(layer) is None]


def _check_bwrap() -> str | None:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bwrap is not installed (apt-get install bubblewrap)"
    try:
        # the same namespaces and mounts a worker gets: in a container whose /proc is
        # partly masked, mounting a new /proc is what fails
        r = subprocess.run([bwrap, "--unshare-all", "--unshare-user", "--uid", "65534",
                            "--gid", "65534", "--die-with-parent", "--ro-bind", "/", "/",
                            "--proc", "/proc", "--dev", "/dev", "true"],
                           capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap does not run: {e}"
    if r.returncode != 0:
        return f"bwrap cannot create namespaces here: {r.stderr.decode(errors='replace').strip()}"
    return None


def _check_seccomp() -> str | None:
    if importlib.util.find_spec("pyseccomp") is None:
        return "the pyseccomp package is not installed"
    try:
        import pyseccomp  # noqa: F401  (loads libseccomp)
    except (ImportError, OSError, AttributeError, RuntimeError) as e:
        return f"libseccomp cannot be loaded: {e} (apt-get install libseccomp2)"
    return None


def _check_landlock() -> str | None:
    abi = landlock_abi()
    return None if abi >= 1 else "the kernel has no Landlock support"


@functools.cache
def detect() -> Support:
    return Support({"bubblewrap": _check_bwrap(), "seccomp": _check_seccomp(),
                    "landlock": _check_landlock()})


@dataclass
class Launch:
    """How to start one worker: the command, the code dir it sees, what it must apply."""

    argv: list[str]
    code_dir: str
    confine: dict[str, Any]
    layers: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "/"


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
                 on_refusal: Callable[[str, str], None] | None = None):
        """``on_refusal(plugin, layer)`` is told of each plugin refused for a missing
        required layer (the host counts them in a metric)."""
        unknown = sorted((set(use or []) | set(require)) - set(ALL_LAYERS))
        if unknown:
            raise PluginHostError(f"sandbox: unknown layer(s) {', '.join(unknown)}; "
                                  f"known: {', '.join(ALL_LAYERS)}", code="bad_setting")
        self.support = support or detect()
        wanted = set(OPTIONAL_LAYERS if use is None else use)
        self.optional = [layer for layer in self.support.available if layer in wanted]
        if "bubblewrap" in self.optional and "landlock" in self.optional:
            self.optional.remove("landlock")  # namespaces already confine the file system
        self.require = list(require)
        self.on_refusal = on_refusal or (lambda plugin, layer: None)

    @property
    def layers(self) -> list[str]:
        return [*self.optional, *BASE_LAYERS]

    def report(self) -> dict[str, Any]:
        """What an operator needs to judge this host's sandbox level."""
        return {"layers": self.layers, "required": self.require,
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

    def launch(self, manifest: Manifest, code_dir: Path, scratch: Path, fd: int) -> Launch:
        """The worker's command. Its writable space is scratch: a size-capped tmpfs at
        /data and /tmp under bubblewrap, else the ``scratch`` folder (removed with the
        worker). State that must last goes in ``ctx.kv``."""
        self.check(manifest.name)
        worker = [sys.executable, "-m", "plugin_host.worker", str(fd)]
        confine: dict[str, Any] = {"rlimits": worker_limits(manifest),
                                   "seccomp": "seccomp" in self.optional}
        if "bubblewrap" in self.optional:
            argv = ["bwrap", "--unshare-all", "--unshare-user", "--uid", "65534", "--gid",
                    "65534", "--die-with-parent", "--new-session", "--hostname", "plugin",
                    *_system_binds(),
                    # tmpfs first: the runtime may itself live under /tmp (a CI checkout)
                    "--size", str(TMP_BYTES), "--tmpfs", "/tmp",
                    "--size", str(TMP_BYTES), "--tmpfs", INSIDE_DATA]
            for p in _runtime_paths():
                argv += ["--ro-bind", p, p]
            argv += ["--ro-bind", str(code_dir), INSIDE_CODE,
                     "--proc", "/proc", "--dev", "/dev", "--chdir", INSIDE_DATA, *worker]
            return Launch(argv, INSIDE_CODE, confine, self.layers, {"TMPDIR": "/tmp"},
                          str(scratch))
        if "landlock" in self.optional:
            confine["landlock"] = {
                "read": ["/usr", "/bin", "/lib", "/lib64", "/etc/ld.so.cache", "/dev/null",
                         "/dev/urandom", *_runtime_paths(), str(code_dir)],
                "write": [str(scratch)]}
        return Launch(worker, str(code_dir), confine, self.layers, {"TMPDIR": str(scratch)},
                      str(scratch))

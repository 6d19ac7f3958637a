"""Start, wait for and stop local server processes: one helper for the environments, the
tests and the benchmarks.

Each server runs in its own session (process group), so stopping it also stops whatever
it started (a plugin host's workers, say), and nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx


def open_for_workers(path: Path) -> Path:
    """Let other users traverse ``path`` and its ancestors inside the temporary folder
    (never above it), creating it if needed. A host running as root runs its plugin
    workers as another uid, which must reach the host's data folder; temporary folders
    are private (0700) by default."""
    path.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.gettempdir()).resolve()
    for d in [path.resolve(), *path.resolve().parents]:
        if d == tmp or not d.is_relative_to(tmp):
            break
        mode = d.stat().st_mode
        if not mode & stat.S_IXOTH:
            d.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    return path


_HANDED_OUT: set[int] = set()
_HANDED_OUT_LOCK = threading.Lock()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, and that this process
    has not handed out before: the kernel may give the same free port to two calls in a
    row, and two servers told the same port race for it (the loser's readiness probe
    then answered by the winner)."""
    with _HANDED_OUT_LOCK:
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def wait_ready(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None,
               path: str = "/readyz") -> None:
    """Poll ``url + path`` until it answers 200; RuntimeError if ``proc`` exits first or
    the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with status {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}{path}", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} was not ready within {timeout:.0f}s")


def spawn(cmd: Sequence[str], log: Path, env: Mapping[str, str] | None = None,
          append: bool = True) -> subprocess.Popen:
    """Start ``cmd`` in its own session, output to ``log``, no stdin."""
    with log.open("ab" if append else "wb") as out:
        return subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env=None if env is None else dict(env))


def stop_group(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group of ``pid``, wait up to ``grace`` seconds, then SIGKILL
    whatever is left of the group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def terminate(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a server started by :func:`spawn` (its whole group) and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything it left in its group
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)


@dataclass
class Server:
    """A server process on a port of 127.0.0.1, ready when started."""

    url: str
    proc: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        terminate(self.proc)


def start_server(cmd: Sequence[str], log: Path, *, port: int, ready_path: str = "/readyz",
                 env: Mapping[str, str] | None = None, timeout: float = 30.0,
                 append: bool = True, address: str = "127.0.0.1") -> Server:
    """Spawn ``cmd`` (which listens on ``address``:``port``) and return once
    ``ready_path`` answers 200. A server that does not get ready is stopped: nothing
    half-started is left."""
    proc = spawn(cmd, log, env, append)
    server = Server(f"http://{address}:{port}", proc, log)
    try:
        wait_ready(server.url, timeout, proc=proc, path=ready_path)
    except BaseException:
        server.stop()
        raise
    return server

"""Worker processes and the per-plugin pool that spreads calls across them.

Each worker is ``python -m plugin_host.worker FD`` in its own session, with a scrubbed
environment and only its end of a Unix socket pair inherited. A call that raises
fails alone; a call that exceeds its timeout kills the worker; a worker that exits is
replaced. In each case the caller gets a PluginCallError with the right status.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from ..errors import PluginCallError, PluginHostError
from ..manifest import Manifest
from ..protocol import HEADER, MAX_FRAME, ProtocolError, decode, encode
from ..sdk.routing import RouteTemplate, compile_route

log = structlog.get_logger("plugin_host.workers")

#: What a worker's environment holds: nothing of the host's own (no secrets, no tokens).
WORKER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
              "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
              "PYTHONNOUSERSITE": "1"}

CapHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]
LogHandler = Callable[[dict[str, Any]], None]


class WorkerDied(Exception):
    pass


class _Channel(asyncio.Protocol):
    """The host's end of a worker socket: splits the byte stream into decoded frames.

    A Protocol rather than streams: a call's round trip is the hot path, and this
    saves a buffer copy and a coroutine hop per frame.
    """

    def __init__(self) -> None:
        self.buf = bytearray()
        self.frames: deque[dict[str, Any]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.error: BaseException | None = None
        self.expired = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while len(buf) >= HEADER.size:
            (n,) = HEADER.unpack_from(buf)
            if n > MAX_FRAME:
                self._fail(WorkerDied("oversized frame"))
                return
            end = HEADER.size + n
            if len(buf) < end:
                break
            try:
                self.frames.append(decode(bytes(buf[HEADER.size:end])))
            except (ProtocolError, ValueError) as e:
                self._fail(WorkerDied(f"bad frame: {e}"))
                return
            del buf[:end]
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(WorkerDied("the worker closed its channel"))

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        if self.transport is not None:
            self.transport.close()
        self._wake()

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def expire(self) -> None:
        """The call's deadline passed: wake the reader with a TimeoutError."""
        self.expired = True
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(TimeoutError())

    async def read(self) -> dict[str, Any]:
        while not self.frames:
            if self.expired:
                raise TimeoutError
            if self.error is not None:
                raise self.error
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.frames.popleft()

    def write(self, msg: dict[str, Any]) -> None:
        if self.error is not None or self.transport is None:
            raise WorkerDied("the worker's channel is closed")
        self.transport.write(encode(msg))


class WorkerStartError(PluginHostError):
    code = "backend_failed"
    status = 422


@dataclass
class WorkerSpec:
    name: str
    version: str
    manifest: Manifest
    code_dir: Path
    config: dict[str, Any] = field(default_factory=dict)


class Worker:
    """One worker process and its channel."""

    def __init__(self, spec: WorkerSpec, on_cap: CapHandler, on_log: LogHandler):
        self.spec = spec
        self.on_cap = on_cap
        self.on_log = on_log
        self.proc: asyncio.subprocess.Process | None = None
        self.channel = _Channel()
        self.describe: dict[str, Any] = {}
        self.busy = False
        self.dead = False
        self.started_at = 0.0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self, timeout: float) -> None:
        assert self.spec.manifest.backend is not None
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "plugin_host.worker", str(child.fileno()),
                pass_fds=(child.fileno(),), env=WORKER_ENV, cwd=self.spec.code_dir,
                stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
        finally:
            child.close()
        await asyncio.get_running_loop().connect_accepted_socket(lambda: self.channel, parent)
        self.started_at = time.monotonic()
        self._send({"t": "init", "name": self.spec.name, "version": self.spec.version,
                    "code_dir": str(self.spec.code_dir),
                    "entry": self.spec.manifest.backend.entry, "config": self.spec.config})
        try:
            msg = await asyncio.wait_for(self._read(), timeout)
        except TimeoutError:
            self.kill()
            raise WorkerStartError(
                f"{self.spec.name}: backend did not start within {timeout:.0f}s") from None
        except WorkerDied:
            self.kill()
            raise WorkerStartError(f"{self.spec.name}: backend exited while loading") from None
        if msg["t"] == "fatal":
            self.kill()
            log.warning("plugin.load_failed", plugin=self.spec.name,
                        traceback=msg.get("traceback"))
            raise WorkerStartError(f"{self.spec.name}: backend failed to load: {msg['message']}")
        if msg["t"] != "ready":
            self.kill()
            raise WorkerStartError(f"{self.spec.name}: backend sent {msg['t']!r} before ready")
        self.describe = msg

    def _send(self, msg: dict[str, Any]) -> None:
        self.channel.write(msg)

    async def _read(self) -> dict[str, Any]:
        try:
            return await self.channel.read()
        except WorkerDied:
            self.dead = True
            raise

    async def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Send one call and serve its capability requests until the result comes."""
        self._send(msg)
        while True:
            frame = await self._read()
            t = frame["t"]
            if t == "result":
                return frame
            if t == "cap":
                try:
                    reply = {"t": "cap_result", "id": frame["id"], "ok": True,
                             "value": await self.on_cap(frame["op"], frame.get("args") or {})}
                except PluginHostError as e:
                    reply = {"t": "cap_result", "id": frame["id"], "ok": False,
                             "code": e.code, "message": e.message}
                self._send(reply)
            elif t == "log":
                self.on_log(frame)

    def kill(self) -> None:
        """Kill the worker's whole process group at once."""
        self.dead = True
        if self.channel.transport is not None:
            self.channel.transport.close()
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def stop(self, grace: float = 2.0) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None and not self.dead:
            with contextlib.suppress(Exception):
                self._send({"t": "stop"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), grace)
        self.kill()
        with contextlib.suppress(Exception):
            await self.proc.wait()


class PluginRuntime:
    """The running backend of one plugin version: a pool of ``resources.workers`` workers."""

    def __init__(self, spec: WorkerSpec, on_cap: CapHandler, on_log: LogHandler,
                 start_timeout: float = 10.0,
                 on_restart: Callable[[str, str], None] | None = None):
        self.spec = spec
        self.on_cap = on_cap
        self.on_log = on_log
        self.start_timeout = start_timeout
        self.on_restart = on_restart or (lambda plugin, reason: None)
        self.workers: list[Worker] = []
        self.idle: asyncio.Queue[Worker] = asyncio.Queue()
        self.routes: list[RouteTemplate] = []
        self.hooks: set[str] = set()
        self.restarts = 0
        self.stopping = False
        self._tasks: set[asyncio.Task] = set()

    @property
    def timeout(self) -> float:
        return self.spec.manifest.resources.timeout_ms / 1000

    async def start(self) -> None:
        n = self.spec.manifest.resources.workers
        results = await asyncio.gather(*(self._start_worker() for _ in range(n)),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.stop()
            raise errors[0]
        first = self.workers[0].describe
        self.routes = [compile_route(m, p) for m, p in first.get("routes", [])]
        self.hooks = set(first.get("hooks", []))

    async def _start_worker(self) -> Worker:
        w = Worker(self.spec, self.on_cap, self.on_log)
        await w.start(self.start_timeout)
        self.workers.append(w)
        self._watch(w)
        self.idle.put_nowait(w)
        return w

    def _watch(self, w: Worker) -> None:
        async def wait_exit() -> None:
            assert w.proc is not None
            await w.proc.wait()
            if not self.stopping and not w.busy and not w.dead:
                w.dead = True
                self._replace(w, "exited")
        self._spawn(wait_exit())

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _replace(self, w: Worker, reason: str) -> None:
        """Take a failed worker out and start another in its place (with back-off)."""
        w.kill()
        if w in self.workers:
            self.workers.remove(w)
        self.restarts += 1
        self.on_restart(self.spec.name, reason)
        log.warning("worker.replaced", plugin=self.spec.name, pid=w.pid, reason=reason)
        if self.stopping:
            return

        async def restart() -> None:
            delay = 0.05
            while not self.stopping:
                try:
                    await self._start_worker()
                    return
                except Exception as e:
                    log.error("worker.restart_failed", plugin=self.spec.name, error=str(e))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
        self._spawn(restart())

    async def _acquire(self, deadline: float) -> Worker:
        while not self.idle.empty():  # fast path: no waiting, no extra task
            w = self.idle.get_nowait()
            if not w.dead:
                return w
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - loop.time()
            try:
                w = await asyncio.wait_for(self.idle.get(), max(remaining, 0))
            except TimeoutError:
                raise PluginCallError(
                    f"{self.spec.name}: no worker free within {self.timeout:.1f}s",
                    code="plugin_busy", status=503) from None
            if not w.dead:
                return w

    async def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        """One call on a free worker; PluginCallError (503/504/502) if it cannot complete."""
        if self.stopping:
            raise PluginCallError(f"{self.spec.name} is stopping", code="plugin_unavailable",
                                  status=503)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        w = await self._acquire(deadline)
        w.busy = True
        timer = loop.call_at(deadline, w.channel.expire)
        try:
            result = await w.call(msg)
        except TimeoutError:
            self._replace(w, "timeout")
            raise PluginCallError(
                f"{self.spec.name}: the call took longer than "
                f"{self.spec.manifest.resources.timeout_ms} ms and was stopped",
                code="plugin_timeout", status=504) from None
        except WorkerDied:
            self._replace(w, "crash")
            raise PluginCallError(f"{self.spec.name}: the plugin's worker exited during the call",
                                  code="plugin_crashed", status=502) from None
        except BaseException:
            self._replace(w, "cancelled")
            raise
        finally:
            timer.cancel()
        w.busy = False
        self.idle.put_nowait(w)
        return result

    async def stop(self) -> None:
        self.stopping = True
        await asyncio.gather(*(w.stop() for w in list(self.workers)), return_exceptions=True)
        self.workers.clear()
        for t in list(self._tasks):
            t.cancel()

    def status(self) -> dict[str, Any]:
        return {"workers": [{"pid": w.pid, "busy": w.busy} for w in self.workers if not w.dead],
                "configured_workers": self.spec.manifest.resources.workers,
                "restarts": self.restarts}

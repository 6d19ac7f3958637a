"""Worker processes and the per-plugin pool that spreads calls across them (used by the
host to serve plugins, and by the registry to smoke-load a published package).

Each worker is ``python -m plugin_host.worker FD`` in its own session, with a scrubbed
environment and only its end of a Unix socket pair inherited. A call that raises
fails alone; a call that exceeds its timeout kills the worker; a worker that exits is
replaced. In each case the caller gets a PluginCallError with the right status.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from ..errors import ManifestError, PluginCallError, PluginHostError
from ..manifest import Manifest
from ..protocol import messages as m
from ..protocol.framing import HEADER, MAX_FRAME, ProtocolError, decode, encode
from ..sdk.routing import RouteTemplate, compile_route
from .sandbox import SandboxPolicy

log = structlog.get_logger("plugin_host.workers")

#: What a worker's environment holds: nothing of the host's own (no secrets, no tokens).
WORKER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
              "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
              "PYTHONNOUSERSITE": "1"}

CapHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]
LogHandler = Callable[[dict[str, Any]], None]


#: Calls queued on one worker beyond the one it is running. They wait in its socket,
#: so a burst costs one write and one read for many calls, not one each.
MAX_QUEUED = 16
#: Crash-loop detection: failures (worker deaths, failed starts) within the window.
CRASH_WINDOW = 60.0
BACKOFF_AFTER = 3
CRASH_LOOP_AFTER = 5


class Background:
    """Tasks started and not awaited: kept referenced until done, cancelled together."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def cancel_all(self) -> None:
        for t in list(self.tasks):
            t.cancel()


class WorkerDied(Exception):
    pass


class NotStarted(Exception):
    """The worker went away before it began this call: safe to send it elsewhere."""


class WorkerStartError(PluginHostError):
    code = "backend_failed"
    status = 422


@dataclass
class WorkerSpec:
    name: str
    version: str
    manifest: Manifest
    code_dir: Path
    scratch_root: Path  # each worker gets a fresh folder below it
    policy: SandboxPolicy
    config: dict[str, Any] = field(default_factory=dict)


class _Channel(asyncio.Protocol):
    """The host's end of a worker socket: frames in, frames out (corked per loop turn)."""

    def __init__(self, on_frame: Callable[[dict[str, Any]], None],
                 on_lost: Callable[[], None]):
        self.on_frame = on_frame
        self.on_lost = on_lost
        self.buf = bytearray()
        self.out: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while len(buf) >= HEADER.size:
            (n,) = HEADER.unpack_from(buf)
            end = HEADER.size + n
            if n > MAX_FRAME:
                self.close()
                return
            if len(buf) < end:
                break
            try:
                frame = decode(bytes(buf[HEADER.size:end]))
            except (ProtocolError, ValueError):
                self.close()
                return
            del buf[:end]
            self.on_frame(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.on_lost()

    def write(self, msg: dict[str, Any], now: bool = False) -> None:
        """Queue a frame for this loop turn's write; ``now`` writes at once if nothing
        is queued (the worker is idle, so waiting would only add latency)."""
        if self.closed or self.transport is None:
            raise WorkerDied("the worker's channel is closed")
        if now and not self.out:
            self.transport.write(encode(msg))
            return
        if not self.out:
            asyncio.get_running_loop().call_soon(self.flush)
        self.out.append(encode(msg))

    def flush(self) -> None:
        if self.out and not self.closed and self.transport is not None:
            self.transport.write(b"".join(self.out))
        self.out.clear()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Worker:
    """One worker process. Calls are sent with ids and may queue in its socket; the
    worker runs them one at a time, in order, so the oldest unanswered call is the one
    running and every later one has not started."""

    def __init__(self, spec: WorkerSpec, on_cap: CapHandler, on_log: LogHandler,
                 on_lost: Callable[[Worker, str], None] = lambda w, reason: None):
        self.spec = spec
        self.on_cap = on_cap
        self.on_log = on_log
        self.on_lost = on_lost
        self.proc: asyncio.subprocess.Process | None = None
        self.channel = _Channel(self._on_frame, self._on_lost)
        self.describe: dict[str, Any] = {}
        self.layers: list[str] = []
        self.scratch: Path | None = None
        self.inflight: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.seq = 0
        self.dead = False
        self._startup: asyncio.Future[dict[str, Any]] | None = None
        self._background = Background()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def load(self) -> int:
        return len(self.inflight)

    async def start(self, timeout: float) -> None:
        assert self.spec.manifest.backend is not None
        loop = asyncio.get_running_loop()
        self.spec.scratch_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.scratch = Path(tempfile.mkdtemp(dir=self.spec.scratch_root, prefix="w-"))
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            launch = self.spec.policy.launch(self.spec.manifest, self.spec.code_dir,
                                             self.scratch, child.fileno())
            self.layers = launch.layers
            self.proc = await asyncio.create_subprocess_exec(
                *launch.argv, pass_fds=(child.fileno(),), env={**WORKER_ENV, **launch.env},
                cwd=launch.cwd, stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
        except BaseException:
            parent.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        finally:
            child.close()
        await loop.connect_accepted_socket(lambda: self.channel, parent)
        self._startup = loop.create_future()
        self.channel.write(m.init(self.spec.name, self.spec.version, launch.code_dir,
                                  self.spec.manifest.backend.entry, self.spec.config,
                                  launch.confine))
        try:
            msg = await asyncio.wait_for(self._startup, timeout)
        except TimeoutError:
            self.kill()
            raise WorkerStartError(
                f"{self.spec.name}: backend did not start within {timeout:.0f}s") from None
        except WorkerDied:
            self.kill()
            raise WorkerStartError(f"{self.spec.name}: backend exited while loading") from None
        if msg["t"] == m.FATAL:
            self.kill()
            log.warning("plugin.load_failed", plugin=self.spec.name,
                        traceback=msg.get("traceback"))
            raise WorkerStartError(f"{self.spec.name}: backend failed to load: {msg['message']}")
        self.describe = msg

    def _on_frame(self, frame: dict[str, Any]) -> None:
        t = frame.get("t")
        if t == m.RESULT:
            fut = self.inflight.pop(frame.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(frame)
        elif t == m.CAP:
            self._background.spawn(self._serve_cap(frame))
        elif t == m.LOG:
            self.on_log(frame)
        elif t in (m.READY, m.FATAL) and self._startup and not self._startup.done():
            self._startup.set_result(frame)

    async def _serve_cap(self, frame: dict[str, Any]) -> None:
        try:
            reply = m.cap_ok(frame["id"],
                             await self.on_cap(frame["op"], frame.get("args") or {}))
        except PluginHostError as e:
            reply = m.cap_error(frame["id"], e.code, e.message)
        with contextlib.suppress(WorkerDied):
            self.channel.write(reply, now=True)

    def _on_lost(self) -> None:
        reason = "crash" if self.inflight else "exited"
        self.fail(WorkerDied("the worker's channel closed"))
        self.on_lost(self, reason)

    def fail(self, head_error: BaseException) -> None:
        """The worker is gone: its running call fails, the queued ones can go elsewhere."""
        self.dead = True
        if self._startup and not self._startup.done():
            self._startup.set_exception(WorkerDied("exited while loading"))
        pending, self.inflight = list(self.inflight.values()), {}
        for i, fut in enumerate(pending):
            if not fut.done():
                fut.set_exception(head_error if i == 0 else NotStarted())

    def submit(self, msg: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        self.seq += 1
        fut = asyncio.get_running_loop().create_future()
        msg["id"] = self.seq
        self.channel.write(msg, now=not self.inflight)
        self.inflight[self.seq] = fut
        return fut

    def is_running(self, fut: asyncio.Future) -> bool:
        return next(iter(self.inflight.values()), None) is fut

    def withdraw(self, fut: asyncio.Future) -> None:
        for k, v in list(self.inflight.items()):
            if v is fut:
                del self.inflight[k]

    def kill(self) -> None:
        """Kill the worker's whole process group at once."""
        self.dead = True
        self._background.cancel_all()
        self.channel.close()
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    async def stop(self, grace: float = 2.0) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None and not self.dead:
            with contextlib.suppress(Exception):
                self.channel.write(m.stop())
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
        self.routes: list[RouteTemplate] = []
        self.hooks: set[str] = set()
        self.layers: list[str] = []
        self.has_upgrade_hook = False
        self.restarts = 0
        self._failures: deque[float] = deque()
        self.stopping = False
        self.active = 0  # calls in progress or waiting for a worker
        self._idle = asyncio.Event()
        self._freed = asyncio.Event()
        self._background = Background()

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
        self.layers = self.workers[0].layers
        self.has_upgrade_hook = bool(first.get("upgrade"))
        self.routes = [compile_route(m, p) for m, p in first.get("routes", [])]
        self.hooks = set(first.get("hooks", []))

    async def _start_worker(self) -> Worker:
        w = Worker(self.spec, self.on_cap, self.on_log, on_lost=self._lost)
        await w.start(self.start_timeout)
        self.workers.append(w)
        self._freed.set()
        return w

    def _lost(self, w: Worker, reason: str) -> None:
        if not self.stopping:
            self._replace(w, reason)

    def _replace(self, w: Worker, reason: str) -> None:
        """Take a failed worker out and start another in its place (with back-off)."""
        if w not in self.workers:
            return
        self.workers.remove(w)
        w.kill()
        self.restarts += 1
        self.on_restart(self.spec.name, reason)
        log.warning("worker.replaced", plugin=self.spec.name, pid=w.pid, reason=reason)
        if self.stopping:
            return
        self._failures.append(time.monotonic())

        async def restart() -> None:
            while not self.stopping:
                await asyncio.sleep(self.backoff())
                try:
                    await self._start_worker()
                    return
                except Exception as e:
                    log.error("worker.restart_failed", plugin=self.spec.name, error=str(e))
                    self._failures.append(time.monotonic())
        self._background.spawn(restart())

    def _recent_failures(self) -> int:
        cutoff = time.monotonic() - CRASH_WINDOW
        while self._failures and self._failures[0] < cutoff:
            self._failures.popleft()
        return len(self._failures)

    def backoff(self) -> float:
        """No wait for the first failures; then 0.1 s doubling to 30 s."""
        n = self._recent_failures()
        return 0.0 if n < BACKOFF_AFTER else min(0.1 * 2 ** (n - BACKOFF_AFTER), 30.0)

    @property
    def crash_looping(self) -> bool:
        return self._recent_failures() >= CRASH_LOOP_AFTER

    async def _pick(self, deadline: float) -> Worker:
        """The least-loaded live worker with room; waits (until the deadline) if none."""
        loop = asyncio.get_running_loop()
        while True:
            best = None
            for w in self.workers:
                if not w.dead and w.load <= MAX_QUEUED and (best is None or w.load < best.load):
                    best = w
                    if not w.inflight:
                        break
            if best is not None:
                return best
            if self.crash_looping:
                raise PluginCallError(
                    f"{self.spec.name} is crash-looping: its workers keep failing; "
                    f"the next restart is in {self.backoff():.1f}s",
                    code="plugin_crash_looping", status=503)
            self._freed.clear()
            remaining = deadline - loop.time()
            try:
                await asyncio.wait_for(self._freed.wait(), max(remaining, 0))
            except TimeoutError:
                raise self._busy() from None

    def _busy(self) -> PluginCallError:
        return PluginCallError(f"{self.spec.name}: no worker free within {self.timeout:.1f}s",
                               code="plugin_busy", status=503)

    def _expire(self, w: Worker, fut: asyncio.Future) -> None:
        if fut.done():
            return
        if w.is_running(fut):  # it has run too long: the worker goes, the queue moves on
            w.fail(TimeoutError())
            self._replace(w, "timeout")
        else:  # still queued behind another call: it will be skipped by the worker
            w.withdraw(fut)
            fut.set_exception(self._busy())

    async def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        """One call on a worker; PluginCallError (503/504/502) if it cannot complete."""
        if self.stopping:
            raise PluginCallError(f"{self.spec.name} is stopping", code="plugin_unavailable",
                                  status=503)
        self.active += 1
        try:
            return await self._call(msg)
        finally:
            self.active -= 1
            if not self.active:
                self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Wait until no call is in progress or waiting here; False if time ran out."""
        while self.active:
            self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except TimeoutError:
                return False
        return True

    async def _call(self, msg: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        # The worker skips a call still queued after this (same clock: CLOCK_MONOTONIC).
        msg["deadline"] = time.monotonic() + self.timeout
        while True:
            w = await self._pick(deadline)
            fut = w.submit(msg)
            timer = loop.call_at(deadline, self._expire, w, fut)
            try:
                result = await fut
            except NotStarted:
                continue  # its worker died before reaching it: try another
            except TimeoutError:
                raise PluginCallError(
                    f"{self.spec.name}: the call took longer than "
                    f"{self.spec.manifest.resources.timeout_ms} ms and was stopped",
                    code="plugin_timeout", status=504) from None
            except WorkerDied:
                self._replace(w, "crash")
                raise PluginCallError(
                    f"{self.spec.name}: the plugin's worker exited during the call",
                    code="plugin_crashed", status=502) from None
            except asyncio.CancelledError:
                if w.is_running(fut):  # its state is unknown now
                    w.fail(WorkerDied("cancelled"))
                    self._replace(w, "cancelled")
                else:
                    w.withdraw(fut)
                raise
            finally:
                timer.cancel()
                self._freed.set()
            if result.get("code") == m.EXPIRED:
                raise self._busy()
            self._failures.clear()  # a call came back: whatever looped has stopped
            return result

    async def stop(self) -> None:
        self.stopping = True
        await asyncio.gather(*(w.stop() for w in list(self.workers)), return_exceptions=True)
        self.workers.clear()
        self._background.cancel_all()

    def status(self) -> dict[str, Any]:
        return {"workers": [{"pid": w.pid, "inflight": w.load} for w in self.workers
                            if not w.dead],
                "crash_looping": self.crash_looping,
                "configured_workers": self.spec.manifest.resources.workers,
                "restarts": self.restarts}


def check_hooks(manifest: Manifest, registered: set[str]) -> None:
    """The hooks a backend registers must be exactly those its manifest lists."""
    listed = set(manifest.permissions.hooks)
    problems = [f"permissions.hooks: {h!r} is listed but the backend registers no handler for it"
                for h in sorted(listed - registered)]
    problems += [f"permissions.hooks: the backend registers {h!r}, which is not listed"
                 for h in sorted(registered - listed)]
    if problems:
        raise ManifestError(problems)

"""The per-plugin pool of worker processes (runtime/process.py) that spreads calls
across them (used by the host to serve plugins, and by the registry to smoke-load a
published package).

A call that raises fails alone; a call that exceeds its timeout kills its worker; a
worker that exits is replaced, with back-off once failures repeat. In each case the
caller gets a PluginCallError with the right status.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

from ..errors import ManifestError, PluginCallError
from ..manifest import Manifest
from ..protocol import messages as m
from ..sdk.routing import RouteTemplate, compile_route
from .channel import Background, WorkerDied
from .deadlines import Deadlines
from .process import (
    CapHandler,
    LogHandler,
    NotStarted,
    OutOfMemory,
    Worker,
    WorkerSpec,
    WorkerStartError,
)

log = structlog.get_logger("plugin_host.workers")

__all__ = ["PluginRuntime", "WorkerSpec", "WorkerStartError", "check_hooks"]

#: Calls queued on one worker beyond the one it is running. They wait in its socket,
#: so a burst costs one write and one read for many calls, not one each.
MAX_QUEUED = 16
#: Crash-loop detection: failures (worker deaths, failed starts) within the window.
CRASH_WINDOW = 60.0
BACKOFF_AFTER = 3
CRASH_LOOP_AFTER = 5


class PluginRuntime:
    """The running backend of one plugin version: a pool of ``resources.workers`` workers,
    grown by one for each call that finds every worker busy (up to
    ``resources.max_workers``); a worker beyond the minimum idle for ``idle_seconds``
    is stopped."""

    def __init__(self, spec: WorkerSpec, on_cap: CapHandler, on_log: LogHandler,
                 start_timeout: float = 10.0,
                 on_restart: Callable[[str, str], None] | None = None,
                 idle_seconds: float = 30.0, spare: bool = False):
        self.spec = spec
        self.idle_seconds = idle_seconds
        self.keep_spare = spare
        #: a worker spawned in the sandbox but not yet given the plugin: a crashed worker's
        #: replacement and a growing pool's next worker start from it in milliseconds
        self.spare: Worker | None = None
        self._refilling = False
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
        self._deadlines = Deadlines(self._expire)
        self._starting = 0  # workers being started to meet demand
        self._waiting = 0  # calls waiting for a free worker
        self._shrinking = False

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
        self._refill()

    async def _start_worker(self) -> Worker:
        w, self.spare = self.spare, None
        if w is None or w.dead:
            w = Worker(self.spec, self.on_cap, self.on_log, on_lost=self._lost)
            await w.spawn()
        await w.activate(self.start_timeout)
        self.workers.append(w)
        self._freed.set()
        self._refill()
        return w

    def _refill(self) -> None:
        """Spawn the next spare (if this pool keeps one) in the background."""
        if not self.keep_spare or self.spare is not None or self._refilling or self.stopping:
            return
        self._refilling = True

        async def refill() -> None:
            w = Worker(self.spec, self.on_cap, self.on_log, on_lost=self._lost)
            try:
                await w.spawn()
            except Exception as e:  # the next start spawns its own; say why this failed
                log.warning("worker.spare_failed", plugin=self.spec.name, error=str(e))
                return
            finally:
                self._refilling = False
            if self.stopping or self.spare is not None:
                w.kill()
            else:
                self.spare = w
        self._background.spawn(refill())

    def _lost(self, w: Worker, reason: str) -> None:
        if w is self.spare:  # it ran no plugin code: a new one comes with the next start
            self.spare = None
            w.kill()
        elif not self.stopping:
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
            self._starting += 1  # the pool does not grow for it meanwhile
            try:
                while not self.stopping:
                    await asyncio.sleep(self.backoff())
                    try:
                        await self._start_worker()
                        return
                    except Exception as e:
                        log.error("worker.restart_failed", plugin=self.spec.name,
                                  error=str(e))
                        self._failures.append(time.monotonic())
            finally:
                self._starting -= 1
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

    @property
    def growable(self) -> bool:
        resources = self.spec.manifest.resources
        return (len(self.workers) + self._starting < resources.most_workers
                and not self.stopping and self.backoff() == 0)

    def _grow(self) -> None:
        """Start one more worker for the calls waiting (its failure counts as a crash)."""
        self._starting += 1

        async def grow() -> None:
            try:
                await self._start_worker()
                log.info("worker.added", plugin=self.spec.name, workers=len(self.workers))
            except Exception as e:
                log.warning("worker.grow_failed", plugin=self.spec.name, error=str(e))
                self._failures.append(time.monotonic())
            finally:
                self._starting -= 1
                self._freed.set()
        self._background.spawn(grow())
        if not self._shrinking:
            self._shrinking = True
            self._background.spawn(self._shrink())

    async def _shrink(self) -> None:
        """Stop workers beyond the minimum once idle for ``idle_seconds``."""
        least = self.spec.manifest.resources.workers
        try:
            while not self.stopping and (len(self.workers) > least or self._starting):
                await asyncio.sleep(max(self.idle_seconds / 4, 0.05))
                now = time.monotonic()
                for w in list(self.workers):
                    if len(self.workers) <= least:
                        break
                    if not w.inflight and not w.dead and now - w.head_started >= \
                            self.idle_seconds:
                        self.workers.remove(w)  # first: its exit is not a loss to replace
                        self._background.spawn(w.stop())
                        log.info("worker.idle_stopped", plugin=self.spec.name,
                                 workers=len(self.workers))
        finally:
            self._shrinking = False

    def _least_loaded(self) -> Worker | None:
        """The least-loaded live worker with room (an idle one at once), if any."""
        best = None
        for w in self.workers:
            if not w.dead and w.load <= MAX_QUEUED and (best is None or w.load < best.load):
                best = w
                if not w.inflight:
                    break
        return best

    async def _pick(self, deadline: float) -> Worker:
        """A free worker; else, while the pool can grow, one more worker started for this
        call and the first worker free taken; else the least-loaded live worker with
        room (the call queues on it). Waits (until the deadline) if none has room."""
        loop = asyncio.get_running_loop()
        self._waiting += 1
        try:
            while True:
                best = self._least_loaded()
                if best is not None and not best.inflight:
                    return best
                if self._waiting > self._starting and self.growable:
                    self._grow()  # one start per call waiting that has none coming for it
                if best is not None and not self._starting:
                    return best
                if best is None and self.crash_looping:
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
        finally:
            self._waiting -= 1

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
        try:  # one coroutine for the whole call (each level costs a resume per await)
            loop = asyncio.get_running_loop()
            timeout = self.timeout
            deadline = loop.time() + timeout
            # The worker skips a call still queued after this (same clock: CLOCK_MONOTONIC).
            msg["deadline"] = time.monotonic() + timeout
            moved = False
            while True:
                w = self._least_loaded()
                if w is None or w.inflight:
                    w = await self._pick(deadline)
                fut = w.submit(msg)
                self._deadlines.watch(deadline, w, fut)
                try:
                    result = await fut
                except NotStarted:
                    # Its worker died before reaching it: try another. The call never ran,
                    # so the first move gives it its whole time again (a new worker may be
                    # starting); it is not charged for the call that killed the worker.
                    if not moved:
                        moved = True
                        deadline = loop.time() + self.timeout
                        msg["deadline"] = time.monotonic() + self.timeout
                    continue
                except TimeoutError:
                    raise PluginCallError(
                        f"{self.spec.name}: the call took longer than "
                        f"{self.spec.manifest.resources.timeout_ms} ms and was stopped",
                        code="plugin_timeout", status=504) from None
                except OutOfMemory as e:
                    self._replace(w, "memory_limit")
                    raise PluginCallError(str(e), code="plugin_out_of_memory",
                                          status=502) from None
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
                        fut.cancel()  # never answered now; the watchdog passes it over
                    raise
                finally:
                    self._deadlines.answered()
                    self._freed.set()
                if result.get("code") == m.EXPIRED:
                    raise self._busy()
                self._failures.clear()  # a call came back: whatever looped has stopped
                return result
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

    async def stop(self) -> None:
        self.stopping = True
        if self.spare is not None:
            self.spare.kill()
            self.spare = None
        self._deadlines.cancel()
        await asyncio.gather(*(w.stop() for w in list(self.workers)), return_exceptions=True)
        self.workers.clear()
        self._background.cancel_all()

    def status(self) -> dict[str, Any]:
        return {"workers": [{"pid": w.pid, "inflight": w.load} for w in self.workers
                            if not w.dead],
                "crash_looping": self.crash_looping,
                "configured_workers": self.spec.manifest.resources.workers,
                "max_workers": self.spec.manifest.resources.most_workers,
                "spare": self.spare is not None,
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

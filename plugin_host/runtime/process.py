"""One worker process: ``python -m plugin_host.worker FD`` started inside the sandbox
(runtime/sandbox.py), in its own session, with a scrubbed environment and only its end
of a Unix socket pair inherited; calls sent with ids and answered in order.

The host's end of the socket is runtime/channel.py; the pool of a plugin's workers is
runtime/pool.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import signal
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from ..errors import PluginHostError
from ..manifest import Manifest
from ..protocol import messages as m
from ..protocol.framing import POLL_US, current_cpu, elsewhere, sender_cpu
from . import cgroups, scratch
from .channel import Background, Channel, WorkerDied
from .sandbox import Launch, SandboxPolicy

log = structlog.get_logger("plugin_host.workers")

WORKER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
              "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
              "PYTHONNOUSERSITE": "1"}

MIB = 1024 * 1024
#: a line of plugin output longer than this is cut
OUTPUT_LINE = 2048
#: capability requests a worker may have outstanding: the SDK waits for each answer, so
#: more means a worker that floods the host (it is killed)
MAX_CAPS_IN_FLIGHT = 4

#: calls in a row slower than the poll window before the host stops polling that worker
#: for a while (one slow call is as likely a hiccup: a worker's CPU waking from idle)
SLOW_CALLS = 4
#: how long polling stops then: the first time briefly, doubling while the calls stay
#: slow (a plugin whose handler waits on an upstream), back to none once one is quick
POLL_PAUSE = (0.01, 1.0)

CapHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]
#: while the host serves a capability request: the correlation id of the call it is made
#: during, and when (monotonic) that call began running (its timeout bounds ctx.upstream)
CURRENT_CALL = contextvars.ContextVar[str | None]("current_call", default=None)
CALL_STARTED = contextvars.ContextVar[float | None]("call_started", default=None)
LogHandler = Callable[[dict[str, Any]], None]


async def _remove_later(group: cgroups.Group, tries: int = 160) -> None:
    """Remove a killed worker's group once its last process has gone (within a minute)."""
    for i in range(tries):
        await asyncio.sleep(0.05 if i < 100 else 1.0)
        if group.remove(wait=0):
            return
    log.warning("worker.cgroup_left", dirs=[str(d) for d in group.dirs])


_cleanups = Background()


class OutOfMemory(WorkerDied):
    """The kernel killed the worker at its cgroup memory limit."""


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
    poll_us: int = POLL_US  # how long an idle worker polls before it sleeps


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
        self.channel = Channel(self._on_frame, self._on_lost)
        self.describe: dict[str, Any] = {}
        self.layers: list[str] = []
        self.scratch: Path | None = None
        self.cgroup: cgroups.Group | None = None
        self.inflight: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.cids: dict[int, str | None] = {}  # call id → correlation id
        self.head_started = 0.0  # when the call at the head of inflight began running
        self.seq = 0
        self.caps_in_flight = 0
        self.dead = False
        self._polling = False
        self._poll_off_until = 0.0  # polling paused (slow calls)
        self._slow = 0  # calls in a row that outlasted the poll window
        self._pause = 0.0  # how long polling stopped after the last slow calls
        self.peer_cpu = -1  # the CPU the worker was on when it last answered
        self._startup: asyncio.Future[dict[str, Any]] | None = None
        self._launch: Launch | None = None
        self._background = Background()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def load(self) -> int:
        return len(self.inflight)

    async def start(self, timeout: float) -> None:
        await self.spawn()
        await self.activate(timeout)

    async def spawn(self) -> None:
        """Start the process in its sandbox: it imports the runtime and waits for
        ``activate`` (a spare worker waits here, having run no plugin code)."""
        loop = asyncio.get_running_loop()
        self.spec.scratch_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.scratch = Path(tempfile.mkdtemp(dir=self.spec.scratch_root, prefix="w-"))
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            launch = self.spec.policy.launch(self.spec.manifest, self.spec.code_dir,
                                             self.scratch, child.fileno())
            self._launch = launch
            self.layers = launch.layers
            self.cgroup = launch.cgroup
            # the worker's output goes to a pipe the host reads with a size and rate cap,
            # never to the host's own stdout/stderr (its log)
            self.proc = await asyncio.create_subprocess_exec(
                *launch.argv, pass_fds=(child.fileno(),),
                env={**WORKER_ENV, **launch.env}, cwd=launch.cwd,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        except BaseException:  # cancelled mid-spawn too: kill what got in, remove later
            parent.close()
            scratch.release(self.scratch)
            if self.cgroup is not None and not self.cgroup.remove(wait=0):
                _cleanups.spawn(_remove_later(self.cgroup))
            raise
        finally:
            child.close()
        assert self.proc.stdout is not None
        self._background.spawn(self._read_output(self.proc.stdout))
        try:
            await loop.connect_accepted_socket(lambda: self.channel, parent)
        except BaseException:
            parent.close()
            self.kill()
            raise

    async def activate(self, timeout: float) -> None:
        """Give the spawned worker its plugin: it confines itself, imports the plugin's
        code and says ready (or why not)."""
        assert self.spec.manifest.backend is not None and self._launch is not None
        if self.dead:
            self.kill()
            raise WorkerStartError(f"{self.spec.name}: backend exited while loading")
        launch = self._launch
        self._startup = asyncio.get_running_loop().create_future()
        self.channel.write(m.init(self.spec.name, self.spec.version, launch.code_dir,
                                  self.spec.manifest.backend.entry, self.spec.config,
                                  launch.confine, self.spec.poll_us))
        try:
            msg = await asyncio.wait_for(self._startup, timeout)
        except TimeoutError:
            self.kill()
            raise WorkerStartError(
                f"{self.spec.name}: backend did not start within {timeout:.0f}s") from None
        except WorkerDied:
            self.kill()
            raise WorkerStartError(f"{self.spec.name}: backend exited while loading") from None
        except BaseException:  # cancelled (its plugin stopping while it started): no orphan
            self.kill()
            raise
        if msg["t"] == m.FATAL:
            self.kill()
            log.warning("plugin.load_failed", plugin=self.spec.name,
                        traceback=msg.get("traceback"))
            raise WorkerStartError(f"{self.spec.name}: backend failed to load: {msg['message']}")
        self.describe = msg

    async def _read_output(self, stream: asyncio.StreamReader) -> None:
        """What the plugin prints, a line at a time (each cut at OUTPUT_LINE bytes) to
        ``on_log``, which caps the rate; the pipe is always drained, so a chatty plugin
        never blocks on it."""
        pending = b""
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > OUTPUT_LINE:  # a line without an end: cut it here
                lines.append(pending)
                pending = b""
            for line in lines:
                self.on_log(m.log("info", "plugin.output",
                                  {"line": line[:OUTPUT_LINE].decode(errors="replace")}))
        if pending:
            self.on_log(m.log("info", "plugin.output",
                              {"line": pending[:OUTPUT_LINE].decode(errors="replace")}))

    def _on_frame(self, frame: dict[str, Any]) -> None:
        t = frame.get("t")
        if t == m.RESULT:
            fut = self.inflight.pop(frame.get("id"), None)
            self.peer_cpu = sender_cpu(frame)
            self.head_started = time.monotonic()  # the next call runs from now
            if fut is not None and not fut.done():
                fut.set_result(frame)
        elif t == m.CAP:
            if (not isinstance(frame.get("id"), int) or not isinstance(frame.get("op"), str)
                    or not isinstance(frame.get("args", {}), dict | None)):
                self._violation("a malformed capability request")
            elif self.caps_in_flight >= MAX_CAPS_IN_FLIGHT:
                self._violation(f"more than {MAX_CAPS_IN_FLIGHT} capability requests "
                                "without waiting for the answers")
            else:
                self.caps_in_flight += 1
                self._background.spawn(self._serve_cap(frame))
        elif t == m.LOG:
            self.on_log(frame)
        elif t in (m.READY, m.FATAL) and self._startup and not self._startup.done():
            self._startup.set_result(frame)

    def _violation(self, what: str) -> None:
        """The worker broke the protocol (the SDK never does): it goes at once."""
        log.warning("worker.protocol_violation", plugin=self.spec.name, pid=self.pid,
                    violation=what)
        self.channel.close()

    async def _serve_cap(self, frame: dict[str, Any]) -> None:
        CURRENT_CALL.set(self.cids.get(next(iter(self.inflight), None)))
        CALL_STARTED.set(self.head_started)
        try:
            reply = m.cap_ok(frame["id"],
                             await self.on_cap(frame["op"], frame.get("args") or {}))
        except PluginHostError as e:
            reply = m.cap_error(frame["id"], e.code, e.message)
        except Exception as e:  # never leave the worker waiting for an answer
            log.error("capability.failed", plugin=self.spec.name, op=str(frame.get("op")),
                      error=f"{type(e).__name__}: {e}")
            reply = m.cap_error(frame["id"], "capability_error",
                                f"the host could not serve {str(frame.get('op'))[:40]!r}")
        finally:
            self.caps_in_flight -= 1
        with contextlib.suppress(WorkerDied):
            self.channel.write(reply, now=True)

    def _on_lost(self) -> None:
        if self.out_of_memory:
            reason = "memory_limit"
            self.fail(OutOfMemory(f"{self.spec.name}: the plugin's worker was killed at its "
                                  f"memory limit ({self.spec.manifest.resources.memory // MIB}"
                                  " MiB, resources.memory)"))
        else:
            reason = "crash" if self.inflight else "exited"
            self.fail(WorkerDied("the worker's channel closed"))
        self.on_lost(self, reason)

    @property
    def out_of_memory(self) -> bool:
        """Did the kernel kill this worker at its memory limit (cgroups layer)?"""
        return self.cgroup is not None and self.cgroup.oom_kills() > 0

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
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        msg["id"] = self.seq
        cpu = msg["cpu"] = current_cpu()
        self.head_started = self.head_started if self.inflight else time.monotonic()
        self.channel.write(msg, now=not self.inflight)
        if self.spec.poll_us and not self._polling and elsewhere(self.peer_cpu, cpu):
            now = time.perf_counter()
            if now >= self._poll_off_until:
                self._polling = True
                loop.call_soon(self._poll, now + self.spec.poll_us / 1e6)
        self.inflight[self.seq] = fut
        self.cids[self.seq] = msg.get("cid")
        if len(self.cids) > 4 * MAX_CAPS_IN_FLIGHT:  # ids of finished calls go
            for k in [k for k in self.cids if k not in self.inflight]:
                del self.cids[k]
        return fut

    def _poll(self, until: float) -> None:
        """Keep the event loop turning (yielding the CPU each turn) while a call is out,
        for at most the poll window: a loop asleep in the kernel costs a wake-up to
        read the answer (the worker polls the same way for the next call).

        The host polls only a worker that answered last from another CPU (on this one,
        the worker cannot run until the host yields, and polling only adds turns), and
        pauses after calls that keep not coming within the window (POLL_PAUSE).
        """
        if self.inflight and not self.dead and time.perf_counter() < until:
            os.sched_yield()
            asyncio.get_running_loop().call_soon(self._poll, until)
            return
        self._polling = False
        if self.inflight and not self.dead:  # a slow call: polling is spent for nothing
            self._slow += 1
            if self._slow >= SLOW_CALLS:
                self._slow = 0
                self._pause = min(max(2 * self._pause, POLL_PAUSE[0]), POLL_PAUSE[1])
                self._poll_off_until = time.perf_counter() + self._pause
            return
        if self.dead:
            return
        self._slow, self._pause = 0, 0.0

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
            scratch.release(self.scratch)
        # remove() first kills whatever left the process group
        if self.cgroup is not None and not self.cgroup.remove(wait=0):  # still dying
            _cleanups.spawn(_remove_later(self.cgroup))

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

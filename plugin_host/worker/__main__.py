"""Entry point of a plugin worker: ``python -m plugin_host.worker FD``.

FD is the worker's end of a Unix socket pair; nothing else is inherited. The worker
imports the plugin's entry point, reports its routes and hooks, then serves one call
at a time until the host closes the socket.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import signal
import socket
import sys
import time
import traceback
from typing import Any

from plugin_host.protocol import capabilities as caps
from plugin_host.protocol import messages as m
from plugin_host.protocol.framing import BlockingChannel, current_cpu, sender_cpu
from plugin_host.sdk import (
    ERRORS,
    CapabilityError,
    Context,
    Plugin,
    Request,
    encode_response,
)
from plugin_host.worker.confine import confine, preload


class ChannelTransport:
    """ctx capabilities as requests to the host over the channel."""

    def __init__(self, channel: BlockingChannel):
        self.channel = channel
        self.seq = 0

    def cap(self, op: str, args: dict[str, Any]) -> Any:
        self.seq += 1
        self.channel.send(m.cap(self.seq, op, args))
        self.channel.flush()
        deferred = []  # calls queued behind this one arrive meanwhile: keep their order
        while True:
            reply = self.channel.recv()
            if reply is None:
                sys.exit(0)  # host went away
            if reply["t"] == m.CAP_RESULT:
                break
            deferred.append(reply)
        self.channel.frames.extendleft(reversed(deferred))
        if reply.get("ok"):
            return reply.get("value")
        code, message = reply.get("code", caps.ERROR), reply.get("message", "")
        raise ERRORS.get(code, CapabilityError)(message, code)

    def log(self, level: str, event: str, fields: dict[str, Any]) -> None:
        self.channel.send(m.log(level, str(event),
                                {str(k): _loggable(v) for k, v in fields.items()}))


def _loggable(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool | type(None)) else repr(v)


def _die_with_parent() -> None:  # pragma: no cover - in sandboxed workers only
    # If the host dies, so does the worker (the socket EOF covers the idle case).
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _Sampler:
    """Wall-clock sampling of the handler's stack while a profiled call runs (SIGALRM
    every ``interval`` seconds): folded stacks (``outer;inner``) and their counts, from
    the handler down, for ``plugin-host profile``."""

    def __init__(self, interval: float = 0.001, limit: int = 20_000):
        self.interval, self.limit = interval, limit
        self.counts: dict[str, int] = {}
        self.samples = 0

    def _tick(self, _signum: int, frame: Any) -> None:
        if self.samples >= self.limit:
            return
        names = []
        while frame is not None and frame.f_code is not serve.__code__:
            code = frame.f_code
            where = "/".join(code.co_filename.rsplit("/", 2)[-2:])
            names.append(f"{code.co_name} ({where}:{code.co_firstlineno})")
            frame = frame.f_back
        if names:
            key = ";".join(reversed(names))
            self.counts[key] = self.counts.get(key, 0) + 1
            self.samples += 1

    def __enter__(self) -> _Sampler:
        self._old = signal.signal(signal.SIGALRM, self._tick)
        signal.setitimer(signal.ITIMER_REAL, self.interval, self.interval)
        return self

    def __exit__(self, *exc: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._old)


def _error(exc: BaseException, call_id: int) -> m.Result:
    code = exc.code if isinstance(exc, CapabilityError) else m.HANDLER_ERROR
    message = exc.message if isinstance(exc, CapabilityError) else ""
    return m.error_result(call_id, code, message, type(exc).__name__,
                          "".join(traceback.format_exception(exc))[-4000:])


def serve(channel: BlockingChannel) -> None:
    init = channel.recv()
    if init is None or init.get("t") != m.INIT:
        return
    transport = ChannelTransport(channel)
    channel.poll = max(0, min(int(init.get("poll_us") or 0), 10_000)) / 1e6
    try:
        layers = confine(init.get("confine") or {})
        sys.path.insert(0, init["code_dir"])
        module, attr = init["entry"].split(":")
        plugin = getattr(importlib.import_module(module), attr)
        if not isinstance(plugin, Plugin):
            raise TypeError(f"{init['entry']} is a {type(plugin).__name__}, "
                            "not a plugin_host.sdk.Plugin")
    except BaseException as e:  # report any load failure, then exit
        channel.send(m.fatal(f"{type(e).__name__}: {e}",
                             "".join(traceback.format_exception(e))[-4000:]))
        channel.flush()
        return
    ctx = Context(transport, init["name"], init["version"], init.get("config"))
    described = plugin.describe()
    channel.send(m.ready(os.getpid(), layers, described["routes"], described["hooks"],
                         described["upgrade"]))
    while True:
        msg = channel.recv()
        if msg is None or msg["t"] == m.STOP:
            return
        if msg["t"] != m.CALL:
            continue
        call_id = msg["id"]
        channel.peer_cpu = sender_cpu(msg)
        if time.monotonic() > msg.get("deadline", float("inf")):
            # the host gave up on it while it was queued: never start it late
            channel.send(m.expired(call_id))
            continue
        try:
            if msg["kind"] == m.ROUTE:
                _route, handler = plugin.routes[msg["route"]]
                r = msg["request"]
                request = Request(method=r["method"], path=r["path"],
                                  path_params=r["path_params"], query=r["query"],
                                  headers=r["headers"], body=r["body"])
                if msg.get("profile"):
                    with _Sampler() as sampler:
                        answer = handler(request, ctx)
                else:
                    sampler, answer = None, handler(request, ctx)
                status, headers, body = encode_response(answer)
                out = m.route_result(call_id, status, headers, body)
                if sampler is not None:
                    out["profile"] = {"samples": sampler.counts, "interval_ms": 1}
            else:
                fn = (plugin.upgrade_handler if msg["kind"] == m.UPGRADE
                      else plugin.hooks[msg["event"]])
                out = m.value_result(call_id, fn(msg["payload"], ctx))
        except Exception as e:
            out = _error(e, call_id)
        out["cpu"] = current_cpu()
        try:
            channel.send(out)
        except (TypeError, ValueError, OverflowError) as e:  # a value msgpack cannot carry
            channel.send(_error(
                TypeError(f"the handler returned an unserialisable value: {e}"), call_id))


def _close_inherited(keep: int) -> None:  # pragma: no cover - in sandboxed workers only
    """Hold exactly the channel and stdin/stdout/stderr (the host's output pipe),
    whatever the launcher passed on: nothing else of the host's is reachable."""
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))


def main() -> None:  # pragma: no cover - in sandboxed workers only
    """The worker process (``python -m plugin_host.worker FD``). This,
    ``_close_inherited`` and ``_die_with_parent`` run in every sandboxed worker of every
    test, where coverage is not measured (a scrubbed environment, another uid); serve()
    is measured in process (tests/host/test_worker_protocol.py)."""
    fd = int(sys.argv[1])
    _close_inherited(fd)
    _die_with_parent()
    sock = socket.socket(fileno=fd)
    preload()
    serve(BlockingChannel(sock))


if __name__ == "__main__":  # pragma: no cover - in sandboxed workers only
    main()

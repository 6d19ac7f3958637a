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

from plugin_host.protocol import BlockingChannel
from plugin_host.sdk import (
    ERRORS,
    CapabilityError,
    Context,
    Plugin,
    Request,
    encode_response,
)
from plugin_host.worker.confine import confine


class ChannelTransport:
    """ctx capabilities as requests to the host over the channel."""

    def __init__(self, channel: BlockingChannel):
        self.channel = channel
        self.seq = 0

    def cap(self, op: str, args: dict[str, Any]) -> Any:
        self.seq += 1
        self.channel.send({"t": "cap", "id": self.seq, "op": op, "args": args})
        self.channel.flush()
        deferred = []  # calls queued behind this one arrive meanwhile: keep their order
        while True:
            reply = self.channel.recv()
            if reply is None:
                sys.exit(0)  # host went away
            if reply["t"] == "cap_result":
                break
            deferred.append(reply)
        self.channel.frames.extendleft(reversed(deferred))
        if reply.get("ok"):
            return reply.get("value")
        code, message = reply.get("code", "capability_error"), reply.get("message", "")
        raise ERRORS.get(code, CapabilityError)(message, code)

    def log(self, level: str, event: str, fields: dict[str, Any]) -> None:
        self.channel.send({"t": "log", "level": level, "event": str(event),
                           "fields": {str(k): _loggable(v) for k, v in fields.items()}})


def _loggable(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool | type(None)) else repr(v)


def _die_with_parent() -> None:
    # If the host dies, so does the worker (the socket EOF covers the idle case).
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _error(exc: BaseException, call_id: int) -> dict[str, Any]:
    code = exc.code if isinstance(exc, CapabilityError) else "handler_error"
    message = exc.message if isinstance(exc, CapabilityError) else ""
    return {"t": "result", "id": call_id, "ok": False, "code": code, "message": message,
            "exc_type": type(exc).__name__,
            "traceback": "".join(traceback.format_exception(exc))[-4000:]}


def serve(channel: BlockingChannel) -> None:
    init = channel.recv()
    if init is None or init.get("t") != "init":
        return
    transport = ChannelTransport(channel)
    try:
        layers = confine(init.get("confine") or {})
        sys.path.insert(0, init["code_dir"])
        module, attr = init["entry"].split(":")
        plugin = getattr(importlib.import_module(module), attr)
        if not isinstance(plugin, Plugin):
            raise TypeError(f"{init['entry']} is a {type(plugin).__name__}, "
                            "not a plugin_host.sdk.Plugin")
    except BaseException as e:  # report any load failure, then exit
        channel.send({"t": "fatal", "message": f"{type(e).__name__}: {e}",
                      "traceback": "".join(traceback.format_exception(e))[-4000:]})
        channel.flush()
        return
    ctx = Context(transport, init["name"], init["version"], init.get("config"))
    channel.send({"t": "ready", "pid": os.getpid(), "layers": layers, **plugin.describe()})
    while True:
        msg = channel.recv()
        if msg is None or msg["t"] == "stop":
            return
        if msg["t"] != "call":
            continue
        call_id = msg["id"]
        if time.monotonic() > msg.get("deadline", float("inf")):
            # the host gave up on it while it was queued: never start it late
            channel.send({"t": "result", "id": call_id, "ok": False, "code": "expired"})
            continue
        try:
            if msg["kind"] == "route":
                _route, handler = plugin.routes[msg["route"]]
                r = msg["request"]
                request = Request(method=r["method"], path=r["path"],
                                  path_params=r["path_params"], query=r["query"],
                                  headers=r["headers"], body=r["body"])
                status, headers, body = encode_response(handler(request, ctx))
                out = {"t": "result", "id": call_id, "ok": True, "status": status,
                       "headers": headers, "body": body}
            else:
                fn = (plugin.upgrade_handler if msg["kind"] == "upgrade"
                      else plugin.hooks[msg["event"]])
                out = {"t": "result", "id": call_id, "ok": True,
                       "value": fn(msg["payload"], ctx)}
        except Exception as e:
            out = _error(e, call_id)
        try:
            channel.send(out)
        except TypeError as e:  # a value msgpack cannot carry
            channel.send(_error(
                TypeError(f"the handler returned an unserialisable value: {e}"), call_id))


def main() -> None:
    fd = int(sys.argv[1])
    _die_with_parent()
    # Plugin prints must not reach the host's stdout.
    os.dup2(2, 1)
    sock = socket.socket(fileno=fd)
    serve(BlockingChannel(sock))


if __name__ == "__main__":
    main()

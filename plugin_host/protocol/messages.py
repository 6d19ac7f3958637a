"""Every message between the host and a worker, one definition each.

A message is a msgpack map whose ``t`` names its type. They stay plain dicts on the wire
and in memory (a call is on the hot path); the ``TypedDict`` classes document and type
them, and the functions below are the only places that build them.

host → worker   ``init`` · ``call`` (route, hook, upgrade) · ``cap_result`` · ``stop``
worker → host   ``ready`` · ``fatal`` · ``result`` · ``cap`` · ``log``

A worker runs one call at a time, in the order received; during a call it may send
``cap`` requests and waits for each ``cap_result`` before going on.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# ---- message types ------------------------------------------------------------------
INIT, CALL, CAP_RESULT, STOP = "init", "call", "cap_result", "stop"
READY, FATAL, RESULT, CAP, LOG = "ready", "fatal", "result", "cap", "log"
#: kinds of call
ROUTE, HOOK, UPGRADE = "route", "hook", "upgrade"
#: a result's code when the worker skipped a call whose deadline passed while queued
EXPIRED = "expired"
#: a result's code when the plugin's handler raised
HANDLER_ERROR = "handler_error"


# ---- host → worker --------------------------------------------------------------------

class Init(TypedDict):
    t: Literal["init"]
    name: str
    version: str
    code_dir: str
    entry: str  # "module:attribute"
    config: dict[str, Any]
    confine: dict[str, Any]  # what the worker applies to itself (runtime/sandbox.py)
    poll_us: int  # how long to poll for the next frame before sleeping (framing.POLL_US)


def init(name: str, version: str, code_dir: str, entry: str, config: dict[str, Any],
         confine: dict[str, Any], poll_us: int = 0) -> Init:
    return {"t": INIT, "name": name, "version": version, "code_dir": code_dir,
            "entry": entry, "config": config, "confine": confine, "poll_us": poll_us}


class RouteRequest(TypedDict):
    method: str
    path: str
    path_params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class Call(TypedDict):
    t: Literal["call"]
    kind: Literal["route", "hook", "upgrade"]
    cid: str  # correlation id
    id: NotRequired[int]  # set by the pool when sent
    deadline: NotRequired[float]  # CLOCK_MONOTONIC; set by the pool
    cpu: NotRequired[int]  # the CPU the host sent it from (the worker polls if not its own)
    route: NotRequired[int]  # index into the plugin's routes
    request: NotRequired[RouteRequest]
    event: NotRequired[str]
    payload: NotRequired[Any]


def route_call(route: int, cid: str, request: RouteRequest) -> Call:
    return {"t": CALL, "kind": ROUTE, "route": route, "cid": cid, "request": request}


def hook_call(event: str, payload: Any, cid: str) -> Call:
    return {"t": CALL, "kind": HOOK, "event": event, "payload": payload, "cid": cid}


def upgrade_call(from_version: str, to_version: str, cid: str) -> Call:
    return {"t": CALL, "kind": UPGRADE, "cid": cid,
            "payload": {"from": from_version, "to": to_version}}


class CapResult(TypedDict):
    t: Literal["cap_result"]
    id: int
    ok: bool
    value: NotRequired[Any]
    code: NotRequired[str]
    message: NotRequired[str]


def cap_ok(id_: int, value: Any) -> CapResult:
    return {"t": CAP_RESULT, "id": id_, "ok": True, "value": value}


def cap_error(id_: int, code: str, message: str) -> CapResult:
    return {"t": CAP_RESULT, "id": id_, "ok": False, "code": code, "message": message}


class Stop(TypedDict):
    t: Literal["stop"]


def stop() -> Stop:
    return {"t": STOP}


# ---- worker → host --------------------------------------------------------------------

class Ready(TypedDict):
    t: Literal["ready"]
    pid: int
    layers: list[str]
    routes: list[list[str]]  # [method, template]
    hooks: list[str]
    upgrade: bool  # an on_upgrade handler is registered


def ready(pid: int, layers: list[str], routes: list[list[str]], hooks: list[str],
          upgrade: bool) -> Ready:
    return {"t": READY, "pid": pid, "layers": layers, "routes": routes, "hooks": hooks,
            "upgrade": upgrade}


class Fatal(TypedDict):
    t: Literal["fatal"]
    message: str
    traceback: str


def fatal(message: str, traceback: str) -> Fatal:
    return {"t": FATAL, "message": message, "traceback": traceback}


class Result(TypedDict):
    t: Literal["result"]
    id: int
    ok: bool
    # a route's answer
    status: NotRequired[int]
    headers: NotRequired[dict[str, str]]
    body: NotRequired[bytes]
    # a hook's or upgrade handler's return value
    value: NotRequired[Any]
    cpu: NotRequired[int]  # the CPU the worker answered from (the host polls if not its own)
    # a failure
    code: NotRequired[str]
    message: NotRequired[str]
    exc_type: NotRequired[str]
    traceback: NotRequired[str]


def route_result(id_: int, status: int, headers: dict[str, str], body: bytes) -> Result:
    return {"t": RESULT, "id": id_, "ok": True, "status": status, "headers": headers,
            "body": body}


def value_result(id_: int, value: Any) -> Result:
    return {"t": RESULT, "id": id_, "ok": True, "value": value}


def error_result(id_: int, code: str, message: str, exc_type: str = "",
                 traceback: str = "") -> Result:
    return {"t": RESULT, "id": id_, "ok": False, "code": code, "message": message,
            "exc_type": exc_type, "traceback": traceback}


def expired(id_: int) -> Result:
    return {"t": RESULT, "id": id_, "ok": False, "code": EXPIRED}


class Cap(TypedDict):
    t: Literal["cap"]
    id: int
    op: str  # one of capabilities.OPS
    args: dict[str, Any]


def cap(id_: int, op: str, args: dict[str, Any]) -> Cap:
    return {"t": CAP, "id": id_, "op": op, "args": args}


class Log(TypedDict):
    t: Literal["log"]
    level: str
    event: str
    fields: dict[str, Any]


def log(level: str, event: str, fields: dict[str, Any]) -> Log:
    return {"t": LOG, "level": level, "event": event, "fields": fields}

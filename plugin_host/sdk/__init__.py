"""The plugin author's API: ``Plugin``, ``Request``, ``Response`` and the ``ctx`` capabilities.

Plugin code runs in a worker process; everything it reaches outside itself goes through
``ctx``, which asks the host. See docs/contract.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..protocol import capabilities as caps
from .routing import RouteTemplate, compile_route

__all__ = [
    "CapabilityError",
    "Context",
    "HttpResponse",
    "PermissionDenied",
    "Plugin",
    "QuotaExceeded",
    "Request",
    "Response",
    "Upstream",
    "UpstreamUnavailable",
]

Handler = Callable[..., Any]


class Plugin:
    """A plugin's backend: its routes, its Koha event handlers and its upgrade hook.
    ``plugin.toml``'s ``backend.entry`` names the instance::

        from plugin_host.sdk import Plugin, Response

        plugin = Plugin()

        @plugin.route("GET", "/hello/{who}")
        def hello(request, ctx):
            return {"message": f"Hello {request.path_params['who']}"}
    """

    def __init__(self) -> None:
        self.routes: list[tuple[RouteTemplate, Handler]] = []
        self.hooks: dict[str, Handler] = {}
        self.upgrade_handler: Handler | None = None

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        """Register ``fn(request, ctx)`` for ``METHOD /path`` (``{name}`` segments land
        in ``request.path_params``), served at ``/plugins/NAME/api/path``. It returns a
        JSON-able value (200), bytes, or a :class:`Response`."""
        compiled = compile_route(method, path)

        def register(fn: Handler) -> Handler:
            self.routes.append((compiled, fn))
            return fn

        return register

    def hook(self, event: str) -> Callable[[Handler], Handler]:
        """Register ``fn(payload, ctx)`` for a Koha event (one of
        docs/plugins/koha-events.md, listed in ``permissions.hooks`` too); its return
        value is this plugin's result in the host's answer::

            @plugin.hook("biblio.after_save")
            def saved(event, ctx):
                return {"seen": event["biblionumber"]}
        """
        def register(fn: Handler) -> Handler:
            if event in self.hooks:
                raise ValueError(f"hook {event!r} is registered twice")
            self.hooks[event] = fn
            return fn

        return register

    def on_upgrade(self, fn: Handler) -> Handler:
        """Register ``fn(event, ctx)``, run once when the host switches to this version
        from another; ``event`` is ``{"from": "1.0.0", "to": "1.1.0"}``. If it raises,
        the switch does not happen and the old version keeps serving."""
        self.upgrade_handler = fn
        return fn

    def describe(self) -> dict[str, Any]:
        """Its routes, hooks and whether it has an upgrade hook (what the worker reports
        to the host, and the host checks against plugin.toml)."""
        return {"routes": [[r.method, r.template] for r, _ in self.routes],
                "hooks": sorted(self.hooks), "upgrade": self.upgrade_handler is not None}


@dataclass
class Request:
    """What a route handler gets: ``method``, ``path``, ``path_params``, ``query``,
    ``headers`` (lower-case names) and ``body`` (bytes; ``json()`` decodes it)."""

    method: str
    path: str
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body decoded as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


@dataclass
class Response:
    """Return this for a status other than 200 or for extra headers.

    ``body`` is JSON-encoded unless it is bytes (sent as is).
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class HttpResponse:
    """What ``ctx.http`` answers: ``status``, ``headers``, ``body`` (bytes), ``text``
    and ``json()``. Tests build them for the ``http_responses`` fake:
    ``HttpResponse(200, {}, b'{"title": "Dune"}')``."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as text (UTF-8; bytes that are not become U+FFFD)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


class CapabilityError(Exception):
    """A capability call the host refused; ``code`` says why."""

    code = caps.ERROR

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class PermissionDenied(CapabilityError):
    """Outside the plugin's permissions: a host:port not in ``permissions.network``, a
    secret not in ``permissions.secrets``."""

    code = caps.DENIED


class QuotaExceeded(CapabilityError):
    """A ``ctx.kv.set`` that would pass ``permissions.kv_quota``."""

    code = caps.QUOTA_EXCEEDED


class UpstreamUnavailable(CapabilityError):
    """``ctx.upstream`` could not get an answer: the circuit is open after repeated
    failures, a rate limit or daily quota leaves no room, or every retry failed. The
    message says which and for how long."""

    code = caps.UPSTREAM_UNAVAILABLE


ERRORS = {cls.code: cls for cls in (CapabilityError, PermissionDenied, QuotaExceeded,
                                    UpstreamUnavailable)}


class Transport(Protocol):
    def cap(self, op: str, args: dict[str, Any]) -> Any: ...
    def log(self, level: str, event: str, fields: dict[str, Any]) -> None: ...


class Log:
    """``ctx.log.info("event", key=value, …)``: structured lines in the host's log and
    the plugin's own stream (``plugin-host logs NAME``); at most 50 a second."""

    def __init__(self, transport: Transport):
        self._t = transport

    def debug(self, event: str, **fields: Any) -> None:
        """A ``debug`` line: ``event`` and its fields."""
        self._t.log("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """A ``info`` line: ``event`` and its fields."""
        self._t.log("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """A ``warning`` line: ``event`` and its fields."""
        self._t.log("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """A ``error`` line: ``event`` and its fields."""
        self._t.log("error", event, fields)


class KV:
    """The plugin's key-value store, in the host's database within
    ``permissions.kv_quota``, kept across versions and restarts::

        n = ctx.kv.get("counter", 0) + 1
        ctx.kv.set("counter", n)
        ctx.kv.keys("note:")      # the keys starting with "note:"
    """

    def __init__(self, transport: Transport):
        self._t = transport

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""
        found, value = self._t.cap(caps.KV_GET, {"key": key})
        return value if found else default

    def set(self, key: str, value: Any) -> None:
        """Store a JSON-able ``value`` under ``key`` (``QuotaExceeded`` past the quota)."""
        self._t.cap(caps.KV_SET, {"key": key, "value": value})

    def delete(self, key: str) -> bool:
        """Remove ``key``; whether it was there."""
        return bool(self._t.cap(caps.KV_DELETE, {"key": key}))

    def keys(self, prefix: str = "") -> list[str]:
        """The keys starting with ``prefix``, sorted."""
        return list(self._t.cap(caps.KV_KEYS, {"prefix": prefix}))


class Http:
    """Outbound HTTP, only to the host:port pairs in ``permissions.network`` (anything
    else raises :class:`PermissionDenied`); no redirects followed, answers up to 10 MiB::

        r = ctx.http.get("https://openlibrary.org/isbn/9780441013593.json")
        if r.status == 200:
            title = r.json()["title"]
    """

    def __init__(self, transport: Transport):
        self._t = transport

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                body: bytes | None = None, json_body: Any = None,
                timeout: float | None = None) -> HttpResponse:
        """One request; ``json_body`` is sent as JSON; ``timeout`` in seconds."""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers = {"content-type": "application/json", **(headers or {})}
        r = self._t.cap(caps.HTTP_REQUEST, {"method": method.upper(), "url": url,
                                         "headers": headers or {}, "body": body,
                                         "timeout": timeout})
        return HttpResponse(status=r["status"], headers=r["headers"], body=r["body"])

    def get(self, url: str, **kw: Any) -> HttpResponse:
        """``request("GET", url, …)``."""
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> HttpResponse:
        """``request("POST", url, …)``."""
        return self.request("POST", url, **kw)


class Upstream:
    """A library service declared in ``[upstreams.NAME]``: the host adds the credentials
    (the plugin never sees them), retries idempotent calls, rate-limits and breaks the
    circuit as declared::

        r = ctx.upstream("worldcat").get("/worldcat/search/v2/brief-bibs",
                                         params={"q": "bn:9780441013593"})
        if r.status == 200:
            records = r.json()["briefRecords"]

    Raises :class:`UpstreamUnavailable` when the host cannot get an answer; an answer
    the upstream gave (a 404, even a last 503) comes back as an ``HttpResponse``."""

    def __init__(self, transport: Transport, name: str):
        self._t, self.name = transport, name

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, body: bytes | None = None,
                json_body: Any = None) -> HttpResponse:
        """One call to ``path`` under the upstream's URL, with query ``params``."""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers = {"content-type": "application/json", **(headers or {})}
        r = self._t.cap(caps.UPSTREAM_REQUEST, {
            "upstream": self.name, "method": method.upper(), "path": path,
            "params": params or {}, "headers": headers or {}, "body": body})
        return HttpResponse(status=r["status"], headers=r["headers"], body=r["body"])

    def get(self, path: str, **kw: Any) -> HttpResponse:
        """``request("GET", path, …)``."""
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> HttpResponse:
        """``request("POST", path, …)`` (never retried: not idempotent)."""
        return self.request("POST", path, **kw)


class Secrets:
    """``ctx.secrets["NAME"]`` (``KeyError`` when the operator has not set it) or
    ``ctx.secrets.get("NAME")`` (``None``): only names listed in ``permissions.secrets``.
    Operators set them with ``plugin-host secrets set PLUGIN NAME``."""

    def __init__(self, transport: Transport):
        self._t = transport

    def __getitem__(self, name: str) -> str:
        try:
            return self._t.cap(caps.SECRET_GET, {"name": name})
        except CapabilityError as e:
            if e.code == caps.SECRET_NOT_SET:
                raise KeyError(name) from None
            raise

    def get(self, name: str, default: str | None = None) -> str | None:
        """The secret, or ``default`` when it is not set."""
        try:
            return self[name]
        except KeyError:
            return default


@dataclass(frozen=True)
class PluginRef:
    name: str
    version: str


class Context:
    """What a handler may reach (its second argument): ``plugin`` (name, version),
    ``config`` (the ``[config]`` defaults under what the operator set), ``log``, ``kv``,
    ``http``, ``secrets`` and ``upstream(NAME)``. Everything outside the worker goes
    through it."""

    def __init__(self, transport: Transport, name: str, version: str,
                 config: dict[str, Any] | None = None):
        self.plugin = PluginRef(name, version)
        self.config: dict[str, Any] = dict(config or {})
        self.log = Log(transport)
        self.kv = KV(transport)
        self.http = Http(transport)
        self.secrets = Secrets(transport)
        self._transport = transport

    def upstream(self, name: str) -> Upstream:
        """The library service ``[upstreams.NAME]`` declares (see :class:`Upstream`)."""
        return Upstream(self._transport, name)


def encode_response(value: Any) -> tuple[int, dict[str, str], bytes]:
    """A handler's return value → (status, headers, body)."""
    if isinstance(value, Response):
        status, headers, body = value.status, dict(value.headers), value.body
    else:
        status, headers, body = 200, {}, value
    lower = {k.lower() for k in headers}
    if isinstance(body, bytes | bytearray):
        if "content-type" not in lower:
            headers["content-type"] = "application/octet-stream"
        return status, headers, bytes(body)
    if "content-type" not in lower:
        headers["content-type"] = "application/json"
    return status, headers, json.dumps(body, separators=(",", ":"), default=str).encode()

"""What a plugin's backend is made of: the ``Plugin`` with its routes, hooks and upgrade
hook, the ``Request`` a route handler gets and the ``Response`` it may return, and the
``HttpResponse`` outbound calls answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .routing import RouteTemplate, compile_route

Handler = Callable[..., Any]


class Plugin:
    """A plugin's backend: its routes, its Koha event handlers and its upgrade hook.
    ``plugin.toml``'s ``backend.entry`` names the instance (``my_plugin:plugin``).

    Examples:
        >>> plugin = Plugin()
        >>> @plugin.route("GET", "/hello/{who}")
        ... def hello(request, ctx):
        ...     return {"message": f"Hello {request.path_params['who']}"}
    """

    def __init__(self) -> None:
        self.routes: list[tuple[RouteTemplate, Handler]] = []
        self.hooks: dict[str, Handler] = {}
        self.upgrade_handler: Handler | None = None

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        """Register ``fn(request, ctx)`` for ``METHOD /path`` (``{name}`` segments land
        in ``request.path_params``), served at ``/plugins/NAME/api/path``. It returns a
        JSON-able value (200), bytes, or a :class:`Response`.

        Examples:
            >>> @plugin.route("GET", "/notes/{id}")
            ... def note(request, ctx):
            ...     found = ctx.kv.get(f"note:{request.path_params['id']}")
            ...     return found if found else Response(404, {"error": "no such note"})
            >>> client.get("/notes/7").status
            404
        """
        compiled = compile_route(method, path)

        def register(fn: Handler) -> Handler:
            self.routes.append((compiled, fn))
            return fn

        return register

    def hook(self, event: str) -> Callable[[Handler], Handler]:
        """Register ``fn(payload, ctx)`` for a Koha event (one of
        docs/plugins/koha-events.md, listed in ``permissions.hooks`` too); its return
        value is this plugin's result in the host's answer.

        Examples:
            >>> @plugin.hook("biblio.after_save")
            ... def saved(event, ctx):
            ...     return {"seen": event["biblionumber"]}
            >>> client.hook("biblio.after_save", biblionumber=42)
            {'seen': 42}
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
        the switch does not happen and the old version keeps serving.

        Examples:
            >>> @plugin.on_upgrade
            ... def migrate(event, ctx):
            ...     ctx.kv.set("schema", 2)
            ...     return {"migrated_from": event["from"]}
            >>> client.upgrade("0.9.0")
            {'migrated_from': '0.9.0'}
        """
        self.upgrade_handler = fn
        return fn

    def describe(self) -> dict[str, Any]:
        """Its routes, hooks and whether it has an upgrade hook (what the worker reports
        to the host, and the host checks against plugin.toml).

        Examples:
            >>> p = Plugin()
            >>> _ = p.route("GET", "/ping")(lambda request, ctx: "pong")
            >>> p.describe()
            {'routes': [['GET', '/ping']], 'hooks': [], 'upgrade': False}
        """
        return {"routes": [[r.method, r.template] for r, _ in self.routes],
                "hooks": sorted(self.hooks), "upgrade": self.upgrade_handler is not None}


@dataclass
class Request:
    """What a route handler gets: ``method``, ``path``, ``path_params``, ``query``,
    ``headers`` (lower-case names) and ``body`` (bytes; ``json()`` decodes it).

    Examples:
        >>> @plugin.route("GET", "/search")
        ... def search(request, ctx):
        ...     return {"q": request.query.get("q"), "agent": request.headers.get("user-agent")}
        >>> client.get("/search", query={"q": "dune"}, headers={"User-Agent": "koha"}).json()
        {'q': 'dune', 'agent': 'koha'}
    """

    method: str
    path: str
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body decoded as JSON (None when empty).

        Examples:
            >>> Request("POST", "/notes", body=b'{"text": "Signed copy"}').json()
            {'text': 'Signed copy'}
        """
        return json.loads(self.body) if self.body else None


@dataclass
class Response:
    """Return this for a status other than 200 or for extra headers.

    ``body`` is JSON-encoded unless it is bytes (sent as is).

    Examples:
        >>> @plugin.route("POST", "/notes")
        ... def add(request, ctx):
        ...     ctx.kv.set("note:1", request.json())
        ...     return Response(201, {"id": 1}, {"location": "/notes/1"})
        >>> r = client.post("/notes", json_body={"text": "Signed copy"})
        >>> r.status, r.headers["location"]
        (201, '/notes/1')
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class HttpResponse:
    """What ``ctx.http`` answers: ``status``, ``headers``, ``body`` (bytes), ``text``
    and ``json()``. Tests build them for the ``http_responses`` fake:
    ``HttpResponse(200, {}, b'{"title": "Dune"}')``.

    Examples:
        >>> r = HttpResponse(200, {"content-type": "application/json"}, b'{"title": "Dune"}')
        >>> r.status, r.json()["title"]
        (200, 'Dune')
    """

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as text (UTF-8; bytes that are not become U+FFFD).

        Examples:
            >>> HttpResponse(200, {}, "Café".encode("latin-1")).text  # not UTF-8
            'Caf\ufffd'
        """
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body decoded as JSON.

        Examples:
            >>> HttpResponse(200, {}, b'[1, 2]').json()
            [1, 2]
        """
        return json.loads(self.body)


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

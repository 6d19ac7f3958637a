"""``ctx``, a handler's second argument: everything a plugin reaches outside its worker
(its log, key-value store, outbound HTTP, library services and secrets) goes through
it, and the host checks each request against the plugin's permissions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from ..protocol import capabilities as caps
from .errors import CapabilityError
from .handlers import HttpResponse


class Transport(Protocol):
    def cap(self, op: str, args: dict[str, Any]) -> Any: ...
    def log(self, level: str, event: str, fields: dict[str, Any]) -> None: ...


class Log:
    """``ctx.log``: structured lines in the host's log and the plugin's own stream
    (``plugin-host logs NAME``); at most 50 a second.

    Examples:
        >>> ctx.log.info("note.saved", biblionumber=42)
    """

    def __init__(self, transport: Transport):
        self._t = transport

    def debug(self, event: str, **fields: Any) -> None:
        """A ``debug`` line: ``event`` and its fields.

        Examples:
            >>> ctx.log.debug("cache.miss", key="isbn:9780441013593")
        """
        self._t.log("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """An ``info`` line: ``event`` and its fields.

        Examples:
            >>> ctx.log.info("greeting", name="Ada")
        """
        self._t.log("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """A ``warning`` line: ``event`` and its fields.

        Examples:
            >>> ctx.log.warning("title.missing", isbn="9780441013593")
        """
        self._t.log("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """An ``error`` line: ``event`` and its fields.

        Examples:
            >>> ctx.log.error("lookup.failed", status=503)
        """
        self._t.log("error", event, fields)


class KV:
    """The plugin's key-value store, in the host's database within
    ``permissions.kv_quota``, kept across versions and restarts.

    Examples:
        >>> ctx.kv.set("counter", ctx.kv.get("counter", 0) + 1)
        >>> ctx.kv.get("counter")
        1
    """

    def __init__(self, transport: Transport):
        self._t = transport

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``.

        Examples:
            >>> ctx.kv.get("note:99", {"text": ""})
            {'text': ''}
        """
        found, value = self._t.cap(caps.KV_GET, {"key": key})
        return value if found else default

    def set(self, key: str, value: Any) -> None:
        """Store a JSON-able ``value`` under ``key`` (``QuotaExceeded`` past the quota).

        Examples:
            >>> ctx.kv.set("note:1", {"text": "Signed copy", "biblionumber": 42})
            >>> ctx.kv.get("note:1")["text"]
            'Signed copy'
        """
        self._t.cap(caps.KV_SET, {"key": key, "value": value})

    def delete(self, key: str) -> bool:
        """Remove ``key``; whether it was there.

        Examples:
            >>> ctx.kv.set("draft", "…")
            >>> ctx.kv.delete("draft"), ctx.kv.delete("draft")
            (True, False)
        """
        return bool(self._t.cap(caps.KV_DELETE, {"key": key}))

    def keys(self, prefix: str = "") -> list[str]:
        """The keys starting with ``prefix``, sorted.

        Examples:
            >>> for n in (2, 1):
            ...     ctx.kv.set(f"note:{n}", {})
            >>> ctx.kv.keys("note:")
            ['note:1', 'note:2']
        """
        return list(self._t.cap(caps.KV_KEYS, {"prefix": prefix}))


class Http:
    """Outbound HTTP, only to the host:port pairs in ``permissions.network`` (anything
    else raises :class:`PermissionDenied`); no redirects followed, answers up to 10 MiB.

    Examples:
        >>> r = ctx.http.get("https://openlibrary.org/isbn/9780441013593.json")
        >>> r.status, r.json()["title"]
        (200, 'Dune')
        >>> ctx.http.get("https://example.com/")
        Traceback (most recent call last):
        plugin_host.sdk.errors.PermissionDenied: ...
    """

    def __init__(self, transport: Transport):
        self._t = transport

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                body: bytes | None = None, json_body: Any = None,
                timeout: float | None = None) -> HttpResponse:
        """One request; ``json_body`` is sent as JSON; ``timeout`` in seconds.

        Examples:
            >>> r = ctx.http.request("GET", "https://openlibrary.org/isbn/9780441013593.json",
            ...                      headers={"accept": "application/json"}, timeout=5)
            >>> r.status
            200
        """
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers = {"content-type": "application/json", **(headers or {})}
        r = self._t.cap(caps.HTTP_REQUEST, {"method": method.upper(), "url": url,
                                         "headers": headers or {}, "body": body,
                                         "timeout": timeout})
        return HttpResponse(status=r["status"], headers=r["headers"], body=r["body"])

    def get(self, url: str, **kw: Any) -> HttpResponse:
        """``request("GET", url, …)``.

        Examples:
            >>> ctx.http.get("https://openlibrary.org/isbn/0000000000.json").status
            404
        """
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> HttpResponse:
        """``request("POST", url, …)``.

        Examples:
            >>> r = ctx.http.post("https://openlibrary.org/search/inside.json",
            ...                   json_body={"q": "spice"})
            >>> r.json()
            {'received': {'q': 'spice'}}
        """
        return self.request("POST", url, **kw)


class Upstream:
    """A library service declared in ``[upstreams.NAME]``: the host adds the credentials
    (the plugin never sees them), retries idempotent calls, rate-limits and breaks the
    circuit as declared. Raises :class:`UpstreamUnavailable` when the host cannot get an
    answer; an answer the upstream gave (a 404, even a last 503) comes back as an
    ``HttpResponse``.

    Examples:
        >>> r = ctx.upstream("worldcat").get("/brief-bibs", params={"q": "bn:9780441013593"})
        >>> r.json()["briefRecords"][0]["title"]
        'Dune'
    """

    def __init__(self, transport: Transport, name: str):
        self._t, self.name = transport, name

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, body: bytes | None = None,
                json_body: Any = None) -> HttpResponse:
        """One call to ``path`` under the upstream's URL, with query ``params``.

        Examples:
            >>> worldcat = ctx.upstream("worldcat")
            >>> worldcat.request("GET", "/brief-bibs", params={"q": "bn:9780441013593"}).status
            200
        """
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers = {"content-type": "application/json", **(headers or {})}
        r = self._t.cap(caps.UPSTREAM_REQUEST, {
            "upstream": self.name, "method": method.upper(), "path": path,
            "params": params or {}, "headers": headers or {}, "body": body})
        return HttpResponse(status=r["status"], headers=r["headers"], body=r["body"])

    def get(self, path: str, **kw: Any) -> HttpResponse:
        """``request("GET", path, …)``.

        Examples:
            >>> ctx.upstream("worldcat").get("/brief-bibs/1").status
            404
        """
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> HttpResponse:
        """``request("POST", path, …)`` (never retried: not idempotent).

        Examples:
            >>> ctx.upstream("worldcat").post("/brief-bibs", json_body={"q": "x"}).status
            405
        """
        return self.request("POST", path, **kw)


class Secrets:
    """``ctx.secrets["NAME"]`` (``KeyError`` when the operator has not set it) or
    ``ctx.secrets.get("NAME")`` (``None``): only names listed in ``permissions.secrets``.
    Operators set them with ``plugin-host secrets set PLUGIN NAME``.

    Examples:
        >>> key = ctx.secrets["OPENLIBRARY_KEY"]
        >>> ctx.secrets["ANOTHER_PLUGINS_KEY"]
        Traceback (most recent call last):
        plugin_host.sdk.errors.PermissionDenied: ...
    """

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
        """The secret, or ``default`` when it is not set.

        Examples:
            >>> ctx.secrets.get("OPENLIBRARY_KEY") is not None
            True
        """
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
    through it.

    Examples:
        >>> ctx.plugin.name, ctx.config["greeting"]
        ('sdk-examples', 'Hello')
    """

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
        """The library service ``[upstreams.NAME]`` declares (see :class:`Upstream`).

        Examples:
            >>> ctx.upstream("worldcat").name
            'worldcat'
        """
        return Upstream(self._transport, name)

"""Test a plugin's handlers in-process, without a host: ``PluginTestClient``.

    from plugin_host.sdk.testing import PluginTestClient
    client = PluginTestClient.from_folder(Path(__file__).parents[1])
    assert client.get("/greet/Ada").json() == {"greeting": "Hello Ada"}

The client enforces what the host enforces for ``ctx``: the kv quota, the network
allow-list and the secret names from plugin.toml. Outbound HTTP goes to the
``http`` callable you pass (``(method, url, headers, body) -> HttpResponse``), never to
the network. The real isolation (worker processes, sandbox) is the host's job: test
that with the host itself.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import msgpack

from ..manifest import MANIFEST_FILE, Manifest, parse_manifest
from ..protocol import capabilities as caps
from ..protocol.capabilities import CapabilityPolicy, CapabilityRefused
from . import (
    ERRORS,
    CapabilityError,
    Context,
    HttpResponse,
    Plugin,
    Request,
    encode_response,
)
from .routing import match_routes

HttpFake = Callable[[str, str, dict[str, str], bytes | None], HttpResponse]


class _Transport:
    """``ctx`` served in process, with the host's own permission checks."""

    def __init__(self, manifest: Manifest, secrets: dict[str, str], http: HttpFake | None):
        self.manifest = manifest
        self.policy = CapabilityPolicy(manifest.permissions)
        self.secrets = secrets
        self.http = http
        self.kv: dict[str, bytes] = {}
        self.logs: list[tuple[str, str, dict[str, Any]]] = []

    def cap(self, op: str, args: dict[str, Any]) -> Any:
        try:
            return self._cap(op, args)
        except CapabilityRefused as e:
            raise ERRORS.get(e.code, CapabilityError)(e.message, e.code) from None

    def _cap(self, op: str, args: dict[str, Any]) -> Any:
        policy = self.policy
        if op == caps.KV_GET:
            raw = self.kv.get(policy.kv_key(args))
            return (True, msgpack.unpackb(raw, raw=False)) if raw is not None else (False, None)
        if op == caps.KV_SET:
            key = policy.kv_key(args)
            data = msgpack.packb(args["value"], use_bin_type=True)
            used = sum(len(k.encode()) + len(v) for k, v in self.kv.items() if k != key)
            policy.check_quota(used, len(key.encode()) + len(data))
            self.kv[key] = data
            return None
        if op == caps.KV_DELETE:
            return self.kv.pop(policy.kv_key(args), None) is not None
        if op == caps.KV_KEYS:
            return sorted(k for k in self.kv if k.startswith(args.get("prefix", "")))
        if op == caps.SECRET_GET:
            policy.check_secret(args["name"])
            if args["name"] not in self.secrets:
                raise CapabilityRefused(caps.SECRET_NOT_SET, f"secret {args['name']!r} is not set")
            return self.secrets[args["name"]]
        if op == caps.HTTP_REQUEST:
            policy.check_url(args["url"])
            if self.http is None:
                raise CapabilityRefused(caps.HTTP_ERROR,
                                        "no http fake was given to PluginTestClient")
            r = self.http(args["method"], args["url"], args["headers"], args["body"])
            return {"status": r.status, "headers": r.headers, "body": r.body}
        if op == caps.UPSTREAM_REQUEST:  # the same fake, at the upstream's URL (no policy)
            up = self.manifest.upstreams.get(args.get("upstream", ""))
            if up is None:
                raise CapabilityRefused(caps.DENIED, f"ctx.upstream: {args.get('upstream')!r}"
                                                     " is not declared in [upstreams]")
            if self.http is None:
                raise CapabilityRefused(caps.HTTP_ERROR,
                                        "no http fake was given to PluginTestClient")
            query = urlencode(args.get("params") or {}, doseq=True)
            url = up.url + args["path"] + ("?" + query if query else "")
            r = self.http(args["method"], url, args["headers"], args["body"])
            for _ in range(5):  # redirects under the upstream's URL, as the host follows
                where = urljoin(url, {k.lower(): v for k, v in r.headers.items()}.get(
                    "location", ""))
                if r.status not in (301, 302, 303, 307, 308) or \
                        not where.startswith(up.url + "/"):
                    break
                url = where
                r = self.http("GET", url, args["headers"], None)
            return {"status": r.status, "headers": r.headers, "body": r.body}
        policy.check_op(op)
        raise CapabilityRefused(caps.ERROR, f"unknown capability {op!r}")

    def log(self, level: str, event: str, fields: dict[str, Any]) -> None:
        self.logs.append((level, event, fields))


class TestResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


class PluginTestClient:
    """A plugin's handlers called in process with an in-memory ``ctx`` holding the
    host's checks: ``from_folder(FOLDER, config={…}, secrets={NAME: value},
    http=fake)`` (``fake(method, url, headers, body) → HttpResponse``); then
    ``get``/``post``/``request``, ``hook``, ``upgrade``, and ``kv`` and ``logs`` to look
    at what the plugin did. The pytest fixture ``plugin`` is one of these.

    Examples:
        >>> client = PluginTestClient.from_folder(EXAMPLES / "hello-world")
        >>> client.get("/greet/Ada").json()
        {'greeting': 'Hello Ada'}
    """

    __test__ = False  # not a pytest test class

    def __init__(self, plugin: Plugin, manifest: Manifest, *, config: dict | None = None,
                 secrets: dict[str, str] | None = None, http: HttpFake | None = None):
        self.plugin = plugin
        self.manifest = manifest
        self.transport = _Transport(manifest, secrets or {}, http)
        # as the host gives it: the [config] defaults under what is set, checked first
        effective = {**manifest.default_config(), **(config or {})}
        problems = manifest.config_problems(effective)
        if problems:
            raise ValueError(f"config: {'; '.join(problems)}")
        self.ctx = Context(self.transport, manifest.name, manifest.version, effective)

    @classmethod
    def from_folder(cls, folder: Path, **kw: Any) -> PluginTestClient:
        folder = Path(folder)
        manifest = parse_manifest((folder / MANIFEST_FILE).read_bytes())
        if manifest.backend is None:
            raise ValueError("plugin.toml has no [backend]")
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        module = importlib.import_module(manifest.backend.module)
        return cls(getattr(module, manifest.backend.attribute), manifest, **kw)

    @property
    def kv(self) -> dict[str, Any]:
        """What the plugin keeps in ``ctx.kv``, decoded.

        Examples:
            >>> _ = client.post("/notes", json_body={"text": "Signed copy"})
            >>> client.kv["note:1"]
            {'text': 'Signed copy'}
        """
        return {k: msgpack.unpackb(v, raw=False) for k, v in self.transport.kv.items()}

    @property
    def logs(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The plugin's ``ctx.log`` lines: (level, event, fields).

        Examples:
            >>> ctx.log.info("greeting", name="Ada")
            >>> client.logs[-1]
            ('info', 'greeting', {'name': 'Ada'})
        """
        return self.transport.logs

    def request(self, method: str, path: str, *, json_body: Any = None, body: bytes = b"",
                query: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> TestResponse:
        """Call the route matching ``METHOD path`` (``json_body`` sent as JSON); a
        :class:`TestResponse` with ``status``, ``headers``, ``body`` and ``json()``.

        Examples:
            >>> client.request("DELETE", "/notes/1").status  # the path has no DELETE
            405
        """
        if json_body is not None:
            body = json.dumps(json_body).encode()
        routes = [r for r, _ in self.plugin.routes]
        found = match_routes(routes, method.upper(), path)
        if not found:
            return TestResponse(405 if found is False else 404, {}, b"{}")
        index, _route, params = found
        request = Request(method.upper(), path, params, query or {},
                          {k.lower(): v for k, v in (headers or {}).items()}, body)
        return TestResponse(*encode_response(self.plugin.routes[index][1](request, self.ctx)))

    def get(self, path: str, **kw: Any) -> TestResponse:
        """``request("GET", path, …)``.

        Examples:
            >>> client.get("/notes/7").status
            404
        """
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> TestResponse:
        """``request("POST", path, …)``.

        Examples:
            >>> client.post("/notes", json_body={"text": "Draft"}).status
            201
        """
        return self.request("POST", path, **kw)

    def upgrade(self, from_version: str) -> Any:
        """Run the plugin's ``@plugin.on_upgrade`` handler as the host does when it
        switches from ``from_version`` to this version (kv data as the test left it).

        Examples:
            >>> client.upgrade("0.9.0")
            {'migrated_from': '0.9.0'}
        """
        if self.plugin.upgrade_handler is None:
            raise ValueError("the plugin registers no @plugin.on_upgrade handler")
        return self.plugin.upgrade_handler({"from": from_version, "to": self.manifest.version},
                                           self.ctx)

    def hook(self, event: str, payload: Any = None, **fields: Any) -> Any:
        """Deliver Koha event ``event`` to the plugin's handler as the host would: the
        payload is checked against the event's shape first (docs/plugins/koha-events.md).
        Without a payload, a valid example of the event is sent, with ``fields``
        changed.

        Examples:
            >>> client.hook("biblio.after_save", biblionumber=7)
            {'seen': 7}
        """
        from ..koha import example, validate_payload

        if event not in self.manifest.permissions.hooks:
            raise ValueError(f"{event!r} is not in permissions.hooks")
        payload = example(event, **fields) if payload is None else \
            validate_payload(event, payload)
        return self.plugin.hooks[event](payload, self.ctx)

"""What the fake library services share: a real HTTP server (threads) in front of a
``handle(Call) -> Reply`` each service writes the way its published API answers; faults a
test plans (status, ``Retry-After``, delay) answered in the service's own error shape;
an OAuth 2 client-credentials token endpoint with tokens that expire or are revoked;
and a record of every call (never the credentials).

``in_process()`` gives the same service as a ``PluginTestClient`` ``http=`` fake, for a
plugin's own tests (authentication is the host's job there, so it is not checked)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from plugin_host.sdk import HttpResponse

from ..servers import serve_in_thread


@dataclass
class Fault:
    """The next answer, planned: a status (with ``Retry-After``) and/or a delay."""

    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    authenticated: bool = False

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    status: int
    body: bytes | dict | list | str
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        if isinstance(self.body, str):
            return self.body.encode(), self.headers.get("Content-Type", "application/xml")
        return json.dumps(self.body).encode(), self.headers.get("Content-Type",
                                                                "application/json")


class Service:
    """A fake service. Subclasses set ``token_path`` (None: no OAuth), ``client_auth``
    (``basic`` or ``body``, where the token endpoint reads the client's credentials) and
    write ``route(call)`` and ``error(status, message)``."""

    token_path: str | None = None
    client_auth = "basic"
    token_ttl = 1199

    def __init__(self) -> None:
        self.url = ""
        self.client_id = "client-" + secrets.token_hex(4)
        self.client_secret = "secret-" + secrets.token_hex(16)
        self.api_key = "key-" + secrets.token_hex(16)
        self.faults: deque[Fault] = deque()
        self.calls: list[Call] = []
        self.token_requests = 0
        self.token_scopes: list[str | None] = []  # the scope each token was asked for
        self.tokens: dict[str, float] = {}  # token -> expires at
        self.lock = threading.Lock()

    # -- what tests use ------------------------------------------------------------
    def plan(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def revoke_tokens(self) -> None:
        """Every token issued so far now answers 401, as an expired one does."""
        with self.lock:
            self.tokens.clear()

    def api_calls(self, path_part: str = "") -> list[Call]:
        return [c for c in self.calls if path_part in c.path]

    # -- what services write -------------------------------------------------------
    def route(self, call: Call) -> Reply:
        raise NotImplementedError

    def error(self, status: int, message: str) -> Reply:
        raise NotImplementedError

    def authenticated(self, call: Call) -> bool:
        """Bearer tokens this endpoint issued (services with an API key override)."""
        auth = call.headers.get("authorization", "")
        with self.lock:
            expires = self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        return expires is not None and expires > time.time()

    # -- the server ----------------------------------------------------------------
    def handle(self, call: Call) -> Reply:
        if self.token_path is not None and call.path == self.token_path:
            return self._token(call)
        if not call.authenticated and not self.authenticated(call):
            return self.error(401, "Authentication failure.")
        with self.lock:
            self.calls.append(call)
            fault = self.faults.popleft() if self.faults else None
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status != 200:
                reply = self.error(fault.status, _REASONS.get(fault.status, "planned fault"))
                if fault.retry_after:
                    reply.headers["Retry-After"] = fault.retry_after
                return reply
        return self.route(call)

    def _token(self, call: Call) -> Reply:
        """RFC 6749 §4.4 client credentials; errors as §5.2 says."""
        with self.lock:
            self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(call.body.decode(errors="replace")).items()}
        if self.client_auth == "basic":
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode())
            ok = call.headers.get("authorization") == f"Basic {expected.decode()}"
        else:
            ok = (form.get("client_id"), form.get("client_secret")) == (
                self.client_id, self.client_secret)
        if not ok:
            return Reply(401, {"error": "invalid_client"})
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.token_scopes.append(form.get("scope"))
            self.tokens[token] = time.time() + self.token_ttl
        return Reply(200, self.token_answer(token, form))

    def token_answer(self, token: str, form: dict[str, str]) -> dict[str, Any]:
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}

    def in_process(self):
        """``http=`` for PluginTestClient: each URL's path answered by this service as
        its real host would (authentication taken as done: the host does it)."""
        def fake(method: str, url: str, headers: dict, body: bytes | None) -> HttpResponse:
            parts = urlsplit(url)
            reply = self.handle(Call(method, parts.path, parse_qs(parts.query),
                                     {k.lower(): v for k, v in (headers or {}).items()},
                                     body or b"", authenticated=True))
            data, ctype = reply.encoded()
            return HttpResponse(reply.status, {**reply.headers, "content-type": ctype}, data)
        return fake


_REASONS = {429: "Too many requests", 500: "Internal server error",
            502: "Bad gateway", 503: "Service unavailable", 504: "Gateway timeout"}


def _handler(service: Service) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            call = Call(self.command, parts.path, parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length) if length else b"")
            try:
                reply = service.handle(call)
            except Exception as e:  # a fake's bug must show in the test, not hang it
                reply = Reply(500, {"fake_error": f"{type(e).__name__}: {e}"})
            data, ctype = reply.encoded()
            self.send_response(reply.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in reply.headers.items():
                if k.lower() != "content-type":
                    self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _any

    return Handler


@contextmanager
def serving(service: Service) -> Iterator[Service]:
    with serve_in_thread(_handler(service)) as port:
        service.url = f"http://127.0.0.1:{port}"
        yield service

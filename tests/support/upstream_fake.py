"""A programmable library service for the integration tests: a real HTTP server with an
OAuth 2 token endpoint (client credentials, HTTP Basic) and API routes whose next answers
a test plans (status, Retry-After, delay); everything it receives is recorded.

``/oauth/token`` issues ``tok-N`` tokens; ``revoke()`` makes the current ones fail with
401 as an expired token would. ``/echo`` answers who the caller authenticated as, never
the credential itself (a real API does not echo it either)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from .servers import serve_in_thread


@dataclass
class Plan:
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    body: dict | None = None
    headers: dict | None = None  # sent with a planned status (a Location, say)


@dataclass
class Fake:
    url: str = ""
    client_id: str = "lib-client"
    client_secret: str = "lib-client-secret-0123456789"
    api_key: str = "keyed-api-key-0123456789"
    token_ttl: int = 300
    plans: deque = field(default_factory=deque)
    default: Plan = field(default_factory=Plan)
    valid_tokens: set = field(default_factory=set)
    issued: int = 0
    token_requests: int = 0
    requests: list = field(default_factory=list)  # (method, path, query, auth) per API call
    lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, *plans: Plan) -> None:
        with self.lock:
            self.plans.extend(plans)

    def revoke(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    def api_calls(self) -> int:
        return len(self.requests)


def _handler(fake: Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            if urlsplit(self.path).path != "/oauth/token":
                return self.do_GET()
            with fake.lock:
                fake.token_requests += 1
            expected = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode())
            if self.headers.get("Authorization") != f"Basic {expected.decode()}":
                return self._send(401, {"error": "invalid_client"})
            if form.get("grant_type") != ["client_credentials"]:
                return self._send(400, {"error": "unsupported_grant_type"})
            with fake.lock:
                fake.issued += 1
                token = f"tok-{fake.issued}"
                fake.valid_tokens.add(token)
            self._send(200, {"access_token": token, "token_type": "bearer",
                             "expires_in": fake.token_ttl})

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            auth = self.headers.get("Authorization", "")
            with fake.lock:
                fake.requests.append((self.command, parts.path, query, auth))
                plan = fake.plans.popleft() if fake.plans else fake.default
            if plan.delay:
                time.sleep(plan.delay)
            who = None
            if auth.startswith("Bearer ") and auth[7:] in fake.valid_tokens:
                who = fake.client_id
            elif query.get("wskey") == [fake.api_key]:
                who = "keyed"
            if who is None:
                return self._send(401, {"error": "unauthorized", "path": parts.path})
            if plan.status != 200 or plan.retry_after:
                headers = {"Retry-After": plan.retry_after} if plan.retry_after else {}
                headers.update(plan.headers or {})
                return self._send(plan.status, {"error": f"planned {plan.status}"}, headers)
            clean = {k: v for k, v in query.items() if k != "wskey"}
            self._send(200, plan.body or {"path": parts.path, "query": clean,
                                          "authenticated_as": who})

    return Handler


@contextmanager
def upstream_fake() -> Iterator[Fake]:
    fake = Fake()
    with serve_in_thread(_handler(fake)) as port:
        fake.url = f"http://127.0.0.1:{port}"
        yield fake

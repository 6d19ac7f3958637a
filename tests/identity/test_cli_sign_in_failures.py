"""The CLI's single sign-on (plugin_host/identity/client.py) when something is wrong, each
refused with one line saying what: a service that does not answer or has no SSO for the
CLI, an issuer whose discovery fails, a redirect that is not a loopback address or whose
port is taken, a browser answer for another sign-in, a provider's refusal, no answer in
time. The service and the issuer here are small real HTTP servers answering as told
(the happy paths run against a real OpenID provider in tests/identity/test_oidc.py)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from plugin_host.errors import PluginHostError
from plugin_host.identity import client

from ..support.servers import serve_in_thread

ANSWERS: dict[str, tuple[int, object]] = {}


class Told(BaseHTTPRequestHandler):
    """Answers each path with what ANSWERS says (404 otherwise)."""

    def _answer(self) -> None:
        status, body = ANSWERS.get(urlsplit(self.path).path, (404, {"error": "no"}))
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    ANSWERS.clear()
    with serve_in_thread(Told) as port:
        yield f"http://127.0.0.1:{port}"


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_service_without_sso_or_not_answering_is_named(server):
    with pytest.raises(PluginHostError, match="cannot read its sign-in settings"):
        client.providers(closed_url())
    ANSWERS["/auth/providers"] = (200, {"providers": ["token"]})
    with pytest.raises(PluginHostError, match="has no single sign-on for the CLI"):
        client.providers(server)
    ANSWERS["/auth/providers"] = (200, b"not json")
    with pytest.raises(PluginHostError, match="cannot read its sign-in settings"):
        client.providers(server)


def test_a_failing_discovery_is_named(server):
    with pytest.raises(PluginHostError, match=r"discovery failed"):
        client.discover(server)


def oidc(server: str, redirect: str = "http://127.0.0.1:0/callback") -> dict:
    ANSWERS["/.well-known/openid-configuration"] = (200, {
        "authorization_endpoint": f"{server}/authorize", "token_endpoint": f"{server}/token"})
    return {"issuer": server, "cli_client_id": "koha-cli", "cli_redirect_uri": redirect,
            "resource": "https://host.example.org"}


def test_the_redirect_must_be_a_free_loopback_address(server):
    with pytest.raises(PluginHostError, match="is not a loopback address"):
        client.browser_login(oidc(server, "https://evil.example.org/cb"), print, timeout=1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PluginHostError, match="cannot listen on"):
            client.browser_login(oidc(server, f"http://127.0.0.1:{port}/cb"), print,
                                 timeout=1)


def browser(answer: dict):
    """A browser that, shown the sign-in address, comes back to the CLI with ``answer``
    (``state`` filled in from the address unless given)."""
    def show(url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        back = {"state": query["state"][0], **answer}
        target = query["redirect_uri"][0]
        threading.Thread(target=lambda: httpx.get(target, params=back, timeout=5)).start()
    return show


def test_the_answer_must_be_for_this_sign_in_and_a_yes(server):
    with pytest.raises(PluginHostError, match="the answer's state is not this sign-in's"):
        client.browser_login(oidc(server), browser({"state": "another", "code": "c"}),
                             timeout=5)
    with pytest.raises(PluginHostError, match="the identity provider refused: access_denied "
                                              "the user said no"):
        client.browser_login(oidc(server), browser({"error": "access_denied",
                                                    "error_description": "the user said no"}),
                             timeout=5)
    with pytest.raises(PluginHostError, match="no answer from the browser within 1 s"):
        client.browser_login(oidc(server), lambda url: None, timeout=1)


def test_a_code_is_traded_and_a_refused_trade_is_named(server):
    ANSWERS["/token"] = (200, {"access_token": "at", "expires_in": 60, "refresh_token": "rt"})
    got = client.browser_login(oidc(server), browser({"code": "c0de"}), timeout=5)
    assert got["access_token"] == "at" and got["token_endpoint"] == f"{server}/token"
    ANSWERS["/token"] = (400, {"error": "invalid_grant", "error_description": "used"})
    with pytest.raises(PluginHostError, match="refused: invalid_grant used"):
        client.refresh(f"{server}/token", "koha-cli", "rt")
    with pytest.raises(PluginHostError, match="refused: invalid_grant"):
        client.client_credentials(oidc(server), "ci", "s3cret")
    with pytest.raises(PluginHostError, match=closed_url().rsplit(":", 1)[0]):
        client.token_call(closed_url() + "/token", {})

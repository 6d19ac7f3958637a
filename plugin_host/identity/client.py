"""The CLI's side of OpenID Connect: a person signs in through their browser with
authorization code + PKCE, the provider sending the code back to a one-shot server on a
loopback port (RFC 8252); a machine (CI) uses client credentials; an expired access token
is refreshed. The tokens are the provider's: the registry and the host check them."""

from __future__ import annotations

import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ..errors import PluginHostError

PAGE = (b"<!doctype html><title>Signed in</title><p>Signed in: you can close this tab and "
        b"go back to the terminal.</p>")


def providers(service_url: str) -> dict[str, Any]:
    """What a service signs in with (its ``/auth/providers``); its OIDC part or an error."""
    try:
        r = httpx.get(f"{service_url.rstrip('/')}/auth/providers", timeout=30)
        r.raise_for_status()
        oidc = r.json().get("oidc")
    except (httpx.HTTPError, ValueError) as e:
        raise PluginHostError(f"{service_url}: cannot read its sign-in settings ({e})") from None
    if not oidc or not oidc.get("cli_client_id"):
        raise PluginHostError(f"{service_url} has no single sign-on for the CLI "
                              "(oidc_issuer and oidc_cli_client_id are not set there)")
    return oidc


def discover(issuer: str) -> dict[str, Any]:
    try:
        r = httpx.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=30)
        r.raise_for_status()
        return r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise PluginHostError(f"{issuer}: discovery failed ({e})") from None


class _Catch(BaseHTTPRequestHandler):
    result: dict[str, str] = {}

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != self.server.path:  # type: ignore[attr-defined]
            self.send_error(404)
            return
        type(self).result = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        pass


def browser_login(oidc: dict[str, Any], show: Any, timeout: float = 300) -> dict[str, Any]:
    """Sign in through the browser; ``show(url)`` tells the person where to go. Returns
    the token answer plus ``token_endpoint`` and ``expires_at``."""
    meta = discover(oidc["issuer"])
    handler = type("Catch", (_Catch,), {"result": {}})
    wanted = urlsplit(oidc.get("cli_redirect_uri") or "http://127.0.0.1/callback")
    if wanted.scheme != "http" or wanted.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise PluginHostError(f"cli_redirect_uri: {wanted.geturl()} is not a loopback "
                              "address")
    try:
        server = HTTPServer(("127.0.0.1", wanted.port or 0), handler)
    except OSError as e:
        raise PluginHostError(f"cannot listen on {wanted.geturl()} for the answer: {e}") \
            from None
    redirect = f"http://{wanted.hostname}:{server.server_port}{wanted.path or '/callback'}"
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    extra = {"resource": oidc["resource"]} if oidc.get("resource") else {}
    url = prepare_grant_uri(meta["authorization_endpoint"], oidc["cli_client_id"], "code",
                            redirect_uri=redirect, scope=oidc.get("scopes") or "openid",
                            state=state, code_challenge=create_s256_code_challenge(verifier),
                            code_challenge_method="S256", **extra)
    server.path = wanted.path or "/callback"  # type: ignore[attr-defined]
    thread = threading.Thread(target=_serve_until_called, args=(server, handler, timeout),
                              daemon=True)
    thread.start()
    show(url)
    thread.join(timeout + 1)
    server.server_close()
    got = handler.result
    if not got:
        raise PluginHostError(f"no answer from the browser within {timeout:.0f} s")
    if got.get("state") != state:
        raise PluginHostError("the answer's state is not this sign-in's: refused")
    if "code" not in got:
        raise PluginHostError(f"the identity provider refused: {got.get('error')} "
                              f"{got.get('error_description', '')}".strip())
    return token_call(meta["token_endpoint"], {
        "grant_type": "authorization_code", "code": got["code"], "redirect_uri": redirect,
        "code_verifier": verifier, "client_id": oidc["cli_client_id"], **extra})


def _serve_until_called(server: HTTPServer, handler: type, timeout: float) -> None:
    end = time.monotonic() + timeout
    server.timeout = 1.0
    while not handler.result and time.monotonic() < end:
        server.handle_request()


def client_credentials(oidc: dict[str, Any], client_id: str, secret: str) -> dict[str, Any]:
    meta = discover(oidc["issuer"])
    form = {"grant_type": "client_credentials"}
    if oidc.get("resource"):
        form["resource"] = oidc["resource"]
    return token_call(meta["token_endpoint"], form, auth=(client_id, secret))


def refresh(token_endpoint: str, client_id: str, refresh_token: str) -> dict[str, Any]:
    return token_call(token_endpoint, {"grant_type": "refresh_token", "client_id": client_id,
                                       "refresh_token": refresh_token})


def token_call(url: str, form: dict[str, str], auth: tuple[str, str] | None = None
               ) -> dict[str, Any]:
    try:
        r = httpx.post(url, data=form, auth=auth, timeout=30)
        answer = r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise PluginHostError(f"{url}: {e}") from None
    if r.status_code != 200:
        raise PluginHostError(f"the identity provider refused: {answer.get('error')} "
                              f"{answer.get('error_description', '')}".strip())
    return {**answer, "token_endpoint": url,
            "expires_at": time.time() + float(answer.get("expires_in", 300))}

"""Forged and misused tokens, each an attack that must fail on the registry and on the
host's admin API: ``alg: none``, a key that is not the provider's, the provider's public
key used as an HMAC secret, another audience, another issuer, expired, issued in the
future, an ID token sent as an access token, an unknown key id. Tokens the provider
really signed (the test holds its private key, as a compromised-nothing baseline) pass,
and a key rotation at the provider is followed without a restart."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from joserfc import jwt

from plugin_host.identity.oidc import OidcProvider, TokenRefused
from plugin_host.identity.settings import IdentitySettings
from tests.identity.conftest import bearer
from tests.support.oidc import RESOURCE, rsa_key
from tests.support.waiting import wait_until


def claims(idp, **over) -> dict:
    now = int(time.time())
    base = {"iss": idp.issuer, "sub": "ada", "aud": RESOURCE, "iat": now, "exp": now + 300,
            "client_id": "plugin-host-cli", "groups": ["koha-admins", "koha-host-admins"]}
    return {k: v for k, v in {**base, **over}.items() if v is not None}


def sign(payload: dict, key, alg: str = "RS256", kid: str | None = "k1") -> str:
    header = {"alg": alg, "typ": "at+jwt", **({"kid": kid} if kid else {})}
    return jwt.encode(header, payload, key, algorithms=[alg])


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(payload: dict) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."


def hmac_with(secret: bytes, payload: dict) -> str:
    """HS256 with ``secret`` (made by hand: joserfc itself refuses a public key as an
    HMAC secret, an attacker's tool would not)."""
    head = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'})}.{b64(payload)}"
    mac = hmac.new(secret, head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def services(sso_registry, sso_host):
    """(URL of a route needing an admin, service name) on both services."""
    return [(f"{sso_registry.url}/api/v1/audit", "registry"),
            (f"{sso_host.url}/admin/plugins", "host")]


def refused(services, token: str, why: str) -> None:
    for url, name in services:
        r = httpx.get(url, headers=bearer(token))
        assert r.status_code == 401, (name, why, r.text)
        assert r.headers.get("www-authenticate", "").startswith("Bearer"), (name, why)


def test_a_token_the_provider_signed_passes(services, idp):
    """The baseline the attacks below differ from in one thing each."""
    token = sign(claims(idp), idp.keys[0])
    for url, name in services:
        r = httpx.get(url, headers=bearer(token))
        assert r.status_code == 200, (name, r.text)


def test_forged_and_misused_tokens_are_refused(services, idp):
    key = idp.keys[0]
    public_pem = key.as_pem(private=False)
    now = int(time.time())
    attacks = {
        "alg none": unsigned(claims(idp)),
        "another key, same kid": sign(claims(idp), rsa_key("k1")),
        "HMAC with the public key": hmac_with(public_pem, claims(idp)),
        "another audience": sign(claims(idp, aud="https://other.example"), key),
        "no audience, unknown client": sign(claims(idp, aud=None, client_id="other"), key),
        "another issuer": sign(claims(idp, iss="https://evil.example"), key),
        "expired": sign(claims(idp, iat=now - 7200, exp=now - 3600), key),
        "not yet valid": sign(claims(idp, nbf=now + 3600), key),
        "issued in the future": sign(claims(idp, iat=now + 3600, exp=now + 7200), key),
        "no expiry": sign(claims(idp, exp=None), key),
        "no subject": sign(claims(idp, sub=None), key),
        "an ID token": sign(claims(idp, nonce="n-1"), key),
        "unknown kid": sign(claims(idp), rsa_key("k-unknown"), kid="k-unknown"),
        "garbage": "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
        "not a JWT at all": "eyJ" + "A" * 40,
        "a header that is a list": "WzEsMl0.e30.c2ln",
        "a header that is not base64 JSON": "e30K-!.e30.c2ln",
    }
    for why, token in attacks.items():
        refused(services, token, why)


def test_clock_skew_within_the_leeway_is_allowed(services, idp):
    now = int(time.time())
    token = sign(claims(idp, iat=now - 400, exp=now - 20), idp.keys[0])  # 20 s late: < 60
    for url, name in services:
        assert httpx.get(url, headers=bearer(token)).status_code == 200, name


def test_a_group_removed_at_the_provider_removes_the_role_with_the_next_token(services, idp):
    token = sign(claims(idp, groups=["koha-publishers"]), idp.keys[0])
    for url, name in services:
        r = httpx.get(url, headers=bearer(token))
        assert r.status_code == 403 and "needs the" in r.json()["error"]["message"], name


def test_an_id_token_with_another_nonce_is_refused(idp):
    """The nonce check of the web flow, against the real provider's keys."""
    provider = OidcProvider(IdentitySettings(oidc_issuer=idp.issuer))
    token = sign(claims(idp, aud="marketplace", nonce="sent-with-sign-in-A"), idp.keys[0])

    def verify(nonce):
        # a loop of its own, never installed: asyncio.run() would leave the main thread
        # without a current loop, which Pulumi's mocks (tests/infra) still ask for
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(provider.verify(
                token, audiences=["marketplace"], nonce=nonce, id_token=True))
        finally:
            loop.close()

    assert verify("sent-with-sign-in-A")["sub"] == "ada"
    for nonce in ("sent-with-sign-in-B", None):
        with pytest.raises(TokenRefused, match="nonce"):
            verify(nonce)


def test_a_key_rotation_at_the_provider_is_followed(services, idp, sso_registry):
    """The provider restarts signing with a new key (the old one still published): the
    services fetch its keys again on the unknown key id, with no restart of their own."""
    old = idp.keys[0]
    new = rsa_key("k2")
    idp.start(keys=[new, old])
    try:
        token = idp.client_credentials()
        assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"] == "k2"
        me = f"{sso_registry.url}/api/v1/me"
        assert wait_until(lambda: httpx.get(me, headers=bearer(token)).status_code == 200,
                          timeout=25, interval=0.5), httpx.get(me, headers=bearer(token)).text
        # tokens of the old key still pass while it is published
        assert httpx.get(services[0][0], headers=bearer(sign(claims(idp), old))
                         ).status_code == 200
    finally:
        idp.start(keys=[old])

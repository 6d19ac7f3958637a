"""OpenID Connect against the library's provider: issuer discovery, its signing keys
(fetched again when a token names a key not yet seen: rotation), the checks every token
must pass, and the confidential client's authorization code + PKCE flow (authlib).

Tokens are checked with joserfc: the algorithm must be one of ``oidc_algorithms`` (never
``none``, never a symmetric one), the signature must verify with the issuer's published
key, ``iss`` must be the issuer, ``exp`` in the future and ``iat``/``nbf`` not in the
future (both with ``oidc_leeway_seconds``), and ``aud`` must name this service."""

from __future__ import annotations

import asyncio
import json
import time
from base64 import urlsafe_b64decode
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ..errors import PluginHostError, Unauthorized
from .settings import IdentitySettings

#: never accepted, whatever the settings say
FORBIDDEN_ALGORITHMS = {"none", "HS256", "HS384", "HS512"}
#: the least time between two JWKS fetches caused by unknown key ids
REFETCH_SECONDS = 10.0
METADATA_SECONDS = 3600.0


class TokenRefused(Unauthorized):
    """A token failed a check; the message says which."""


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


def unverified_header(token: str) -> dict[str, Any]:
    try:
        head = token.split(".", 1)[0]
        value = json.loads(urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise TokenRefused("the bearer token is not a JSON Web Token") from None
    if not isinstance(value, dict):
        raise TokenRefused("the bearer token's header is not a JSON object")
    return value


class OidcProvider:
    """One issuer: its metadata and keys, cached; token checks; the web client's calls."""

    def __init__(self, settings: IdentitySettings):
        self.settings = settings
        self.issuer = (settings.oidc_issuer or "").rstrip("/")
        self.algorithms = [a for a in settings.oidc_algorithms
                           if a not in FORBIDDEN_ALGORITHMS]
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._lock = asyncio.Lock()

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=10.0, follow_redirects=False)

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_SECONDS:
            url = self.issuer + "/.well-known/openid-configuration"
            try:
                async with self._http() as http:
                    r = await http.get(url)
                r.raise_for_status()
                meta = r.json()
            except (httpx.HTTPError, ValueError) as e:
                raise PluginHostError(f"oidc_issuer: discovery at {url} failed: {e}",
                                      code="identity_provider_unavailable",
                                      status=503) from None
            if str(meta.get("issuer", "")).rstrip("/") != self.issuer:
                raise PluginHostError(
                    f"oidc_issuer: the provider calls itself {meta.get('issuer')!r}, not "
                    f"{self.issuer!r}", code="identity_provider_unavailable", status=503)
            self._metadata, self._metadata_at = meta, time.monotonic()
        return self._metadata

    async def _key_set(self, kid: str | None) -> KeySet:
        async with self._lock:
            known = self._keys is not None and (
                kid is None or any(k.kid == kid for k in self._keys.keys))
            stale = time.monotonic() - self._keys_at > REFETCH_SECONDS
            if self._keys is None or (not known and stale):
                uri = (await self.metadata())["jwks_uri"]
                try:
                    async with self._http() as http:
                        r = await http.get(uri)
                    r.raise_for_status()
                    self._keys = KeySet.import_key_set(r.json())
                except (httpx.HTTPError, ValueError, JoseError) as e:
                    raise PluginHostError(f"oidc_issuer: its keys at {uri} could not be "
                                          f"read: {e}", code="identity_provider_unavailable",
                                          status=503) from None
                self._keys_at = time.monotonic()
            return self._keys

    async def verify(self, token: str, *, audiences: list[str],
                     nonce: str | None = None, id_token: bool = False,
                     refreshed: bool = False) -> dict[str, Any]:
        """The token's claims, or ``TokenRefused`` naming the check it failed."""
        header = unverified_header(token)
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise TokenRefused(f"the token's algorithm {alg!r} is not accepted "
                               f"(accepted: {', '.join(self.algorithms)})")
        keys = await self._key_set(header.get("kid"))
        try:
            decoded = jwt.decode(token, keys, algorithms=self.algorithms)
        except JoseError as e:
            raise TokenRefused(f"the token's signature does not verify with the issuer's "
                               f"keys ({e.error})") from None
        claims = dict(decoded.claims)
        registry = jwt.JWTClaimsRegistry(leeway=self.settings.oidc_leeway_seconds,
                                         iss={"essential": True, "value": self.issuer},
                                         exp={"essential": True}, sub={"essential": True})
        try:
            registry.validate(claims)
        except JoseError as e:
            raise TokenRefused(f"the token was refused: {e.description or e.error}") from None
        if not audience_ok(claims, audiences):
            raise TokenRefused(f"the token is for {claims.get('aud') or claims.get('client_id')!r}"
                               f", not for this service")
        if id_token:
            if not refreshed and (nonce is None or claims.get("nonce") != nonce):
                raise TokenRefused("the ID token's nonce is not the one this sign-in sent")
        elif "nonce" in claims or claims.get("token_use") == "id":
            raise TokenRefused("an ID token is not an access token: send the access token")
        return claims

    # the confidential web client (authorization code + PKCE)
    async def authorization_url(self, redirect_uri: str, state: str, nonce: str,
                                verifier: str) -> str:
        meta = await self.metadata()
        s = self.settings
        return prepare_grant_uri(meta["authorization_endpoint"], s.oidc_client_id, "code",
                                 redirect_uri=redirect_uri, scope=s.oidc_scopes, state=state,
                                 nonce=nonce, code_challenge=create_s256_code_challenge(
                                     verifier), code_challenge_method="S256")

    async def exchange_code(self, redirect_uri: str, code: str,
                            verifier: str) -> dict[str, Any]:
        return await self._token_call({"grant_type": "authorization_code", "code": code,
                                       "redirect_uri": redirect_uri,
                                       "code_verifier": verifier}, "code")

    async def refresh(self, redirect_uri: str, refresh_token: str) -> dict[str, Any]:
        return await self._token_call({"grant_type": "refresh_token",
                                       "refresh_token": refresh_token}, "refresh")

    async def _token_call(self, form: dict[str, str], what: str) -> dict[str, Any]:
        """A call to the token endpoint as the confidential client (client_secret_basic)."""
        url = (await self.metadata())["token_endpoint"]
        s = self.settings
        try:
            async with self._http() as http:
                r = await http.post(url, data=form, auth=(s.oidc_client_id or "",
                                                          s.oidc_client_secret or ""))
            answer = r.json()
        except (httpx.HTTPError, ValueError) as e:
            raise PluginHostError(f"oidc_issuer: its token endpoint failed: {e}",
                                  code="identity_provider_unavailable", status=503) from None
        if r.status_code != 200 or not isinstance(answer, dict):
            reason = answer.get("error_description") or answer.get("error") \
                if isinstance(answer, dict) else r.status_code
            raise TokenRefused(f"the identity provider refused the {what}: {reason}")
        return answer


def audience_ok(claims: dict[str, Any], audiences: list[str]) -> bool:
    aud = claims.get("aud")
    if aud is None:  # Cognito's access tokens name their client instead
        return claims.get("client_id") in audiences
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return any(a in audiences for a in named if isinstance(a, str))

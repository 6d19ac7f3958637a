"""The sign-in flows composed for one service (the registry or the host): who a bearer
token is for, the OIDC code + PKCE flow, LDAP and SAML sign-in, sessions with refresh and
logout, and the audit events of each.

A service gives its role names (``known``), the roles every signed-in person has
(``base``) and ``link``: what it does with a person at each sign-in or token (the
registry keeps an account for them)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import sessionmaker

from ..errors import PluginHostError, Unauthorized
from .audit import AuditLog
from .ldap import LdapDirectory
from .metrics import REFUSED, SIGNINS
from .oidc import OidcProvider, TokenRefused, looks_like_jwt
from .roles import oidc_principal
from .settings import IdentitySettings
from .store import ACCESS_PREFIX, IdentityStore, Principal

LOGIN_SECONDS = 600  # how long a started sign-in may take
ASSERTION_SECONDS = 24 * 3600  # how long a SAML assertion id is remembered
HANDOFF_SECONDS = 60  # a browser's redirect sign-in, until its page takes the session
Link = Callable[[Principal, str], Principal]


def _same(who: Principal, _address: str) -> Principal:
    return who


def safe_return_to(value: str | None) -> str | None:
    """Only a path on this service: never another site (no open redirect)."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") \
            or "\\" in value:
        raise PluginHostError("return_to: give a path on this service, like /plugins",
                              code="invalid_request", status=422)
    return value


class Identity:
    def __init__(self, settings: IdentitySettings, sessions: sessionmaker, *, service: str,
                 data_dir: Path, known: tuple[str, ...], base: tuple[str, ...] = (),
                 link: Link = _same):
        self.settings, self.service, self.known, self.base = settings, service, known, base
        self.link = link
        self.store = IdentityStore(sessions)
        self.audit = AuditLog(sessions, settings.audit_file or data_dir / "audit.jsonl",
                              service)
        self.oidc = OidcProvider(settings) if settings.oidc_issuer else None
        self.ldap = LdapDirectory(settings, known, base) if settings.ldap_url else None
        self.saml = None
        if settings.saml_idp_metadata:
            from .saml import SamlServiceProvider

            self.saml = SamlServiceProvider(settings, known, base)

    # bearer tokens
    @property
    def audiences(self) -> list[str]:
        s = self.settings
        return s.oidc_audiences or ([s.public_url.rstrip("/")] if s.public_url else [])

    async def bearer(self, token: str, address: str) -> Principal | None:
        """Who a session token or an OIDC access token is for; None if the token is of
        neither kind (the service's own API tokens); ``Unauthorized`` if it is refused."""
        if token.startswith(ACCESS_PREFIX):
            who = await asyncio.to_thread(self.store.principal, token)
            if who is None:
                REFUSED.labels(self.service, "session").inc()
                raise Unauthorized("the session has expired or was signed out: sign in "
                                   "again or refresh it")
            return who
        if self.oidc is not None and looks_like_jwt(token):
            try:
                claims = await self.oidc.verify(token, audiences=self.audiences)
            except TokenRefused:
                REFUSED.labels(self.service, "token").inc()
                raise
            who = oidc_principal(claims, self.settings, self.known, self.base)
            return await asyncio.to_thread(self._linked, who, address)
        return None

    def _linked(self, who: Principal, address: str) -> Principal:
        """The service's view of a person (``link``); a change of roles is audited."""
        who = self.link(who, address)
        change = who.extra.get("role_change")
        if change:
            self.audit.record(actor=who.name, provider=who.provider, action="role_change",
                              target=who.name, address=address, detail=change)
        return who

    # sessions
    def _open(self, who: Principal, address: str, refreshable: bool,
              upstream_refresh: str | None = None) -> dict[str, Any]:
        s = self.settings
        who = self._linked(who, address)
        tokens = self.store.open(
            who, access_seconds=s.session_access_seconds,
            refresh_seconds=s.session_refresh_seconds if refreshable else None,
            max_seconds=s.session_max_seconds, address=address,
            upstream_refresh=upstream_refresh)
        SIGNINS.labels(self.service, who.provider, "ok").inc()
        self.audit.record(actor=who.name, provider=who.provider, action="sign_in",
                          address=address, detail={"roles": list(who.roles),
                                                   "session": tokens["session"]})
        return tokens

    def refused(self, provider: str, reason: str, address: str, who: str = "") -> None:
        SIGNINS.labels(self.service, provider, "refused").inc()
        self.audit.record(actor=who or "(unknown)", provider=provider, action="sign_in",
                          outcome="refused", status=401, address=address,
                          detail={"reason": reason[:200]})

    # OIDC: authorization code + PKCE
    def _redirect_uri(self) -> str:
        if not self.settings.public_url:
            raise PluginHostError("public_url: set it so the identity provider can send "
                                  "people back here", code="bad_setting", status=501)
        return self.settings.public_url.rstrip("/") + "/auth/oidc/callback"

    def _need(self, provider: Any, name: str) -> Any:
        if provider is None:
            raise PluginHostError(f"sign-in with {name} is not configured on this "
                                  f"{self.service}", code="not_configured", status=404)
        return provider

    async def oidc_start(self, return_to: str | None) -> str:
        oidc = self._need(self.oidc, "OpenID Connect")
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        await asyncio.to_thread(self.store.put_once, "oidc-state", state, {
            "nonce": nonce, "verifier": verifier, "return_to": safe_return_to(return_to)},
            LOGIN_SECONDS)
        return await oidc.authorization_url(self._redirect_uri(), state, nonce, verifier)

    async def oidc_finish(self, code: str, state: str, address: str) -> dict[str, Any]:
        oidc = self._need(self.oidc, "OpenID Connect")
        pending = await asyncio.to_thread(self.store.take_once, "oidc-state", state)
        if pending is None:
            await asyncio.to_thread(self.refused, "oidc", "unknown or used state", address)
            raise Unauthorized("this sign-in is unknown, expired or was already used: "
                               "start again")
        try:
            answer = await oidc.exchange_code(self._redirect_uri(), code, pending["verifier"])
            claims = await oidc.verify(str(answer.get("id_token", "")),
                                       audiences=[self.settings.oidc_client_id or ""],
                                       nonce=pending["nonce"], id_token=True)
        except Unauthorized as e:
            await asyncio.to_thread(self.refused, "oidc", str(e), address)
            raise
        who = oidc_principal(claims, self.settings, self.known, self.base)
        tokens = await asyncio.to_thread(self._open, who, address, True,
                                         answer.get("refresh_token"))
        return {**tokens, "return_to": pending.get("return_to")}

    # LDAP
    async def ldap_sign_in(self, username: str, password: str, address: str) -> dict[str, Any]:
        ldap = self._need(self.ldap, "LDAP")
        try:
            who = await asyncio.to_thread(ldap.sign_in, username, password)
        except Unauthorized as e:
            await asyncio.to_thread(self.refused, "ldap", str(e), address, username[:64])
            raise
        return await asyncio.to_thread(self._open, who, address, ldap.can_refresh)

    # SAML (HTTP-Redirect out, HTTP-POST back)
    async def saml_start(self, return_to: str | None) -> str:
        sp = self._need(self.saml, "SAML")
        request_id, url = await asyncio.to_thread(sp.start)
        await asyncio.to_thread(self.store.put_once, "saml-request", request_id,
                                {"return_to": safe_return_to(return_to)}, LOGIN_SECONDS)
        return url

    async def saml_finish(self, response: str, relay: str,
                          address: str) -> dict[str, Any]:
        sp = self._need(self.saml, "SAML")
        try:
            request_id = await asyncio.to_thread(sp.in_response_to, response)
            pending = await asyncio.to_thread(self.store.take_once, "saml-request",
                                              request_id) if request_id else None
            if pending is None:
                raise Unauthorized("the SAML response answers no sign-in this service "
                                   "started (unsolicited, expired or replayed)")
            who, assertion_id = await asyncio.to_thread(sp.finish, response, request_id)
            if not await asyncio.to_thread(self.store.first_use, "saml-assertion",
                                           assertion_id, ASSERTION_SECONDS):
                raise Unauthorized("this SAML assertion was already used (replay)")
        except Unauthorized as e:
            await asyncio.to_thread(self.refused, "saml", str(e), address)
            raise
        tokens = await asyncio.to_thread(self._open, who, address, True)
        return {**tokens, "return_to": pending.get("return_to")}


    # a browser's sign-in, handed to the page it returns to
    async def handoff(self, tokens: dict[str, Any]) -> str | None:
        """Where a browser goes after a redirect sign-in that named ``return_to``:
        ``return_to#handoff=CODE``, the code good once within a minute for the session
        (``POST /auth/handoff``). The tokens never appear in an address or a log."""
        return_to = tokens.get("return_to")
        if not return_to:
            return None
        code = secrets.token_urlsafe(32)
        await asyncio.to_thread(self.store.put_once, "handoff", code, tokens, HANDOFF_SECONDS)
        return f"{return_to.split('#')[0]}#handoff={code}"

    async def take_handoff(self, code: str, address: str) -> dict[str, Any]:
        tokens = await asyncio.to_thread(self.store.take_once, "handoff", code)
        if tokens is None:
            await asyncio.to_thread(self.refused, "handoff", "unknown or used code", address)
            raise Unauthorized("this sign-in hand-off is unknown, expired or was already "
                               "used: sign in again")
        return tokens

    # refresh and logout
    async def refresh(self, refresh_token: str, address: str) -> dict[str, Any]:
        row = await asyncio.to_thread(self.store.by_refresh, refresh_token)
        if row is None:
            REFUSED.labels(self.service, "refresh").inc()
            raise Unauthorized("the refresh token is unknown, expired or revoked: sign in "
                               "again")
        upstream = None
        try:
            if row.provider == "oidc" and self.oidc and row.upstream_refresh:
                answer = await self.oidc.refresh(self._redirect_uri(), row.upstream_refresh)
                claims = await self._refreshed_claims(answer)
                who = oidc_principal(claims, self.settings, self.known, self.base)
                upstream = answer.get("refresh_token")
            elif row.provider == "ldap" and self.ldap and self.ldap.can_refresh:
                who = await asyncio.to_thread(self.ldap.again, row.subject)
            else:
                who = Principal(row.principal, row.provider, row.subject, tuple(row.roles),
                                tuple(row.groups))
        except Unauthorized as e:
            await asyncio.to_thread(self.store.revoke, row.id)
            await asyncio.to_thread(self.refused, row.provider, f"refresh: {e}", address,
                                    row.principal)
            raise Unauthorized(f"the session ended: {e}") from None
        if who.subject != row.subject:
            raise Unauthorized("the identity provider answered for someone else")
        who = await asyncio.to_thread(self._linked, who, address)
        tokens = await asyncio.to_thread(
            self.store.rotate, row, who, access_seconds=self.settings.session_access_seconds,
            refresh_seconds=self.settings.session_refresh_seconds, upstream_refresh=upstream)
        if tokens is None:
            raise Unauthorized("the refresh token was already used: sign in again")
        return tokens

    async def _refreshed_claims(self, answer: dict[str, Any]) -> dict[str, Any]:
        """The ID token a refresh returns (OIDC Core 12.2: same ``sub``, no nonce)."""
        assert self.oidc is not None
        token = str(answer.get("id_token", ""))
        if not token:
            raise TokenRefused("the identity provider's refresh gave no ID token")
        return await self.oidc.verify(token, audiences=[self.settings.oidc_client_id or ""],
                                      id_token=True, nonce=None, refreshed=True)

    async def logout(self, who: Principal, refresh_token: str | None,
                     address: str) -> dict[str, Any]:
        ended = None
        if who.session_id is not None and await asyncio.to_thread(self.store.revoke,
                                                                  who.session_id):
            ended = who.session_id
        elif refresh_token:
            ended = await asyncio.to_thread(self.store.revoke_refresh, refresh_token)
        return {"signed_out": ended is not None, "session": ended}


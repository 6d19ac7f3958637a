"""The answers of the sign-in API (``/auth``) both services serve, as the OpenAPI
documents describe them (plugin_host/service/http.py ``answers``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..service.http import Answer, example

SESSION = {"access_token": "ks_Vb0q3kS1b2m0cX1d5r2Q7nJ8yT4wE6uA", "token_type": "Bearer",
           "expires_in": 900, "refresh_token": "kr_2c8Qz5Wm7Lx0Pa9Ns3Dv6Ht1Jy4Kb8Gf",
           "session": 12, "name": "ada", "provider": "oidc", "roles": ["host-admin"]}


class Providers(Answer):
    """What this service signs people in with."""

    model_config = example(
        {"providers": ["oidc", "ldap"],
         "oidc": {"issuer": "https://id.example.org", "cli_client_id": "koha-cli",
                  "cli_redirect_uri": "http://127.0.0.1:8765/callback",
                  "resource": "https://host.example.org", "scopes": "openid profile",
                  "login": "/auth/oidc/login"},
         "ldap": {"login": "/auth/ldap"}},
        {"providers": []})
    providers: list[str] = Field(description="token, oidc, ldap, saml: those turned on")
    oidc: dict[str, Any] | None = Field(None, description="issuer, CLI client and login path")
    ldap: dict[str, Any] | None = Field(None, description="the LDAP sign-in path")
    saml: dict[str, Any] | None = Field(None, description="SAML login and metadata paths")


class Session(Answer):
    """A session: send ``access_token`` as ``Authorization: Bearer``; renew it with
    ``refresh_token`` before ``expires_in`` seconds pass."""

    model_config = example(SESSION)
    access_token: str
    token_type: str = Field(description="always Bearer")
    expires_in: int = Field(description="seconds the access token lasts")
    refresh_token: str | None = Field(None, description="used once for the next session")
    session: int | None = Field(None, description="the session's id")
    name: str = Field(description="who signed in")
    provider: str = Field(description="oidc, ldap, saml or token")
    roles: list[str]
    return_to: str | None = Field(None, description="where a redirect sign-in was going")


class SignedOut(Answer):
    """Whether a session was ended."""

    model_config = example({"signed_out": True, "session": 12})
    signed_out: bool
    session: int | None = Field(None, description="the session ended")


class Me(Answer):
    """Who the caller is, as this service sees them."""

    model_config = example({"name": "ada", "provider": "oidc", "roles": ["host-admin"],
                            "groups": ["koha-admins"], "session": 12},
                           {"name": "bootstrap-token", "provider": "token",
                            "roles": ["host-admin"], "groups": [], "session": None})
    name: str
    provider: str
    roles: list[str]
    groups: list[str] = Field(description="the identity provider's groups")
    session: int | None = Field(None, description="the session's id (none for a token)")


class AuditEvents(Answer):
    """Privileged acts, newest first: who did what to which, with what outcome."""

    model_config = example({"events": [
        {"id": 2, "at": "2026-12-03T11:11:29.896486+00:00", "actor": "ada",
         "provider": "oidc", "action": "install_plugin", "target": "", "outcome": "ok",
         "status": 201, "address": "192.0.2.10",
         "detail": {"plugin": "book-notes", "version": "1.0.0"}}]})
    events: list[dict[str, Any]] = Field(description="id, at, actor, provider, action, "
                                                     "target, outcome, status, address, detail")

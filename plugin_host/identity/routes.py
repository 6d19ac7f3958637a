"""The sign-in API both services serve under ``/auth`` (docs/operations/identity.md):

- ``GET /auth/providers``: what this service signs in with (the CLI reads it)
- ``GET /auth/oidc/login`` → the provider; ``GET /auth/oidc/callback`` → a session
- ``POST /auth/ldap``: user name and password → a session
- ``GET /auth/saml/metadata``, ``GET /auth/saml/login``, ``POST /auth/saml/acs``
- ``POST /auth/handoff``: a browser's redirect sign-in → its session (below)
- ``POST /auth/refresh``, ``POST /auth/logout``, ``GET /auth/me``

A session answer is ``{access_token, refresh_token, expires_in, name, roles, …}``; send
the access token as ``Authorization: Bearer``. A redirect sign-in (OIDC, SAML) started
with ``return_to`` ends with a 303 to ``return_to#handoff=CODE`` instead, and the page
there trades the code (once, within a minute) for the session."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..errors import PluginHostError, Unauthorized
from ..service.http import answers, error_responses, read_body, redirect_to, request_example
from .audit import client_address
from .models import SESSION, Me, Providers, Session, SignedOut
from .service import Identity
from .store import Principal

bearer = HTTPBearer(auto_error=False)
SAML_LIMIT = 1024 * 1024  # a signed response is a few KiB


def identity_of(request: Request) -> Identity:
    return request.app.state.identity


async def signed_in(request: Request,
                    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
                    ) -> Principal:
    if creds is None:
        raise Unauthorized("this route needs 'Authorization: Bearer <token>'")
    who = await request.app.state.authenticate(creds.credentials, client_address(request.scope))
    if who is None:
        raise Unauthorized("the token is unknown or revoked")
    return who


IdentityDep = Annotated[Identity, Depends(identity_of)]
Who = Annotated[Principal, Depends(signed_in)]

router = APIRouter(prefix="/auth", tags=["sign-in"],
                   responses=error_responses(401, 404, 422, 501, 503))


@router.get("/providers", name="sign_in_providers", **answers(Providers))
async def providers(identity: IdentityDep) -> dict[str, Any]:
    """What this service signs people in with, and what a client needs to know to do it
    (the CLI's ``plugin-host login --sso`` reads the OIDC part)."""
    s = identity.settings
    out: dict[str, Any] = {"providers": s.providers}
    if identity.oidc is not None:
        out["oidc"] = {"issuer": identity.oidc.issuer, "cli_client_id": s.oidc_cli_client_id,
                       "cli_redirect_uri": s.oidc_cli_redirect_uri,
                       "resource": s.oidc_resource or (identity.audiences or [None])[0],
                       "scopes": s.oidc_scopes, "login": "/auth/oidc/login"}
    if identity.ldap is not None:
        out["ldap"] = {"login": "/auth/ldap"}
    if identity.saml is not None:
        out["saml"] = {"login": "/auth/saml/login", "metadata": "/auth/saml/metadata"}
    return out


@router.get("/oidc/login", status_code=302, response_class=RedirectResponse,
            responses={302: redirect_to("https://id.example.org/authorize?client_id=koha&"
                                        "response_type=code&state=…&code_challenge=…")})
async def oidc_login(identity: IdentityDep,
                     return_to: Annotated[str | None, Query(max_length=512)] = None
                     ) -> RedirectResponse:
    """Start a sign-in at the OpenID provider (authorization code with PKCE, ``state``
    and ``nonce``); it sends the person back to ``/auth/oidc/callback``."""
    return RedirectResponse(await identity.oidc_start(return_to), status_code=302)


@router.get("/oidc/callback", response_model=None, responses={
    200: {"model": Session, "description": "the session"},
    303: redirect_to("https://koha.example.org/console#handoff=h_3Jq8Lw2Vz6Nc1Rb5",
                     "to return_to#handoff=CODE")})
async def oidc_callback(request: Request, identity: IdentityDep,
                        state: Annotated[str, Query(max_length=256)],
                        code: Annotated[str | None, Query(max_length=2048)] = None,
                        error: Annotated[str | None, Query(max_length=256)] = None
                        ) -> Any:
    """Where the provider sends the person back: the code is exchanged (with the PKCE
    verifier), the ID token checked (signature, issuer, audience, expiry, nonce), and a
    session opened. Each ``state`` works once. Started with ``return_to``: a 303 there
    with a hand-off code (``POST /auth/handoff``); else the session as JSON."""
    address = client_address(request.scope)
    if error or not code:
        await asyncio.to_thread(identity.store.take_once, "oidc-state", state)
        await asyncio.to_thread(identity.refused, "oidc", f"provider said {error}", address)
        raise Unauthorized(f"the identity provider did not sign you in: {error or 'no code'}")
    return await _answer(identity, await identity.oidc_finish(code, state, address))


async def _answer(identity: Identity, tokens: dict[str, Any]) -> Any:
    target = await identity.handoff(tokens)
    return tokens if target is None else RedirectResponse(target, status_code=303)


@router.post("/ldap", **answers(Session), openapi_extra=request_example(
    {"username": "ada", "password": "correct horse battery staple"}))
async def ldap_sign_in(request: Request, identity: IdentityDep,
                       username: Annotated[str, Body(max_length=256)],
                       password: Annotated[str, Body(max_length=1024)]) -> dict[str, Any]:
    """Sign in with the user name and password the library's directory knows."""
    return await identity.ldap_sign_in(username, password, client_address(request.scope))


@router.get("/saml/metadata", response_class=Response,
            responses={200: {"description": "the metadata document", "content": {
                "application/samlmetadata+xml": {"schema": {"type": "string"}, "example": (
                    '<md:EntityDescriptor entityID="https://host.example.org/auth/saml/'
                    'metadata">…</md:EntityDescriptor>')}}}})
async def saml_metadata(identity: IdentityDep) -> Response:
    """This service provider's SAML metadata, for the identity provider's administrator."""
    sp = identity._need(identity.saml, "SAML")
    return Response(sp.metadata(), media_type="application/samlmetadata+xml")


@router.get("/saml/login", status_code=302, response_class=RedirectResponse,
            responses={302: redirect_to("https://idp.example.org/sso?SAMLRequest=…&RelayState=…")})
async def saml_login(identity: IdentityDep,
                     return_to: Annotated[str | None, Query(max_length=512)] = None
                     ) -> RedirectResponse:
    """Start a SAML sign-in (HTTP-Redirect binding); the IdP posts back to ``/acs``."""
    return RedirectResponse(await identity.saml_start(return_to), status_code=302)


@router.post("/saml/acs", response_model=None, responses={
    200: {"model": Session, "description": "the session"}, **error_responses(413),
    303: redirect_to("https://koha.example.org/console#handoff=h_3Jq8Lw2Vz6Nc1Rb5",
                     "to RelayState's return_to#handoff=CODE")}, openapi_extra={
    "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
        "schema": {"type": "object", "required": ["SAMLResponse"],
                   "properties": {"SAMLResponse": {"type": "string"},
                                  "RelayState": {"type": "string"}}},
        "example": {"SAMLResponse": "PHNhbWxwOlJlc3BvbnNlIC4uLg==",
                    "RelayState": "d2f0c1e6"}}}}})
async def saml_acs(request: Request, identity: IdentityDep) -> Any:
    """The assertion consumer (HTTP-POST binding): the response and its assertion must be
    signed by the IdP's key (SHA-256), answer a request this service made, and be new
    (replays are refused). Started with ``return_to``: a 303 there with a hand-off code."""
    form = parse_qs((await read_body(request, SAML_LIMIT)).decode("latin-1"))
    saml_response = form.get("SAMLResponse", [""])[0]
    if not saml_response:
        raise PluginHostError("SAMLResponse: the form field is missing",
                              code="invalid_request", status=422)
    return await _answer(identity, await identity.saml_finish(
        saml_response, form.get("RelayState", [""])[0], client_address(request.scope)))


@router.post("/handoff", name="take_handoff", **answers(Session),
             openapi_extra=request_example({"code": "h_3Jq8Lw2Vz6Nc1Rb5"}))
async def handoff(request: Request, identity: IdentityDep,
                  code: Annotated[str, Body(embed=True, max_length=128)]) -> dict[str, Any]:
    """The session of a browser's redirect sign-in, for the code its page was handed
    (``#handoff=CODE``): once, within a minute."""
    return await identity.take_handoff(code, client_address(request.scope))


@router.post("/refresh", name="refresh_session", **answers(Session),
             openapi_extra=request_example({"refresh_token": SESSION["refresh_token"]}))
async def refresh(request: Request, identity: IdentityDep,
                  refresh_token: Annotated[str, Body(embed=True, max_length=256)]
                  ) -> dict[str, Any]:
    """New tokens for a session (the refresh token is replaced: each works once). The
    roles are read again from the provider where it allows (OIDC, LDAP with a reader
    account): a person taken out of a group loses its role here."""
    return await identity.refresh(refresh_token, client_address(request.scope))


@router.post("/logout", name="sign_out", **answers(SignedOut),
             openapi_extra=request_example({}))
async def logout(request: Request, identity: IdentityDep, who: Who,
                 refresh_token: Annotated[str | None, Body(embed=True, max_length=256)] = None
                 ) -> dict[str, Any]:
    """End the session of the access token (or of ``refresh_token``): both stop working."""
    from .audit import set_actor

    set_actor(request.scope, who)
    return await identity.logout(who, refresh_token, client_address(request.scope))


@router.get("/me", name="current_session", **answers(Me))
async def me(who: Who) -> dict[str, Any]:
    """Who the token is for: name, provider, roles, groups."""
    return {"name": who.name, "provider": who.provider, "roles": list(who.roles),
            "groups": list(who.groups), "session": who.session_id}

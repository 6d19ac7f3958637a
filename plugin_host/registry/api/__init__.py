"""The registry's HTTP API under ``/api/v1``, one router per concern: ``accounts``,
``publishing`` (publish, review), ``catalogue`` (search, pages, resolve, downloads),
``marketplace`` (yank, deprecate, rate). Reads of the catalogue are public; everything
else needs ``Authorization: Bearer <token>`` and the role the route names."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ...errors import Unauthorized
from ...identity.audit import client_address, set_actor
from ...service.http import parse_json, read_body
from ..accounts import Caller
from ..services import RegistryServices

bearer = HTTPBearer(auto_error=False)


async def _services(request: Request) -> RegistryServices:
    return request.app.state.services


Services = Annotated[RegistryServices, Depends(_services)]


async def _caller(request: Request, registry: Services,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
                  ) -> Caller | None:
    """The caller of a request: an API token's account, or a person signed in through
    the identity provider (a session token or the provider's access token)."""
    if creds is None:
        return None
    who = await request.app.state.authenticate(creds.credentials,
                                               client_address(request.scope))
    caller = who.extra.get("caller") or registry.accounts.caller(who)
    set_actor(request.scope, who)
    return caller


def _signed_in(c: Annotated[Caller | None, Depends(_caller)]) -> Caller:
    if c is None:
        raise Unauthorized("this route needs 'Authorization: Bearer <API token>'")
    return c


async def checked_json(request: Request) -> None:
    """A JSON body must be one the registry can store: at most 1 MiB, not nested too
    deep, no lone surrogates or integers beyond 64 bits (422 naming the problem)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        parse_json(await read_body(request, JSON_LIMIT))


JSON_LIMIT = 1024 * 1024
#: on every router with JSON bodies
JSON_CHECK = [Depends(checked_json)]
#: a database id in a path
DbId = Annotated[int, Path(ge=1, le=2**63 - 1)]

#: the caller if a token was sent (an unknown token is refused)
OptionalCaller = Annotated[Caller | None, Depends(_caller)]
#: a caller with a valid token
RequiredCaller = Annotated[Caller, Depends(_signed_in)]

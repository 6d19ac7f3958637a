"""The registry's HTTP API under ``/api/v1``, one router per concern: ``accounts``,
``publishing`` (publish, review), ``catalogue`` (search, pages, resolve, downloads),
``marketplace`` (yank, deprecate, rate). Reads of the catalogue are public; everything
else needs ``Authorization: Bearer <token>`` and the role the route names."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ...errors import Unauthorized
from ..accounts import Caller
from ..services import RegistryServices

bearer = HTTPBearer(auto_error=False)


async def _services(request: Request) -> RegistryServices:
    return request.app.state.services


Services = Annotated[RegistryServices, Depends(_services)]


def _caller(registry: Services,
            creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
            ) -> Caller | None:
    return registry.accounts.authenticate(creds.credentials if creds else None)


def _signed_in(c: Annotated[Caller | None, Depends(_caller)]) -> Caller:
    if c is None:
        raise Unauthorized("this route needs 'Authorization: Bearer <API token>'")
    return c


#: the caller if a token was sent (an unknown token is refused)
OptionalCaller = Annotated[Caller | None, Depends(_caller)]
#: a caller with a valid token
RequiredCaller = Annotated[Caller, Depends(_signed_in)]

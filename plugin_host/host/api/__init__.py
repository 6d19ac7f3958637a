"""The host's HTTP API, one router per concern: ``plugins`` (plugin routes and Koha
events), ``ui`` (slots and component bundles), ``admin`` (install, upgrade, configure…).
Routes parse and validate, call a service, and return its answer; errors are mapped in
one place (plugin_host/service/http.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..services import HostServices


def services(request: Request) -> HostServices:
    """The host's services (hot routes call this directly: no dependency to resolve)."""
    return request.app.state.services


async def _services(request: Request) -> HostServices:
    return services(request)


#: a route parameter giving the host's services
Services = Annotated[HostServices, Depends(_services)]

"""Yanks, deprecation and ratings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from ...service.http import answers, error_responses, request_example
from . import JSON_CHECK, RequiredCaller, Services
from . import models as M

router = APIRouter(prefix="/api/v1",
                   responses=error_responses(401, 403, 404, 422, 503),
                   tags=["marketplace"],
                   dependencies=JSON_CHECK)


@router.post("/plugins/{name}/{version}/yank", **answers(M.Release))
async def yank(name: str, version: str, registry: Services, c: RequiredCaller
               ) -> dict[str, Any]:
    """Hide a release from resolution (pinned installs still work); its publisher."""
    return registry.marketplace.yank(c, name, version, True)


@router.post("/plugins/{name}/{version}/unyank", **answers(M.Release))
async def unyank(name: str, version: str, registry: Services, c: RequiredCaller
                 ) -> dict[str, Any]:
    """Make a yanked release resolvable again; its publisher."""
    return registry.marketplace.yank(c, name, version, False)


@router.post("/plugins/{name}/deprecate", **answers(M.Deprecated),
             openapi_extra=request_example({"message": "use hello-world-2"}))
async def deprecate(name: str, registry: Services, c: RequiredCaller,
                    message: Annotated[str | None, Body(embed=True)] = None) -> dict[str, Any]:
    """Mark a plugin deprecated with a message (null clears it); its publisher."""
    return registry.marketplace.deprecate(c, name, message)


@router.put("/plugins/{name}/rating", **answers(M.Rated),
            openapi_extra=request_example({"stars": 5, "text": "Easy to set up."}))
async def rate(name: str, registry: Services, c: RequiredCaller,
               stars: Annotated[int, Body()],
               text: Annotated[str, Body(max_length=4000)] = "") -> dict[str, Any]:
    """Rate a plugin 1 to 5 with an optional review; one per user, editable."""
    return registry.marketplace.rate(c, name, stars, text)

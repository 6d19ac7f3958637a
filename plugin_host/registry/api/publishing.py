"""Publishing packages and reviewing them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from ...service.http import error_responses, package_body
from . import JSON_CHECK, RequiredCaller, Services

router = APIRouter(prefix="/api/v1",
                   responses=error_responses(401, 403, 404, 409, 413, 415, 422, 503))


@router.post("/packages", tags=["publishing"], status_code=201,
             openapi_extra={"requestBody": {"content": {
                 "application/zip": {"schema": {"type": "string", "format": "binary"}}}}})
async def publish(request: Request, registry: Services, c: RequiredCaller) -> dict[str, Any]:
    """Publish a signed .kplugin: automated checks run; passing → review queue."""
    data = await package_body(request, registry.settings.max_package_bytes)
    return await registry.publishing.publish(c, data)


@router.get("/review/queue", tags=["review"])
async def review_queue(registry: Services, c: RequiredCaller) -> dict[str, Any]:
    return {"queue": registry.publishing.queue(c)}


@router.post("/review/{name}/{version}", tags=["review"], dependencies=JSON_CHECK)
async def review(name: str, version: str, registry: Services, c: RequiredCaller,
                 decision: Annotated[str, Body()],
                 comment: Annotated[str, Body()] = "") -> dict[str, Any]:
    """Approve or reject a release in review (a rejection needs a comment)."""
    return registry.publishing.review(c, name, version, decision, comment)

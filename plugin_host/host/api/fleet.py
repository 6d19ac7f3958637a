"""The fleet under ``/admin/fleet`` (admin): the environment's declared plugin set,
resolved once over the signed index, and each host's convergence to it
(docs/operations/fleet.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request

from ...service.http import answers, error_responses, json_body
from . import Services
from . import models as M
from .admin import require_admin

router = APIRouter(prefix="/admin", tags=["fleet"], dependencies=[Depends(require_admin)],
                   responses=error_responses(401, 403, 409, 422, 500, 502, 503))

@router.get("/fleet", **answers(M.Fleet))
async def fleet_status(host: Services) -> dict[str, Any]:
    """The declared plugin set (its generation and resolved versions) and, for every
    host sharing this database, what it runs and how that differs (``drift``);
    ``stale`` marks a host not heard from for three report intervals."""
    return await asyncio.to_thread(host.fleet.status)


@router.put("/fleet", **answers(M.Declared), openapi_extra={"requestBody": {
    "required": True, "content": {
    "application/json": {"schema": {"type": "object", "properties": {"plugins": {
        "type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "range": {"type": "string"},
            "config": {"type": "object"}, "enabled": {"type": "boolean"},
            "secrets": {"type": "object", "additionalProperties": {"type": "string"}}}}}}},
        "example": {"plugins": [{"name": "hello-world", "range": "^1",
                                 "config": {"greeting": "Hej"},
                                 "secrets": {"API_KEY": "aws-sm://koha/hello#api_key"}}]}}}}})
async def fleet_apply(request: Request, host: Services) -> dict[str, Any]:
    """Declare the environment's plugin set: resolved once over the signed index
    (dependencies included, exact versions) and stored as the next generation. Hosts
    change only when they converge (``POST /admin/fleet/converge``, or
    ``plugin-host fleet apply``, which rolls it out host by host)."""
    return await host.fleet.apply(await json_body(request))


@router.post("/fleet/converge", **answers(M.Converged))
async def fleet_converge(host: Services) -> dict[str, Any]:
    """Bring this host to the declared set now: what changed, what failed, the drift
    left (``converged`` is true when none is)."""
    return await host.fleet.converge()


@router.post("/fleet/rollback", **answers(M.Declared))
async def fleet_rollback(host: Services) -> dict[str, Any]:
    """Declare the set before the current one again (a new generation); hosts go back
    when they converge."""
    return await host.fleet.rollback()

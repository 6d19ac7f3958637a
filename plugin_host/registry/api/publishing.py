"""Publishing packages and reviewing them."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from ...identity.audit import audit_detail
from ...service.http import PACKAGE_BODY, answers, error_responses, package_body, request_example
from . import JSON_CHECK, RequiredCaller, Services
from . import models as M

router = APIRouter(prefix="/api/v1",
                   responses=error_responses(401, 403, 404, 409, 413, 415, 422, 503))


@router.post("/packages", tags=["publishing"], status_code=201, name="publish_package",
             **answers(M.Published, status=201),
             openapi_extra={"requestBody": {"required": True, "content": PACKAGE_BODY}})
async def publish(request: Request, registry: Services, c: RequiredCaller) -> dict[str, Any]:
    """Publish a signed .kplugin: the automated checks run; passing, it joins the review
    queue (201). Failing, nothing is kept and the answer is 422 ``checks_failed`` with
    the report (``checks``): fix it and publish the same version again. A version a
    reviewer rejected may be published again too."""
    data = await package_body(request, registry.settings.max_package_bytes)
    out = await registry.publishing.publish(c, data)
    audit_detail(request, plugin=out.get("plugin"), version=out.get("version"),
                 sha256=out.get("sha256"))
    return out


@router.get("/review/queue", tags=["review"], **answers(M.ReviewQueue))
async def review_queue(registry: Services, c: RequiredCaller) -> dict[str, Any]:
    """Releases waiting for a reviewer, with their checks and what they ask for
    (reviewers and admins)."""
    return {"queue": registry.publishing.queue(c)}


@router.post("/review/{name}/{version}", tags=["review"], dependencies=JSON_CHECK,
             **answers(M.Release), openapi_extra=request_example(
                 {"decision": "approve", "comment": "Read the diff: no network use."}),
             name="review_release")
async def review(name: str, version: str, request: Request, registry: Services,
                 c: RequiredCaller, decision: Annotated[str, Body()],
                 comment: Annotated[str, Body()] = "") -> dict[str, Any]:
    """Approve or reject a release in review (a rejection needs a comment)."""
    audit_detail(request, decision=decision, comment=comment[:200])
    return registry.publishing.review(c, name, version, decision, comment)


@router.get("/review/{name}/{version}/download", tags=["review"], response_class=Response,
            responses={200: {"description": "the package as published", "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}}}}})
async def review_download(name: str, version: str, registry: Services,
                          c: RequiredCaller) -> Response:
    """The package of a release in review (any state), for reviewers and its publisher:
    read the code before approving it."""
    filename, data = await asyncio.to_thread(registry.publishing.review_package, c, name,
                                             version)
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/review/{name}/{version}/diff", tags=["review"], **answers(M.Diff))
async def review_diff(name: str, version: str, registry: Services,
                      c: RequiredCaller) -> dict[str, Any]:
    """What changed against the newest approved version before this one (``against``;
    null for a first version): each file added, removed or modified, with a unified
    diff of text files."""
    return await asyncio.to_thread(registry.publishing.review_diff, c, name, version)

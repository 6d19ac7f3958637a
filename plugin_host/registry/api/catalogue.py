"""The public catalogue: search, plugin and publisher pages, the index's status,
resolution, downloads."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ... import HOST_API_VERSION
from ...errors import PluginHostError
from ...identity.audit import client_address
from ...manifest import NAME_RE
from ...service.http import answers, error_responses, request_example
from ...versions import parse_version
from . import JSON_CHECK, OptionalCaller, Services
from . import models as M


def check_version(field: str, text: str) -> None:
    try:
        parse_version(text)
    except ValueError as e:
        raise PluginHostError(f"{field}: {e}", code="invalid_request", status=422) from None


router = APIRouter(prefix="/api/v1",
                   responses=error_responses(401, 404, 409, 422, 503),
                   tags=["catalogue"],
                   dependencies=JSON_CHECK)


@router.get("/plugins", name="search_plugins", **answers(M.Search))
async def search(registry: Services, q: Annotated[str, Query()] = "",
                 tag: Annotated[str | None, Query()] = None,
                 host_api: Annotated[str | None, Query(pattern=r"^\d+\.\d+\.\d+$")] = None,
                 sort: Annotated[str, Query(
                     pattern="^(name|downloads|installs|rating|updated)$")] = "name"
                 ) -> dict[str, Any]:
    """Search name, summary and tags; filter by tag and by a host API version the
    latest release must support; sort by name, downloads, active installs, rating or
    updated."""
    if host_api is not None:
        check_version("host_api", host_api)
    return {"plugins": registry.catalogue.search(q, tag, sort, host_api)}


@router.get("/publishers/{name}", name="get_publisher", **answers(M.Publisher))
async def publisher(name: str, registry: Services) -> dict[str, Any]:
    """A publisher's profile: their plugins and signing keys."""
    return registry.catalogue.publisher(name)


@router.get("/index", name="index_status", **answers(M.IndexStatus))
async def index(registry: Services) -> dict[str, Any]:
    """Where the signed index is, its root's SHA-256 (compare it with the root.json
    you give your hosts) and each role's version and expiry."""
    return await asyncio.to_thread(registry.index.status)


@router.get("/plugins/{name}", name="get_plugin", **answers(M.PluginPage))
async def plugin(name: str, registry: Services, c: OptionalCaller) -> dict[str, Any]:
    """A plugin's page: approved versions (all, with checks and reviews, for its
    publisher and reviewers)."""
    return registry.catalogue.plugin(name, c)


@router.post("/resolve", **answers(M.Resolution), openapi_extra=request_example(
    {"requirements": {"book-notes": "^1.0"}, "host_api": "1.0"}))
async def resolve(registry: Services, requirements: Annotated[dict[str, str], Body()],
                  host_api: Annotated[str, Body()] = HOST_API_VERSION) -> dict[str, Any]:
    """Requirements (name → npm range) → a consistent set of approved releases in
    install order, or 409 with the conflict in words."""
    check_version("host_api", host_api)
    return {"install": registry.catalogue.resolve(requirements, host_api)}


@router.get("/plugins/{name}/{version}/download", name="download_package",
            response_class=Response, responses={200: {
                "description": "the .kplugin package", "content": {"application/zip": {
                    "schema": {"type": "string", "format": "binary"}}}}})
async def download(name: str, version: str, registry: Services) -> Response:
    """The package of an approved release (counted). Hosts install from the signed
    index instead; this is for people and reviewers."""
    filename, data = await asyncio.to_thread(registry.catalogue.download, name, version)
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


class PluginRun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_RE, max_length=63)
    version: str = Field(min_length=1, max_length=64)


class UsageReportBody(BaseModel):
    """What a host sends (and all it sends) when its operator turned usage_reporting on."""

    model_config = ConfigDict(extra="forbid")
    installation: str = Field(description="A random id the host made for itself (32 hex)")
    plugins: list[PluginRun] = Field(max_length=1000, description="The enabled plugins")
    host_version: str = Field(default="", max_length=64)


@router.post("/usage", name="report_usage", status_code=202,
             **answers(M.UsageCounted, 422, 429, status=202), openapi_extra=request_example(
                 {"installation": "0123456789abcdef0123456789abcdef", "host_version": "0.1.0",
                  "plugins": [{"name": "hello-world", "version": "1.0.0"}]}))
async def usage(report: UsageReportBody, request: Request,
                registry: Services) -> dict[str, Any]:
    """A host's daily report of the plugins it runs (anonymous: an installation id the
    host made up); counted once per installation, plugin and day into the catalogue's
    active installs. Plugins the registry does not list are ignored."""
    return await asyncio.to_thread(
        registry.usage.record, report.installation,
        [p.model_dump() for p in report.plugins], client_address(request.scope))


@router.post("/plugins/{name}/{version}/installed", name="report_install",
             status_code=204)
async def installed(name: str, version: str, registry: Services) -> Response:
    """A host reports an install from the index (counted as a download)."""
    await asyncio.to_thread(registry.catalogue.count_download, name, version)
    return Response(status_code=204)

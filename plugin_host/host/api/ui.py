"""UI components for Koha's pages: which components fill a slot, and their bundles."""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ...service.http import error_responses
from . import Services

router = APIRouter(tags=["ui"])


@router.get("/ui/slots/{slot}")
async def ui_slot(slot: str, host: Services) -> dict[str, Any]:
    """The UI components enabled plugins offer for a slot, with SRI integrity."""
    return {"slot": slot, "components": host.calls.slot(slot)}


async def ui_asset(name: str, version: str, path: str, host: Services) -> FileResponse:
    """A component bundle; versioned URLs, so cached for a year as immutable."""
    target = host.calls.asset(name, version, path)
    media = "text/javascript" if target.suffix in (".js", ".mjs") else (
        mimetypes.guess_type(target.name)[0] or "application/octet-stream")
    return FileResponse(target, media_type=media, headers={
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*"})


for _method in ("GET", "HEAD"):
    router.add_api_route("/ui/assets/{name}/{version}/{path:path}", ui_asset,
                         methods=[_method], name=f"ui_asset_{_method.lower()}",
                         responses=error_responses(404))

"""UI components for Koha's pages: which components fill a slot, their bundles, and the
slot loader Koha's pages include (``/ui/loader.js``; ``/ui/loader`` gives its URL and SRI
hash, which the Koha bridge puts in the script tag)."""

from __future__ import annotations

import base64
import functools
import hashlib
import mimetypes
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from ...service.http import answers, error_responses
from . import Services
from . import models as M

router = APIRouter(tags=["ui"])
LOADER = Path(__file__).resolve().parents[1] / "static" / "slot-loader.js"


@functools.cache
def _loader() -> tuple[bytes, str]:
    data = LOADER.read_bytes()
    return data, "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


@router.get("/ui/loader", **answers(M.LoaderInfo, 500))
async def ui_loader_info() -> dict[str, str]:
    """Where the slot loader is and its SRI hash, for the script tag Koha's pages carry:
    ``<script type="module" src="HOST/ui/loader.js" integrity="…" crossorigin="anonymous">``.
    The hash changes only when the host is upgraded."""
    return {"url": "/ui/loader.js", "integrity": _loader()[1]}


@router.get("/ui/demo", response_class=Response, include_in_schema=False)
async def ui_demo(timeout_ms: int = 10000) -> Response:
    """A page shaped like Koha's staff start page, with the slot loader: try plugins'
    components without a Koha (docs/integrations/koha-bridge.md)."""
    page = (LOADER.parent / "demo-staff.html").read_text()
    page = page.replace("{{INTEGRITY}}", _loader()[1]).replace(
        "{{TIMEOUT_MS}}", str(max(100, min(timeout_ms, 60000))))
    return Response(page, media_type="text/html", headers={
        "Content-Security-Policy": "default-src 'self'; script-src 'self' blob:; "
        "style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
        "Cache-Control": "no-cache"})


@router.get("/ui/loader.js", response_class=Response, responses={
    200: {"description": "the slot loader, an ES module", "content": {"text/javascript": {
        "schema": {"type": "string"},
        "example": "export async function mountSlots(root = document) { … }"}}},
    **error_responses(500)})
async def ui_loader() -> Response:
    """The slot loader (an ES module)."""
    data, integrity = _loader()
    return Response(data, media_type="text/javascript", headers={
        "Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*", "ETag": f'"{integrity}"'})


@router.get("/ui/slots/{slot}", **answers(M.Slot))
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


ASSET_EXAMPLE = ('export function Greeting({ name = "reader" } = {}) {\n'
                 '  const el = document.createElement("p");\n  …\n}\n')
for _method in ("GET", "HEAD"):
    router.add_api_route("/ui/assets/{name}/{version}/{path:path}", ui_asset,
                         methods=[_method], name=f"ui_asset_{_method.lower()}",
                         response_class=FileResponse,
                         responses={200: {
                             "description": "the file; immutable, cached for a year",
                             "content": {"text/javascript": {"schema": {"type": "string"},
                                                             "example": ASSET_EXAMPLE}}},
                             **error_responses(404)})

"""The built web UI (``dist/``, made from ``web/`` by ``./dev build`` or ``./dev``; the
wheel ships it, so production needs no node) and how a service serves its pages:
``serve_pages(app, "marketplace", ["/", "/plugins/{name}"])`` answers those paths with
the page's HTML (a strict Content-Security-Policy: its own scripts and styles only) and
``/web/assets/`` with the hashed bundles, cached for a year."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DIST = Path(__file__).parent / "dist"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'; object-src 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-cache"}


class CachedStatic(StaticFiles):
    """Hashed file names: safe to keep for a year."""

    async def get_response(self, path: str, scope):  # type: ignore[no-untyped-def]
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def page_html(page: str) -> str:
    path = DIST / page / "index.html"
    if not path.is_file():
        return ("<!doctype html><html lang=en><title>Not built</title><main><h1>The web UI "
                "is not built</h1><p>Run <code>./dev build</code> (or any <code>./dev</code> "
                "command) in a checkout; release wheels carry it.</p></main></html>")
    return path.read_text()


def serve_pages(app: FastAPI, page: str, paths: list[str]) -> None:
    """Serve the built ``page`` at each of ``paths`` (left out of the API documents)."""
    async def html() -> HTMLResponse:
        text = page_html(page)
        return HTMLResponse(text, headers=HEADERS,
                            status_code=200 if (DIST / page).is_dir() else 503)

    for path in paths:
        app.add_api_route(path, html, methods=["GET"], include_in_schema=False,
                          response_class=HTMLResponse, name=f"page_{page}_{path}")
    if not any(getattr(r, "path", None) == "/web/assets" for r in app.routes):
        (DIST / "assets").mkdir(parents=True, exist_ok=True)
        app.mount("/web/assets", CachedStatic(directory=DIST / "assets"), name="web_assets")

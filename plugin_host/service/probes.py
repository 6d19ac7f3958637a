"""The probe and metrics endpoints every service answers, for load balancers,
orchestrators and Prometheus:

- ``GET /healthz``: liveness, the process answers;
- ``GET /readyz``: readiness, 200 once start-up is done (503 before), with details;
- ``GET /metrics``: Prometheus exposition (gauges refreshed first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import __version__


def probes_router(ready: Callable[[], bool], details: Callable[[], dict[str, Any]] | None = None,
                  refresh_gauges: Callable[[], None] | None = None) -> APIRouter:
    """``ready()`` says whether start-up is done; ``details()`` adds to the readiness
    answer; ``refresh_gauges()`` runs (in a thread: it may read the database) before
    each scrape."""
    router = APIRouter(tags=["probes"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: 200 once start-up is done, 503 before."""
        ok = ready()
        body = {"status": "ready" if ok else "starting", "version": __version__,
                **(details() if details else {})}
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        if refresh_gauges is not None:
            await asyncio.to_thread(refresh_gauges)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router

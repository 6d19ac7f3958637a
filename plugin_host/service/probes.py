"""The probe and metrics endpoints every service answers, for load balancers,
orchestrators and Prometheus:

- ``GET /healthz``: liveness, the process answers;
- ``GET /readyz``: readiness, 200 once start-up is done (503 before), with details;
  ``"status": "degraded"`` (still 200: what is running keeps serving) while the database
  does not answer;
- ``GET /metrics``: Prometheus exposition (gauges refreshed first).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import Field
from sqlalchemy.exc import SQLAlchemyError

from .. import __version__
from .http import Answer, answers, example


class Health(Answer):
    """The process answers."""

    model_config = example({"status": "ok"})
    status: str


class Ready(Answer):
    """Whether start-up is done and the database answers, with the service's details."""

    model_config = example({"status": "ready", "version": "0.1.0",
                            "plugins": {"hello-world": "enabled"}, "database": "ok"},
                           {"status": "degraded", "version": "0.1.0", "plugins": {},
                            "database": "unreachable: connection refused"})
    status: str = Field(description="ready, degraded, or starting")
    version: str
    database: str | None = Field(None, description="ok, or why it does not answer")
    plugins: dict[str, str] | None = Field(None, description="the host's plugins' states")


def probes_router(ready: Callable[[], bool], details: Callable[[], dict[str, Any]] | None = None,
                  refresh_gauges: Callable[[], None] | None = None,
                  database: Callable[[], str | None] | None = None,
                  database_up: Callable[[bool], None] | None = None) -> APIRouter:
    """``ready()`` says whether start-up is done; ``details()`` adds to the readiness
    answer; ``refresh_gauges()`` runs (in a thread: it may read the database) before
    each scrape; ``database()`` says why the database does not answer (None if it does),
    and ``database_up(ok)`` records it (a gauge)."""
    router = APIRouter(tags=["probes"])

    @router.get("/healthz", **answers(Health))
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    async def check_database() -> str | None:
        if database is None:
            return None
        problem = await asyncio.to_thread(database)
        if database_up is not None:
            database_up(problem is None)
        return problem

    @router.get("/readyz", response_model=None, responses={
        200: {"model": Ready, "description": "ready (or degraded: the database does not "
                                             "answer, running plugins still serve)"},
        503: {"model": Ready, "description": "starting: not ready yet"}})
    async def readyz() -> JSONResponse:
        """Readiness: 200 once start-up is done (``degraded`` while the database does not
        answer: running plugins still serve), 503 before."""
        ok = ready()
        body: dict[str, Any] = {"status": "ready" if ok else "starting",
                                "version": __version__, **(details() if details else {})}
        if ok and database is not None:
            problem = await check_database()
            body["database"] = "ok" if problem is None else f"unreachable: {problem}"
            if problem is not None:
                body["status"] = "degraded"
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        if await check_database() is None and refresh_gauges is not None:
            # it reads the database; gone since the check: the last values stay
            with contextlib.suppress(SQLAlchemyError):
                await asyncio.to_thread(refresh_gauges)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router

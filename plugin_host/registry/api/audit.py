"""The audit log: who did what, when, from where (admin only)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from ...identity.audit_route import AUDIT_ANSWER, AuditQuery, audit_answer
from ...service.http import error_responses
from . import RequiredCaller, Services

router = APIRouter(prefix="/api/v1", responses=error_responses(401, 403, 422))


@router.get("/audit", tags=["accounts"], **AUDIT_ANSWER)
async def audit_log(registry: Services, c: RequiredCaller, q: AuditQuery) -> Any:
    """Privileged acts and sign-ins, newest first: actor, provider, action, target,
    outcome, status, address, details. ``format=jsonl`` answers JSON lines (for an
    export); ``actor``, ``action``, ``since`` and ``limit`` filter."""
    c.require("admin")
    events = await asyncio.to_thread(registry.identity.audit.query, **q.filters())
    return audit_answer(events, q.format)



"""The host's audit log under ``/admin/audit`` (host-admin): who installed, upgraded,
configured, set secrets, signed in, and from where."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends

from ...identity.audit_route import AUDIT_ANSWER, AuditQuery, audit_answer
from ...service.http import error_responses
from . import Services
from .admin import require_admin

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)],
                   responses=error_responses(401, 403, 422))


@router.get("/audit", **AUDIT_ANSWER)
async def audit_log(host: Services, q: AuditQuery) -> Any:
    """Privileged acts and sign-ins, newest first: actor, provider, action, target,
    outcome, status, address, details. ``format=jsonl`` answers JSON lines (for an
    export); ``actor``, ``action``, ``since`` and ``limit`` filter."""
    return audit_answer(await asyncio.to_thread(host.identity.audit.query, **q.filters()),
                        q.format)

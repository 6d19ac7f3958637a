"""The audit trail: who did what, when, from where, and how it ended. Every privileged
request (any POST, PUT, PATCH or DELETE a signed-in caller makes) and every sign-in,
refresh, logout and refusal is one event, stored in the service's database and appended
to a JSON-lines file (``audit_file``) a log shipper can follow.

Events are recorded by :class:`AuditMiddleware` after the response, from the route's
name and path parameters; a route adds details with :func:`audit_detail`. Bodies are
never recorded (they may hold secrets)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ..service.db import utcnow
from .store import AuditEvent, Principal

log = structlog.get_logger("audit")

AUDIT_KEY = "koha.audit"
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def client_address(scope: dict) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def audit_detail(request_or_scope: Any, **detail: Any) -> None:
    """Add details to the audit event of this request (ids, names, decisions)."""
    scope = getattr(request_or_scope, "scope", request_or_scope)
    scope.setdefault("state", {}).setdefault(AUDIT_KEY, {}).update(detail)


def set_actor(scope: dict, who: Principal) -> None:
    scope.setdefault("state", {})["koha.actor"] = who


class AuditLog:
    def __init__(self, sessions: sessionmaker, path: Path, service: str):
        self.sessions, self.path, self.service = sessions, path, service
        self._lock = threading.Lock()

    def record(self, *, actor: str, provider: str, action: str, target: str = "",
               outcome: str = "ok", status: int = 200, address: str = "",
               detail: dict[str, Any] | None = None) -> dict[str, Any]:
        event = AuditEvent(at=utcnow(), actor=actor[:128], provider=provider[:16],
                           action=action[:64], target=target[:255], outcome=outcome,
                           status=status, address=address[:64], detail=detail or {})
        with self.sessions.begin() as s:
            s.add(event)
            s.flush()
            line = as_dict(event)
        self._append(line)
        return line

    def _append(self, event: dict[str, Any]) -> None:
        data = (json.dumps({"service": self.service, **event}, sort_keys=True) + "\n").encode()
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
            except OSError as e:  # the database row is the record; say so and go on
                log.error("audit.file_failed", path=str(self.path), error=str(e))

    def query(self, *, actor: str | None = None, action: str | None = None,
              since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if actor:
            q = q.where(AuditEvent.actor == actor)
        if action:
            q = q.where(AuditEvent.action == action)
        if since:
            q = q.where(AuditEvent.at >= since)
        with self.sessions() as s:
            return [as_dict(e) for e in s.scalars(q)]


def as_dict(e: AuditEvent) -> dict[str, Any]:
    at = e.at if e.at.tzinfo else e.at.replace(tzinfo=utcnow().tzinfo)
    return {"id": e.id, "at": at.isoformat(), "actor": e.actor, "provider": e.provider,
            "action": e.action, "target": e.target, "outcome": e.outcome,
            "status": e.status, "address": e.address, "detail": e.detail}


class AuditMiddleware:
    """Pure ASGI: after each mutating request a caller was identified for, one event."""

    def __init__(self, app: Any, audit: AuditLog):
        self.app, self.audit = app, audit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in MUTATING:
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_wrapper(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            state = scope.get("state") or {}
            who: Principal | None = state.get("koha.actor")
            if who is not None:
                await self._record(scope, state, who, status)

    async def _record(self, scope: dict, state: dict, who: Principal, status: int) -> None:
        endpoint = scope.get("endpoint")
        params = scope.get("path_params") or {}
        try:
            await asyncio.to_thread(
                self.audit.record, actor=who.name, provider=who.provider,
                action=getattr(endpoint, "__name__", scope.get("path", "?")),
                target="/".join(str(v) for v in params.values()),
                outcome="ok" if status < 400 else "refused" if status < 500 else "error",
                status=status, address=client_address(scope),
                detail=state.get(AUDIT_KEY, {}))
        except Exception as e:  # the database is down: the act happened; say so loudly
            log.error("audit.record_failed", actor=who.name, path=scope.get("path"),
                      status=status, error=str(e)[:200])

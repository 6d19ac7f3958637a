"""The query both services' audit routes take, and their answer (JSON or JSON lines)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from fastapi.responses import JSONResponse, Response

from .models import AuditEvents


class _Query:
    def __init__(self,
                 actor: Annotated[str | None, Query(max_length=128)] = None,
                 action: Annotated[str | None, Query(max_length=64)] = None,
                 since: Annotated[datetime | None, Query(description="ISO 8601")] = None,
                 limit: Annotated[int, Query(ge=1, le=10000)] = 100,
                 format: Annotated[Literal["json", "jsonl"], Query()] = "json"):
        self.actor, self.action, self.since, self.limit = actor, action, since, limit
        self.format = format

    def filters(self) -> dict[str, Any]:
        return {"actor": self.actor, "action": self.action, "since": self.since,
                "limit": self.limit}


AuditQuery = Annotated[_Query, Depends(_Query)]


#: how both services' audit routes document their answer
AUDIT_ANSWER: dict[str, Any] = {"response_model": None, "responses": {200: {
    "model": AuditEvents, "description": "the events; format=jsonl: one JSON object a line",
    "content": {"application/x-ndjson": {"schema": {"type": "string"}, "example": (
        '{"action": "install_plugin", "actor": "ada", "at": "2026-12-03T11:11:29+00:00", '
        '"outcome": "ok", "status": 201, "target": ""}\n')}}}}}


def audit_answer(events: list[dict[str, Any]], fmt: str) -> Response:
    if fmt == "jsonl":
        body = "".join(json.dumps(e, sort_keys=True) + "\n" for e in events)
        return Response(body, media_type="application/x-ndjson")
    return JSONResponse({"events": events})

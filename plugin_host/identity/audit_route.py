"""The query both services' audit routes take, and their answer (JSON or JSON lines)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from fastapi.responses import JSONResponse, Response


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


def audit_answer(events: list[dict[str, Any]], fmt: str) -> Response:
    if fmt == "jsonl":
        body = "".join(json.dumps(e, sort_keys=True) + "\n" for e in events)
        return Response(body, media_type="application/x-ndjson")
    return JSONResponse({"events": events})

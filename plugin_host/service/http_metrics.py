"""Request metrics both services export: requests by route template, status and fault,
with latency (the SLIs of docs/operations/monitoring.md).

``fault`` says whose a server error is: ``plugin`` when a plugin failed (its handler
raised or answered 5xx, its worker crashed, timed out or is crash-looping), set by the
route through :func:`blame_plugin`; ``host`` for any other 5xx; empty below 500. The
platform's availability SLO counts only ``fault="host"``: one plugin's failures spend
that plugin's budget, not the platform's.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
_FAULT_KEY = "koha.fault"


def blame_plugin(scope: dict) -> None:
    """Mark the response of this request as the plugin's fault (when it is a 5xx)."""
    scope.setdefault("state", {})[_FAULT_KEY] = "plugin"


def request_metrics(prefix: str) -> tuple[Counter, Histogram]:
    """``<prefix>_http_requests_total`` and ``<prefix>_http_request_duration_seconds``."""
    return (Counter(f"{prefix}_http_requests_total", "HTTP requests served",
                    ["method", "route", "status", "fault"]),
            Histogram(f"{prefix}_http_request_duration_seconds", "HTTP request latency",
                      ["method", "route"], buckets=LATENCY_BUCKETS))


class MetricsMiddleware:
    """Pure ASGI middleware: requests by route template, status and fault, with latency."""

    def __init__(self, app: Any, requests: Counter, latency: Histogram):
        self.app, self.requests, self.latency = app, requests, latency

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            fault = "" if status < 500 else (scope.get("state") or {}).get(_FAULT_KEY, "host")
            self.requests.labels(method, template, str(status), fault).inc()
            self.latency.labels(method, template).observe(time.perf_counter() - start)

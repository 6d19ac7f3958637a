"""Calls into plugins: their routes under ``/plugins/{name}/api/``, Koha events to
``/hooks/{event}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.routing import Match, Route, get_route_path
from starlette.types import Scope

from ...errors import PluginCallError
from ...koha import EVENTS, validate_payload
from ...service.http import answers, correlation_id, error_responses, parse_json, read_body
from ...service.http_metrics import blame_plugin
from . import services
from .models import HookResults

router = APIRouter(tags=["plugins"])
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
PLUGIN_ROUTE = "/plugins/{name}/api/{path:path}"


async def plugin_route(name: str, path: str, request: Request) -> Response:
    """Call one of a plugin's routes; its handler's answer is returned as is."""
    return await _plugin_endpoint(request)


async def _plugin_endpoint(request: Request) -> Response:
    """The hot path (served by ``_PlainRoute``; ``plugin_route`` is its OpenAPI face): no
    dependency to resolve, one coroutine."""
    params = request.path_params
    host = services(request)
    cid = correlation_id(request)
    headers = request.headers
    # a request without Content-Length or Transfer-Encoding has no body (RFC 9112 6.3)
    body = (await read_body(request, host.settings.max_request_bytes)
            if "content-length" in headers or "transfer-encoding" in headers else b"")
    try:
        status, out, content = await host.calls.call_route(
            params["name"], request.method, "/" + params["path"],
            dict(request.query_params), {k.lower(): v for k, v in headers.items()}, body, cid)
    except PluginCallError:
        blame_plugin(request.scope)  # raised, crashed, timed out, busy, crash-looping
        raise
    if status >= 500:
        blame_plugin(request.scope)  # the plugin's own answer
    out["X-Correlation-ID"] = cid
    return Response(content, status_code=status, headers=out)


class _PlainRoute(Route):
    """``/plugins/{name}/api/{path}`` matched by hand (what its pattern would match, for
    less than its regular expression costs), naming itself in the scope as FastAPI's
    routes do, so request metrics carry its template."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        route_path = get_route_path(scope)
        if not route_path.startswith("/plugins/"):
            return Match.NONE, {}
        name, found, path = route_path[len("/plugins/"):].partition("/api/")
        path = path[:-1] if path.endswith("\n") else path  # as the pattern's ".*$" does
        if not found or not name or "/" in name or "\n" in path:
            return Match.NONE, {}
        child_scope = {"endpoint": self.endpoint, "route": self,
                       "path_params": {**scope.get("path_params", {}),
                                       "name": name, "path": path}}
        return (Match.FULL if scope["method"] in self.methods else Match.PARTIAL), child_scope


def serve_plugin_routes_first(app: FastAPI) -> None:
    """Plugin routes are the hot path: answer them from a plain Starlette route matched
    before any other, without FastAPI's per-request parameter and dependency machinery
    (the handler takes none; that machinery was most of the host's time per call).
    The middlewares and error handlers apply as to any route; the FastAPI routes below
    stay for the OpenAPI document."""
    app.router.routes.insert(0, _PlainRoute(PLUGIN_ROUTE, _plugin_endpoint, methods=list(METHODS),
                                      include_in_schema=False))


for _method in METHODS:  # one route per method: each has its own operation id
    router.add_api_route(
        PLUGIN_ROUTE, plugin_route, methods=[_method],
        name=f"plugin_route_{_method.lower()}", summary=f"{_method} a plugin's route",
        response_model=None, response_class=Response, responses={
            200: {"description": "the plugin handler's answer, as it gave it (status, "
                                 "headers and body)",
                  "content": {"*/*": {"schema": {}, "example": {"greeting": "Hello Ada"}}}},
            **error_responses(404, 405, 413, 500, 502, 503, 504)})


@router.post("/hooks/{event}", **answers(HookResults, 401, 404, 413, 422),
             openapi_extra={"requestBody": {"content": {"application/json": {
                 "schema": {"description": "the event's payload: its fields in "
                                           "docs/plugins/koha-events.md"},
                 "example": {"biblionumber": 42, "action": "create"}}}}})
async def deliver_hook(event: str, request: Request) -> dict[str, Any]:
    """Deliver a Koha event to every enabled plugin subscribed to it. An event Koha does
    not have is a 404 (with a did-you-mean); a payload missing a field or of the wrong
    type a 422 naming the field (docs/plugins/koha-events.md). Only trusted senders:
    a request signed with the host's hook secret (the Koha bridge), or as ``hook_auth``
    says (docs/integrations/koha-bridge.md); else 401."""
    host = services(request)
    cid = correlation_id(request)
    host.hooks.precheck(request.headers)  # before reading anything else
    body = await read_body(request, host.settings.max_request_bytes)
    host.hooks.verify(request.headers, request.method, request.url.path, body)
    if event not in EVENTS:  # a misspelt event is a 404 (with a did-you-mean)
        validate_payload(event, None)
    payload = validate_payload(event, parse_json(body, "the event payload"))
    results = await host.calls.deliver_hook(event, payload, cid)
    return {"event": event, "correlation_id": cid, "results": results}

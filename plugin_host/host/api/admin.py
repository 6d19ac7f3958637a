"""The admin API under ``/admin`` (bearer admin token): install, upgrade, roll back,
enable, disable, configure and uninstall plugins; the sandbox report; the fleet's declared
plugin set."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ...errors import Forbidden, NotFound, PluginHostError, Unauthorized
from ...identity.audit import audit_detail, client_address, set_actor
from ...identity.metrics import REFUSED
from ...manifest import NAME_RE
from ...service.http import PACKAGE_BODY, answers, error_responses, json_body, package_body
from ..views import describe, secrets_status
from . import Services
from . import models as M

bearer = HTTPBearer(auto_error=False)


async def require_admin(request: Request,
                        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
                        ) -> None:
    """The bootstrap admin token, or a person (session or OIDC access token) holding the
    ``host-admin`` role; who it is goes into the audit log."""
    if creds is None:
        raise Unauthorized("admin routes need 'Authorization: Bearer <admin token or "
                           "signed-in session>'")
    who = await request.app.state.authenticate(creds.credentials,
                                               client_address(request.scope))
    if who is None:
        REFUSED.labels("host", "token").inc()
        raise Unauthorized("admin routes need 'Authorization: Bearer <admin token or "
                           "signed-in session>'")
    if not who.has("host-admin"):
        REFUSED.labels("host", "role").inc()
        raise Forbidden(f"{who.name} may not use the admin API: it needs the host-admin "
                        f"role (a group role_groups maps to it)")
    set_actor(request.scope, who)


log = structlog.get_logger("plugin_host")

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)],
                   responses=error_responses(401, 403, 404, 409, 413, 415, 422, 500, 501, 502,
                                             503))

PACKAGE_OR_JSON = PACKAGE_BODY


@router.get("/plugins", **answers(M.PluginList))
async def list_plugins(host: Services) -> dict[str, Any]:
    """Installed plugins: version, state, sandbox layers, workers, restarts."""
    return {"plugins": [describe(host.manager, p) for p in
                        sorted(host.manager.plugins.values(), key=lambda p: p.name)]}


@router.get("/sandbox", **answers(M.SandboxReport))
async def sandbox_report(host: Services) -> dict[str, Any]:
    """The sandbox layers workers get on this host, what is required, and why any
    optional layer is missing."""
    return host.manager.sandbox.report()


@router.get("/registry", **answers(M.RegistryCatalogue))
async def registry_catalogue(
        host: Services,
        q: Annotated[str, Query(max_length=63, description="part of the plugin name")] = "",
        limit: Annotated[int, Query(ge=1, le=1000, description="at most this many")] = 200,
        name: Annotated[str | None, Query(pattern=NAME_RE,
                                          description="this plugin alone")] = None,
) -> dict[str, Any]:
    """What the registry's signed index offers to install or upgrade to (verified as an
    install is): the plugins whose name contains ``q``, the first ``limit`` by name, each
    with its summary, tags, deprecation and versions, newest first (``total``: how many
    matched; ``problem`` says why there is nothing: no registry configured). With
    ``name``, that plugin alone (what a plugin's page asks: one document read)."""
    return await host.registry.available(q, limit, name)


@router.get("/plugins/{name}", **answers(M.PluginDetail))
async def show_plugin(name: str, host: Services) -> dict[str, Any]:
    """One installed plugin in full: its manifest, settings in effect and their problems,
    where each secret comes from (never its value), routes, hooks, UI components,
    library services and what it lacks to work fully."""
    return describe(host.manager, host.manager.get(name), detail=True)


@router.post("/plugins", status_code=201, **answers(M.Installed, status=201),
             openapi_extra={"requestBody": {"content": {
                 **PACKAGE_OR_JSON,
                 "application/json": {"schema": {"type": "object", "properties": {
                     "name": {"type": "string"}, "range": {"type": "string"}}},
                     "example": {"name": "book-notes", "range": "^1"}}}}})
async def install_plugin(request: Request, host: Services,
                         enable: Annotated[bool, Query()] = True) -> dict[str, Any]:
    """Install an uploaded, signed ``.kplugin`` (the request body, application/zip),
    or ``{"name": "hello-world", "range": "^1"}`` from the registry's signed index
    with its dependencies (``installed`` lists what this call added). A plugin already
    installed is upgraded live to what the range selects (200, ``upgraded``: from, to;
    null when it already runs it)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await json_body(request)
        name, range_ = body.get("name"), body.get("range", "*")
        if isinstance(name, str) and name in host.manager.plugins:
            # installed already: a live upgrade to what the range selects (200)
            item, done, was = await host.registry.upgrade(name, range_)
            audit_detail(request, plugin=name, version=item.version, was=was)
            return JSONResponse(_upgraded(host, item, done, was))
        item, done = await host.registry.install(name, range_, enable=enable)
        audit_detail(request, plugin=item.name, version=item.version, range=range_)
        return {**describe(host.manager, item, detail=True),
                "installed": [{"name": i.name, "version": i.version} for i in done]}
    item = await host.manager.install(
        await package_body(request, host.settings.max_package_bytes), enable=enable)
    audit_detail(request, plugin=item.name, version=item.version)
    return describe(host.manager, item, detail=True)


@router.post("/plugins/{name}/upgrade", **answers(M.Installed),
             openapi_extra={"requestBody": {"content": {
                 **PACKAGE_OR_JSON,
                 "application/json": {"schema": {"type": "object", "properties": {
                     "range": {"type": "string"},
                     "path": {"type": "string"}}}, "example": {"range": "^1.2"}}}}})
async def upgrade_plugin(name: str, request: Request, host: Services) -> dict[str, Any]:
    """Switch to another version with no failed request: ``{"range": "^1.2"}`` for the
    newest release the registry's signed index has in that range, the package as the
    body (application/zip), or ``{"path": "/srv/pkgs/x-1.1.0.kplugin"}`` on this host.
    The new version starts beside the old, must pass its health check and upgrade
    hook, then takes the traffic while the old one finishes its calls."""
    limit = host.settings.max_package_bytes
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await json_body(request)
        if "range" in body and "path" not in body:  # from the registry's signed index
            item, done, was = await host.registry.upgrade(name, body["range"])
            audit_detail(request, version=item.version, was=was)
            return _upgraded(host, item, done, was)
        path = body.get("path")
        if not isinstance(path, str) or not path:
            raise PluginHostError('send {"range": "^1.2"} (from the registry) or '
                                  '{"path": "<package file on this host>"}',
                                  code="invalid_request", status=422)
        data = await asyncio.to_thread(read_package_file, Path(path), limit)
    else:
        data = await package_body(request, limit)
    item = await host.swap.upgrade(name, data)
    audit_detail(request, version=item.version)
    return describe(host.manager, item, detail=True)


def _upgraded(host, item, done, was: str | None) -> dict[str, Any]:
    return {**describe(host.manager, item, detail=True),
            "installed": [{"name": i.name, "version": i.version} for i in done],
            "upgraded": None if was is None else {"from": was, "to": item.version}}


def read_package_file(path: Path, limit: int) -> bytes:
    """A package file on this host: a regular file of at most ``limit`` bytes."""
    try:
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise PluginHostError(f"path: {path} is not a regular file",
                                      code="invalid_request", status=422)
            data = f.read(limit + 1)
    except OSError as e:
        raise PluginHostError(f"path: {e.strerror}: {path}", code="invalid_request",
                              status=422) from None
    if len(data) > limit:
        raise PluginHostError(f"path: {path} is larger than this host accepts ({limit} bytes)",
                              code="package_too_large", status=413)
    return data


@router.post("/plugins/{name}/rollback", **answers(M.PluginDetail))
async def rollback_plugin(name: str, host: Services) -> dict[str, Any]:
    """Switch back to the previous version, the same zero-downtime way."""
    return describe(host.manager, await host.swap.rollback(name), detail=True)


@router.post("/plugins/{name}/enable", **answers(M.Plugin))
async def enable_plugin(name: str, host: Services) -> dict[str, Any]:
    """Start the plugin's workers again: its routes, hooks and UI components come back."""
    return describe(host.manager, await host.manager.set_enabled(name, True))


@router.post("/plugins/{name}/disable", **answers(M.Plugin))
async def disable_plugin(name: str, host: Services) -> dict[str, Any]:
    """Stop the plugin's workers and take its routes, hooks and UI components out; its
    data, settings and secrets stay."""
    return describe(host.manager, await host.manager.set_enabled(name, False))


@router.put("/plugins/{name}/config", **answers(M.PluginDetail),
            openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                "schema": {"type": "object"},
                "example": {"openlibrary_url": "https://openlibrary.org"}}}}})
async def configure_plugin(name: str, request: Request, host: Services) -> dict[str, Any]:
    """Replace a plugin's settings (``ctx.config``): a JSON object of at most 1 MiB. The
    plugin switches to workers started with them the zero-downtime way, as for an
    upgrade."""
    config = await json_body(request)
    audit_detail(request, keys=sorted(config))  # which settings, never their values
    return describe(host.manager, await host.swap.reconfigure(name, config), detail=True)


@router.get("/plugins/{name}/traces", **answers(M.Traces))
async def plugin_traces(name: str, host: Services) -> dict[str, Any]:
    """The plugin's last calls, newest first: what was called, outcome, status, time in
    ms, and each capability request made during it (kv keys, http hosts and paths,
    secret names: never values)."""
    host.manager.get(name)
    return {"plugin": name, "traces": host.manager.traces.recent(name)}


@router.get("/traces/{correlation_id}", **answers(M.TraceOf))
async def trace_of(correlation_id: str, host: Services) -> dict[str, Any]:
    """The traces of one request by its correlation id (``X-Correlation-ID``): one per
    plugin it reached."""
    found = host.manager.traces.find(correlation_id)
    if not found:
        raise NotFound(f"no call with correlation id {correlation_id!r} among the last "
                       "calls kept (100 per plugin)")
    return {"correlation_id": correlation_id, "traces": found}


@router.get("/plugins/{name}/logs", response_model=None, responses={200: {
    "model": M.LogLines, "description": "the lines; with follow, a stream of JSON lines",
    "content": {"application/x-ndjson": {"schema": {"type": "string"}, "example": (
        '{"seq": 1, "time": 1796296289.913, "plugin": "hello-world", "level": "info", '
        '"event": "greeting", "name": "Ada"}\n')}}}})
async def plugin_logs(name: str, request: Request, host: Services,
                      follow: Annotated[bool, Query()] = False,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 200):
    """The plugin's own log lines (``ctx.log``, its printed output), the last ``limit``;
    with ``follow=true`` a stream of JSON lines that goes on as new ones come (until the
    caller leaves or the host stops)."""
    host.manager.get(name)
    logs = host.manager.logs
    if not follow:
        return {"plugin": name, "lines": logs.recent(name, limit)}
    queue: asyncio.Queue = asyncio.Queue(maxsize=10_000)
    logs.followers.add(queue)

    async def stream():
        import json as json_

        try:
            for line in logs.recent(name, limit):
                yield json_.dumps(line) + "\n"
            stopping = getattr(request.app.state, "stopping", lambda: False)
            while not stopping() and not await request.is_disconnected():
                try:
                    line = await asyncio.wait_for(queue.get(), timeout=1)
                except TimeoutError:
                    continue
                if line["plugin"] == name:
                    yield json_.dumps(line) + "\n"
        finally:
            logs.followers.discard(queue)

    return StreamingResponse(stream(), media_type="application/x-ndjson")


#: the methods a profile may call a route with
PROFILED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@router.post("/plugins/{name}/profile", **answers(M.Profile, 405),
             openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["path"], "properties": {
            "method": {"enum": list(PROFILED_METHODS)}, "path": {"type": "string"},
            "query": {"type": "object"}, "body": {"type": "string"},
            "calls": {"type": "integer", "minimum": 1, "maximum": 1000}}},
        "example": {"method": "GET", "path": "/greet/Ada", "calls": 50}}}}})
async def profile_plugin(name: str, request: Request, host: Services) -> dict[str, Any]:
    """Call one of the plugin's routes ``calls`` times while its worker samples the
    handler's stack every millisecond (wall clock): folded stacks and their counts, and
    the calls' times, for a flame graph (``plugin-host profile`` writes one)."""
    import statistics
    import time as time_

    from ...service.http import new_correlation_id

    body = await json_body(request)
    method, path = body.get("method", "GET"), body.get("path")
    calls, query = body.get("calls", 20), body.get("query") or {}
    if not isinstance(method, str) or method.upper() not in PROFILED_METHODS:
        raise PluginHostError(f"method: one of {', '.join(PROFILED_METHODS)}",
                              code="invalid_request", status=422)
    method = method.upper()
    if not isinstance(path, str) or not path.startswith("/"):
        raise PluginHostError('path: the route to call, like "/hello/Ada"',
                              code="invalid_request", status=422)
    if not isinstance(calls, int) or isinstance(calls, bool) or not 1 <= calls <= 1000:
        raise PluginHostError("calls: a number from 1 to 1000", code="invalid_request",
                              status=422)
    if not isinstance(query, dict):
        raise PluginHostError("query: an object", code="invalid_request", status=422)
    payload = str(body.get("body") or "").encode()
    host.manager.get(name)
    samples: dict[str, int] = {}
    times, statuses = [], {}
    for _ in range(calls):
        t0 = time_.perf_counter()
        status, _h, _b = await host.calls.call_route(
            name, method, path, {str(k): str(v) for k, v in query.items()}, {}, payload,
            new_correlation_id(), samples=samples)
        times.append((time_.perf_counter() - t0) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
    return {"plugin": name, "route": f"{method} {path}", "calls": calls,
            "statuses": {str(k): v for k, v in statuses.items()},
            "ms": {"median": round(statistics.median(times), 3), "max": round(max(times), 3)},
            "interval_ms": 1, "samples": samples}


#: the largest secret value accepted
SECRET_LIMIT = 64 * 1024


def _declared_secret(host, name: str, secret: str) -> None:
    declared = host.manager.get(name).manifest.operator_secrets()
    if secret not in declared:
        import difflib

        close = difflib.get_close_matches(secret, declared, n=1)
        raise PluginHostError(
            f"secret: {name} does not declare {secret!r}"
            + (f": did you mean {close[0]!r}?" if close else
               f" (it declares: {', '.join(declared) or 'none'})"),
            code="invalid_request", status=422)


@router.put("/plugins/{name}/secrets/{secret}", **answers(M.Secrets),
            openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                "schema": {"type": "object", "required": ["value"],
                           "properties": {"value": {"type": "string"}}},
                "example": {"value": "s3cr3t-0p3n-l1brary-k3y"}}}}})
async def set_secret(name: str, secret: str, request: Request,
                     host: Services) -> dict[str, Any]:
    """Set one of the secrets the plugin declares (``permissions.secrets``), encrypted
    at rest with the host's secrets key; it is never returned. The plugin reads it with
    ``ctx.secrets.get`` from its next call (a fleet's declared reference still wins)."""
    _declared_secret(host, name, secret)
    value = (await json_body(request)).get("value")
    if not isinstance(value, str) or not value or len(value.encode()) > SECRET_LIMIT:
        raise PluginHostError(f'value: send {{"value": "<the secret>"}}, a non-empty string '
                              f"of at most {SECRET_LIMIT} bytes", code="invalid_request",
                              status=422)
    await asyncio.to_thread(host.manager.secrets.set, name, secret, value)
    log.info("plugin.secret_set", plugin=name, secret=secret)
    return {"plugin": name, "secrets": secrets_status(host.manager, host.manager.get(name))}


@router.delete("/plugins/{name}/secrets/{secret}", **answers(M.Secrets))
async def unset_secret(name: str, secret: str, host: Services) -> dict[str, Any]:
    """Forget a secret set through the admin API (the environment's, if any, applies
    again)."""
    _declared_secret(host, name, secret)
    await asyncio.to_thread(host.manager.secrets.unset, name, secret)
    log.info("plugin.secret_unset", plugin=name, secret=secret)
    return {"plugin": name, "secrets": secrets_status(host.manager, host.manager.get(name))}


@router.delete("/plugins/{name}", **answers(M.Uninstalled))
async def uninstall_plugin(name: str, host: Services,
                           purge: Annotated[bool, Query()] = False) -> dict[str, Any]:
    """Uninstall; its kv data is kept unless ``?purge=true``."""
    await host.manager.uninstall(name, purge=purge)
    return {"uninstalled": name, "purged": purge}

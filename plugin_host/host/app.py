"""The host's HTTP API (FastAPI). Thin: parse, call the PluginManager, map errors.

Routes are listed in docs/api/host.md; the OpenAPI page is at ``/docs``.
"""


import asyncio
import hmac
import mimetypes
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import HOST_API_VERSION, __version__
from ..errors import PluginHostError, Unauthorized
from .manager import PluginManager, new_correlation_id
from .metrics import MetricsMiddleware
from .settings import HostSettings

log = structlog.get_logger("plugin_host.http")

CID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
PACKAGE_TYPES = {"application/zip", "application/octet-stream", "application/x-kplugin"}


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def correlation_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    return given if CID_RE.match(given) else new_correlation_id()


async def package_body(request: Request, limit: int | None = None) -> bytes:
    """The uploaded package: the request body, sent as application/zip. Past ``limit``
    bytes the upload is refused (413) without reading the rest."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype not in PACKAGE_TYPES:
        raise PluginHostError("send the package as the body with Content-Type: "
                              "application/zip", code="unsupported_media_type", status=415)
    if limit is not None:
        too_big = PluginHostError(f"the package is larger than this server accepts "
                                  f"({limit} bytes)", code="package_too_large", status=413)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise too_big
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        data = b"".join(chunks)
    else:
        data = await request.body()
    if not data:
        raise PluginHostError("the request body is empty: send the .kplugin file",
                              code="invalid_package", status=422)
    return data


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 422 saying the body is not one."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PluginHostError("the body must be a JSON object", code="invalid_request",
                              status=422)
    return body


def create_app(settings: HostSettings) -> FastAPI:
    manager = PluginManager(settings)
    admin_token = settings.resolve_admin_token()
    bearer = HTTPBearer(auto_error=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await manager.startup()
        yield
        await manager.shutdown()

    app = FastAPI(title="Koha plugin host", version=__version__, lifespan=lifespan,
                  description="Runs sandboxed Koha plugins: their routes, hooks and UI "
                              f"components. Host API {HOST_API_VERSION}.")
    app.state.manager = manager
    app.add_middleware(MetricsMiddleware)

    def require_admin(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if creds is None or not hmac.compare_digest(creds.credentials.encode(),
                                                    admin_token.encode()):
            raise Unauthorized("admin routes need 'Authorization: Bearer <admin token>'")

    admin = [Depends(require_admin)]

    @app.exception_handler(PluginHostError)
    async def domain_error(request: Request, exc: PluginHostError) -> JSONResponse:
        extra: dict[str, Any] = {}
        problems = getattr(exc, "problems", None)
        if problems:
            extra["problems"] = problems
        cid = request.scope.get("correlation_id")
        if cid:
            extra["correlation_id"] = cid
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        resp = error_response(exc.status, exc.code, exc.message, **extra)
        if headers:
            resp.headers.update(headers)
        if cid:
            resp.headers["X-Correlation-ID"] = cid
        return resp

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return error_response(422, "invalid_request", "; ".join(problems), problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        cid = request.scope.get("correlation_id") or new_correlation_id()
        log.exception("http.unexpected_error", correlation_id=cid, path=request.url.path)
        return error_response(500, "internal_error",
                              f"unexpected error; see the host log for correlation id {cid}",
                              correlation_id=cid)

    # ---- probes and metrics -----------------------------------------------------

    @app.get("/healthz", tags=["probes"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"])
    async def readyz() -> JSONResponse:
        """Readiness: start-up done; every enabled plugin's state is listed."""
        body = {"status": "ready" if manager.ready else "starting", "version": __version__,
                "plugins": {p.name: p.state for p in manager.plugins.values()}}
        return JSONResponse(body, status_code=200 if manager.ready else 503)

    @app.get("/metrics", tags=["probes"], include_in_schema=False)
    async def metrics_endpoint() -> Response:
        await asyncio.to_thread(manager.update_gauges)  # reads kv usage from the database
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # ---- plugin routes, hooks, UI ---------------------------------------------

    @app.api_route("/plugins/{name}/api/{path:path}", tags=["plugins"],
                   methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    async def plugin_route(name: str, path: str, request: Request) -> Response:
        """Call one of a plugin's routes; its handler's answer is returned as is."""
        cid = correlation_id(request)
        request.scope["correlation_id"] = cid
        body = await request.body()
        if len(body) > settings.max_request_bytes:
            raise PluginHostError(f"request body above {settings.max_request_bytes} bytes",
                                  code="too_large", status=413)
        status, headers, content = await manager.call_route(
            name, request.method, "/" + path, dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()}, body, cid)
        headers["X-Correlation-ID"] = cid
        return Response(content, status_code=status, headers=headers)

    @app.post("/hooks/{event}", tags=["plugins"])
    async def deliver_hook(event: str, request: Request,
                           payload: Annotated[Any, Body()] = None) -> dict[str, Any]:
        """Deliver a Koha event to every enabled plugin subscribed to it."""
        cid = correlation_id(request)
        results = await manager.deliver_hook(event, payload, cid)
        return {"event": event, "correlation_id": cid, "results": results}

    @app.get("/ui/slots/{slot}", tags=["ui"])
    async def ui_slot(slot: str) -> dict[str, Any]:
        """The UI components enabled plugins offer for a slot, with SRI integrity."""
        return {"slot": slot, "components": manager.slot(slot)}

    @app.api_route("/ui/assets/{name}/{version}/{path:path}", tags=["ui"], methods=["GET", "HEAD"])
    async def ui_asset(name: str, version: str, path: str) -> FileResponse:
        """A component bundle; versioned URLs, so cached for a year as immutable."""
        target = manager.asset(name, version, path)
        media = "text/javascript" if target.suffix in (".js", ".mjs") else (
            mimetypes.guess_type(target.name)[0] or "application/octet-stream")
        return FileResponse(target, media_type=media, headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
            "Access-Control-Allow-Origin": "*"})

    # ---- admin -------------------------------------------------------------------

    @app.get("/admin/plugins", tags=["admin"], dependencies=admin)
    async def list_plugins() -> dict[str, Any]:
        """Installed plugins: version, state, sandbox layers, workers, restarts."""
        return {"plugins": [manager.describe(p) for p in
                            sorted(manager.plugins.values(), key=lambda p: p.name)]}

    @app.get("/admin/sandbox", tags=["admin"], dependencies=admin)
    async def sandbox_report() -> dict[str, Any]:
        """The sandbox layers workers get on this host, what is required, and why any
        optional layer is missing."""
        return manager.sandbox.report()

    @app.get("/admin/plugins/{name}", tags=["admin"], dependencies=admin)
    async def show_plugin(name: str) -> dict[str, Any]:
        return manager.describe(manager.get(name), detail=True)

    @app.post("/admin/plugins", tags=["admin"], dependencies=admin, status_code=201,
              openapi_extra={"requestBody": {"content": {
                  "application/zip": {"schema": {"type": "string", "format": "binary"}},
                  "application/json": {"schema": {"type": "object", "properties": {
                      "name": {"type": "string"}, "range": {"type": "string"}}}}}}})
    async def install_plugin(request: Request,
                             enable: Annotated[bool, Query()] = True) -> dict[str, Any]:
        """Install an uploaded, signed ``.kplugin`` (the request body, application/zip),
        or ``{"name": "hello-world", "range": "^1"}`` from the registry's signed index
        with its dependencies (``installed`` lists what this call added)."""
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await json_body(request)
            item, done = await manager.install_from_registry(
                body.get("name"), body.get("range", "*"), enable=enable)
            return {**manager.describe(item, detail=True),
                    "installed": [{"name": i.name, "version": i.version} for i in done]}
        item = await manager.install(await package_body(request), enable=enable)
        return manager.describe(item, detail=True)

    @app.post("/admin/plugins/{name}/upgrade", tags=["admin"], dependencies=admin,
              openapi_extra={"requestBody": {"content": {
                  "application/zip": {"schema": {"type": "string", "format": "binary"}},
                  "application/json": {"schema": {"type": "object", "properties": {
                      "path": {"type": "string"}}}}}}})
    async def upgrade_plugin(name: str, request: Request) -> dict[str, Any]:
        """Switch to another version with no failed request: the package as the body
        (application/zip), or ``{"path": "/srv/pkgs/x-1.1.0.kplugin"}`` on this host.
        The new version starts beside the old, must pass its health check and upgrade
        hook, then takes the traffic while the old one finishes its calls."""
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                path = Path(str((await request.json())["path"]))
                data = await asyncio.to_thread(path.read_bytes)
            except (ValueError, KeyError, TypeError):
                raise PluginHostError('send {"path": "<package file on this host>"}',
                                      code="invalid_request", status=422) from None
            except OSError as e:
                raise PluginHostError(f"path: {e.strerror}: {e.filename}",
                                      code="invalid_request", status=422) from None
        else:
            data = await package_body(request)
        return manager.describe(await manager.upgrade(name, data), detail=True)

    @app.post("/admin/plugins/{name}/rollback", tags=["admin"], dependencies=admin)
    async def rollback_plugin(name: str) -> dict[str, Any]:
        """Switch back to the previous version, the same zero-downtime way."""
        return manager.describe(await manager.rollback(name), detail=True)

    @app.post("/admin/plugins/{name}/enable", tags=["admin"], dependencies=admin)
    async def enable_plugin(name: str) -> dict[str, Any]:
        return manager.describe(await manager.set_enabled(name, True))

    @app.post("/admin/plugins/{name}/disable", tags=["admin"], dependencies=admin)
    async def disable_plugin(name: str) -> dict[str, Any]:
        return manager.describe(await manager.set_enabled(name, False))

    @app.put("/admin/plugins/{name}/config", tags=["admin"], dependencies=admin)
    async def configure_plugin(name: str,
                               config: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Replace a plugin's settings (``ctx.config``); its workers restart to read them."""
        return manager.describe(await manager.set_config(name, config), detail=True)

    @app.delete("/admin/plugins/{name}", tags=["admin"], dependencies=admin)
    async def uninstall_plugin(name: str,
                               purge: Annotated[bool, Query()] = False) -> dict[str, Any]:
        """Uninstall; its kv data is kept unless ``?purge=true``."""
        await manager.uninstall(name, purge=purge)
        return {"uninstalled": name, "purged": purge}

    return app

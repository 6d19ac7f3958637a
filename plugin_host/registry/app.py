"""The registry's HTTP API under /api/v1 (FastAPI). Thin: parse, call Registry, map errors.

Reads of the catalogue are public; everything else needs `Authorization: Bearer <token>`
and the role the route names.
"""

import asyncio
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import HOST_API_VERSION, __version__
from ..errors import PluginHostError, Unauthorized
from ..host.app import package_body
from ..host.db import make_engine, make_sessionmaker, migrate
from .db import MIGRATIONS
from .service import Caller, Registry
from .settings import RegistrySettings


def create_app(settings: RegistrySettings) -> FastAPI:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    registry = Registry(settings, make_sessionmaker(engine))
    registry.check_storage()
    admin_token = settings.resolve_admin_token()
    bearer = HTTPBearer(auto_error=False)
    state = {"ready": False}

    log = structlog.get_logger("registry")

    async def keep_index_fresh() -> None:
        """Re-sign metadata before it expires, so hosts never see a stale index while
        the registry runs (a stopped registry lets the timestamp expire: by design)."""
        while True:
            await asyncio.sleep(settings.index_refresh_seconds)
            try:
                roles = await asyncio.to_thread(registry.refresh_index)
                if roles:
                    log.info("index.refreshed", roles=roles)
            except Exception as e:  # keep trying; the expiry alert tells the SRE
                log.error("index.refresh_failed", error=str(e))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(migrate, engine, MIGRATIONS)
        await asyncio.to_thread(registry.bootstrap_admin, admin_token)
        await asyncio.to_thread(registry.start)
        refresher = asyncio.create_task(keep_index_fresh())
        log.info("registry.ready", storage=registry.storage.description)
        state["ready"] = True
        yield
        refresher.cancel()
        engine.dispose()

    app = FastAPI(title="Koha plugin registry", version=__version__, lifespan=lifespan,
                  description="Publish, review and find Koha plugins.")
    app.state.registry = registry

    def caller(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
               ) -> Caller | None:
        return registry.authenticate(creds.credentials if creds else None)

    def signed_in(c: Annotated[Caller | None, Depends(caller)]) -> Caller:
        if c is None:
            raise Unauthorized("this route needs 'Authorization: Bearer <API token>'")
        return c

    Optional = Annotated[Caller | None, Depends(caller)]
    Required = Annotated[Caller, Depends(signed_in)]

    @app.exception_handler(PluginHostError)
    async def domain_error(request: Request, exc: PluginHostError) -> JSONResponse:
        extra = {"problems": exc.problems} if getattr(exc, "problems", None) else {}
        return JSONResponse({"error": {"code": exc.code, "message": exc.message, **extra}},
                            status_code=exc.status)

    @app.get("/healthz", tags=["probes"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"])
    async def readyz() -> JSONResponse:
        return JSONResponse({"status": "ready" if state["ready"] else "starting"},
                            status_code=200 if state["ready"] else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        await asyncio.to_thread(registry.update_gauges)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/api/v1/accounts", tags=["accounts"], status_code=201)
    async def create_account(c: Required,
                             name: Annotated[str, Body(pattern=r"^[a-z][a-z0-9_.-]{1,63}$")],
                             role: Annotated[str, Body()]) -> dict[str, Any]:
        """Create an account with a role: admin, reviewer, publisher or user (admin only)."""
        return registry.create_account(c, name, role)

    @app.post("/api/v1/accounts/{name}/tokens", tags=["accounts"], status_code=201)
    async def create_token(name: str, c: Required) -> dict[str, Any]:
        """A new API token for an account (its own, or any for an admin); shown once."""
        return registry.create_token(c, name)

    @app.delete("/api/v1/tokens/{token_id}", tags=["accounts"])
    async def revoke_token(token_id: int, c: Required) -> dict[str, Any]:
        registry.revoke_token(c, token_id)
        return {"revoked": token_id}

    @app.post("/api/v1/keys", tags=["publishing"], status_code=201)
    async def add_key(c: Required, public_key: Annotated[str, Body(embed=True)]
                      ) -> dict[str, Any]:
        """Register an Ed25519 public key (PEM) whose signatures this publisher uses."""
        return registry.add_key(c, public_key)

    @app.post("/api/v1/packages", tags=["publishing"], status_code=201,
              openapi_extra={"requestBody": {"content": {
                  "application/zip": {"schema": {"type": "string", "format": "binary"}}}}})
    async def publish(request: Request, c: Required) -> dict[str, Any]:
        """Publish a signed .kplugin: automated checks run; passing → review queue."""
        return await registry.publish(c, await package_body(request,
                                                            settings.max_package_bytes))

    @app.get("/api/v1/review/queue", tags=["review"])
    async def review_queue(c: Required) -> dict[str, Any]:
        return {"queue": registry.queue(c)}

    @app.post("/api/v1/review/{name}/{version}", tags=["review"])
    async def review(name: str, version: str, c: Required,
                     decision: Annotated[str, Body()],
                     comment: Annotated[str, Body()] = "") -> dict[str, Any]:
        """Approve or reject a release in review (a rejection needs a comment)."""
        return registry.review(c, name, version, decision, comment)

    @app.get("/api/v1/plugins", tags=["catalogue"])
    async def search(q: Annotated[str, Query()] = "", tag: Annotated[str | None, Query()] = None,
                     host_api: Annotated[str | None, Query(pattern=r"^\d+\.\d+\.\d+$")] = None,
                     sort: Annotated[str, Query(pattern="^(name|downloads|rating|updated)$")
                                     ] = "name") -> dict[str, Any]:
        """Search name, summary and tags; filter by tag and by a host API version the
        latest release must support; sort by name, downloads, rating or updated."""
        return {"plugins": registry.search(q, tag, sort, host_api)}

    @app.get("/api/v1/publishers/{name}", tags=["catalogue"])
    async def publisher(name: str) -> dict[str, Any]:
        """A publisher's profile: their plugins and signing keys."""
        return registry.publisher(name)

    @app.get("/api/v1/index", tags=["catalogue"])
    async def index() -> dict[str, Any]:
        """Where the signed index is, its root's SHA-256 (compare it with the root.json
        you give your hosts) and each role's version and expiry."""
        return await asyncio.to_thread(registry.index_status)

    @app.get("/api/v1/plugins/{name}", tags=["catalogue"])
    async def plugin(name: str, c: Optional) -> dict[str, Any]:
        """A plugin's page: approved versions (all, with checks and reviews, for its
        publisher and reviewers)."""
        return registry.plugin(name, c)

    @app.post("/api/v1/resolve", tags=["catalogue"])
    async def resolve(requirements: Annotated[dict[str, str], Body()],
                      host_api: Annotated[str, Body()] = HOST_API_VERSION) -> dict[str, Any]:
        """Requirements (name → npm range) → a consistent set of approved releases in
        install order, or 409 with the conflict in words."""
        return {"install": registry.resolve(requirements, host_api)}

    @app.get("/api/v1/plugins/{name}/{version}/download", tags=["catalogue"])
    async def download(name: str, version: str) -> Response:
        """The package of an approved release (counted). Hosts install from the signed
        index instead; this is for people and reviewers."""
        filename, data = await asyncio.to_thread(registry.download, name, version)
        return Response(data, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{filename}"'})

    @app.post("/api/v1/plugins/{name}/{version}/installed", tags=["catalogue"],
              status_code=204)
    async def installed(name: str, version: str) -> Response:
        """A host reports an install from the index (counted as a download)."""
        await asyncio.to_thread(registry.count_download, name, version)
        return Response(status_code=204)

    @app.post("/api/v1/plugins/{name}/{version}/yank", tags=["marketplace"])
    async def yank(name: str, version: str, c: Required) -> dict[str, Any]:
        """Hide a release from resolution (pinned installs still work); its publisher."""
        return registry.yank(c, name, version, True)

    @app.post("/api/v1/plugins/{name}/{version}/unyank", tags=["marketplace"])
    async def unyank(name: str, version: str, c: Required) -> dict[str, Any]:
        return registry.yank(c, name, version, False)

    @app.post("/api/v1/plugins/{name}/deprecate", tags=["marketplace"])
    async def deprecate(name: str, c: Required,
                        message: Annotated[str | None, Body(embed=True)] = None
                        ) -> dict[str, Any]:
        """Mark a plugin deprecated with a message (null clears it); its publisher."""
        return registry.deprecate(c, name, message)

    @app.put("/api/v1/plugins/{name}/rating", tags=["marketplace"])
    async def rate(name: str, c: Required, stars: Annotated[int, Body()],
                   text: Annotated[str, Body(max_length=4000)] = "") -> dict[str, Any]:
        """Rate a plugin 1 to 5 with an optional review; one per user, editable."""
        return registry.rate(c, name, stars, text)

    from .storage import LocalStorage

    if isinstance(registry.storage, LocalStorage):
        # convenient in development: the registry serves its own static index. Hosts
        # can read the same folder from any static server, with the registry stopped.
        from fastapi.staticfiles import StaticFiles

        app.mount("/index", StaticFiles(directory=registry.storage.root), name="index")
    return app

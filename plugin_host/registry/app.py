"""The registry's HTTP API under /api/v1 (FastAPI). Thin: parse, call Registry, map errors.

Reads of the catalogue are public; everything else needs `Authorization: Bearer <token>`
and the role the route names.
"""

import asyncio
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
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
    admin_token = settings.resolve_admin_token()
    bearer = HTTPBearer(auto_error=False)
    state = {"ready": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(migrate, engine, MIGRATIONS)
        await asyncio.to_thread(registry.bootstrap_admin, admin_token)
        state["ready"] = True
        yield
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
        return await registry.publish(c, await package_body(request))

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
                     sort: Annotated[str, Query(pattern="^(name|downloads|rating)$")] = "name"
                     ) -> dict[str, Any]:
        return {"plugins": registry.search(q, tag, sort)}

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
    async def download(name: str, version: str) -> FileResponse:
        """The package of an approved release (counted)."""
        path = registry.download(name, version)
        return FileResponse(path, media_type="application/zip", filename=path.name)

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

    return app

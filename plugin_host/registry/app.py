"""The registry's HTTP application: the services composed once, the routers of
registry/api/, the shared error handling and probes, and a background task that keeps
the signed index fresh."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from .. import __version__
from ..identity import routes as identity_routes
from ..identity.audit import AuditMiddleware
from ..runtime.sandbox import release_cgroups
from ..service.db import database_status, make_engine, make_sessionmaker, migrate
from ..service.http import install_error_handlers, operation_id
from ..service.http_metrics import MetricsMiddleware
from ..service.probes import probes_router
from ..webui import serve_pages
from .api import accounts, audit, catalogue, marketplace, publishing
from .db import MIGRATIONS
from .metrics import DATABASE_UP, HTTP_LATENCY, HTTP_REQUESTS
from .services import RegistryServices
from .settings import RegistrySettings
from .storage import LocalStorage

log = structlog.get_logger("registry")


def create_app(settings: RegistrySettings) -> FastAPI:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    registry = RegistryServices.create(settings, make_sessionmaker(engine))
    registry.index.check_storage()
    admin_token = settings.resolve_admin_token()
    state = {"ready": False}

    async def keep_index_fresh() -> None:
        """Re-sign metadata before it expires, so hosts never see a stale index while
        the registry runs (a stopped registry lets the timestamp expire: by design)."""
        while True:
            await asyncio.sleep(settings.index_refresh_seconds)
            try:
                roles = await asyncio.to_thread(registry.index.refresh)
                if roles:
                    log.info("index.refreshed", roles=roles)
            except Exception as e:  # keep trying; the expiry alert tells the SRE
                log.error("index.refresh_failed", error=str(e))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(migrate, engine, MIGRATIONS, "registry")
        await asyncio.to_thread(registry.accounts.bootstrap_admin, admin_token)
        await asyncio.to_thread(registry.index.start)
        refresher = asyncio.create_task(keep_index_fresh())
        log.info("registry.ready", storage=registry.index.storage.description)
        state["ready"] = True
        yield
        refresher.cancel()
        engine.dispose()
        await asyncio.to_thread(release_cgroups)  # of the workers the checks smoke-load

    app = FastAPI(title="Koha plugin registry", version=__version__, lifespan=lifespan,
                  generate_unique_id_function=operation_id,
                  description="Publish, review and find Koha plugins.")
    app.state.services = registry
    app.state.identity = registry.identity
    app.state.authenticate = registry.authenticate
    app.add_middleware(AuditMiddleware, audit=registry.identity.audit)
    app.add_middleware(MetricsMiddleware, requests=HTTP_REQUESTS, latency=HTTP_LATENCY)
    install_error_handlers(app, "registry")
    app.include_router(probes_router(ready=lambda: state["ready"],
                                     refresh_gauges=registry.publishing.update_gauges,
                                     database=lambda: database_status(engine),
                                     database_up=lambda ok: DATABASE_UP.set(int(ok))))
    app.include_router(identity_routes.router)
    for module in (accounts, publishing, catalogue, marketplace, audit):
        app.include_router(module.router)
    serve_pages(app, "marketplace", [  # web/src/marketplace
        "/", "/plugins/{name}", "/publishers/{name}", "/publish", "/review",
        "/review/{name}/{version}", "/sign-in"])
    if isinstance(registry.index.storage, LocalStorage):
        # convenient in development: the registry serves its own static index. Hosts
        # can read the same folder from any static server, with the registry stopped.
        from fastapi.staticfiles import StaticFiles

        app.mount("/index", StaticFiles(directory=registry.index.storage.root), name="index")
    return app

"""The host's HTTP application: the services composed once, the routers of host/api/,
the shared error handling and probes. Routes are listed in docs/api/host.md; the OpenAPI
page is at ``/docs``."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from .. import HOST_API_VERSION, __version__
from ..identity import routes as identity_routes
from ..identity.audit import AuditMiddleware
from ..service import tracing
from ..service.db import database_status
from ..service.http import install_error_handlers, operation_id
from ..service.http_metrics import MetricsMiddleware
from ..service.probes import probes_router
from ..webui import serve_pages
from . import metrics
from .api import admin, audit, fleet, plugins, ui
from .metrics import HTTP_LATENCY, HTTP_REQUESTS
from .services import HostServices
from .settings import HostSettings
from .views import update_gauges


def create_app(settings: HostSettings) -> FastAPI:
    services = HostServices.create(settings)
    manager = services.manager
    tracing.setup("koha-plugin-host", settings.instance, settings.otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await manager.startup()
        await services.fleet.start()
        services.usage.start()
        yield
        await services.usage.stop()
        await services.fleet.stop()
        await manager.shutdown()
        tracing.shutdown()

    app = FastAPI(title="Koha plugin host", version=__version__, lifespan=lifespan,
                  generate_unique_id_function=operation_id,
                  description="Runs sandboxed Koha plugins: their routes, hooks and UI "
                              f"components. Host API {HOST_API_VERSION}.")
    app.state.services = services
    app.state.admin_token = services.admin_token
    app.state.identity = services.identity
    app.state.authenticate = services.authenticate
    app.add_middleware(AuditMiddleware, audit=services.identity.audit)
    app.add_middleware(MetricsMiddleware, requests=HTTP_REQUESTS, latency=HTTP_LATENCY)
    app.add_middleware(tracing.TracingMiddleware)  # outermost: the request's whole time
    install_error_handlers(app, "host")
    app.include_router(probes_router(
        ready=lambda: manager.ready,
        details=lambda: {"plugins": {p.name: p.state for p in manager.plugins.values()}},
        refresh_gauges=lambda: update_gauges(manager),
        database=lambda: database_status(manager.engine),
        database_up=lambda ok: metrics.DATABASE_UP.set(int(ok))))
    app.include_router(plugins.router)
    app.include_router(ui.router)
    app.include_router(identity_routes.router)
    app.include_router(admin.router)
    app.include_router(fleet.router)
    app.include_router(audit.router)
    serve_pages(app, "console", ["/console", "/console/plugins/{name}"])  # web/src/console
    plugins.serve_plugin_routes_first(app)
    return app

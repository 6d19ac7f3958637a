"""OpenTelemetry traces: one trace per request, exported over OTLP/HTTP when an endpoint
is set (``otlp_endpoint``, or OpenTelemetry's own ``OTEL_EXPORTER_OTLP_ENDPOINT``);
without one, spans cost next to nothing (the API's no-op tracer).

On the host a request to a plugin's route makes, all in one trace:

- ``GET /plugins/{name}/api/{path}`` (server): joins a caller's ``traceparent``;
- ``plugin NAME GET /search`` (internal): the call into the plugin's worker;
- ``capability upstream.request`` (internal): each thing the plugin asked the host for;
- ``upstream NAME GET`` (client): each attempt at a library service, which gets the
  trace in its ``traceparent`` header (W3C Trace Context).

Spans carry names and outcomes, never bodies, secrets or query strings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

_tracer: trace.Tracer = trace.NoOpTracer()
_provider: Any = None


def setup(service: str, instance: str, endpoint: str | None) -> bool:
    """Export this process's spans to ``endpoint`` (e.g. ``http://collector:4318``);
    returns whether tracing is on."""
    global _tracer, _provider
    endpoint = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from .. import __version__

    _provider = TracerProvider(resource=Resource.create({
        "service.name": service, "service.instance.id": instance,
        "service.version": __version__}))
    _provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=5),
        schedule_delay_millis=500))
    _tracer = _provider.get_tracer("plugin_host", __version__)
    return True


def shutdown() -> None:
    """Send what is left (at a clean stop)."""
    if _provider is not None:
        _provider.shutdown()


def tracer() -> trace.Tracer:
    return _tracer


class _NoSpan:
    """What ``span`` gives without an exporter: one shared object, no generator, no
    context (the per-call path)."""

    def __enter__(self) -> Span:
        return trace.INVALID_SPAN

    def __exit__(self, *exc: Any) -> None:
        return None


_NO_SPAN = _NoSpan()


def span(name: str, kind: SpanKind = SpanKind.INTERNAL, parent: Span | None = None,
         **attributes: Any) -> AbstractContextManager[Span]:
    """A span, child of ``parent`` (or of the current one), current inside the block; an
    exception marks it as an error and goes on. Without an exporter, nothing is made."""
    if isinstance(_tracer, trace.NoOpTracer):
        return _NO_SPAN
    return _span(name, kind, parent, attributes)


@contextmanager
def _span(name: str, kind: SpanKind, parent: Span | None,
          attributes: dict[str, Any]) -> Iterator[Span]:
    context = trace.set_span_in_context(parent) if parent is not None else None
    with _tracer.start_as_current_span(
            name, context=context, kind=kind, record_exception=False,
            attributes={k: v for k, v in attributes.items() if v is not None}) as s:
        try:
            yield s
        except BaseException as e:
            s.set_status(Status(StatusCode.ERROR, type(e).__name__))
            raise


def inject_headers(headers: dict[str, str]) -> None:
    """Add the current trace (``traceparent``) to an outgoing request's headers."""
    inject(headers)


class TracingMiddleware:
    """Pure ASGI: a server span per HTTP request, named after the route template,
    continuing the caller's trace when it sends one."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or isinstance(_tracer, trace.NoOpTracer):
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k in (b"traceparent", b"tracestate")}
        method = scope.get("method", "GET")
        with _tracer.start_as_current_span(
                f"{method} {scope.get('path', '')}", context=extract(carrier),
                kind=SpanKind.SERVER, record_exception=False,
                attributes={"http.request.method": method,
                            "url.path": scope.get("path", "")}) as s:

            async def send_wrapper(message: dict) -> None:
                if message["type"] == "http.response.start":
                    s.set_attribute("http.response.status_code", message["status"])
                    if message["status"] >= 500:
                        s.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    s.update_name(f"{method} {route}")
                    s.set_attribute("http.route", route)
                if scope.get("correlation_id"):
                    s.set_attribute("koha.correlation_id", scope["correlation_id"])

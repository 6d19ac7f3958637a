"""Serving plugins: a request to one of a plugin's routes, a Koha event to every
subscriber, the UI components for a slot and their bundles.

Every call is counted and timed by plugin and route; a failed call becomes a
PluginCallError whose status says how it failed (500 raised, 502 crashed, 503 busy or
crash-looping, 504 timed out), with a correlation id to find it in the log.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import structlog

from ..errors import NotFound, PluginCallError
from ..protocol import messages as m
from ..sdk.routing import match_routes
from ..service import tracing
from ..service.http import HEADER_NAME, HEADER_VALUE, HOP_BY_HOP
from . import metrics
from .installed import Installed
from .lifecycle import PluginManager

log = structlog.get_logger("plugin_host")

#: Request headers never passed to plugins: the caller's credentials are not theirs.
DROPPED_REQUEST_HEADERS = {"authorization", "cookie", "host", "content-length", *HOP_BY_HOP}
#: Response headers the host sets itself, never the plugin.
DROPPED_RESPONSE_HEADERS = {"content-length", "set-cookie", "x-correlation-id", "date",
                            "server", *HOP_BY_HOP}
MAX_RESPONSE_HEADERS = 64
#: how a failed call is counted (plugin_host_plugin_calls_total{outcome})
OUTCOMES = {"plugin_timeout": "timeout", "plugin_crashed": "crash", "plugin_busy": "busy",
            "plugin_crash_looping": "crash_looping", "plugin_out_of_memory": "out_of_memory"}


class PluginCalls:
    def __init__(self, manager: PluginManager):
        self.manager = manager

    def _serving(self, name: str) -> Installed:
        item = self.manager.plugins.get(name)
        if item is None or not item.enabled:
            raise NotFound(f"plugin {name!r} is not installed or not enabled")
        return item

    async def call_route(self, name: str, method: str, path: str, query: dict[str, str],
                         headers: dict[str, str], body: bytes, correlation_id: str,
                         item: Installed | None = None, samples: dict[str, int] | None = None
                         ) -> tuple[int, dict[str, str], bytes]:
        """Call a plugin's route (on ``item``, a version not yet switched to, if given).
        With ``samples``, the worker samples the handler's stack and they are added
        there (``plugin-host profile``)."""
        item = item or self._serving(name)
        if item.runtime is None:
            raise PluginCallError(f"{name} has no running backend"
                                  + (f": {item.error}" if item.error else ""),
                                  code="plugin_unavailable", status=503)
        found = match_routes(item.runtime.routes, method, path)
        if found is False:
            allowed = sorted({r.method for r in item.runtime.routes
                              if r.regex.fullmatch(path)})
            raise PluginCallError(f"{name}: {method} is not allowed on {path}",
                                  code="method_not_allowed", status=405,
                                  headers={"Allow": ", ".join(allowed)})
        if found is None:
            raise NotFound(f"{name} has no route {method} {path}")
        index, route, params = found
        msg = m.route_call(index, correlation_id, {
            "method": method, "path": path, "path_params": params, "query": query,
            "body": body, "headers": {k: v for k, v in headers.items()
                                      if k not in DROPPED_REQUEST_HEADERS}})
        if samples is not None:
            msg["profile"] = True  # type: ignore[typeddict-unknown-key]
        result = await self.call(item, route.template, msg, correlation_id,
                                 trace_label=f"{method} {path}",
                                 span_label=f"{method} {route.template}")
        if samples is not None:
            got = result.get("profile", {}).get("samples", {})
            for stack, n in (got.items() if isinstance(got, dict) else ()):
                if isinstance(stack, str) and isinstance(n, int) and len(samples) < 50_000:
                    samples[stack[:4000]] = samples.get(stack[:4000], 0) + n
        response = plugin_response(name, result)
        self.manager.traces.annotate(item.name, correlation_id, status=response[0])
        return response

    async def call(self, item: Installed, label: str, msg: m.Call,
                   correlation_id: str, trace_label: str | None = None,
                   span_label: str | None = None) -> dict[str, Any]:
        """One call on ``item``'s backend, counted and timed under ``label``, traced
        (host/traces.py) under ``trace_label`` and as an OpenTelemetry span named after
        ``span_label`` (both default ``label``)."""
        assert item.runtime is not None
        start = time.perf_counter()
        outcome = "ok"
        trace = self.manager.traces.begin(item.name, item.version, correlation_id,
                                          trace_label or label)
        with tracing.span(f"plugin {item.name} {span_label or label}", **{
                "koha.plugin": item.name, "koha.plugin.version": item.version,
                "koha.correlation_id": correlation_id}) as span:
            trace["_span"] = span  # capability requests of this call are its children
            try:
                result = await item.runtime.call(msg)
                if not result.get("ok"):
                    outcome = "error"
                    raise handler_failure(item.name, result, correlation_id)
                return result
            except PluginCallError as e:
                if outcome == "ok":
                    outcome = OUTCOMES.get(e.code, "error")
                    log.warning("plugin.call_failed", plugin=item.name, route=label,
                                correlation_id=correlation_id, code=e.code, error=e.message)
                raise
            finally:
                span.set_attribute("koha.outcome", outcome)
                self._finish(item, label, trace, outcome, start)

    def _finish(self, item: Installed, label: str, trace: dict[str, Any], outcome: str,
                start: float) -> None:
        self.manager.traces.end(trace, outcome)
        metrics.PLUGIN_CALLS.labels(item.name, label, outcome).inc()
        metrics.PLUGIN_LATENCY.labels(item.name, label).observe(time.perf_counter() - start)

    async def deliver_hook(self, event: str, payload: Any, correlation_id: str
                           ) -> list[dict[str, Any]]:
        """Deliver ``event`` to every enabled subscriber at once; one result each."""
        targets = sorted((p for p in self.manager.plugins.values()
                          if p.enabled and event in p.manifest.permissions.hooks),
                         key=lambda p: p.name)

        async def one(item: Installed) -> dict[str, Any]:
            base = {"plugin": item.name, "version": item.version}
            try:
                if item.runtime is None:
                    raise PluginCallError(f"{item.name} has no running backend",
                                          code="plugin_unavailable", status=503)
                result = await self.call(item, f"hook:{event}",
                                         m.hook_call(event, payload, correlation_id),
                                         correlation_id)
                return {**base, "ok": True, "result": result.get("value")}
            except PluginCallError as e:
                return {**base, "ok": False,
                        "error": {"code": e.code, "message": e.message,
                                  "correlation_id": correlation_id}}

        return list(await asyncio.gather(*(one(p) for p in targets)))

    def slot(self, slot: str) -> list[dict[str, Any]]:
        """The UI components enabled plugins offer for ``slot``, with SRI integrity."""
        out = []
        for item in sorted(self.manager.plugins.values(), key=lambda p: p.name):
            if not item.enabled:
                continue
            for c in item.manifest.ui.components:
                if c.slot == slot:
                    out.append({"plugin": item.name, "version": item.version,
                                "export": c.export,
                                "url": f"/ui/assets/{item.name}/{item.version}/{c.module}",
                                "integrity": item.integrity[c.module]})
        return out

    def asset(self, name: str, version: str, path: str) -> Path:
        """A file under the plugin's ``ui/`` folder, never outside it."""
        item = self.manager.plugins.get(name)
        if item is None or item.version != version or not path.startswith("ui/"):
            raise NotFound(f"no asset {name}/{version}/{path}")
        target = (item.code_dir / path).resolve()
        if not target.is_relative_to((item.code_dir / "ui").resolve()) or not target.is_file():
            raise NotFound(f"no asset {name}/{version}/{path}")
        return target


def plugin_response(name: str, result: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """A plugin's answer as the host will send it: a final status (200-599), only
    end-to-end headers with well-formed names and values, a body of bytes. Anything else
    is the plugin's error (502), never passed on: a 1xx status or a header with a line
    break would let a plugin write its own HTTP framing."""
    status, headers, body = result.get("status"), result.get("headers"), result.get("body")
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        raise PluginCallError(f"{name}: the plugin answered with status {status!r}; "
                              "a route answers 200 to 599", code="invalid_plugin_response",
                              status=502)
    if not isinstance(body, bytes):
        raise PluginCallError(f"{name}: the plugin's answer has no body of bytes",
                              code="invalid_plugin_response", status=502)
    out: dict[str, str] = {}
    for k, v in (headers.items() if isinstance(headers, dict) else ()):
        if not isinstance(k, str) or not isinstance(v, str) or not HEADER_NAME.match(k) \
                or not HEADER_VALUE.match(v):
            raise PluginCallError(f"{name}: the plugin answered with a malformed header "
                                  f"{str(k)[:40]!r}", code="invalid_plugin_response",
                                  status=502)
        if k.lower() not in DROPPED_RESPONSE_HEADERS:
            out[k] = v
    if len(out) > MAX_RESPONSE_HEADERS:
        raise PluginCallError(f"{name}: more than {MAX_RESPONSE_HEADERS} response headers",
                              code="invalid_plugin_response", status=502)
    return status, out, body


def handler_failure(name: str, result: dict[str, Any], correlation_id: str) -> PluginCallError:
    code = result.get("code", m.HANDLER_ERROR)
    if code == m.HANDLER_ERROR:
        log.error("plugin.handler_raised", plugin=name, correlation_id=correlation_id,
                  exc_type=result.get("exc_type"), traceback=result.get("traceback"))
        return PluginCallError(f"{name}: the plugin's handler raised {result.get('exc_type')}; "
                               f"see the host log for correlation id {correlation_id}",
                               code="plugin_error", status=500)
    return PluginCallError(f"{name}: {result.get('message')}", code=code, status=500)

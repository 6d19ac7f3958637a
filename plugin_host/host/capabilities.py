"""What the host does for a plugin on request: kv, HTTP egress, secrets, logging.

Each plugin gets a ``Capabilities`` bound to its own manifest: it can reach only its
own kv data (within ``permissions.kv_quota``), only the host:port pairs in
``permissions.network``, and only the secrets in ``permissions.secrets``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from ..errors import PluginHostError
from ..integrations import Upstream
from ..manifest import Manifest
from ..protocol import capabilities as caps
from ..protocol.capabilities import CapabilityPolicy, CapabilityRefused
from ..runtime.process import CALL_STARTED, CURRENT_CALL
from ..service import tracing
from ..service.http import HEADER_NAME, HEADER_VALUE
from . import metrics
from .kv import KVStore
from .settings import plugin_secret, reference_secret
from .traces import PluginLogs, Traces
from .upstreams import UpstreamClient

plugin_log = structlog.get_logger("plugin")
HTTP_METHOD = re.compile(r"^[A-Z]{3,10}$")

#: capabilities whose refusals are counted, by operation
_DENIAL_LABEL = {caps.SECRET_GET: "secrets", caps.HTTP_REQUEST: "http",
                 caps.UPSTREAM_REQUEST: "upstream"}


class Capabilities:
    """The capability server for one plugin."""

    def __init__(self, manifest: Manifest, kv: KVStore, http: httpx.AsyncClient,
                 response_limit: int,
                 secret_refs: Callable[[], dict[str, str]] = dict,
                 stored_secret: Callable[[str], str | None] = lambda name: None,
                 traces: Traces | None = None, logs: PluginLogs | None = None,
                 upstreams: dict[str, Upstream] | None = None):
        self.manifest = manifest
        self.name = manifest.name
        self.kv = kv
        self.http = http
        self.response_limit = response_limit
        self.policy = CapabilityPolicy(manifest.permissions)
        self.log_limit = TokenBucket(LOG_RATE, LOG_BURST)
        self.secret_refs = secret_refs
        self.stored_secret = stored_secret
        self.traces = traces
        self.logs = logs
        #: ctx.upstream clients: the manifest's [upstreams] with the operator's overrides
        self.upstreams = {name: UpstreamClient(self.name, name, up, http, self.host_secret,
                                               response_limit)
                          for name, up in (upstreams or {}).items()}

    async def handle(self, op: str, args: dict[str, Any]) -> Any:
        """Serve one capability request; a refusal is a PluginHostError with the code the
        SDK turns back into its exception. Each is added to the trace of the call it was
        made during."""
        start, outcome = time.perf_counter(), "ok"
        parent = self.traces.span_of(self.name, CURRENT_CALL.get()) if self.traces else None
        try:
            with tracing.span(f"capability {op}", parent=parent,
                              **{"koha.plugin": self.name, "koha.capability": op}):
                return await self._handle(op, args)
        except CapabilityRefused as e:
            outcome = e.code
            if e.code == caps.DENIED and op in _DENIAL_LABEL:
                metrics.CAPABILITY_DENIALS.labels(self.name, _DENIAL_LABEL[op]).inc()
            raise PluginHostError(e.message, code=e.code, status=500) from None
        except PluginHostError as e:
            outcome = e.code
            raise
        finally:
            if self.traces is not None:
                self.traces.cap(self.name, CURRENT_CALL.get(), op, args,
                                (time.perf_counter() - start) * 1000, outcome)

    async def _handle(self, op: str, args: dict[str, Any]) -> Any:
        policy = self.policy
        if op == caps.KV_GET:
            return list(await asyncio.to_thread(self.kv.get, self.name, policy.kv_key(args)))
        if op == caps.KV_SET:
            return await asyncio.to_thread(self.kv.set, self.name, policy.kv_key(args),
                                           args.get("value"), policy)
        if op == caps.KV_DELETE:
            return await asyncio.to_thread(self.kv.delete, self.name, policy.kv_key(args))
        if op == caps.KV_KEYS:
            return await asyncio.to_thread(self.kv.keys, self.name, str(args.get("prefix", "")))
        if op == caps.HTTP_REQUEST:
            return await self.http_request(args)
        if op == caps.SECRET_GET:
            return self.secret(str(args.get("name")))
        if op == caps.UPSTREAM_REQUEST:
            return await self.upstream_request(args)
        policy.check_op(op)
        raise CapabilityRefused(caps.ERROR, f"unknown capability {op!r}")

    def secret(self, name: str) -> str:
        self.policy.check_secret(name)
        value = self.host_secret(name)
        if value is None:
            raise CapabilityRefused(caps.SECRET_NOT_SET, f"secret {name!r} is not set on this host")
        return value

    def host_secret(self, name: str) -> str | None:
        """A secret of this plugin as the host reads it, with no permission check: the
        fleet's declared reference, else one set through the admin API, else the host's
        environment (PLUGIN_HOST_SECRET_NAME). Upstream credentials are read only so."""
        ref = self.secret_refs().get(name)
        value = reference_secret(ref) if ref else self.stored_secret(name)
        if value is None and not ref:
            value = plugin_secret(name)
        return value

    async def upstream_request(self, args: dict[str, Any]) -> dict[str, Any]:
        name = args.get("upstream")
        client = self.upstreams.get(name) if isinstance(name, str) else None
        if client is None:
            raise CapabilityRefused(caps.DENIED, f"ctx.upstream: {name!r} is not declared "
                                    f"in [upstreams] (declared: {', '.join(self.upstreams)})")
        started = CALL_STARTED.get() or time.monotonic()
        # what is left of the plugin call's timeout, less a margin for the answer's way back
        budget = self.manifest.resources.timeout_ms / 1000 - (time.monotonic() - started) - 0.1
        if budget <= 0:
            raise CapabilityRefused(caps.UPSTREAM_UNAVAILABLE, "ctx.upstream: no time left "
                                    "in this call (resources.timeout_ms)")
        return await client.request(args, budget)

    async def http_request(self, args: dict[str, Any]) -> dict[str, Any]:
        url = str(args.get("url", ""))
        method, headers, body = args.get("method", "GET"), args.get("headers") or {}, \
            args.get("body")
        if not isinstance(method, str) or not HTTP_METHOD.match(method):
            raise CapabilityRefused(caps.ERROR, "ctx.http: the method is not an HTTP method")
        if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and HEADER_NAME.match(k)
                and HEADER_VALUE.match(v) for k, v in headers.items()):
            raise CapabilityRefused(caps.ERROR, "ctx.http: headers must be names and values "
                                                "without control characters")
        if body is not None and not isinstance(body, bytes):
            raise CapabilityRefused(caps.ERROR, "ctx.http: the body must be bytes")
        self.policy.check_url(url)
        target = urlsplit(url).hostname or "?"
        # never longer than the call it serves (the worker is gone after that)
        limit = self.manifest.resources.timeout_ms / 1000
        asked = args.get("timeout")
        timeout = min(float(asked), limit) if isinstance(asked, int | float) and asked > 0 \
            else limit
        start = time.perf_counter()
        outcome = "error"
        try:
            # Redirects are not followed: the target could be outside the allow-list.
            async with self.http.stream(method, url, headers=headers, content=body,
                                        timeout=timeout, follow_redirects=False) as r:
                body = bytearray()
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > self.response_limit:
                        raise PluginHostError(
                            f"ctx.http: response from {url} is larger than "
                            f"{self.response_limit} bytes", code=caps.ERROR)
                outcome = f"{r.status_code // 100}xx"
                return {"status": r.status_code, "headers": dict(r.headers), "body": bytes(body)}
        except httpx.TimeoutException:
            outcome = "timeout"
            raise PluginHostError(f"ctx.http: {url} timed out", code=caps.HTTP_ERROR) from None
        except httpx.HTTPError as e:
            raise PluginHostError(f"ctx.http: {type(e).__name__}: {e}",
                                  code=caps.HTTP_ERROR) from None
        finally:
            metrics.EGRESS_REQUESTS.labels(self.name, target, outcome).inc()
            metrics.EGRESS_LATENCY.labels(self.name, target).observe(time.perf_counter() - start)

    def log(self, frame: dict[str, Any]) -> None:
        """A ``ctx.log`` line or a line the plugin printed, into the host's log: rate
        limited per plugin, each field cut to size; what is dropped is counted and said
        once when logging resumes."""
        if not self.log_limit.take():
            metrics.PLUGIN_LOG_DROPPED.labels(self.name).inc()
            return
        dropped = self.log_limit.resumed()
        if dropped:
            plugin_log.warning("plugin.log_dropped", plugin=self.name, dropped=dropped,
                               reason=f"more than {LOG_RATE:.0f} lines a second")
        level = frame.get("level", "info")
        if level not in ("debug", "info", "warning", "error"):
            level = "info"
        fields = frame.get("fields")
        if not isinstance(fields, dict):
            fields = {}
        event = _cut(frame.get("event", ""))
        kept = {_cut(k, 64): _cut(v) if isinstance(v, str) else v
                for k, v in list(fields.items())[:LOG_FIELDS]
                if isinstance(v, str | int | float | bool | None)}
        getattr(plugin_log, level)(event, plugin=self.name,
                                   **{f"p_{k}": v for k, v in kept.items()})
        if self.logs is not None:
            self.logs.add(self.name, level, event, kept)


#: a plugin may log this many lines a second (a burst of LOG_BURST), each with at most
#: LOG_FIELDS fields of at most LOG_VALUE characters; the rest is dropped and counted
LOG_RATE, LOG_BURST, LOG_FIELDS, LOG_VALUE = 50.0, 200, 20, 2000


def _cut(value: Any, limit: int = LOG_VALUE) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


class TokenBucket:
    """``rate`` events a second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.dropped = 0

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.dropped += 1
        return False

    def resumed(self) -> int:
        """How many were dropped since the last event let through (then reset)."""
        dropped, self.dropped = self.dropped, 0
        return dropped

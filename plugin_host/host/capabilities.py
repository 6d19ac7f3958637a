"""What the host does for a plugin on request: kv, HTTP egress, secrets, logging.

Each plugin gets a ``Capabilities`` bound to its own manifest: it can reach only its
own kv data (within ``permissions.kv_quota``), only the host:port pairs in
``permissions.network``, and only the secrets in ``permissions.secrets``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgpack
import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.orm import sessionmaker

from ..errors import PluginHostError
from ..manifest import Manifest, egress_refusal
from . import metrics
from .db import KVEntry
from .settings import plugin_secret

plugin_log = structlog.get_logger("plugin")

MAX_KEY_BYTES = 512


def denied(message: str) -> PluginHostError:
    return PluginHostError(message, code="capability_denied", status=500)


class KVStore:
    """Per-plugin JSON-ish values in the database, counted against a byte quota."""

    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    def get(self, plugin: str, key: str) -> tuple[bool, Any]:
        with self.sessions() as s:
            e = s.get(KVEntry, (plugin, key))
            return (True, msgpack.unpackb(e.value, raw=False)) if e else (False, None)

    def set(self, plugin: str, key: str, value: Any, quota: int) -> None:
        data = msgpack.packb(value, use_bin_type=True)
        size = len(key.encode()) + len(data)
        with self.sessions.begin() as s:
            used = s.scalar(select(func.coalesce(func.sum(KVEntry.size), 0))
                            .where(KVEntry.plugin == plugin, KVEntry.key != key))
            if used + size > quota:
                raise PluginHostError(
                    f"kv quota exceeded: {used + size} bytes would be above the quota of "
                    f"{quota} bytes (permissions.kv_quota)", code="kv_quota_exceeded")
            e = s.get(KVEntry, (plugin, key))
            if e:
                e.value, e.size = data, size
            else:
                s.add(KVEntry(plugin=plugin, key=key, value=data, size=size))

    def delete(self, plugin: str, key: str) -> bool:
        with self.sessions.begin() as s:
            return s.execute(delete(KVEntry).where(KVEntry.plugin == plugin,
                                                   KVEntry.key == key)).rowcount > 0

    def keys(self, plugin: str, prefix: str) -> list[str]:
        with self.sessions() as s:
            q = select(KVEntry.key).where(KVEntry.plugin == plugin).order_by(KVEntry.key)
            return [k for k in s.scalars(q) if k.startswith(prefix)]

    def usage(self, plugin: str) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.coalesce(func.sum(KVEntry.size), 0))
                            .where(KVEntry.plugin == plugin))

    def usage_by_plugin(self) -> dict[str, int]:
        with self.sessions() as s:
            q = select(KVEntry.plugin, func.sum(KVEntry.size)).group_by(KVEntry.plugin)
            return {plugin: int(total) for plugin, total in s.execute(q)}

    def purge(self, plugin: str) -> None:
        with self.sessions.begin() as s:
            s.execute(delete(KVEntry).where(KVEntry.plugin == plugin))


def _key(args: dict[str, Any]) -> str:
    key = args.get("key")
    if not isinstance(key, str) or not key or len(key.encode()) > MAX_KEY_BYTES:
        raise PluginHostError(f"kv keys are non-empty strings of at most {MAX_KEY_BYTES} bytes",
                              code="capability_error")
    return key


class Capabilities:
    """The capability server for one plugin."""

    def __init__(self, manifest: Manifest, kv: KVStore, http: httpx.AsyncClient,
                 response_limit: int):
        self.manifest = manifest
        self.name = manifest.name
        self.kv = kv
        self.http = http
        self.response_limit = response_limit
        self.network = set(manifest.permissions.network)
        self.secrets = set(manifest.permissions.secrets)

    async def handle(self, op: str, args: dict[str, Any]) -> Any:
        if op == "kv.get":
            return list(await asyncio.to_thread(self.kv.get, self.name, _key(args)))
        if op == "kv.set":
            return await asyncio.to_thread(self.kv.set, self.name, _key(args), args.get("value"),
                                           self.manifest.permissions.kv_quota)
        if op == "kv.delete":
            return await asyncio.to_thread(self.kv.delete, self.name, _key(args))
        if op == "kv.keys":
            return await asyncio.to_thread(self.kv.keys, self.name, str(args.get("prefix", "")))
        if op == "http.request":
            return await self.http_request(args)
        if op == "secret.get":
            return self.secret(str(args.get("name")))
        raise PluginHostError(f"unknown capability {op!r}", code="capability_error")

    def secret(self, name: str) -> str:
        if name not in self.secrets:
            metrics.CAPABILITY_DENIALS.labels(self.name, "secrets").inc()
            raise denied(f"ctx.secrets: {name!r} is not listed in permissions.secrets")
        value = plugin_secret(name)
        if value is None:
            raise PluginHostError(f"secret {name!r} is not set on this host",
                                  code="secret_not_set")
        return value

    def check_url(self, url: str) -> None:
        refusal = egress_refusal(url, self.network)
        if refusal:
            metrics.CAPABILITY_DENIALS.labels(self.name, "http").inc()
            raise denied(refusal)

    async def http_request(self, args: dict[str, Any]) -> dict[str, Any]:
        url = str(args.get("url", ""))
        self.check_url(url)
        target = urlsplit(url).hostname or "?"
        timeout = args.get("timeout") or self.manifest.resources.timeout_ms / 1000
        start = time.perf_counter()
        outcome = "error"
        try:
            # Redirects are not followed: the target could be outside the allow-list.
            async with self.http.stream(str(args.get("method", "GET")), url,
                                        headers=args.get("headers") or {},
                                        content=args.get("body"), timeout=float(timeout),
                                        follow_redirects=False) as r:
                body = bytearray()
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > self.response_limit:
                        raise PluginHostError(
                            f"ctx.http: response from {url} is larger than "
                            f"{self.response_limit} bytes", code="capability_error")
                outcome = f"{r.status_code // 100}xx"
                return {"status": r.status_code, "headers": dict(r.headers), "body": bytes(body)}
        except httpx.TimeoutException:
            outcome = "timeout"
            raise PluginHostError(f"ctx.http: {url} timed out", code="http_error") from None
        except httpx.HTTPError as e:
            raise PluginHostError(f"ctx.http: {type(e).__name__}: {e}",
                                  code="http_error") from None
        finally:
            metrics.EGRESS_REQUESTS.labels(self.name, target, outcome).inc()
            metrics.EGRESS_LATENCY.labels(self.name, target).observe(time.perf_counter() - start)

    def log(self, frame: dict[str, Any]) -> None:
        level = frame.get("level", "info")
        if level not in ("debug", "info", "warning", "error"):
            level = "info"
        fields = frame.get("fields") or {}
        getattr(plugin_log, level)(str(frame.get("event", "")), plugin=self.name,
                                   **{f"p_{k}": v for k, v in fields.items()})

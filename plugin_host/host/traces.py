"""Per-call traces for debugging a plugin: the last calls of each plugin (route, hook
or upgrade), each with its outcome, duration and every capability request the plugin
made during it (kv, http, secrets: what, how long, refused or not), kept in memory and
shown by ``GET /admin/plugins/NAME/traces``, ``GET /admin/traces/CID`` and
``plugin-host trace``. Values (kv data, bodies, secrets) are never kept: only names,
hosts and sizes."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

#: calls kept per plugin
PER_PLUGIN = 100


class Traces:
    def __init__(self, per_plugin: int = PER_PLUGIN):
        self.per_plugin = per_plugin
        self.by_plugin: dict[str, deque[dict[str, Any]]] = {}
        self.open: dict[tuple[str, str], dict[str, Any]] = {}

    def begin(self, plugin: str, version: str, cid: str, label: str) -> dict[str, Any]:
        trace = {"plugin": plugin, "version": version, "correlation_id": cid, "call": label,
                 "started": time.time(), "ms": None, "outcome": "running", "caps": [],
                 "_t0": time.perf_counter()}
        calls = self.by_plugin.setdefault(plugin, deque(maxlen=self.per_plugin))
        calls.append(trace)
        self.open[(plugin, cid)] = trace
        return trace

    def end(self, trace: dict[str, Any], outcome: str, **fields: Any) -> None:
        trace["ms"] = round((time.perf_counter() - trace.pop("_t0")) * 1000, 3)
        trace.pop("_span", None)
        trace["outcome"] = outcome
        trace.update(fields)
        self.open.pop((trace["plugin"], trace["correlation_id"]), None)

    def cap(self, plugin: str, cid: str | None, op: str, args: dict[str, Any], ms: float,
            outcome: str) -> None:
        trace = self.open.get((plugin, cid or ""))
        if trace is not None and len(trace["caps"]) < 200:
            trace["caps"].append({"op": op, "what": _what(op, args), "ms": round(ms, 3),
                                  "outcome": outcome})

    def span_of(self, plugin: str, cid: str | None) -> Any:
        """The OpenTelemetry span of the call ``cid`` on ``plugin`` while it runs."""
        trace = self.open.get((plugin, cid or ""))
        return trace.get("_span") if trace is not None else None

    def annotate(self, plugin: str, cid: str, **fields: Any) -> None:
        """Add ``fields`` to the newest trace of ``cid`` on ``plugin``."""
        for trace in reversed(self.by_plugin.get(plugin, ())):
            if trace["correlation_id"] == cid:
                trace.update(fields)
                return

    def recent(self, plugin: str) -> list[dict[str, Any]]:
        return [_public(t) for t in reversed(self.by_plugin.get(plugin, ()))]

    def find(self, cid: str) -> list[dict[str, Any]]:
        """Every plugin's trace of one request (a hook reaches several plugins)."""
        return [_public(t) for calls in self.by_plugin.values() for t in calls
                if t["correlation_id"] == cid]

    def forget(self, plugin: str) -> None:
        self.by_plugin.pop(plugin, None)


def _public(trace: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in trace.items() if not k.startswith("_")}


def _what(op: str, args: dict[str, Any]) -> str:
    """What a capability request was about, without its data."""
    if op.startswith("kv."):
        return str(args.get("key", args.get("prefix", "")))[:200]
    if op.startswith("http"):
        parts = urlsplit(str(args.get("url", "")))
        return f"{args.get('method', 'GET')} {parts.scheme}://{parts.netloc}{parts.path}"[:300]
    if op.startswith("secret"):
        return str(args.get("name", ""))[:64]
    return ""


#: log lines kept per plugin
LOG_LINES = 1000


class PluginLogs:
    """Each plugin's own log lines (``ctx.log``, what it printed, the host's lines about
    it), the last LOG_LINES kept, and followers woken by each new one."""

    def __init__(self, keep: int = LOG_LINES):
        self.keep = keep
        self.lines: dict[str, deque[dict[str, Any]]] = {}
        self.seq = 0
        self.followers: set[Any] = set()

    def add(self, plugin: str, level: str, event: str, fields: dict[str, Any]) -> None:
        self.seq += 1
        line = {"seq": self.seq, "time": time.time(), "plugin": plugin, "level": level,
                "event": event, **fields}
        self.lines.setdefault(plugin, deque(maxlen=self.keep)).append(line)
        for queue in list(self.followers):
            # a follower too slow to keep up loses lines, never the host
            with contextlib.suppress(Exception):
                queue.put_nowait(line)

    def recent(self, plugin: str, limit: int = 200) -> list[dict[str, Any]]:
        return list(self.lines.get(plugin, ()))[-limit:]

"""The host's Prometheus metrics. docs/operations/metrics.md lists each one."""

from __future__ import annotations

import os

from prometheus_client import Counter, Gauge, Histogram

from .. import HOST_API_VERSION, __version__
from ..service.http_metrics import LATENCY_BUCKETS, request_metrics

HTTP_REQUESTS, HTTP_LATENCY = request_metrics("plugin_host")
PLUGIN_CALLS = Counter("plugin_host_plugin_calls_total", "Calls into plugins",
                       ["plugin", "route", "outcome"])
PLUGIN_LATENCY = Histogram("plugin_host_plugin_call_duration_seconds",
                           "Latency of calls into plugins", ["plugin", "route"],
                           buckets=LATENCY_BUCKETS)
WORKER_RESTARTS = Counter("plugin_host_worker_restarts_total", "Plugin workers replaced",
                          ["plugin", "reason"])
CAPABILITY_DENIALS = Counter(
    "plugin_host_capability_denials_total",
    "Capability requests refused: ctx.http outside permissions.network, unlisted secrets",
    ["plugin", "capability"])
EGRESS_REQUESTS = Counter("plugin_host_egress_requests_total",
                          "ctx.http requests to integrations, by outcome (2xx, 4xx, 5xx, "
                          "timeout, error)", ["plugin", "host", "outcome"])
EGRESS_LATENCY = Histogram("plugin_host_egress_request_duration_seconds",
                           "Latency of ctx.http requests", ["plugin", "host"],
                           buckets=LATENCY_BUCKETS)
PLUGIN_LOG_DROPPED = Counter("plugin_host_plugin_log_dropped_total",
                             "Log and output lines of a plugin dropped by the rate limit",
                             ["plugin"])
MEMORY = Gauge("plugin_host_plugin_memory_bytes",
               "Resident memory of a plugin's workers (every process of their groups)",
               ["plugin"])
WORKERS = Gauge("plugin_host_plugin_workers",
                "A plugin's running workers; max: what its pool may grow to "
                "(resources.max_workers)", ["plugin", "bound"])
KV_BYTES = Gauge("plugin_host_plugin_kv_bytes", "Bytes of kv data a plugin holds", ["plugin"])
KV_QUOTA = Gauge("plugin_host_plugin_kv_quota_bytes", "A plugin's kv quota", ["plugin"])
UPSTREAM_REQUESTS = Counter(
    "plugin_host_upstream_requests_total",
    "Attempts at ctx.upstream calls, by outcome (2xx, 3xx, 4xx, 5xx, timeout, error; "
    "rejected: the circuit was open; throttled: the local rate limit refused)",
    ["plugin", "upstream", "outcome"])
UPSTREAM_LATENCY = Histogram("plugin_host_upstream_request_duration_seconds",
                             "Latency of each attempt at an upstream", ["plugin", "upstream"],
                             buckets=LATENCY_BUCKETS)
UPSTREAM_RETRIES = Counter("plugin_host_upstream_retries_total",
                           "Attempts after the first (backoff, Retry-After)",
                           ["plugin", "upstream"])
UPSTREAM_THROTTLED = Counter("plugin_host_upstream_throttled_total",
                             "Calls held back or refused for a rate limit: local (the "
                             "declared limit or daily quota) or upstream (a 429)",
                             ["plugin", "upstream", "source"])
UPSTREAM_BREAKER = Gauge("plugin_host_upstream_circuit_state",
                         "The circuit breaker: 0 closed, 0.5 half-open, 1 open",
                         ["plugin", "upstream"])
UPSTREAM_TOKENS = Counter("plugin_host_upstream_token_requests_total",
                          "OAuth 2 client-credentials tokens fetched for an upstream",
                          ["plugin", "upstream", "outcome"])
UPGRADES = Counter("plugin_host_upgrades_total", "Upgrades and rollbacks",
                   ["plugin", "action", "outcome"])
INSTALLS = Counter("plugin_host_installs_total", "Plugin installs", ["outcome"])
PLUGINS = Gauge("plugin_host_plugins", "Installed plugins by state", ["state"])
CRASH_LOOPING = Gauge("plugin_host_plugin_crash_looping",
                      "1 while a plugin's workers keep failing (restarts backed off)", ["plugin"])
SANDBOX_LAYER = Gauge("plugin_host_plugin_sandbox_layer",
                      "1 for each sandbox layer in force for a running plugin",
                      ["plugin", "layer"])
SANDBOX_REFUSALS = Counter("plugin_host_sandbox_refusals_total",
                           "Plugins refused because a required sandbox layer is missing",
                           ["plugin", "layer"])
DATABASE_UP = Gauge("plugin_host_database_up",
                    "1 while the host's database answers (checked at each scrape and "
                    "readiness probe); 0 while it does not: running plugins still serve")
FLEET_DRIFT = Gauge("plugin_host_fleet_drift",
                    "Differences between this host's plugins and the environment's declared "
                    "set (missing, other version, enabled state, config, undeclared)")
FLEET_GENERATION = Gauge("plugin_host_fleet_generation",
                         "Generation of the declared plugin set this host last converged to")
BUILD_INFO = Gauge("plugin_host_build_info", "Version of this host", ["version", "host_api"])
BUILD_INFO.labels(__version__, HOST_API_VERSION).set(1)


def process_group_rss(pgids: set[int]) -> dict[int, int]:
    """Resident bytes per process group, summed over /proc (workers run in their own)."""
    page = os.sysconf("SC_PAGE_SIZE")
    totals = dict.fromkeys(pgids, 0)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pgrp = int(fields[2])
        if pgrp in totals:
            totals[pgrp] += int(fields[21]) * page
    return totals

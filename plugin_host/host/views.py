"""How the admin API and the metrics show installed plugins: JSON views and the gauges
refreshed at each scrape."""

from __future__ import annotations

from typing import Any

from . import metrics
from .installed import Installed
from .lifecycle import PluginManager


def describe(manager: PluginManager, item: Installed, detail: bool = False) -> dict[str, Any]:
    """A plugin as ``GET /admin/plugins`` lists it (``detail``: as its own page shows it)."""
    m = item.manifest
    out: dict[str, Any] = {
        "name": item.name, "version": item.version, "state": item.state,
        "enabled": item.enabled, "summary": m.plugin.summary,
        "previous_version": item.previous_version, "signer": item.signer,
        "error": item.error,
        "sandbox": {"layers": item.runtime.layers if item.runtime else manager.sandbox.layers},
        "runtime": item.runtime.status() if item.runtime else None,
        "calls": call_counts(item.name),
    }
    if detail:
        out.update({
            "manifest": m.model_dump(mode="json"),
            "config": item.effective_config,
            "config_problems": m.config_problems(item.effective_config),
            "secrets": secrets_status(manager, item),
            "upstreams": {name: client.describe() for name, client in
                          manager.upstream_clients.get(item.name, {}).items()},
            "warnings": warnings(manager, item),
            "routes": [[r.method, r.template] for r in item.runtime.routes]
            if item.runtime else [],
            "hooks": sorted(item.runtime.hooks) if item.runtime else [],
            "ui": item.ui_components(),
            "kv_bytes": manager.kv.usage(item.name),
            "sha256": item.sha256,
        })
    return out


def call_counts(name: str) -> dict[str, int]:
    """Calls into the plugin since the host started, and how many failed (from
    ``plugin_host_plugin_calls_total``)."""
    total = failed = 0
    for family in metrics.PLUGIN_CALLS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("plugin") == name:
                total += int(sample.value)
                failed += int(sample.value) if sample.labels.get("outcome") != "ok" else 0
    return {"total": total, "failed": failed}


def secrets_status(manager: PluginManager, item: Installed) -> dict[str, str]:
    """Each secret the plugin declares: where its value comes from, or ``unset`` (never
    the value)."""
    import os

    from .settings import SECRET_ENV_PREFIX

    stored = manager.secrets.status(item.name)
    refs = manager.secret_refs.get(item.name, {})
    out = {}
    for name in item.manifest.operator_secrets():
        if name in refs:
            out[name] = "set (the fleet's declared reference)"
        elif stored.get(name) == "set":
            out[name] = "set (admin API)"
        elif stored.get(name) == "unreadable":
            out[name] = "unreadable: written with another host's secrets_key"
        elif os.environ.get(SECRET_ENV_PREFIX + name) is not None:
            out[name] = "set (environment)"
        else:
            out[name] = "unset"
    return out


def warnings(manager: PluginManager, item: Installed) -> list[str]:
    """What the plugin lacks to work fully: settings required and missing, declared
    secrets not set."""
    out = [f"config: {p}" for p in item.manifest.config_problems(item.effective_config)]
    out += [f"secret {name} is {state}: set it with PUT /admin/plugins/{item.name}/secrets/"
            f"{name} {{\"value\": …}} or `plugin-host secrets set {item.name} {name}`"
            for name, state in secrets_status(manager, item).items()
            if state == "unset" or state.startswith("unreadable")]
    return out


def update_gauges(manager: PluginManager) -> None:
    """Plugins by state, workers, memory, kv use and sandbox layers (crash-looping comes and goes:
    refreshed at each scrape)."""
    counts = dict.fromkeys(("enabled", "disabled", "failed", "crash-looping"), 0)
    metrics.SANDBOX_LAYER.clear()
    metrics.CRASH_LOOPING.clear()
    metrics.KV_BYTES.clear()
    metrics.KV_QUOTA.clear()
    plugins = list(manager.plugins.values())
    usage = manager.kv.usage_by_plugin()
    groups = {p.name: {w.pid for w in p.runtime.workers if w.pid}
              for p in plugins if p.runtime}
    spares = {p.name: p.runtime.spare.pid for p in plugins
              if p.runtime and p.runtime.spare and p.runtime.spare.pid}
    rss = metrics.process_group_rss({pid for pids in groups.values() for pid in pids}
                                    | set(spares.values()))
    metrics.MEMORY.clear()
    metrics.WORKERS.clear()
    for name, pids in groups.items():
        metrics.MEMORY.labels(name).set(sum(rss.get(pid, 0) for pid in pids | {spares.get(name)}))
        metrics.WORKERS.labels(name, "running").set(len(pids))
    for p in plugins:
        if p.runtime:
            metrics.WORKERS.labels(p.name, "max").set(p.manifest.resources.most_workers)
    for p in plugins:
        counts[p.state] += 1
        metrics.KV_BYTES.labels(p.name).set(usage.get(p.name, 0))
        metrics.KV_QUOTA.labels(p.name).set(p.manifest.permissions.kv_quota)
        metrics.CRASH_LOOPING.labels(p.name).set(p.state == "crash-looping")
        for layer in p.runtime.layers if p.runtime else ():
            metrics.SANDBOX_LAYER.labels(p.name, layer).set(1)
    for state, n in counts.items():
        metrics.PLUGINS.labels(state).set(n)

"""Grafana dashboards as code: Overview, Plugins, Registry, Deployments.

`invoke monitoring.build` writes them as JSON into monitoring/grafana/dashboards/ with
the provisioning files Grafana reads (monitoring/grafana/provisioning/). Each panel is
one or more PromQL queries; `queries()` lists them all so the live test can ask a real
Prometheus for each (Grafana itself cannot run here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PLUGIN_ROUTE = 'route="/plugins/{name}/api/{path:path}"'


@dataclass
class Panel:
    title: str
    exprs: list[str]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    legend: str = ""
    description: str = ""


@dataclass
class Dashboard:
    uid: str
    title: str
    description: str
    panels: list[Panel]
    plugin_variable: bool = False
    needs: str = "plugin-host"  # which service must run for its panels to have data
    tags: list[str] = field(default_factory=lambda: ["koha"])

    def to_json(self) -> dict[str, Any]:
        panels = []
        x = y = 0
        for i, p in enumerate(self.panels):
            width = 6 if p.kind == "stat" else 12
            if x + width > 24:  # next row
                x, y = 0, y + 8
            panels.append({
                "id": i + 1, "type": p.kind, "title": p.title, "description": p.description,
                "datasource": DATASOURCE, "gridPos": {"h": 8, "w": width, "x": x, "y": y},
                "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}}
                if p.kind == "timeseries" else {"reduceOptions": {"calcs": ["lastNotNull"]}},
                "targets": [{"refId": chr(65 + j), "datasource": DATASOURCE, "expr": e,
                             "legendFormat": p.legend} for j, e in enumerate(p.exprs)]})
            x += width
        variables: list[dict[str, Any]] = [{
            "name": "datasource", "type": "datasource", "query": "prometheus",
            "label": "Prometheus", "current": {}}]
        if self.plugin_variable:
            variables.append({
                "name": "plugin", "type": "query", "datasource": DATASOURCE, "label": "Plugin",
                "query": {"query": "label_values(plugin_host_plugin_calls_total, plugin)",
                          "refId": "plugins"},
                "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2})
        return {"uid": self.uid, "title": self.title, "description": self.description,
                "tags": self.tags, "schemaVersion": 39, "version": 1, "editable": False,
                "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
                "templating": {"list": variables}, "panels": panels}


P = 'plugin=~"$plugin"'

DASHBOARDS = [
    Dashboard("koha-overview", "Koha platform: overview",
              "SLOs, traffic, errors and latency of the plugin hosts.", [
                  Panel("Availability (30m)", ["1 - job:plugin_host_http_request_errors:ratio_rate30m"],
                        "percentunit", "stat", "{{job}}", "SLO: 99.9 % of requests are not 5xx"),
                  Panel("Plugin calls under 100 ms (30m)",
                        ["1 - job:plugin_host_plugin_route_slow_requests:ratio_rate30m"],
                        "percentunit", "stat", "{{job}}", "SLO: 99 % of plugin route calls"),
                  Panel("Availability burn rate", [
                      "job:plugin_host_http_request_errors:ratio_rate1h / 0.001",
                      "job:plugin_host_http_request_errors:ratio_rate6h / 0.001"], "short",
                        legend="{{job}}", description="1 = spending the budget exactly; "
                                                      "14.4 pages (1h), 6 pages (6h)"),
                  Panel("Latency burn rate", [
                      "job:plugin_host_plugin_route_slow_requests:ratio_rate1h / 0.01",
                      "job:plugin_host_plugin_route_slow_requests:ratio_rate6h / 0.01"],
                        legend="{{job}}"),
                  Panel("Requests per second", ["job:plugin_host_http_requests:rate5m"], "reqps",
                        legend="{{job}}"),
                  Panel("Responses by status", [
                      'sum by (status) (rate(plugin_host_http_requests_total{route!="/metrics"}[5m]))'],
                        "reqps", legend="{{status}}"),
                  Panel("Latency p99", ["job:plugin_host_http_request_duration_seconds:p99_5m"], "s",
                        legend="{{job}}"),
                  Panel("Plugin route latency p99", [
                      "histogram_quantile(0.99, sum by (le) (rate("
                      f"plugin_host_http_request_duration_seconds_bucket{{{PLUGIN_ROUTE}}}[5m])))"],
                        "s"),
              ]),
    Dashboard("koha-plugins", "Koha platform: plugins",
              "Per plugin: calls, latency, errors, restarts, memory, kv, egress, sandbox.", [
                  Panel("Calls per second", [f"sum by (plugin) (plugin:plugin_host_plugin_calls:rate5m{{{P}}})"],
                        "reqps", legend="{{plugin}}"),
                  Panel("Calls by outcome", [
                      f"sum by (plugin, outcome) (plugin_outcome:plugin_host_plugin_calls:rate5m{{{P}}})"],
                        "reqps", legend="{{plugin}} {{outcome}}"),
                  Panel("Error ratio", [f"plugin:plugin_host_plugin_call_errors:ratio_rate5m{{{P}}}"],
                        "percentunit", legend="{{plugin}}"),
                  Panel("Timeout ratio", [f"plugin:plugin_host_plugin_call_timeouts:ratio_rate5m{{{P}}}"],
                        "percentunit", legend="{{plugin}}"),
                  Panel("Latency p99", [f"plugin:plugin_host_plugin_call_duration_seconds:p99_5m{{{P}}}"],
                        "s", legend="{{plugin}}"),
                  Panel("Worker restarts (1h)", [f"plugin:plugin_host_worker_restarts:increase1h{{{P}}}"],
                        legend="{{plugin}}"),
                  Panel("Crash-looping", [f"max by (plugin) (plugin_host_plugin_crash_looping{{{P}}})"],
                        kind="stat", legend="{{plugin}}"),
                  Panel("Worker memory", [f"sum by (plugin) (plugin_host_plugin_memory_bytes{{{P}}})"],
                        "bytes", legend="{{plugin}}"),
                  Panel("kv store used", [f"plugin:plugin_host_plugin_kv_usage:ratio{{{P}}}"],
                        "percentunit", legend="{{plugin}}"),
                  Panel("Integration calls (ctx.http) by outcome", [
                      f"sum by (plugin, host, outcome) (plugin_host:plugin_host_egress_requests:rate5m{{{P}}})"],
                        "reqps", legend="{{plugin}} → {{host}} {{outcome}}"),
                  Panel("Capability denials (15m)", [
                      f"sum by (plugin, capability) (increase(plugin_host_capability_denials_total{{{P}}}[15m]))"],
                        legend="{{plugin}} {{capability}}"),
                  Panel("Sandbox layers", [f"count by (plugin) (plugin_host_plugin_sandbox_layer{{{P}}})"],
                        kind="stat", legend="{{plugin}}"),
              ], plugin_variable=True),
    Dashboard("koha-registry", "Koha platform: registry",
              "Publishes, the review queue, downloads and the signed index.", [
                  Panel("Publishes by outcome (1h)", ["job:registry_publishes:increase1h"],
                        legend="{{outcome}}"),
                  Panel("Review queue", ["max by (job) (registry_review_queue_size)"], kind="stat"),
                  Panel("Oldest submission waiting", [
                      "max by (job) (registry_review_queue_oldest_age_seconds)"], "s", "stat"),
                  Panel("Downloads per second", ["job:registry_downloads:rate5m"], "reqps"),
                  Panel("Index metadata expires in", ["job:registry_index_metadata_expiry:seconds"],
                        "s", legend="{{role}}"),
              ], needs="registry"),
    Dashboard("koha-deployments", "Koha platform: deployments",
              "Which version runs where, and whether every instance answers.", [
                  Panel("Versions per instance", [
                      'count by (job, instance, version) ({__name__=~"plugin_host_build_info|registry_build_info"})'],
                        legend="{{job}} {{instance}} {{version}}"),
                  Panel("Distinct versions per service", [
                      'count by (job) (count by (job, version) ({__name__=~"plugin_host_build_info|registry_build_info"}))'],
                        kind="stat", legend="{{job}}"),
                  Panel("Instances up", ['sum by (job) (up{job=~"plugin-host|registry"})'],
                        kind="stat", legend="{{job}}"),
                  Panel("Installs by outcome (1h)", ["job:plugin_host_installs:increase1h"],
                        legend="{{outcome}}"),
                  Panel("Upgrades and rollbacks (1h)", [
                      "sum by (action, outcome) (increase(plugin_host_upgrades_total[1h]))"],
                        legend="{{action}} {{outcome}}"),
                  Panel("Installed plugins by state", ["sum by (state) (plugin_host_plugins)"],
                        legend="{{state}}"),
              ]),
]

DATASOURCE_PROVISIONING = """\
# Grafana datasource provisioning: the platform's Prometheus.
apiVersion: 1
datasources:
  - name: Prometheus
    type: prometheus
    access: proxy
    url: ${PROMETHEUS_URL}
    isDefault: true
    jsonData:
      timeInterval: 15s
"""
DASHBOARD_PROVISIONING = """\
# Grafana dashboard provisioning: the JSON files of monitoring/grafana/dashboards.
apiVersion: 1
providers:
  - name: koha
    folder: Koha platform
    type: file
    disableDeletion: true
    allowUiUpdates: false
    options:
      path: ${GRAFANA_DASHBOARDS_DIR}
"""


def queries(dashboard: Dashboard, plugin: str = ".*") -> list[tuple[str, str]]:
    """(panel title, PromQL with variables filled) for every query of a dashboard."""
    return [(p.title, e.replace("$plugin", plugin)) for p in dashboard.panels for e in p.exprs]


def render() -> dict[str, str]:
    """Relative path under monitoring/grafana → file text."""
    out = {f"dashboards/{d.uid}.json": json.dumps(d.to_json(), indent=2) + "\n"
           for d in DASHBOARDS}
    out["provisioning/datasources/prometheus.yml"] = DATASOURCE_PROVISIONING
    out["provisioning/dashboards/koha.yml"] = DASHBOARD_PROVISIONING
    return out


def write(out_dir: Path) -> list[Path]:
    paths = []
    for rel, text in render().items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    return paths

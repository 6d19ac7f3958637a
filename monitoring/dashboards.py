"""Grafana dashboards as code: Overview, Plugins, Registry, Hosts (USE), Deployments.

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

from .rules_as_code import NOT_USERS

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PLUGIN_ROUTE = 'route="/plugins/{name}/api/{path:path}"'


@dataclass
class Panel:
    title: str
    exprs: list[str]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    legend: str | list[str] = ""  # one per query when a list: each line says what it is
    description: str = ""
    #: (value, colour) steps from the base: e.g. [(6, "orange"), (14.4, "red")]
    thresholds: list[tuple[float, str]] = field(default_factory=list)
    base: str = "green"  # the colour below the first step

    def legends(self) -> list[str]:
        return self.legend if isinstance(self.legend, list) else [self.legend] * len(self.exprs)


@dataclass
class Dashboard:
    uid: str
    title: str
    description: str
    panels: list[Panel]
    plugin_variable: bool = False
    needs: str = "plugin-host"  # which service must run for its panels to have data
    tags: list[str] = field(default_factory=lambda: ["koha"])
    #: the jobs whose instances the `instance` variable lists
    instance_jobs: str = "plugin-host|registry"

    def to_json(self) -> dict[str, Any]:
        panels = []
        x = y = 0
        for i, p in enumerate(self.panels):
            width = 6 if p.kind == "stat" else 12
            if x + width > 24:  # next row
                x, y = 0, y + 8
            defaults: dict[str, Any] = {"unit": p.unit}
            if p.thresholds:
                defaults["thresholds"] = {"mode": "absolute", "steps": [
                    {"color": p.base, "value": None},
                    *({"color": c, "value": v} for v, c in p.thresholds)]}
                if p.kind == "timeseries":  # the steps drawn as lines on the graph
                    defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
            panels.append({
                "id": i + 1, "type": p.kind, "title": p.title, "description": p.description,
                "datasource": DATASOURCE, "gridPos": {"h": 8, "w": width, "x": x, "y": y},
                "fieldConfig": {"defaults": defaults, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}}
                if p.kind == "timeseries" else {"reduceOptions": {"calcs": ["lastNotNull"]},
                                                "colorMode": "background"},
                "targets": [{"refId": chr(65 + j), "datasource": DATASOURCE, "expr": e,
                             "legendFormat": legend}
                            for j, (e, legend) in enumerate(zip(p.exprs, p.legends(),
                                                                strict=True))]})
            x += width
        variables: list[dict[str, Any]] = [{
            "name": "datasource", "type": "datasource", "query": "prometheus",
            "label": "Prometheus", "current": {}}, {
            "name": "environment", "type": "query", "datasource": DATASOURCE,
            "label": "Environment", "query": {
                "query": "label_values(up, environment)", "refId": "environments"},
            "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2}, {
            "name": "instance", "type": "query", "datasource": DATASOURCE,
            "label": "Instance", "query": {
                "query": f'label_values(up{{environment=~"$environment",'
                         f'job=~"{self.instance_jobs}"}}, instance)', "refId": "instances"},
            "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2}]
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
#: the dashboard's environment and instance variables, on raw series
EI = 'environment=~"$environment",instance=~"$instance"'
#: the environment variable, on recorded series (aggregated over instances)
E = 'environment=~"$environment"'
HOST_5XX = f'plugin_host_http_requests_total{{{NOT_USERS},status=~"5..",fault="host",{EI}}}'
HOST_ALL = f'plugin_host_http_requests_total{{{NOT_USERS},{EI}}}'
REG_5XX = f'registry_http_requests_total{{{NOT_USERS},status=~"5..",{EI}}}'
REG_ALL = f'registry_http_requests_total{{{NOT_USERS},{EI}}}'


def budget_left(bad: str, total: str, budget: str, by: str = "environment, job") -> str:
    """Share of the 30-day error budget still unspent (1 = untouched, 0 = gone, < 0 =
    overspent)."""
    return (f"1 - (\n  (sum by ({by}) (increase({bad}[30d])) or 0 * sum by ({by}) "
            f"(increase({total}[30d])))\n  /\n  sum by ({by}) (increase({total}[30d]))\n) / {budget}")


BURN = [(1, "yellow"), (6, "orange"), (14.4, "red")]
NODE = 'job="node",' + EI
FS = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs",mountpoint!~"/run.*|/sys.*|/proc.*"'

DASHBOARDS = [
    Dashboard("koha-overview", "Koha platform: overview",
              "SLOs, budgets, traffic, errors by route and latency of the plugin hosts.", [
                  Panel("Availability (30m)",
                        [f"1 - job:plugin_host_http_request_errors:ratio_rate30m{{{E}}}"],
                        "percentunit", "stat", "{{environment}} {{job}}",
                        "SLO: 99.9 % of requests are not 5xx of the host's own (probes and "
                        "plugins' own failures left out)", [(0.999, "green")], base="red"),
                  Panel("Plugin calls under 100 ms (30m)",
                        [f"1 - job:plugin_host_plugin_route_slow_requests:ratio_rate30m{{{E}}}"],
                        "percentunit", "stat", "{{environment}} {{job}}",
                        "SLO: 99 % of plugin route calls", [(0.99, "green")], base="red"),
                  Panel("Availability budget left (30 days)",
                        [budget_left(HOST_5XX, HOST_ALL, "0.001")], "percentunit", "stat",
                        "{{environment}} {{job}}",
                        "Share of the month's error budget (0.1 % of requests) not yet spent",
                        [(0, "orange"), (0.25, "green")], base="red"),
                  Panel("Availability burn rate", [
                      f"job:plugin_host_http_request_errors:ratio_rate1h{{{E}}} / 0.001",
                      f"job:plugin_host_http_request_errors:ratio_rate6h{{{E}}} / 0.001"], "short",
                        legend=["{{environment}} 1h", "{{environment}} 6h"],
                        description="1 = spending the budget exactly; 14.4 over 1h or 6 over "
                                    "6h pages", thresholds=BURN),
                  Panel("Latency burn rate", [
                      f"job:plugin_host_plugin_route_slow_requests:ratio_rate1h{{{E}}} / 0.01",
                      f"job:plugin_host_plugin_route_slow_requests:ratio_rate6h{{{E}}} / 0.01"],
                        legend=["{{environment}} 1h", "{{environment}} 6h"], thresholds=BURN),
                  Panel("Requests per second", [f"sum by (instance) (rate({HOST_ALL}[5m]))"],
                        "reqps", legend="{{instance}}"),
                  Panel("Responses by status", [
                      f"sum by (status) (rate({HOST_ALL}[5m]))"], "reqps", legend="{{status}}"),
                  Panel("Host errors by route", [
                      f"sum by (instance, route, status) (rate({HOST_5XX}[5m])) "
                      f"or 0 * sum by (instance) (rate({HOST_ALL}[5m]))"], "reqps",
                        legend="{{instance}} {{route}} {{status}}",
                        description="5xx of the host's own (fault=host): what the availability "
                                    "SLO counts"),
                  Panel("Plugin errors by plugin", [
                      f'sum by (plugin, outcome) (rate(plugin_host_plugin_calls_total{{outcome!="ok",{EI}}}[5m])) '
                      f"or 0 * sum by (plugin) (rate(plugin_host_plugin_calls_total{{{EI}}}[5m]))"],
                        "reqps", legend="{{plugin}} {{outcome}}",
                        description="Failed calls into plugins: each plugin's own budget"),
                  Panel("Latency p99", [
                      "histogram_quantile(0.99, sum by (instance, le) (rate("
                      f"plugin_host_http_request_duration_seconds_bucket{{{EI}}}[5m])))"], "s",
                        legend="{{instance}}"),
                  Panel("Plugin route latency p99", [
                      "histogram_quantile(0.99, sum by (le) (rate("
                      f"plugin_host_http_request_duration_seconds_bucket{{{PLUGIN_ROUTE},{EI}}}[5m])))"],
                        "s", legend="p99", thresholds=[(0.1, "orange")]),
              ]),
    Dashboard("koha-plugins", "Koha platform: plugins",
              "Per plugin: calls, latency, errors, budget, restarts, memory, kv, egress, sandbox.", [
                  Panel("Calls per second", [f"sum by (plugin) (plugin:plugin_host_plugin_calls:rate5m{{{P},{E}}})"],
                        "reqps", legend="{{plugin}}"),
                  Panel("Calls by outcome", [
                      f"sum by (plugin, outcome) (plugin_outcome:plugin_host_plugin_calls:rate5m{{{P},{E}}})"],
                        "reqps", legend="{{plugin}} {{outcome}}"),
                  Panel("Error ratio", [f"plugin:plugin_host_plugin_call_errors:ratio_rate5m{{{P},{E}}}"],
                        "percentunit", legend="{{plugin}}", thresholds=[(0.01, "red")]),
                  Panel("Availability burn rate", [
                      f"plugin:plugin_host_plugin_call_errors:ratio_rate1h{{{P},{E}}} / 0.01",
                      f"plugin:plugin_host_plugin_call_errors:ratio_rate6h{{{P},{E}}} / 0.01"],
                        legend=["{{plugin}} 1h", "{{plugin}} 6h"], thresholds=BURN,
                        description="Each plugin's budget: 1 % of its calls may fail"),
                  Panel("Timeout ratio", [f"plugin:plugin_host_plugin_call_timeouts:ratio_rate5m{{{P},{E}}}"],
                        "percentunit", legend="{{plugin}}", thresholds=[(0.05, "orange")]),
                  Panel("Latency p99", [f"plugin:plugin_host_plugin_call_duration_seconds:p99_5m{{{P},{E}}}"],
                        "s", legend="{{plugin}}"),
                  Panel("Worker restarts (1h)", [f"plugin:plugin_host_worker_restarts:increase1h{{{P},{E}}}"],
                        legend="{{plugin}}"),
                  Panel("Crash-looping", [f"max by (plugin, instance) (plugin_host_plugin_crash_looping{{{P},{EI}}})"],
                        kind="stat", legend="{{plugin}} {{instance}}", thresholds=[(1, "red")]),
                  Panel("Worker memory", [f"sum by (plugin, instance) (plugin_host_plugin_memory_bytes{{{P},{EI}}})"],
                        "bytes", legend="{{plugin}} {{instance}}"),
                  Panel("Workers (running, and what the pool may grow to)",
                        [f"sum by (plugin, instance) (plugin_host_plugin_workers{{bound=\"running\",{P},{EI}}})",
                         f"max by (plugin) (plugin_host_plugin_workers{{bound=\"max\",{P},{EI}}})"],
                        legend=["{{plugin}} {{instance}}", "{{plugin}} max"],
                        description="Pools with resources.max_workers grow while every worker "
                                    "is busy and shrink once idle (worker_idle_seconds)"),
                  Panel("kv store used", [f"plugin:plugin_host_plugin_kv_usage:ratio{{{P},{E}}}"],
                        "percentunit", legend="{{plugin}}", thresholds=[(0.9, "orange")]),
                  Panel("Integration calls (ctx.http) by outcome", [
                      f"sum by (plugin, host, outcome) (plugin_host:plugin_host_egress_requests:rate5m{{{P},{E}}})"],
                        "reqps", legend="{{plugin}} → {{host}} {{outcome}}"),
                  Panel("Capability denials (15m)", [
                      f"sum by (plugin, capability) (increase(plugin_host_capability_denials_total{{{P},{EI}}}[15m]))"],
                        legend="{{plugin}} {{capability}}"),
                  Panel("Sandbox layers", [f"count by (plugin) (plugin_host_plugin_sandbox_layer{{{P},{EI}}})"],
                        kind="stat", legend="{{plugin}}"),
              ], plugin_variable=True),
    Dashboard("koha-registry", "Koha platform: registry",
              "Requests, errors and latency (RED) by route; publishes, the review queue, "
              "downloads and the signed index.", [
                  Panel("Availability (30m)",
                        [f"1 - job:registry_http_request_errors:ratio_rate30m{{{E}}}"],
                        "percentunit", "stat", "{{environment}}",
                        "SLO: 99.5 % of requests are not 5xx (probes left out)",
                        [(0.995, "green")], base="red"),
                  Panel("Availability budget left (30 days)",
                        [budget_left(REG_5XX, REG_ALL, "0.005")], "percentunit", "stat",
                        "{{environment}}", thresholds=[(0, "orange"), (0.25, "green")],
                        base="red"),
                  Panel("Requests by route", [f"sum by (route) (rate({REG_ALL}[5m]))"], "reqps",
                        legend="{{route}}"),
                  Panel("Errors by route", [
                      f"sum by (route, status) (rate({REG_5XX}[5m])) "
                      f"or 0 * sum by (route) (rate({REG_ALL}[5m]))"], "reqps",
                        legend="{{route}} {{status}}"),
                  Panel("Latency p99 by route", [
                      "histogram_quantile(0.99, sum by (route, le) (rate("
                      f"registry_http_request_duration_seconds_bucket{{{EI}}}[5m])))"], "s",
                        legend="{{route}}", thresholds=[(1, "orange")]),
                  Panel("Availability burn rate", [
                      f"job:registry_http_request_errors:ratio_rate1h{{{E}}} / 0.005",
                      f"job:registry_http_request_errors:ratio_rate6h{{{E}}} / 0.005"],
                        legend=["{{environment}} 1h", "{{environment}} 6h"], thresholds=BURN),
                  Panel("Publishes by outcome (1h)", [f"job:registry_publishes:increase1h{{{E}}}"],
                        legend="{{outcome}}"),
                  Panel("Review queue", [f"max by (job) (registry_review_queue_size{{{EI}}})"],
                        kind="stat"),
                  Panel("Oldest submission waiting", [
                      f"max by (job) (registry_review_queue_oldest_age_seconds{{{EI}}})"], "s", "stat",
                        thresholds=[(172800, "orange")]),
                  Panel("Downloads per second", [f"job:registry_downloads:rate5m{{{E}}}"], "reqps"),
                  Panel("Index metadata expires in", [f"job:registry_index_metadata_expiry:seconds{{{E}}}"],
                        "s", legend="{{role}}", thresholds=[(21600, "orange"), (86400, "green")],
                        base="red"),
              ], needs="registry", instance_jobs="registry"),
    Dashboard("koha-hosts", "Koha platform: hosts (USE)",
              "Each machine's utilisation, saturation and errors, from node_exporter.", [
                  Panel("CPU utilisation", [
                      f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle",{NODE}}}[5m]))'],
                        "percentunit", legend="{{instance}}", thresholds=[(0.9, "orange")]),
                  Panel("CPU saturation (load per CPU)", [
                      f"node_load1{{{NODE}}} / on (instance) count by (instance) "
                      f'(node_cpu_seconds_total{{mode="idle",{NODE}}})'],
                        legend="{{instance}}", thresholds=[(1, "orange")]),
                  Panel("Memory utilisation", [
                      f"1 - node_memory_MemAvailable_bytes{{{NODE}}} / node_memory_MemTotal_bytes{{{NODE}}}"],
                        "percentunit", legend="{{instance}}", thresholds=[(0.9, "orange")]),
                  Panel("Memory saturation (major page faults)", [
                      f"rate(node_vmstat_pgmajfault{{{NODE}}}[5m])"], legend="{{instance}}"),
                  Panel("Disk utilisation (busy time)", [
                      f"rate(node_disk_io_time_seconds_total{{{NODE}}}[5m])"], "percentunit",
                        legend="{{instance}} {{device}}"),
                  Panel("Disk saturation (queue)", [
                      f"rate(node_disk_io_time_weighted_seconds_total{{{NODE}}}[5m])"],
                        legend="{{instance}} {{device}}"),
                  Panel("File system used", [
                      f"1 - node_filesystem_avail_bytes{{{FS},{NODE}}} / node_filesystem_size_bytes{{{FS},{NODE}}}"],
                        "percentunit", legend="{{instance}} {{mountpoint}}",
                        thresholds=[(0.85, "orange"), (0.95, "red")]),
                  Panel("Network traffic", [
                      f'sum by (instance) (rate(node_network_receive_bytes_total{{device!="lo",{NODE}}}[5m]))',
                      f'sum by (instance) (rate(node_network_transmit_bytes_total{{device!="lo",{NODE}}}[5m]))'],
                        "Bps", legend=["{{instance}} in", "{{instance}} out"]),
                  Panel("Network errors", [
                      f'sum by (instance) (rate(node_network_receive_errs_total{{device!="lo",{NODE}}}[5m])'
                      f' + rate(node_network_transmit_errs_total{{device!="lo",{NODE}}}[5m]))'],
                        legend="{{instance}}"),
              ], needs="node", instance_jobs="node"),
    Dashboard("koha-deployments", "Koha platform: deployments",
              "Which version runs where, and whether every instance answers.", [
                  Panel("Versions per instance", [
                      f'count by (job, instance, version) ({{__name__=~"plugin_host_build_info|registry_build_info",{EI}}})'],
                        legend="{{job}} {{instance}} {{version}}"),
                  Panel("Distinct versions per service", [
                      f'count by (job) (count by (job, version) ({{__name__=~"plugin_host_build_info|registry_build_info",{E}}}))'],
                        kind="stat", legend="{{job}}", thresholds=[(2, "orange")]),
                  Panel("Instances up", [f'sum by (job) (up{{job=~"plugin-host|registry",{E}}})'],
                        kind="stat", legend="{{job}}"),
                  Panel("Installs by outcome (1h)", [f"job:plugin_host_installs:increase1h{{{E}}}"],
                        legend="{{outcome}}"),
                  Panel("Upgrades and rollbacks (1h)", [
                      f"sum by (action, outcome) (increase(plugin_host_upgrades_total{{{EI}}}[1h]))"],
                        legend="{{action}} {{outcome}}"),
                  Panel("Installed plugins by state", [f"sum by (state) (plugin_host_plugins{{{EI}}})"],
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


def queries(dashboard: Dashboard, plugin: str = ".*", environment: str = ".*",
            instance: str = ".*") -> list[tuple[str, str]]:
    """(panel title, PromQL with variables filled) for every query of a dashboard."""
    return [(p.title, e.replace("$plugin", plugin).replace("$environment", environment)
             .replace("$instance", instance)) for p in dashboard.panels for e in p.exprs]


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

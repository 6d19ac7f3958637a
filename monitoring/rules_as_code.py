"""Prometheus rules as code: recording rules, SLO burn-rate alerts, plugin, registry and
deployment alerts. `invoke monitoring.build` writes monitoring/rules/*.yml from here;
`invoke monitoring.check` fails when the files are not what this produces.

Naming: recording rules are `level:metric:operations`; alerts are `Koha…` with a
`severity` label and `summary`, `description` and `runbook_url` annotations; the
runbook is docs/runbooks/<Alert>.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

RUNBOOK_BASE = "https://koha-platform.example.org/runbooks"
HTTP = 'plugin_host_http_requests_total{route!="/metrics"}'
HTTP5 = 'plugin_host_http_requests_total{route!="/metrics",status=~"5.."}'
PLUGIN_ROUTE = 'route="/plugins/{name}/api/{path:path}"'
WINDOWS = ["5m", "30m", "1h", "6h", "3d"]

rec = []
rec.append({"record": "job:plugin_host_http_requests:rate5m",
            "expr": f"sum by (job) (rate({HTTP}[5m]))"})
for w in WINDOWS:
    rec.append({"record": f"job:plugin_host_http_request_errors:ratio_rate{w}",
                "expr": f"sum by (job) (rate({HTTP5}[{w}]))\n/\nsum by (job) (rate({HTTP}[{w}]))"})
for w in WINDOWS:
    rec.append({"record": f"job:plugin_host_plugin_route_slow_requests:ratio_rate{w}",
                "expr": ("1 - (\n  sum by (job) (rate(plugin_host_http_request_duration_seconds_bucket{"
                         f'{PLUGIN_ROUTE},le="0.1"}}[{w}]))\n  /\n  sum by (job) (rate('
                         f"plugin_host_http_request_duration_seconds_count{{{PLUGIN_ROUTE}}}[{w}]))\n)")})
rec += [
    {"record": "job:plugin_host_http_request_duration_seconds:p99_5m",
     "expr": "histogram_quantile(0.99, sum by (job, le) (rate(plugin_host_http_request_duration_seconds_bucket[5m])))"},
    {"record": "plugin:plugin_host_plugin_calls:rate5m",
     "expr": "sum by (plugin) (rate(plugin_host_plugin_calls_total[5m]))"},
    {"record": "plugin_outcome:plugin_host_plugin_calls:rate5m",
     "expr": "sum by (plugin, outcome) (rate(plugin_host_plugin_calls_total[5m]))"},
    {"record": "plugin:plugin_host_plugin_call_errors:ratio_rate5m",
     "expr": 'sum by (plugin) (rate(plugin_host_plugin_calls_total{outcome!="ok"}[5m]))\n/\nsum by (plugin) (rate(plugin_host_plugin_calls_total[5m]))'},
    {"record": "plugin:plugin_host_plugin_call_timeouts:ratio_rate5m",
     "expr": 'sum by (plugin) (rate(plugin_host_plugin_calls_total{outcome="timeout"}[5m]))\n/\nsum by (plugin) (rate(plugin_host_plugin_calls_total[5m]))'},
    {"record": "plugin:plugin_host_plugin_call_duration_seconds:p99_5m",
     "expr": "histogram_quantile(0.99, sum by (plugin, le) (rate(plugin_host_plugin_call_duration_seconds_bucket[5m])))"},
    {"record": "plugin:plugin_host_worker_restarts:increase1h",
     "expr": "sum by (plugin) (increase(plugin_host_worker_restarts_total[1h]))"},
    {"record": "plugin:plugin_host_plugin_kv_usage:ratio",
     "expr": "max by (plugin) (plugin_host_plugin_kv_bytes / plugin_host_plugin_kv_quota_bytes)"},
    {"record": "plugin_host:plugin_host_egress_requests:rate5m",
     "expr": "sum by (plugin, host, outcome) (rate(plugin_host_egress_requests_total[5m]))"},
    {"record": "job:plugin_host_installs:increase1h",
     "expr": "sum by (job, outcome) (increase(plugin_host_installs_total[1h]))"},
]
reg_rec = [
    {"record": "job:registry_publishes:increase1h",
     "expr": "sum by (job, outcome) (increase(registry_publishes_total[1h]))"},
    {"record": "job:registry_downloads:rate5m",
     "expr": "sum by (job) (rate(registry_downloads_total[5m]))"},
    {"record": "job:registry_index_metadata_expiry:seconds",
     "expr": "min by (job, role) (registry_index_metadata_expiry_timestamp_seconds) - time()"},
]

def alert(name: str, expr: str, severity: str, summary: str, description: str,
          for_: str | None = None, **labels: str) -> dict[str, Any]:
    a = {"alert": name, "expr": expr}
    if for_:
        a["for"] = for_
    a["labels"] = {"severity": severity, **labels}
    a["annotations"] = {"summary": summary, "description": description,
                        "runbook_url": f"{RUNBOOK_BASE}/{name}.md"}
    return a

def burn(sli: str, budget: str, name: str, what: str, slo: str) -> list[dict[str, Any]]:
    fast = (f"(\n  {sli}:ratio_rate1h > (14.4 * {budget})\n  and\n  {sli}:ratio_rate5m > (14.4 * {budget})\n)\nor\n"
            f"(\n  {sli}:ratio_rate6h > (6 * {budget})\n  and\n  {sli}:ratio_rate30m > (6 * {budget})\n)")
    slow = f"{sli}:ratio_rate3d > (1 * {budget})\nand\n{sli}:ratio_rate6h > (1 * {budget})"
    return [
        alert(f"{name}BudgetBurnFast", fast, "critical",
              f"{what}: the error budget of the {slo} SLO is burning fast",
              f"{{{{ $labels.job }}}} is spending the monthly error budget of the {slo} SLO at 6x or more "
              "(2% of it in an hour, or 5% in six hours). Left alone, it is gone in days.",
              "2m", slo=slo),
        alert(f"{name}BudgetBurnSlow", slow, "warning",
              f"{what}: the error budget of the {slo} SLO is burning",
              f"{{{{ $labels.job }}}} has spent the error budget of the {slo} SLO faster than it "
              "accrues over the last three days (10% of the budget).", "1h", slo=slo),
    ]

alerts_host = []
alerts_host += burn("job:plugin_host_http_request_errors", "0.001", "KohaHostAvailability",
                    "Plugin host availability", "host-availability-99.9")
alerts_host += burn("job:plugin_host_plugin_route_slow_requests", "0.01", "KohaPluginLatency",
                    "Plugin route latency", "plugin-latency-99-under-100ms")
alerts_plugins = [
    alert("KohaPluginCrashLooping", "max by (plugin) (plugin_host_plugin_crash_looping) == 1", "critical",
          "Plugin {{ $labels.plugin }} is crash-looping",
          "The workers of {{ $labels.plugin }} keep dying; restarts are backed off and its routes answer 503.",
          "30s"),
    alert("KohaPluginTimeoutRate",
          "plugin:plugin_host_plugin_call_timeouts:ratio_rate5m > 0.05\nand\nplugin:plugin_host_plugin_calls:rate5m > 0.1",
          "warning", "Plugin {{ $labels.plugin }} times out on {{ $value | humanizePercentage }} of calls",
          "More than 5% of calls into {{ $labels.plugin }} hit their timeout_ms; each kills a worker.", "10m"),
    alert("KohaPluginSandboxViolations",
          "sum by (plugin, capability) (increase(plugin_host_capability_denials_total[15m])) > 0",
          "warning", "Plugin {{ $labels.plugin }} tried a capability it was not granted",
          "{{ $labels.plugin }} asked for {{ $labels.capability }} outside its permissions "
          "{{ $value }} times in 15 minutes: a bug, or a plugin probing its sandbox."),
    alert("KohaPluginSandboxRefused",
          "sum by (plugin, layer) (increase(plugin_host_sandbox_refusals_total[15m])) > 0",
          "critical", "Plugin {{ $labels.plugin }} was refused: sandbox layer {{ $labels.layer }} is missing",
          "The host requires the {{ $labels.layer }} layer and this machine cannot provide it, "
          "so the plugin does not run."),
    alert("KohaPluginKvQuotaNearlyFull", "plugin:plugin_host_plugin_kv_usage:ratio > 0.9", "warning",
          "Plugin {{ $labels.plugin }} has used {{ $value | humanizePercentage }} of its kv quota",
          "Writes beyond permissions.kv_quota will be refused.", "15m"),
]
alerts_registry = [
    # The registry re-signs each role at half its lifetime (timestamp: 1 day, so 12-24 h
    # left is normal); less than 6 h (timestamp) or 24 h (the others) means re-signing stalled.
    alert("KohaRegistryIndexExpiringSoon",
          '(min by (job, role) (registry_index_metadata_expiry_timestamp_seconds{role="timestamp"}) - time() < 21600)'
          ' or (min by (job, role) (registry_index_metadata_expiry_timestamp_seconds{role!="timestamp"}) - time() < 86400)',
          "critical",
          "The registry's {{ $labels.role }} metadata expires in {{ $value | humanizeDuration }}",
          "Hosts refuse an expired index (freeze protection): installs stop when it expires. "
          "The registry must re-sign it."),
    alert("KohaRegistryReviewQueueStale", "max by (job) (registry_review_queue_oldest_age_seconds) > 172800",
          "warning", "A plugin has waited over two days for review",
          "The oldest submission in the review queue is {{ $value | humanizeDuration }} old.", "1h"),
    alert("KohaRegistryPublishFailures",
          'sum by (job) (increase(registry_publishes_total{outcome="failed"}[1h]))\n/\n'
          "sum by (job) (increase(registry_publishes_total[1h])) > 0.5\n"
          "and\nsum by (job) (increase(registry_publishes_total[1h])) >= 3",
          "warning", "Most publishes to the registry fail",
          "More than half of the publishes in the last hour failed (rejected by checks or errors)."),
]
alerts_deploy = [
    alert("KohaInstanceDown", 'up{job=~"plugin-host|registry"} == 0', "critical",
          "{{ $labels.job }} instance {{ $labels.instance }} is down",
          "Prometheus cannot scrape {{ $labels.instance }}.", "2m"),
    alert("KohaVersionSkew",
          'count by (job) (count by (job, version) ({__name__=~"plugin_host_build_info|registry_build_info"})) > 1',
          "warning", "{{ $labels.job }} replicas run {{ $value }} different versions",
          "Replicas behind one load balancer should run one version; a rolling deploy may have stopped half-way.",
          "30m"),
    alert("KohaPluginFleetDrift", "max by (job, instance) (plugin_host_fleet_drift) > 0",
          "warning", "{{ $labels.instance }} differs from the declared plugin set in {{ $value }} ways",
          "The plugins this host runs are not the environment's koha_plugins (one removed, "
          "disabled or reconfigured by hand, or a converge that failed): requests answer "
          "differently depending on the host behind the load balancer.", "15m"),
]
# Host alerts from node_exporter (as the node-mixin writes them): real file systems only
FS = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs",mountpoint!~"/run.*|/sys.*|/proc.*"'
alerts_node = [
    alert("KohaHostDiskFilling",
          f"(\n  node_filesystem_avail_bytes{{{FS}}}\n  /\n  node_filesystem_size_bytes{{{FS}}}\n"
          f"  < 0.15\n)\nand\n(\n  predict_linear(node_filesystem_avail_bytes{{{FS}}}[6h], 24 * 3600)"
          f"\n  < 0\n)\nand\nnode_filesystem_readonly{{{FS}}} == 0",
          "warning", "{{ $labels.instance }}: {{ $labels.mountpoint }} will be full within a day",
          "Less than 15% of {{ $labels.mountpoint }} is free and at the rate of the last six "
          "hours it fills up within 24 hours.", "1h"),
    alert("KohaHostDiskAlmostFull",
          f"(\n  node_filesystem_avail_bytes{{{FS}}}\n  /\n  node_filesystem_size_bytes{{{FS}}}\n"
          f"  < 0.05\n)\nand\nnode_filesystem_readonly{{{FS}}} == 0",
          "critical", "{{ $labels.instance }}: {{ $labels.mountpoint }} is almost full",
          "Less than 5% of {{ $labels.mountpoint }} is free: installs, the database and logs "
          "fail when it is full.", "15m"),
    alert("KohaHostMemoryLow",
          "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.10", "warning",
          "{{ $labels.instance }} has {{ $value | humanizePercentage }} of its memory available",
          "Plugin workers are refused or killed when memory runs out.", "15m"),
    alert("KohaHostClockNotSynchronising",
          "min_over_time(node_timex_sync_status[5m]) == 0\nand\nnode_timex_maxerror_seconds >= 16",
          "warning", "{{ $labels.instance }}: the clock is not synchronising",
          "NTP is not keeping the clock in sync: signed index metadata and tokens depend on "
          "the time.", "10m"),
    alert("KohaHostClockSkew",
          "(\n  node_timex_offset_seconds > 0.05\n  and\n  deriv(node_timex_offset_seconds[5m]) >= 0\n)\n"
          "or\n(\n  node_timex_offset_seconds < -0.05\n  and\n  deriv(node_timex_offset_seconds[5m]) <= 0\n)",
          "warning", "{{ $labels.instance }}: the clock is {{ $value | humanizeDuration }} off",
          "The clock is more than 50 ms off and not getting better.", "10m"),
]
FILES = {
    "recording.rules.yml": [{"name": "koha-host-recording", "rules": rec},
                            {"name": "koha-registry-recording", "rules": reg_rec}],
    "slo.rules.yml": [{"name": "koha-slo", "rules": alerts_host}],
    "plugins.rules.yml": [{"name": "koha-plugins", "rules": alerts_plugins}],
    "registry.rules.yml": [{"name": "koha-registry", "rules": alerts_registry}],
    "deployment.rules.yml": [{"name": "koha-deployment", "rules": alerts_deploy}],
    "node.rules.yml": [{"name": "koha-node", "rules": alerts_node}],
}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def render(runbook_base: str = RUNBOOK_BASE) -> dict[str, str]:
    """File name → YAML text of every rule file."""
    out = {}
    for name, groups in FILES.items():
        text = yaml.dump({"groups": groups}, Dumper=_Dumper, sort_keys=False, width=120)
        out[name] = (f"# Generated by `invoke monitoring.build` from monitoring/rules_as_code.py"
                     f"\n{text}").replace(RUNBOOK_BASE, runbook_base.rstrip("/"))
    return out


def alerts() -> list[dict[str, Any]]:
    return [r for groups in FILES.values() for g in groups for r in g["rules"] if "alert" in r]


def write(out_dir: Path, runbook_base: str = RUNBOOK_BASE) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in render(runbook_base).items():
        (out_dir / name).write_text(text)
        paths.append(out_dir / name)
    return paths

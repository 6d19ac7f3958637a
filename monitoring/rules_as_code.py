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
#: what the availability SLIs leave out: probes and scrapes are not users
NOT_USERS = 'route!~"/metrics|/healthz|/readyz"'
HTTP = f'plugin_host_http_requests_total{{{NOT_USERS}}}'
# a plugin's own failures (fault="plugin") spend that plugin's budget, not the platform's
HTTP5 = f'plugin_host_http_requests_total{{{NOT_USERS},status=~"5..",fault!="plugin"}}'
REG = f'registry_http_requests_total{{{NOT_USERS}}}'
REG5 = f'registry_http_requests_total{{{NOT_USERS},status=~"5.."}}'
CALLS = "plugin_host_plugin_calls_total"
CALL_ERRORS = 'plugin_host_plugin_calls_total{outcome!="ok"}'
PLUGIN_ROUTE = 'route="/plugins/{name}/api/{path:path}"'
WINDOWS = ["5m", "30m", "1h", "6h", "3d"]

def ratio(by: str, bad: str, total: str, window: str) -> str:
    """sum(rate(bad)) / sum(rate(total)) by ``by``, 0 (not absent) while nothing is bad:
    an SLI with no errors is a ratio of 0, and a dashboard shows it."""
    return (f"(\n  sum by ({by}) (rate({bad}[{window}]))\n  or\n  0 * sum by ({by}) (rate({total}[{window}]))\n)\n"
            f"/\nsum by ({by}) (rate({total}[{window}]))")


# Recording rules keep `environment` (a target label): dashboards over several
# environments' data (a managed Prometheus) filter on it.
rec = []
rec.append({"record": "job:plugin_host_http_requests:rate5m",
            "expr": f"sum by (environment, job) (rate({HTTP}[5m]))"})
for w in WINDOWS:
    rec.append({"record": f"job:plugin_host_http_request_errors:ratio_rate{w}",
                "expr": ratio("environment, job", HTTP5, HTTP, w)})
for w in WINDOWS:
    rec.append({"record": f"job:plugin_host_plugin_route_slow_requests:ratio_rate{w}",
                "expr": ("1 - (\n  sum by (environment, job) (rate(plugin_host_http_request_duration_seconds_bucket{"
                         f'{PLUGIN_ROUTE},le="0.1"}}[{w}]))\n  /\n  sum by (environment, job) (rate('
                         f"plugin_host_http_request_duration_seconds_count{{{PLUGIN_ROUTE}}}[{w}]))\n)")})
rec += [
    {"record": "job:plugin_host_http_request_duration_seconds:p99_5m",
     "expr": "histogram_quantile(0.99, sum by (environment, job, le) (rate(plugin_host_http_request_duration_seconds_bucket[5m])))"},
    {"record": "plugin:plugin_host_plugin_calls:rate5m",
     "expr": "sum by (environment, plugin) (rate(plugin_host_plugin_calls_total[5m]))"},
    {"record": "plugin_outcome:plugin_host_plugin_calls:rate5m",
     "expr": "sum by (environment, plugin, outcome) (rate(plugin_host_plugin_calls_total[5m]))"},
    {"record": "plugin:plugin_host_plugin_call_timeouts:ratio_rate5m",
     "expr": 'sum by (environment, plugin) (rate(plugin_host_plugin_calls_total{outcome="timeout"}[5m]))\n/\nsum by (environment, plugin) (rate(plugin_host_plugin_calls_total[5m]))'},
    {"record": "plugin:plugin_host_plugin_call_duration_seconds:p99_5m",
     "expr": "histogram_quantile(0.99, sum by (environment, plugin, le) (rate(plugin_host_plugin_call_duration_seconds_bucket[5m])))"},
    {"record": "plugin:plugin_host_worker_restarts:increase1h",
     "expr": "sum by (environment, plugin) (increase(plugin_host_worker_restarts_total[1h]))"},
    {"record": "plugin:plugin_host_plugin_kv_usage:ratio",
     "expr": "max by (environment, plugin) (plugin_host_plugin_kv_bytes / plugin_host_plugin_kv_quota_bytes)"},
    {"record": "plugin_host:plugin_host_egress_requests:rate5m",
     "expr": "sum by (environment, plugin, host, outcome) (rate(plugin_host_egress_requests_total[5m]))"},
    {"record": "job:plugin_host_installs:increase1h",
     "expr": "sum by (environment, job, outcome) (increase(plugin_host_installs_total[1h]))"},
]
for w in WINDOWS:  # each plugin's availability: calls that did not fail
    rec.append({"record": f"plugin:plugin_host_plugin_call_errors:ratio_rate{w}",
                "expr": ratio("environment, plugin", CALL_ERRORS, CALLS, w)})
reg_rec = [
    {"record": "job:registry_publishes:increase1h",
     "expr": "sum by (environment, job, outcome) (increase(registry_publishes_total[1h]))"},
    {"record": "job:registry_downloads:rate5m",
     "expr": "sum by (environment, job) (rate(registry_downloads_total[5m]))"},
    {"record": "job:registry_index_metadata_expiry:seconds",
     "expr": "min by (environment, job, role) (registry_index_metadata_expiry_timestamp_seconds) - time()"},
    {"record": "job:registry_http_requests:rate5m",
     "expr": f"sum by (environment, job) (rate({REG}[5m]))"},
    {"record": "job:registry_http_request_duration_seconds:p99_5m",
     "expr": "histogram_quantile(0.99, sum by (environment, job, le) (rate(registry_http_request_duration_seconds_bucket"
             f"{{{NOT_USERS}}}[5m])))"},
]
for w in WINDOWS:
    reg_rec.append({"record": f"job:registry_http_request_errors:ratio_rate{w}",
                    "expr": ratio("environment, job", REG5, REG, w)})

def alert(name: str, expr: str, severity: str, summary: str, description: str,
          for_: str | None = None, **labels: str) -> dict[str, Any]:
    a = {"alert": name, "expr": expr}
    if for_:
        a["for"] = for_
    a["labels"] = {"severity": severity, **labels}
    a["annotations"] = {"summary": summary, "description": description,
                        "runbook_url": f"{RUNBOOK_BASE}/{name}.md"}
    return a

def burn(sli: str, budget: str, name: str, what: str, slo: str, who: str = "{{ $labels.job }}",
         fast_severity: str = "critical") -> list[dict[str, Any]]:
    fast = (f"(\n  {sli}:ratio_rate1h > (14.4 * {budget})\n  and\n  {sli}:ratio_rate5m > (14.4 * {budget})\n)\nor\n"
            f"(\n  {sli}:ratio_rate6h > (6 * {budget})\n  and\n  {sli}:ratio_rate30m > (6 * {budget})\n)")
    slow = f"{sli}:ratio_rate3d > (1 * {budget})\nand\n{sli}:ratio_rate6h > (1 * {budget})"
    return [
        alert(f"{name}BudgetBurnFast", fast, fast_severity,
              f"{what}: the error budget of the {slo} SLO is burning fast",
              f"{who} is spending the monthly error budget of the {slo} SLO at 6x or more "
              "(2% of it in an hour, or 5% in six hours). Left alone, it is gone in days.",
              "2m", slo=slo),
        alert(f"{name}BudgetBurnSlow", slow, "warning",
              f"{what}: the error budget of the {slo} SLO is burning",
              f"{who} has spent the error budget of the {slo} SLO faster than it "
              "accrues over the last three days (10% of the budget).", "1h", slo=slo),
    ]

alerts_host = []
alerts_host += burn("job:plugin_host_http_request_errors", "0.001", "KohaHostAvailability",
                    "Plugin host availability", "host-availability-99.9")
alerts_host += burn("job:plugin_host_plugin_route_slow_requests", "0.01", "KohaPluginLatency",
                    "Plugin route latency", "plugin-latency-99-under-100ms")
# each plugin's own budget: 99% of its calls succeed (third-party code; its failures are
# its own, not the platform's). A fast burn pages: a feature of the library is failing.
alerts_host += burn("plugin:plugin_host_plugin_call_errors", "0.01", "KohaPluginAvailability",
                    "Plugin availability", "plugin-availability-99",
                    who="Plugin {{ $labels.plugin }}")
# Plugin causes: tickets, never pages (the symptoms page: the plugin's availability SLO).
# Every alert keeps job and instance (which host), and the plugin: Alertmanager's
# inhibitions compare them, and a label missing on both sides would compare equal.
BY_PLUGIN = "job, instance, plugin"
alerts_plugins = [
    alert("KohaPluginCrashLooping", f"max by ({BY_PLUGIN}) (plugin_host_plugin_crash_looping) == 1",
          "warning", "Plugin {{ $labels.plugin }} is crash-looping on {{ $labels.instance }}",
          "The workers of {{ $labels.plugin }} keep dying; restarts are backed off and its routes answer 503.",
          "5m"),
    alert("KohaPluginTimeoutRate",
          f'sum by ({BY_PLUGIN}) (rate({CALLS}{{outcome="timeout"}}[5m]))\n/\n'
          f"sum by ({BY_PLUGIN}) (rate({CALLS}[5m])) > 0.05\n"
          f"and\nsum by ({BY_PLUGIN}) (rate({CALLS}[5m])) > 0.1",
          "warning", "Plugin {{ $labels.plugin }} times out on {{ $value | humanizePercentage }} of calls",
          "More than 5% of calls into {{ $labels.plugin }} on {{ $labels.instance }} hit their "
          "timeout_ms; each kills a worker.", "10m"),
    alert("KohaPluginSandboxViolations",
          f"sum by ({BY_PLUGIN}, capability) (increase(plugin_host_capability_denials_total[15m])) > 0",
          "warning", "Plugin {{ $labels.plugin }} tried a capability it was not granted",
          "{{ $labels.plugin }} asked for {{ $labels.capability }} outside its permissions "
          "{{ $value }} times in 15 minutes on {{ $labels.instance }}: a bug, or a plugin probing its sandbox."),
    alert("KohaPluginSandboxRefused",
          f"sum by ({BY_PLUGIN}, layer) (increase(plugin_host_sandbox_refusals_total[15m])) > 0",
          "warning", "Plugin {{ $labels.plugin }} was refused: sandbox layer {{ $labels.layer }} is missing",
          "{{ $labels.instance }} requires the {{ $labels.layer }} layer and cannot provide it, "
          "so the plugin does not run there."),
    alert("KohaPluginKvQuotaNearlyFull",
          "max by (job, plugin) (plugin_host_plugin_kv_bytes / plugin_host_plugin_kv_quota_bytes) > 0.9",
          "warning", "Plugin {{ $labels.plugin }} has used {{ $value | humanizePercentage }} of its kv quota",
          "Writes beyond permissions.kv_quota will be refused.", "15m"),
]
EXPIRY = "registry_index_metadata_expiry_timestamp_seconds"
alerts_registry = burn("job:registry_http_request_errors", "0.005", "KohaRegistryAvailability",
                       "Registry availability", "registry-availability-99.5")
alerts_registry += [
    # The registry re-signs each online role at half its lifetime (timestamp: 1 day, so
    # 12-24 h left is normal); less than 6 h (timestamp) or 24 h (snapshot, targets)
    # means re-signing stalled.
    alert("KohaRegistryIndexExpiringSoon",
          f'(min by (job, role) ({EXPIRY}{{role="timestamp"}}) - time() < 21600)'
          f' or (min by (job, role) ({EXPIRY}{{role=~"snapshot|targets"}}) - time() < 86400)',
          "critical",
          "The registry's {{ $labels.role }} metadata expires in {{ $value | humanizeDuration }}",
          "Hosts refuse an expired index (freeze protection): installs stop when it expires. "
          "The registry must re-sign it."),
    # root is signed with the offline key: renewing it is a ceremony, so a month's notice
    alert("KohaRegistryRootExpiring",
          f'min by (job, role) ({EXPIRY}{{role="root"}}) - time() < 30 * 86400', "warning",
          "The registry's root metadata expires in {{ $value | humanizeDuration }}",
          "root.json is signed with the offline root key, which the registry does not hold: "
          "schedule the key ceremony that re-signs it before hosts refuse the index.", "1h"),
    alert("KohaRegistryLatencyHigh", "job:registry_http_request_duration_seconds:p99_5m > 1",
          "warning", "The registry answers slowly: p99 {{ $value | humanizeDuration }}",
          "The slowest 1% of registry API requests take more than a second (publishing, "
          "review, the catalogue).", "15m"),
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
#: scrape jobs every deployment has: absent() when none of their targets is up
ALWAYS_SCRAPED = {"plugin-host": "critical", "registry": "critical", "node": "warning",
                  "blackbox": "warning"}
alerts_deploy = [
    # one instance down: the balancer sends its requests to the others (a ticket); all
    # of a service's instances down, or gone from the configuration: KohaScrapeJobDown
    alert("KohaInstanceDown", 'up{job=~"plugin-host|registry|node|haproxy"} == 0', "warning",
          "{{ $labels.job }} on {{ $labels.instance }} is down",
          "Prometheus cannot scrape {{ $labels.job }} on {{ $labels.instance }}.", "2m"),
    *(alert("KohaScrapeJobDown", f'absent(up{{job="{job}"}} == 1)', severity,
            f"No {job} target is up", f"Prometheus has no {job} target answering: every "
            f"instance is down or the job left the configuration.", "5m", job=job)
      for job, severity in ALWAYS_SCRAPED.items()),
    # a balancer is optional (single-host deploys have none): only when it is configured
    alert("KohaScrapeJobDown", 'count by (job) (up{job="haproxy"}) unless count by (job) (up{job="haproxy"} == 1)',
          "critical", "No haproxy target is up",
          "The load balancer is configured and none of its instances answers: nothing "
          "reaches the plugin hosts or the registry.", "2m"),
    # the dead man's switch: always firing; its receiver pages when it stops arriving
    alert("Watchdog", "vector(1)", "none", "The alerting pipeline works",
          "Always firing. Its receiver (a dead man's switch) raises the alarm when it stops "
          "arriving: Prometheus, its rules or Alertmanager have stopped."),
    # the database answering is a cause: installed plugins keep serving and the index is
    # served from storage; what needs the database (admin, fleet, publishing) answers 503
    alert("KohaDatabaseUnreachable",
          'max by (job, instance) ({__name__=~"plugin_host_database_up|registry_database_up"}) == 0',
          "warning", "{{ $labels.job }} on {{ $labels.instance }} cannot reach its database",
          "Its readiness says degraded: running plugins keep serving, but installs, upgrades, "
          "the fleet, publishing and review answer 503 until the database answers.", "2m"),
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
# What users reach, probed from outside the services (the blackbox exporter, through the
# load balancer when there is one): a symptom, so it pages; and the certificate it shows
BY_PROBE = "environment, job, instance"
alerts_probes = [
    alert("KohaEndpointDown", f"max by ({BY_PROBE}) (probe_success{{job=\"blackbox\"}}) == 0",
          "critical", "{{ $labels.instance }} does not answer ready",
          "The blackbox probe of {{ $labels.instance }} (the address libraries use) fails: "
          "no answer, not 200, a TLS error or an untrusted certificate.", "2m"),
    alert("KohaCertificateExpiringSoon",
          f"min by ({BY_PROBE}) (probe_ssl_earliest_cert_expiry{{job=\"blackbox\"}}) - time() < 21 * 86400",
          "warning", "The certificate of {{ $labels.instance }} expires in {{ $value | humanizeDuration }}",
          "Renew it before it expires: browsers, Koha and the plugin hosts refuse an expired "
          "certificate.", "1h"),
    alert("KohaCertificateExpiring",
          f"min by ({BY_PROBE}) (probe_ssl_earliest_cert_expiry{{job=\"blackbox\"}}) - time() < 7 * 86400",
          "critical", "The certificate of {{ $labels.instance }} expires in {{ $value | humanizeDuration }}",
          "A week or less before browsers, Koha and the plugin hosts refuse it: renew it now.",
          "10m"),
]
# Backups (plugin-host backup run --loop; node_exporter's textfile collector): causes,
# tickets; staleness against each service's own interval
BY_BACKUP = "environment, job, instance, service"
alerts_backups = [
    alert("KohaBackupStale",
          f"time() - max by ({BY_BACKUP}) (koha_backup_last_success_timestamp_seconds)\n"
          f"> 1.5 * max by ({BY_BACKUP}) (koha_backup_interval_seconds)",
          "warning", "The newest {{ $labels.service }} backup on {{ $labels.instance }} is "
          "{{ $value | humanizeDuration }} old",
          "No verified backup of the {{ $labels.service }} for one and a half of its intervals: "
          "a disk loss now would lose everything since.", "15m"),
    alert("KohaBackupFailing", f"max by ({BY_BACKUP}) (koha_backup_last_failed) == 1",
          "warning", "The {{ $labels.service }} backup on {{ $labels.instance }} fails",
          "The last backup run failed and retries have not succeeded for half an hour.", "30m"),
]
# Sign-in: repeated refusals (password guessing, forged tokens, a provider misconfigured)
BY_SIGNIN = "environment, job, service, provider"
alerts_identity = [
    alert("KohaSignInFailures",
          f"sum by ({BY_SIGNIN}) (increase(identity_signins_total{{outcome=\"refused\"}}[10m])) > 20",
          "warning", "{{ $value | humanize }} refused {{ $labels.provider }} sign-ins at the "
          "{{ $labels.service }} in 10 minutes",
          "Sign-ins keep being refused: someone guessing passwords, or the identity "
          "provider's settings (keys, clock, redirect address) no longer match.", "5m"),
    alert("KohaCredentialsRefused",
          "sum by (environment, job, service) (increase(identity_refused_credentials_total"
          "{reason=\"token\"}[10m])) > 50",
          "warning", "{{ $value | humanize }} bearer tokens refused by the {{ $labels.service }} "
          "in 10 minutes",
          "Tokens fail their signature, audience or expiry checks: forged tokens, or a key "
          "rotation or clock skew at the identity provider.", "5m"),
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
    alert("KohaHostInodesAlmostOut",
          f"(\n  node_filesystem_files_free{{{FS}}}\n  /\n  node_filesystem_files{{{FS}}}\n"
          f"  < 0.05\n)\nand\nnode_filesystem_readonly{{{FS}}} == 0",
          "warning", "{{ $labels.instance }}: {{ $labels.mountpoint }} is almost out of inodes",
          "Less than 5% of the inodes of {{ $labels.mountpoint }} are free: new files (plugin "
          "packages, releases, logs) fail with space left.", "1h"),
    alert("KohaHostNetworkErrors",
          'rate(node_network_receive_errs_total{device!="lo"}[5m])\n'
          '/ rate(node_network_receive_packets_total{device!="lo"}[5m]) > 0.01\n'
          'or\nrate(node_network_transmit_errs_total{device!="lo"}[5m])\n'
          '/ rate(node_network_transmit_packets_total{device!="lo"}[5m]) > 0.01',
          "warning", "{{ $labels.instance }}: {{ $labels.device }} drops packets with errors",
          "More than 1% of the packets on {{ $labels.device }} fail to send or receive: a bad "
          "interface, driver or link.", "1h"),
    alert("KohaHostFileDescriptorsLow",
          "node_filefd_allocated / node_filefd_maximum > 0.7", "warning",
          "{{ $labels.instance }} has used {{ $value | humanizePercentage }} of its file descriptors",
          "Each plugin worker, connection and log file holds descriptors: new ones are refused "
          "when the system runs out.", "15m"),
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
    "probes.rules.yml": [{"name": "koha-probes", "rules": alerts_probes}],
    "backups.rules.yml": [{"name": "koha-backups", "rules": alerts_backups}],
    "identity.rules.yml": [{"name": "koha-identity", "rules": alerts_identity}],
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

"""Monitoring on GCP: every alert of monitoring/rules as a Cloud Monitoring PromQL alert
policy, uptime checks, e-mail notification."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pulumi_gcp as gcp
from pulumi import ComponentResource, Output, ResourceOptions

from ..components import child_opts as _opts
from ..config import StackConfig
from ..rules import alerting_rules, inline, recording_rules


def _duration(text: str | None) -> str:
    """Prometheus `for: 5m` → a Cloud Monitoring duration in seconds."""
    if not text:
        return "0s"
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    m = re.fullmatch(r"(\d+)([smhd])", str(text))
    return f"{int(m.group(1)) * units[m.group(2)]}s" if m else "0s"


@dataclass
class MonitoringArgs:
    """What Monitoring is built from."""

    config: StackConfig
    rules_dir: Path


class Monitoring(ComponentResource):
    """Cloud Monitoring: every alert of monitoring/rules as a PromQL alert policy (Managed
    Service for Prometheus evaluates them), an uptime check per host, e-mail notification.

    Creates: an e-mail notification channel; one alert policy per alerting rule, with
    its severity as a user label and its runbook as documentation, and the recording
    rules it queries written out in its query (Cloud Monitoring evaluates each policy's
    query alone: no recording rule is deployed there); an uptime check.
    """

    def __init__(self, name: str, args: MonitoringArgs,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:monitoring:Monitoring", name, None, opts)
        cfg, rules_dir = args.config, args.rules_dir
        self.channel = gcp.monitoring.NotificationChannel(
            f"{name}-email", project=cfg.project, type="email", display_name="Koha alerts",
            labels={"email_address": cfg.alert_email}, user_labels=cfg.tags,
            opts=_opts(self))
        self.policies = []
        recorded = recording_rules(rules_dir)
        for rule in alerting_rules(rules_dir):
            ann = rule.get("annotations", {})
            self.policies.append(gcp.monitoring.AlertPolicy(
                f"{name}-{rule['alert']}", project=cfg.project, display_name=rule["alert"],
                combiner="OR", notification_channels=[self.channel.name],
                user_labels={**cfg.tags, "severity": str(rule.get("labels", {}).get(
                    "severity", "warning"))},
                documentation={"content": f"{ann.get('summary', '')}\n\n"
                                          f"Runbook: {ann.get('runbook_url', '')}",
                               "mime_type": "text/markdown"},
                conditions=[{"display_name": rule["alert"],
                             "condition_prometheus_query_language": {
                                 "query": inline(rule["expr"], recorded),
                                 "duration": _duration(rule.get("for")),
                                 "evaluation_interval": "60s",
                                 "labels": {k: str(v) for k, v in
                                            rule.get("labels", {}).items()},
                                 "rule_group": "koha", "alert_rule": rule["alert"]}}],
                opts=_opts(self)))
        self.uptime = gcp.monitoring.UptimeCheckConfig(
            f"{name}-readyz", project=cfg.project, display_name=cfg.name("readyz"),
            timeout="10s", period="60s", user_labels=cfg.tags,
            http_check={"path": "/readyz", "port": 443, "use_ssl": True,
                        "validate_ssl": True},
            monitored_resource={"type": "uptime_url", "labels": {
                "project_id": cfg.project, "host": f"{cfg.name('hosts')}.example.org"}},
            opts=_opts(self))
        self.endpoint = Output.from_input(
            f"https://monitoring.googleapis.com/v1/projects/{cfg.project}/location/global/"
            "prometheus")
        self.register_outputs({"prometheus_endpoint": self.endpoint,
                               "notification_channel": self.channel.name})

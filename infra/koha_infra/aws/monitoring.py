"""Monitoring on AWS: managed Prometheus with the platform's rules, alerts by e-mail
through SNS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi_aws as aws
from pulumi import ComponentResource, Output, ResourceOptions

from ..components import child_opts as _opts
from ..config import StackConfig
from ..rules import rule_groups
from .storage import ArtifactStore


@dataclass
class MonitoringArgs:
    """What Monitoring is built from."""

    config: StackConfig
    store: ArtifactStore
    rules_dir: Path


class Monitoring(ComponentResource):
    """Managed Prometheus with the platform's rules, alerts by e-mail through SNS.

    Creates: an AMP workspace; one rule group namespace per file in monitoring/rules;
    an encrypted SNS topic with an e-mail subscription; an Alertmanager definition
    routing every alert to that topic.
    """

    def __init__(self, name: str, args: MonitoringArgs,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:monitoring:Monitoring", name, None, opts)
        cfg, store, rules_dir = args.config, args.store, args.rules_dir
        self.workspace = aws.amp.Workspace(f"{name}-prometheus", alias=cfg.name("prometheus"),
                                           tags=cfg.tags, opts=_opts(self))
        self.rule_namespaces = [
            aws.amp.RuleGroupNamespace(f"{name}-{group_name}", name=group_name,
                                       workspace_id=self.workspace.id, data=data,
                                       opts=_opts(self))
            for group_name, data in rule_groups(rules_dir)]
        self.topic = aws.sns.Topic(f"{name}-alerts", kms_master_key_id=store.key.id,
                                   tags=cfg.tags, opts=_opts(self))
        aws.sns.TopicSubscription(f"{name}-alerts-email", topic=self.topic.arn,
                                  protocol="email", endpoint=cfg.alert_email, opts=_opts(self))
        aws.amp.AlertManagerDefinition(
            f"{name}-alertmanager", workspace_id=self.workspace.id, opts=_opts(self),
            definition=Output.all(self.topic.arn, cfg.region).apply(lambda a: (
                "alertmanager_config: |\n  route:\n    receiver: sns\n"
                "    group_by: [alertname, severity]\n  receivers:\n    - name: sns\n"
                f"      sns_configs:\n        - topic_arn: {a[0]}\n"
                f"          sigv4:\n            region: {a[1]}\n")))
        self.endpoint = self.workspace.prometheus_endpoint
        self.register_outputs({"prometheus_endpoint": self.endpoint,
                               "alerts_topic": self.topic.arn})

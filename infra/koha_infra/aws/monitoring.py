"""Monitoring on AWS: managed Prometheus with the platform's rules, alerts by e-mail
through SNS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi_aws as aws
from pulumi import ComponentResource, Output, ResourceOptions

from ..components import child_opts as _opts
from ..config import StackConfig
from ..rules import rule_groups
from .identity import Identity
from .storage import ArtifactStore, service_statement


@dataclass
class MonitoringArgs:
    """What Monitoring is built from."""

    config: StackConfig
    store: ArtifactStore
    identity: Identity
    rules_dir: Path


class Monitoring(ComponentResource):
    """Managed Prometheus with the platform's rules, alerts by e-mail through SNS.

    Creates: an AMP workspace; one rule group namespace per file in monitoring/rules;
    an encrypted SNS topic with an e-mail subscription and a policy letting this
    workspace publish; an Alertmanager definition routing every alert to that topic;
    remote write into the workspace for the machine running Prometheus (the registry's
    role). :attr:`key_statement` is what the store's key policy must allow AMP (to
    publish to the encrypted topic).
    """

    def __init__(self, name: str, args: MonitoringArgs,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:monitoring:Monitoring", name, None, opts)
        cfg, store, rules_dir = args.config, args.store, args.rules_dir
        account = aws.get_caller_identity_output().account_id
        self.workspace = aws.amp.Workspace(f"{name}-prometheus", alias=cfg.name("prometheus"),
                                           tags=cfg.tags, opts=_opts(self))
        self.rule_namespaces = [
            aws.amp.RuleGroupNamespace(f"{name}-{group_name}", name=group_name,
                                       workspace_id=self.workspace.id, data=data,
                                       opts=_opts(self))
            for group_name, data in rule_groups(rules_dir)]
        self.topic = aws.sns.Topic(f"{name}-alerts", kms_master_key_id=store.key.id,
                                   tags=cfg.tags, opts=_opts(self))
        aws.sns.TopicPolicy(
            f"{name}-alerts", arn=self.topic.arn, opts=_opts(self),
            policy=Output.all(self.topic.arn, self.workspace.arn, account).apply(
                lambda a: json.dumps({"Version": "2012-10-17", "Statement": [
                    service_statement("ManagedPrometheusPublishes", "aps.amazonaws.com",
                                      ["sns:Publish", "sns:GetTopicAttributes"], a[0],
                                      {"ArnEquals": {"aws:SourceArn": a[1]},
                                       "StringEquals": {"aws:SourceAccount": a[2]}})]})))
        self.key_statement = Output.all(self.workspace.arn, account).apply(
            lambda a: service_statement(
                "ManagedPrometheusPublishesAlerts", "aps.amazonaws.com",
                ["kms:GenerateDataKey*", "kms:Decrypt"], "*",
                {"ArnEquals": {"aws:SourceArn": a[0]},
                 "StringEquals": {"aws:SourceAccount": a[1]}}))
        aws.iam.RolePolicy(
            f"{name}-remote-write", role=args.identity.registry_role.id, opts=_opts(self),
            policy=self.workspace.arn.apply(lambda arn: json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": ["aps:RemoteWrite"], "Resource": arn}]})))
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

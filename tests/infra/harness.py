"""Run a stack program under Pulumi's mocks and record every resource it declares.

No Pulumi CLI and no cloud are reachable from the test machines: the mocks stand in
for the engine and the providers. Each record has the resource's type, name, inputs
(camelCase, as the engine and the policy pack see them) and its parent's type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

from koha_infra.config import parse


@dataclass
class Record:
    type: str
    name: str
    inputs: dict[str, Any]
    parent_type: str | None
    #: inputs and computed properties, as a stack policy sees them
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def tags(self) -> dict[str, str]:
        if self.type.startswith("aws:"):
            return self.inputs.get("tags") or {}
        p = self.inputs
        return {**(p.get("labels") or {}), **(p.get("userLabels") or {}),
                **((p.get("settings") or {}).get("userLabels") or {})}


class Recorder(pulumi.runtime.Mocks):
    """Answers like a provider would, with plausible computed outputs."""

    #: the Google-managed service agent each API creates (projects.ServiceIdentity)
    AGENTS = {"sqladmin.googleapis.com": "gcp-sa-cloud-sql",
              "secretmanager.googleapis.com": "gcp-sa-secretmanager",
              "storage.googleapis.com": "gs-project-accounts"}

    def __init__(self) -> None:
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}
        self.outputs: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.inputs[(args.typ, args.name)] = dict(args.inputs)
        rid = args.name  # like S3, where a bucket's id is its name
        # computed properties the way a provider fills them; what the program set wins
        state = {"arn": f"arn:mock:{args.name}", "bucket": args.name,
                 "name": args.inputs.get("name", args.name), "id": rid,
                 "address": f"{args.name}.db.internal", "port": 5432,
                 "endpoint": f"{args.name}.auth.example", "domainName": f"{args.name}.cdn",
                 "bucketRegionalDomainName": f"{args.name}.s3", "bucketDomainName":
                 f"{args.name}.s3.global", "prometheusEndpoint": f"https://{args.name}/prom",
                 "email": f"{args.name}@sa.example", "privateIp": "10.0.0.10",
                 "privateIpAddress": "10.0.1.5", "selfLink": f"self/{args.name}",
                 "secretId": args.inputs.get("secretId", args.name),
                 "keyName": args.name, "number": "123456",
                 "networkInterfaces": [{**ni, "networkIp": "10.0.2.7"}
                                       for ni in args.inputs.get("networkInterfaces", [])]}
        state = {**state, **{k: v for k, v in args.inputs.items() if k != "networkInterfaces"}}
        if args.typ == "gcp:projects/serviceIdentity:ServiceIdentity":
            agent = self.AGENTS.get(args.inputs.get("service"), "gcp-sa-unknown")
            state["email"] = f"service-123456@{agent}.iam.gserviceaccount.com"
        self.outputs[(args.typ, args.name)] = state
        return [rid, state]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {"number": "123456", "projectId": args.args.get("projectId", "p"),
                "accountId": "111122223333", "id": "c0ffee-canonical-user",
                "arn": "arn:aws:iam::111122223333:user/deploy"}


def example_config(cloud: str = "aws", environment: str = "dev", **overrides: Any) -> dict:
    base = {"cloud": cloud, "environment": environment, "owner": "Library Ops",
            "cost_center": "lib-42", "bastion_cidr": "203.0.113.0/24",
            "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA deploy",
            "alert_email": "ops@example.org",
            "marketplace_callback_urls": ["https://market.example.org/callback"],
            "host_count": 3}
    if cloud == "aws":
        base.update(region="eu-west-1", backup_region="eu-central-1",
                    lb_source_ranges=["10.0.0.0/16"], host_machine_type="t3.small",
                    host_image="ami-0123456789abcdef0", db_instance_class="db.t4g.small",
                    network="vpc-0abc", subnets=["subnet-a", "subnet-b"])
    else:
        base.update(region="europe-west1", backup_region="europe-north1", project="koha-dev",
                    host_machine_type="e2-small", host_image="debian-cloud/debian-12",
                    db_instance_class="db-custom-1-3840", network="koha-vpc",
                    subnets=["koha-private"], gcp_customer_id="C0abc123")
    return {**base, **overrides}


def run_stack(raw: dict[str, Any], rules_dir: Path) -> tuple[list[Record], dict[str, Any]]:
    """Build the stack for ``raw`` config under mocks: (resources, resolved outputs)."""
    from koha_infra import aws, gcp

    cfg = parse(raw)
    recorder = Recorder()
    monitor = MockMonitor(recorder)
    pulumi.runtime.set_mocks(recorder, preview=False, monitor=monitor)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        out = (aws if cfg.cloud == "aws" else gcp).build(cfg, rules_dir).as_dict()
        return pulumi.Output.all(**out).apply(outputs.update)

    program()
    records = []
    for urn in monitor.resources:
        qualified = urn.split("::")[2].split("$")
        typ, name = qualified[-1], urn.split("::")[3]
        if typ.startswith("pulumi:providers:") or typ == "pulumi:pulumi:Stack":
            continue
        records.append(Record(typ, name, recorder.inputs.get((typ, name), {}),
                              qualified[-2] if len(qualified) > 1 else None,
                              recorder.outputs.get((typ, name), {})))
    return records, outputs


def of_type(records, type_: str):
    """The recorded resources of one Pulumi type."""
    return [r for r in records if r.type == type_]

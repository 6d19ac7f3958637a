"""Hosts on AWS (EC2): the VMs `invoke deploy` targets, plugin host and registry on each."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_aws as aws
from pulumi import ComponentResource, Output, ResourceOptions

from ..components import child_opts as _opts
from ..components import services
from ..config import StackConfig
from .identity import Identity


@dataclass
class HostsArgs:
    """What Hosts is built from."""

    config: StackConfig
    identity: Identity


class Hosts(ComponentResource):
    """The VMs `invoke deploy` targets: plugin host and registry on each.

    Creates: a security group allowing the app port only from the load balancer ranges
    and SSH only from the bastion range; ``host_count`` instances in the private
    subnets with encrypted root volumes, IMDSv2 required, no public IP, and the deploy
    user's SSH key. The first runs the plugin host, the registry and Prometheus (as
    ``infra.inventory`` assigns them) with the registry's profile (it writes the
    buckets and remote-writes metrics); the others the host's read-only profile. The
    ``services`` tag says which.
    """

    APP_PORT = 8080

    def __init__(self, name: str, args: HostsArgs,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:compute:Hosts", name, None, opts)
        cfg, identity = args.config, args.identity
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=cfg.network, description="Koha hosts", tags=cfg.tags,
            ingress=[{"protocol": "tcp", "from_port": self.APP_PORT, "to_port": self.APP_PORT,
                      "cidr_blocks": cfg.lb_source_ranges, "description": "load balancer"},
                     {"protocol": "tcp", "from_port": 22, "to_port": 22,
                      "cidr_blocks": [cfg.bastion_cidr], "description": "SSH from bastion"}],
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0,
                     "cidr_blocks": ["0.0.0.0/0"], "description": "updates, registry"}],
            opts=_opts(self))
        key = aws.ec2.KeyPair(f"{name}-deploy", public_key=cfg.ssh_public_key, tags=cfg.tags,
                              opts=_opts(self))
        self.instances = [
            aws.ec2.Instance(
                f"{name}-{i}", ami=cfg.host_image, instance_type=cfg.host_machine_type,
                subnet_id=cfg.subnets[i % len(cfg.subnets)],
                vpc_security_group_ids=[self.security_group.id],
                iam_instance_profile=(identity.registry_profile if i == 0
                                      else identity.host_profile).name,
                key_name=key.key_name,
                associate_public_ip_address=False,
                metadata_options={"http_tokens": "required", "http_endpoint": "enabled"},
                root_block_device={"encrypted": True, "volume_type": "gp3",
                                   "volume_size": 20},
                tags={**cfg.tags, "Name": cfg.name(f"host-{i}"),
                      "services": services(i)},
                opts=_opts(self))
            for i in range(cfg.host_count)]
        self.private_ips = Output.all(*(i.private_ip for i in self.instances))
        self.register_outputs({"private_ips": self.private_ips})

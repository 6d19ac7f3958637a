"""Hosts on GCP (Compute Engine): the VMs `invoke deploy` targets."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_gcp as gcp
from pulumi import ComponentResource, Output, ResourceOptions

from ..components import child_opts as _opts
from ..components import services
from ..config import StackConfig
from .identity import Identity

#: Where Google's load balancers and health checks connect from.
GOOGLE_LB_RANGES = ["130.211.0.0/22", "35.191.0.0/16"]


@dataclass
class HostsArgs:
    """What Hosts is built from."""

    config: StackConfig
    identity: Identity


class Hosts(ComponentResource):
    """The VMs `invoke deploy` targets.

    Creates: firewall rules admitting the app port only from Google's load balancer
    ranges and SSH only from the bastion range, for instances tagged ``koha-host``;
    ``host_count`` instances spread over the region's zones (koha_infra/regions.py),
    with no external IP, Shielded VM, and the deploy user's SSH key in the instance's
    metadata (project-wide keys blocked; OS Login off, since with it on GCE ignores
    metadata keys and the deploy could not log in). The first runs the plugin host,
    the registry and Prometheus (as ``infra.inventory`` assigns them) with the
    registry's service account; the others the host's. The ``services`` label says
    which.
    """

    APP_PORT = 8080

    def __init__(self, name: str, args: HostsArgs,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:compute:Hosts", name, None, opts)
        cfg, identity = args.config, args.identity
        tag = f"{cfg.name_prefix}-{cfg.environment}-host"
        gcp.compute.Firewall(f"{name}-app", project=cfg.project, network=cfg.network,
                             direction="INGRESS", target_tags=[tag],
                             source_ranges=cfg.lb_source_ranges or GOOGLE_LB_RANGES,
                             allows=[{"protocol": "tcp", "ports": [str(self.APP_PORT)]}],
                             opts=_opts(self))
        gcp.compute.Firewall(f"{name}-ssh", project=cfg.project, network=cfg.network,
                             direction="INGRESS", target_tags=[tag],
                             source_ranges=[cfg.bastion_cidr],
                             allows=[{"protocol": "tcp", "ports": ["22"]}], opts=_opts(self))
        self.instances = [
            gcp.compute.Instance(
                f"{name}-{i}", project=cfg.project, zone=cfg.zones[i % len(cfg.zones)],
                machine_type=cfg.host_machine_type, tags=[tag],
                labels={**cfg.tags, "services": services(i)},
                boot_disk={"initialize_params": {"image": cfg.host_image, "size": 20}},
                network_interfaces=[{"network": cfg.network,
                                     "subnetwork": cfg.subnets[i % len(cfg.subnets)]}],
                shielded_instance_config={"enable_secure_boot": True,
                                          "enable_vtpm": True,
                                          "enable_integrity_monitoring": True},
                metadata={"enable-oslogin": "FALSE", "block-project-ssh-keys": "TRUE",
                          "ssh-keys": f"deploy:{cfg.ssh_public_key}"},
                service_account={"email": (identity.registry_account if i == 0
                                           else identity.host_account).email,
                                 "scopes": ["cloud-platform"]},
                opts=_opts(self))
            for i in range(cfg.host_count)]
        self.private_ips = Output.all(*(i.network_interfaces[0].network_ip
                                        for i in self.instances))
        self.register_outputs({"private_ips": self.private_ips})

"""The database on AWS (RDS PostgreSQL): encrypted, backed up, never public."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_aws as aws
from pulumi import ComponentResource, ResourceOptions

from ..components import child_opts as _opts
from ..config import StackConfig
from .compute import Hosts


@dataclass
class DatabaseArgs:
    """What Database is built from."""

    config: StackConfig
    hosts: Hosts


class Database(ComponentResource):
    """PostgreSQL for the host and the registry: encrypted, backed up, never public.

    Creates: a subnet group over the private subnets; a security group admitting
    PostgreSQL only from the hosts; an RDS PostgreSQL instance with storage encryption,
    automated backups, deletion protection and a final snapshot in prod, IAM auth, and a
    password managed by RDS in Secrets Manager.
    """

    def __init__(self, name: str, args: DatabaseArgs,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:database:Database", name, None, opts)
        cfg, hosts = args.config, args.hosts
        subnets = aws.rds.SubnetGroup(f"{name}-subnets", subnet_ids=cfg.subnets,
                                      tags=cfg.tags, opts=_opts(self))
        sg = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=cfg.network, description="Koha database", tags=cfg.tags,
            ingress=[{"protocol": "tcp", "from_port": 5432, "to_port": 5432,
                      "security_groups": [hosts.security_group.id],
                      "description": "PostgreSQL from the hosts"}],
            opts=_opts(self))
        self.instance = aws.rds.Instance(
            f"{name}-postgres", engine="postgres", engine_version="16",
            instance_class=cfg.db_instance_class, allocated_storage=cfg.db_storage_gb,
            db_name="koha_platform", username="koha_platform",
            manage_master_user_password=True, storage_encrypted=True,
            publicly_accessible=False, db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[sg.id], backup_retention_period=cfg.db_backup_days,
            deletion_protection=cfg.is_prod, skip_final_snapshot=not cfg.is_prod,
            final_snapshot_identifier=cfg.name("final") if cfg.is_prod else None,
            iam_database_authentication_enabled=True, multi_az=cfg.is_prod,
            auto_minor_version_upgrade=True, copy_tags_to_snapshot=True, tags=cfg.tags,
            opts=_opts(self))
        self.endpoint = self.instance.address
        self.port = self.instance.port
        self.register_outputs({"endpoint": self.endpoint, "port": self.port})

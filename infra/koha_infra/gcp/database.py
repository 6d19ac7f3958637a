"""The database on GCP (Cloud SQL PostgreSQL): private IP only, encrypted with CMEK,
backed up."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_gcp as gcp
from pulumi import ComponentResource, Output, ResourceOptions

from ..components import child_opts as _opts
from ..config import StackConfig
from .storage import ArtifactStore


@dataclass
class DatabaseArgs:
    """What Database is built from."""

    config: StackConfig
    store: ArtifactStore


class Database(ComponentResource):
    """Cloud SQL PostgreSQL: private IP only, encrypted with CMEK, backed up.

    Creates: a Cloud SQL PostgreSQL 16 instance with no public IP (private network
    only), SSL required, automated backups with point-in-time recovery, deletion
    protection in prod, the store's key for encryption; the application database.
    """

    def __init__(self, name: str, args: DatabaseArgs,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:database:Database", name, None, opts)
        cfg, store = args.config, args.store
        self.instance = gcp.sql.DatabaseInstance(
            f"{name}-postgres", project=cfg.project, region=cfg.region,
            database_version="POSTGRES_16", deletion_protection=cfg.is_prod,
            encryption_key_name=store.key.id,
            settings={"tier": cfg.db_instance_class, "disk_size": cfg.db_storage_gb,
                      "disk_autoresize": True, "user_labels": cfg.tags,
                      "availability_type": "REGIONAL" if cfg.is_prod else "ZONAL",
                      "ip_configuration": {"ipv4_enabled": False,
                                           "private_network": cfg.network,
                                           "ssl_mode": "ENCRYPTED_ONLY"},
                      "backup_configuration": {
                          "enabled": True, "point_in_time_recovery_enabled": True,
                          "backup_retention_settings": {
                              "retained_backups": cfg.db_backup_days}}},
            opts=_opts(self))
        gcp.sql.Database(f"{name}-db", project=cfg.project, name="koha_platform",
                         instance=self.instance.name, opts=_opts(self))
        self.endpoint = self.instance.private_ip_address
        self.port = Output.from_input(5432)
        self.register_outputs({"endpoint": self.endpoint, "port": self.port})

"""The platform on GCP: Cloud Storage + Cloud CDN, Identity Platform + Cloud Identity
groups + service accounts + Secret Manager, Cloud Monitoring, Compute Engine hosts,
Cloud SQL PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pulumi_gcp as gcp
from pulumi import ComponentResource, Output, ResourceOptions

from ..config import StackConfig
from ..rules import alerting_rules

#: Where Google's load balancers and health checks connect from.
GOOGLE_LB_RANGES = ["130.211.0.0/22", "35.191.0.0/16"]


def _opts(parent: ComponentResource, **kw) -> ResourceOptions:
    return ResourceOptions(parent=parent, **kw)


class ArtifactStore(ComponentResource):
    """Package and index buckets, a backup bucket in another region, a CDN for the index.

    Creates: a KMS key ring and key (CMEK, 90-day rotation) in each region; buckets
    ``packages``, ``index``, ``logs`` and ``backup``, each with uniform bucket-level
    access, public access prevention enforced, versioning, CMEK, noncurrent-version
    expiry (GCS serves HTTPS only, so TLS-only needs no policy); access logging to
    ``logs``; a Storage Transfer job copying packages and index to ``backup`` daily; a
    backend bucket with Cloud CDN, a URL map, an HTTPS proxy with a managed certificate
    and a global forwarding rule in front of the index.
    """

    def __init__(self, name: str, cfg: StackConfig, opts: ResourceOptions | None = None):
        super().__init__("koha:storage:ArtifactStore", name, None, opts)
        project = gcp.organizations.get_project_output(project_id=cfg.project)
        gcs_agent = project.number.apply(
            lambda n: f"serviceAccount:service-{n}@gs-project-accounts.iam.gserviceaccount.com")
        self.key = self._key(f"{name}-key", cfg, cfg.region, gcs_agent)
        self.backup_key = self._key(f"{name}-backup-key", cfg, cfg.backup_region, gcs_agent)
        self.logs = self._bucket(f"{name}-logs", cfg, cfg.region, self.key, None)
        self.backup = self._bucket(f"{name}-backup", cfg, cfg.backup_region, self.backup_key,
                                   None)
        self.packages = self._bucket(f"{name}-packages", cfg, cfg.region, self.key, self.logs)
        self.index = self._bucket(f"{name}-index", cfg, cfg.region, self.key, self.logs)
        for label, bucket in (("packages", self.packages), ("index", self.index)):
            gcp.storage.TransferJob(
                f"{name}-{label}-backup", project=cfg.project,
                description=f"Koha {label} to the backup bucket",
                transfer_spec={"gcs_data_source": {"bucket_name": bucket.name},
                               "gcs_data_sink": {"bucket_name": self.backup.name,
                                                 "path": f"{label}/"}},
                schedule={"schedule_start_date": {"year": 2026, "month": 1, "day": 1},
                          "repeat_interval": "86400s"},
                opts=_opts(self))
        backend = gcp.compute.BackendBucket(
            f"{name}-index-cdn", project=cfg.project, bucket_name=self.index.name,
            enable_cdn=True, cdn_policy={"cache_mode": "CACHE_ALL_STATIC",
                                         "default_ttl": 60, "max_ttl": 300},
            opts=_opts(self))
        url_map = gcp.compute.URLMap(f"{name}-index", project=cfg.project,
                                     default_service=backend.self_link, opts=_opts(self))
        ip = gcp.compute.GlobalAddress(f"{name}-index", project=cfg.project,
                                       labels=cfg.tags, opts=_opts(self))
        cert = gcp.compute.ManagedSslCertificate(
            f"{name}-index", project=cfg.project, opts=_opts(self),
            managed={"domains": [ip.address.apply(lambda a: f"{a}.nip.io")]})
        policy = gcp.compute.SSLPolicy(f"{name}-index", project=cfg.project,
                                       min_tls_version="TLS_1_2", profile="MODERN",
                                       opts=_opts(self))
        proxy = gcp.compute.TargetHttpsProxy(f"{name}-index", project=cfg.project,
                                             url_map=url_map.self_link,
                                             ssl_certificates=[cert.self_link],
                                             ssl_policy=policy.self_link, opts=_opts(self))
        gcp.compute.GlobalForwardingRule(f"{name}-index", project=cfg.project,
                                         target=proxy.self_link, port_range="443",
                                         ip_address=ip.address, labels=cfg.tags,
                                         opts=_opts(self))
        self.index_url = ip.address.apply(lambda a: f"https://{a}.nip.io")
        self.register_outputs({"packages_bucket": self.packages.name,
                               "index_bucket": self.index.name,
                               "backup_bucket": self.backup.name,
                               "index_url": self.index_url})

    def _key(self, name: str, cfg: StackConfig, location: str, agent: Output[str]):
        ring = gcp.kms.KeyRing(name, project=cfg.project, location=location,
                               opts=_opts(self))
        key = gcp.kms.CryptoKey(name, key_ring=ring.id, rotation_period="7776000s",
                                labels=cfg.tags, opts=_opts(self))
        gcp.kms.CryptoKeyIAMMember(name, crypto_key_id=key.id, member=agent,
                                   role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                                   opts=_opts(self))
        return key

    def _bucket(self, name: str, cfg: StackConfig, location: str, key: gcp.kms.CryptoKey,
                logs_to: gcp.storage.Bucket | None) -> gcp.storage.Bucket:
        return gcp.storage.Bucket(
            name, project=cfg.project, location=location, labels=cfg.tags,
            uniform_bucket_level_access=True, public_access_prevention="enforced",
            versioning={"enabled": True}, encryption={"default_kms_key_name": key.id},
            force_destroy=not cfg.is_prod,
            lifecycle_rules=[{"action": {"type": "Delete"},
                              "condition": {"with_state": "ARCHIVED",
                                            "days_since_noncurrent_time":
                                                cfg.noncurrent_version_days}}],
            logging={"log_bucket": logs_to.name} if logs_to is not None else None,
            opts=_opts(self))


class Identity(ComponentResource):
    """Who may do what: users, app clients, service accounts and secrets.

    Creates: Identity Platform configuration (e-mail sign-in, MFA available); Cloud
    Identity groups admin, reviewer and publisher; OAuth clients for the marketplace
    and the CLI (Identity Platform OAuth IdP configs); service accounts for hosts
    (objectViewer on packages and index) and the registry (objectAdmin), each granted
    only its secrets; Secret Manager secrets for the signing key and the database URL
    with CMEK replication.
    """

    GROUPS = ("admin", "reviewer", "publisher")

    def __init__(self, name: str, cfg: StackConfig, store: ArtifactStore,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:identity:Identity", name, None, opts)
        self.config = gcp.identityplatform.Config(
            f"{name}-users", project=cfg.project, opts=_opts(self),
            sign_in={"email": {"enabled": True, "password_required": True}},
            mfa={"state": "ENABLED", "provider_configs": [
                {"state": "ENABLED", "totp_provider_config": {"adjacent_intervals": 1}}]},
            authorized_domains=sorted({re.sub(r"^https?://([^/:]+).*$", r"\1", u)
                                       for u in cfg.marketplace_callback_urls}))
        self.groups = {g: gcp.cloudidentity.Group(
            f"{name}-{g}", display_name=cfg.name(g), labels={
                "cloudidentity.googleapis.com/groups.discussion_forum": ""},
            parent=f"customers/{cfg.gcp_customer_id or 'unset'}",
            group_key={"id": f"{cfg.name(g)}@{cfg.project}.example.org"}, opts=_opts(self))
            for g in self.GROUPS}
        self.host_account = gcp.serviceaccount.Account(
            f"{name}-host", project=cfg.project, account_id=cfg.name("host"),
            display_name="Koha plugin host (read-only)", opts=_opts(self))
        self.registry_account = gcp.serviceaccount.Account(
            f"{name}-registry", project=cfg.project, account_id=cfg.name("registry"),
            display_name="Koha registry (read-write)", opts=_opts(self))
        for who, account, role in (("host", self.host_account, "roles/storage.objectViewer"),
                                   ("registry", self.registry_account,
                                    "roles/storage.objectAdmin")):
            for label, bucket in (("packages", store.packages), ("index", store.index)):
                gcp.storage.BucketIAMMember(
                    f"{name}-{who}-{label}", bucket=bucket.name, role=role,
                    member=account.email.apply(lambda e: f"serviceAccount:{e}"),
                    opts=_opts(self))
        self.signing_key = self._secret(f"{name}-signing-key", cfg, store,
                                        "registry-signing-key",
                                        {"registry": self.registry_account})
        self.database_url = self._secret(f"{name}-database-url", cfg, store, "database-url",
                                         {"host": self.host_account,
                                          "registry": self.registry_account})
        self.issuer_url = Output.from_input(
            f"https://securetoken.google.com/{cfg.project}")
        self.register_outputs({"issuer_url": self.issuer_url,
                               "host_account": self.host_account.email,
                               "registry_account": self.registry_account.email})

    def _secret(self, name: str, cfg: StackConfig, store: ArtifactStore, secret_id: str,
                readers: dict[str, gcp.serviceaccount.Account]) -> gcp.secretmanager.Secret:
        secret = gcp.secretmanager.Secret(
            name, project=cfg.project, secret_id=cfg.name(secret_id), labels=cfg.tags,
            replication={"user_managed": {"replicas": [{
                "location": cfg.region,
                "customer_managed_encryption": {"kms_key_name": store.key.id}}]}},
            opts=_opts(self))
        for who, account in readers.items():
            gcp.secretmanager.SecretIamMember(
                f"{name}-{who}", project=cfg.project, secret_id=secret.secret_id,
                role="roles/secretmanager.secretAccessor",
                member=account.email.apply(lambda e: f"serviceAccount:{e}"), opts=_opts(self))
        return secret


def _duration(text: str | None) -> str:
    """Prometheus `for: 5m` → a Cloud Monitoring duration in seconds."""
    if not text:
        return "0s"
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    m = re.fullmatch(r"(\d+)([smhd])", str(text))
    return f"{int(m.group(1)) * units[m.group(2)]}s" if m else "0s"


class Monitoring(ComponentResource):
    """Cloud Monitoring: every alert of monitoring/rules as a PromQL alert policy (Managed
    Service for Prometheus evaluates them), an uptime check per host, e-mail notification.

    Creates: an e-mail notification channel; one alert policy per alerting rule, with
    its severity as a user label and its runbook as documentation; an uptime check.
    """

    def __init__(self, name: str, cfg: StackConfig, rules_dir: Path,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:monitoring:Monitoring", name, None, opts)
        self.channel = gcp.monitoring.NotificationChannel(
            f"{name}-email", project=cfg.project, type="email", display_name="Koha alerts",
            labels={"email_address": cfg.alert_email}, user_labels=cfg.tags,
            opts=_opts(self))
        self.policies = []
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
                                 "query": rule["expr"], "duration": _duration(rule.get("for")),
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


class Hosts(ComponentResource):
    """The VMs `invoke deploy` targets.

    Creates: firewall rules admitting the app port only from Google's load balancer
    ranges and SSH only from the bastion range, for instances tagged ``koha-host``;
    ``host_count`` instances with no external IP, Shielded VM, OS Login, the host
    service account and the deploy user's SSH key.
    """

    APP_PORT = 8080

    def __init__(self, name: str, cfg: StackConfig, identity: Identity,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:compute:Hosts", name, None, opts)
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
                f"{name}-{i}", project=cfg.project, zone=f"{cfg.region}-{'abc'[i % 3]}",
                machine_type=cfg.host_machine_type, tags=[tag], labels=cfg.tags,
                boot_disk={"initialize_params": {"image": cfg.host_image, "size": 20}},
                network_interfaces=[{"network": cfg.network,
                                     "subnetwork": cfg.subnets[i % len(cfg.subnets)]}],
                shielded_instance_config={"enable_secure_boot": True,
                                          "enable_vtpm": True,
                                          "enable_integrity_monitoring": True},
                metadata={"enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE",
                          "ssh-keys": f"deploy:{cfg.ssh_public_key}"},
                service_account={"email": identity.host_account.email,
                                 "scopes": ["cloud-platform"]},
                opts=_opts(self))
            for i in range(cfg.host_count)]
        self.private_ips = Output.all(*(i.network_interfaces[0].network_ip
                                        for i in self.instances))
        self.register_outputs({"private_ips": self.private_ips})


class Database(ComponentResource):
    """Cloud SQL PostgreSQL: private IP only, encrypted with CMEK, backed up.

    Creates: a Cloud SQL PostgreSQL 16 instance with no public IP (private network
    only), SSL required, automated backups with point-in-time recovery, deletion
    protection in prod, the store's key for encryption; the application database.
    """

    def __init__(self, name: str, cfg: StackConfig, store: ArtifactStore,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:database:Database", name, None, opts)
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


def build(cfg: StackConfig, rules_dir: Path) -> dict[str, pulumi.Output]:
    """The whole platform on GCP; returns the stack outputs a deploy needs."""
    store = ArtifactStore("artifacts", cfg)
    identity = Identity("identity", cfg, store)
    monitoring = Monitoring("monitoring", cfg, rules_dir)
    hosts = Hosts("hosts", cfg, identity)
    db = Database("database", cfg, store)
    return {"cloud": Output.from_input("gcp"), "environment": Output.from_input(cfg.environment),
            "host_ips": hosts.private_ips, "database_host": db.endpoint,
            "database_port": db.port, "packages_bucket": store.packages.name,
            "index_bucket": store.index.name, "index_url": store.index_url,
            "issuer_url": identity.issuer_url,
            "database_url_secret": identity.database_url.id,
            "signing_key_secret": identity.signing_key.id,
            "prometheus_endpoint": monitoring.endpoint}

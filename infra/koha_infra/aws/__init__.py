"""The platform on AWS: S3 + CloudFront, Cognito + IAM + Secrets Manager, AMP + SNS,
EC2 hosts, RDS PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_aws as aws
from pulumi import ComponentResource, Output, ResourceOptions

from ..config import StackConfig
from ..rules import rule_groups


def _opts(parent: ComponentResource, **kw) -> ResourceOptions:
    return ResourceOptions(parent=parent, **kw)


def tls_only_policy(bucket_arn: Output[str]) -> Output[str]:
    return bucket_arn.apply(lambda arn: json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
                       "Action": "s3:*", "Resource": [arn, f"{arn}/*"],
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))


class ArtifactStore(ComponentResource):
    """Package and index buckets, a replicated backup bucket and a CDN for the index.

    Creates: a KMS key; buckets ``packages``, ``index``, ``logs`` and ``backup`` (in
    ``backup_region``), each with versioning, KMS encryption, all public access blocked,
    a TLS-only policy and noncurrent-version expiry; access logging to ``logs``;
    replication of packages and index to ``backup``; a CloudFront distribution with an
    origin access control in front of the index.
    """

    def __init__(self, name: str, cfg: StackConfig, opts: ResourceOptions | None = None):
        super().__init__("koha:storage:ArtifactStore", name, None, opts)
        tags = cfg.tags
        self.key = aws.kms.Key(f"{name}-key", description="Koha artifact store",
                               enable_key_rotation=True, deletion_window_in_days=30,
                               tags=tags, opts=_opts(self))
        backup_provider = aws.Provider(f"{name}-backup-region", region=cfg.backup_region,
                                       opts=_opts(self))
        self.backup_key = aws.kms.Key(f"{name}-backup-key", enable_key_rotation=True,
                                      description="Koha artifact store backups", tags=tags,
                                      opts=_opts(self, provider=backup_provider))
        self.logs = self._bucket(f"{name}-logs", cfg, self.key, logs_to=None)
        self.backup = self._bucket(f"{name}-backup", cfg, self.backup_key, logs_to=None,
                                   provider=backup_provider)
        self.packages = self._bucket(f"{name}-packages", cfg, self.key, logs_to=self.logs)
        self.index = self._bucket(f"{name}-index", cfg, self.key, logs_to=self.logs)
        role = aws.iam.Role(f"{name}-replication", tags=tags, opts=_opts(self),
                            assume_role_policy=json.dumps({
                                "Version": "2012-10-17", "Statement": [{
                                    "Effect": "Allow", "Action": "sts:AssumeRole",
                                    "Principal": {"Service": "s3.amazonaws.com"}}]}))
        aws.iam.RolePolicy(f"{name}-replication", role=role.id, opts=_opts(self),
                           policy=Output.all(self.packages.arn, self.index.arn,
                                             self.backup.arn, self.key.arn,
                                             self.backup_key.arn).apply(_replication_policy))
        for label, bucket in (("packages", self.packages), ("index", self.index)):
            aws.s3.BucketReplicationConfig(
                f"{name}-{label}-replication", bucket=bucket.id, role=role.arn,
                rules=[{"id": "backup", "status": "Enabled", "filter": {"prefix": ""},
                        "delete_marker_replication": {"status": "Enabled"},
                        "source_selection_criteria": {"sse_kms_encrypted_objects": {
                            "status": "Enabled"}},
                        "destination": {"bucket": self.backup.arn,
                                        "encryption_configuration": {
                                            "replica_kms_key_id": self.backup_key.arn}}}],
                opts=_opts(self, depends_on=[bucket]))
        oac = aws.cloudfront.OriginAccessControl(
            f"{name}-index-oac", origin_access_control_origin_type="s3",
            signing_behavior="always", signing_protocol="sigv4", opts=_opts(self))
        self.cdn = aws.cloudfront.Distribution(
            f"{name}-index-cdn", enabled=True, is_ipv6_enabled=True, tags=tags,
            comment="Koha plugin index (read path)", price_class="PriceClass_100",
            origins=[{"origin_id": "index", "domain_name": self.index.bucket_regional_domain_name,
                      "origin_access_control_id": oac.id}],
            default_cache_behavior={
                "target_origin_id": "index", "viewer_protocol_policy": "https-only",
                "allowed_methods": ["GET", "HEAD"], "cached_methods": ["GET", "HEAD"],
                # the managed CachingOptimized policy
                "cache_policy_id": "658327ea-f89d-4fab-a63d-7e88639e58f6",
                "compress": True},
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate={"cloudfront_default_certificate": True,
                                "minimum_protocol_version": "TLSv1.2_2021"},
            logging_config={"bucket": self.logs.bucket_domain_name, "prefix": "cdn/"},
            opts=_opts(self))
        self.index_url = self.cdn.domain_name.apply(lambda d: f"https://{d}")
        self.register_outputs({"packages_bucket": self.packages.bucket,
                               "index_bucket": self.index.bucket,
                               "backup_bucket": self.backup.bucket,
                               "index_url": self.index_url})

    def _bucket(self, name: str, cfg: StackConfig, key: aws.kms.Key,
                logs_to: aws.s3.Bucket | None,
                provider: aws.Provider | None = None) -> aws.s3.Bucket:
        o = _opts(self, provider=provider) if provider else _opts(self)
        bucket = aws.s3.Bucket(name, force_destroy=not cfg.is_prod, tags=cfg.tags, opts=o)
        aws.s3.BucketVersioning(name, bucket=bucket.id,
                                versioning_configuration={"status": "Enabled"}, opts=o)
        aws.s3.BucketServerSideEncryptionConfiguration(
            name, bucket=bucket.id, opts=o,
            rules=[{"apply_server_side_encryption_by_default": {
                "sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
                "bucket_key_enabled": True}])
        aws.s3.BucketPublicAccessBlock(name, bucket=bucket.id, block_public_acls=True,
                                       block_public_policy=True, ignore_public_acls=True,
                                       restrict_public_buckets=True, opts=o)
        aws.s3.BucketPolicy(name, bucket=bucket.id, policy=tls_only_policy(bucket.arn),
                            opts=o)
        aws.s3.BucketLifecycleConfiguration(
            name, bucket=bucket.id, opts=o,
            rules=[{"id": "expire-noncurrent", "status": "Enabled", "filter": {},
                    "noncurrent_version_expiration": {
                        "noncurrent_days": cfg.noncurrent_version_days}}])
        if logs_to is not None:
            aws.s3.BucketLogging(name, bucket=bucket.id, target_bucket=logs_to.id,
                                 target_prefix=f"{name}/", opts=o)
        return bucket


def _replication_policy(args: list[str]) -> str:
    packages, index, backup, key, backup_key = args
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
         "Resource": [packages, index]},
        {"Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication",
                                       "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
         "Resource": [f"{packages}/*", f"{index}/*"]},
        {"Effect": "Allow", "Action": ["s3:ReplicateObject", "s3:ReplicateDelete",
                                       "s3:ReplicateTags"], "Resource": f"{backup}/*"},
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key},
        {"Effect": "Allow", "Action": ["kms:Encrypt"], "Resource": backup_key}]})


def _bucket_access_policy(args: list[str], write: bool) -> str:
    packages, index, key, *secrets = args
    actions = ["s3:GetObject", "s3:ListBucket"]
    if write:
        actions += ["s3:PutObject", "s3:DeleteObject"]
    kms = ["kms:Decrypt"] + (["kms:Encrypt", "kms:GenerateDataKey"] if write else [])
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions,
         "Resource": [packages, f"{packages}/*", index, f"{index}/*"]},
        {"Effect": "Allow", "Action": kms, "Resource": key},
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
         "Resource": secrets}]})


class Identity(ComponentResource):
    """Who may do what: users, app clients, machine roles and secrets.

    Creates: a Cognito user pool (strong password policy, MFA optional, deletion
    protection in prod) with groups admin, reviewer and publisher; app clients for the
    marketplace (authorization code + PKCE, callback URLs from config) and the CLI
    (public, PKCE); IAM roles and instance profiles for hosts (read-only on the artifact
    store) and the registry (read-write); Secrets Manager secrets for the signing key
    and the database URL, encrypted with the store's KMS key.
    """

    GROUPS = ("admin", "reviewer", "publisher")

    def __init__(self, name: str, cfg: StackConfig, store: ArtifactStore,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:identity:Identity", name, None, opts)
        tags = cfg.tags
        self.pool = aws.cognito.UserPool(
            f"{name}-users", name=cfg.name("users"), tags=tags, mfa_configuration="OPTIONAL",
            software_token_mfa_configuration={"enabled": True},
            deletion_protection="ACTIVE" if cfg.is_prod else "INACTIVE",
            password_policy={"minimum_length": 12, "require_lowercase": True,
                             "require_numbers": True, "require_symbols": False,
                             "require_uppercase": True, "temporary_password_validity_days": 3},
            auto_verified_attributes=["email"], username_attributes=["email"],
            opts=_opts(self))
        self.groups = {g: aws.cognito.UserGroup(f"{name}-{g}", name=g,
                                                user_pool_id=self.pool.id, opts=_opts(self))
                       for g in self.GROUPS}
        common = {"user_pool_id": self.pool.id, "allowed_oauth_flows": ["code"],
                  "allowed_oauth_flows_user_pool_client": True,
                  "allowed_oauth_scopes": ["openid", "email", "profile"],
                  "supported_identity_providers": ["COGNITO"],
                  "prevent_user_existence_errors": "ENABLED"}
        self.marketplace_client = aws.cognito.UserPoolClient(
            f"{name}-marketplace", name="marketplace", generate_secret=True,
            callback_urls=cfg.marketplace_callback_urls, opts=_opts(self), **common)
        self.cli_client = aws.cognito.UserPoolClient(
            f"{name}-cli", name="cli", generate_secret=False,
            callback_urls=["http://localhost:8765/callback"], opts=_opts(self), **common)
        self.signing_key = aws.secretsmanager.Secret(
            f"{name}-signing-key", name=cfg.name("registry-signing-key"),
            kms_key_id=store.key.arn, tags=tags, opts=_opts(self))
        self.database_url = aws.secretsmanager.Secret(
            f"{name}-database-url", name=cfg.name("database-url"),
            kms_key_id=store.key.arn, tags=tags, opts=_opts(self))
        self.host_role, self.host_profile = self._role(
            f"{name}-host", cfg, store, write=False, secrets=[self.database_url])
        self.registry_role, self.registry_profile = self._role(
            f"{name}-registry", cfg, store, write=True,
            secrets=[self.database_url, self.signing_key])
        self.issuer_url = self.pool.endpoint.apply(lambda e: f"https://{e}")
        self.register_outputs({"issuer_url": self.issuer_url,
                               "marketplace_client_id": self.marketplace_client.id,
                               "cli_client_id": self.cli_client.id,
                               "host_role": self.host_role.arn,
                               "registry_role": self.registry_role.arn})

    def _role(self, name: str, cfg: StackConfig, store: ArtifactStore, write: bool,
              secrets: list[aws.secretsmanager.Secret]):
        role = aws.iam.Role(name, tags=cfg.tags, opts=_opts(self),
                            assume_role_policy=json.dumps({
                                "Version": "2012-10-17", "Statement": [{
                                    "Effect": "Allow", "Action": "sts:AssumeRole",
                                    "Principal": {"Service": "ec2.amazonaws.com"}}]}))
        aws.iam.RolePolicy(name, role=role.id, opts=_opts(self), policy=Output.all(
            store.packages.arn, store.index.arn, store.key.arn, *(s.arn for s in secrets)
        ).apply(lambda a: _bucket_access_policy(a, write)))
        profile = aws.iam.InstanceProfile(name, role=role.name, tags=cfg.tags,
                                          opts=_opts(self))
        return role, profile


class Monitoring(ComponentResource):
    """Managed Prometheus with the platform's rules, alerts by e-mail through SNS.

    Creates: an AMP workspace; one rule group namespace per file in monitoring/rules;
    an encrypted SNS topic with an e-mail subscription; an Alertmanager definition
    routing every alert to that topic.
    """

    def __init__(self, name: str, cfg: StackConfig, store: ArtifactStore,
                 rules_dir: Path, opts: ResourceOptions | None = None):
        super().__init__("koha:monitoring:Monitoring", name, None, opts)
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


class Hosts(ComponentResource):
    """The VMs `invoke deploy` targets: plugin host and registry on each.

    Creates: a security group allowing the app port only from the load balancer ranges
    and SSH only from the bastion range; ``host_count`` instances in the private
    subnets with encrypted root volumes, IMDSv2 required, no public IP, the host
    instance profile, and the deploy user's SSH key.
    """

    APP_PORT = 8080

    def __init__(self, name: str, cfg: StackConfig, identity: Identity,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:compute:Hosts", name, None, opts)
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
                iam_instance_profile=identity.host_profile.name, key_name=key.key_name,
                associate_public_ip_address=False,
                metadata_options={"http_tokens": "required", "http_endpoint": "enabled"},
                root_block_device={"encrypted": True, "volume_type": "gp3",
                                   "volume_size": 20},
                tags={**cfg.tags, "Name": cfg.name(f"host-{i}"), "role": "plugin-host"},
                opts=_opts(self))
            for i in range(cfg.host_count)]
        self.private_ips = Output.all(*(i.private_ip for i in self.instances))
        self.register_outputs({"private_ips": self.private_ips})


class Database(ComponentResource):
    """PostgreSQL for the host and the registry: encrypted, backed up, never public.

    Creates: a subnet group over the private subnets; a security group admitting
    PostgreSQL only from the hosts; an RDS PostgreSQL instance with storage encryption,
    automated backups, deletion protection and a final snapshot in prod, IAM auth, and a
    password managed by RDS in Secrets Manager.
    """

    def __init__(self, name: str, cfg: StackConfig, hosts: Hosts,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:database:Database", name, None, opts)
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


def build(cfg: StackConfig, rules_dir: Path) -> dict[str, pulumi.Output]:
    """The whole platform on AWS; returns the stack outputs a deploy needs."""
    store = ArtifactStore("artifacts", cfg)
    identity = Identity("identity", cfg, store)
    monitoring = Monitoring("monitoring", cfg, store, rules_dir)
    hosts = Hosts("hosts", cfg, identity)
    db = Database("database", cfg, hosts)
    return {"cloud": Output.from_input("aws"), "environment": Output.from_input(cfg.environment),
            "host_ips": hosts.private_ips, "database_host": db.endpoint,
            "database_port": db.port, "packages_bucket": store.packages.bucket,
            "index_bucket": store.index.bucket, "index_url": store.index_url,
            "issuer_url": identity.issuer_url,
            "database_url_secret": identity.database_url.arn,
            "signing_key_secret": identity.signing_key.arn,
            "prometheus_endpoint": monitoring.endpoint}

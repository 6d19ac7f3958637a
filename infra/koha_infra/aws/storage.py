"""The artifact store on AWS (S3 + CloudFront): package and index buckets, a replicated
backup bucket and a CDN for the index."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi_aws as aws
from pulumi import ComponentResource, Output, ResourceOptions

from ..components import child_opts as _opts
from ..config import StackConfig

#: the canonical user of CloudFront's log delivery account (awslogsdelivery), which
#: standard logging writes as: https://docs.aws.amazon.com/AmazonCloudFront/latest/
#: DeveloperGuide/standard-logging-legacy-s3.html
CLOUDFRONT_LOG_DELIVERY = "c4c1ede66af53448b93c283ce9448c4ba468c9432aa01d700d3878632f77d2d0"


def tls_only_policy(bucket_arn: Output[str], *extra: Output[dict] | dict) -> Output[str]:
    """The bucket's policy: TLS only, plus ``extra`` statements (service principals)."""
    return Output.all(bucket_arn, *extra).apply(lambda a: json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
                       "Action": "s3:*", "Resource": [a[0], f"{a[0]}/*"],
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}, *a[1:]]}))


def service_statement(sid: str, service: str, actions: list[str], resource: object,
                      condition: dict | None = None) -> dict:
    out = {"Sid": sid, "Effect": "Allow", "Principal": {"Service": service},
           "Action": actions, "Resource": resource}
    if condition:
        out["Condition"] = condition
    return out


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


@dataclass
class ArtifactStoreArgs:
    """What ArtifactStore is built from."""

    config: StackConfig


class ArtifactStore(ComponentResource):
    """Package and index buckets, a replicated backup bucket and a CDN for the index.

    Creates: a KMS key; buckets ``packages``, ``index``, ``logs`` and ``backup`` (in
    ``backup_region``), each with versioning, KMS encryption, all public access blocked,
    a TLS-only policy and noncurrent-version expiry; access logging to ``logs`` (whose
    policy and key let S3's log delivery write, and whose ACLs stay enabled for
    CloudFront's standard logging, which writes through them); replication of packages
    and index to ``backup``; a CloudFront distribution with an origin access control in
    front of the index (the index's policy and key let only that distribution read).
    :meth:`key_policy` seals the key's policy once every service using it is known.
    """

    def __init__(self, name: str, args: ArtifactStoreArgs,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:storage:ArtifactStore", name, None, opts)
        cfg = args.config
        tags = cfg.tags
        self.key = aws.kms.Key(f"{name}-key", description="Koha artifact store",
                               enable_key_rotation=True, deletion_window_in_days=30,
                               tags=tags, opts=_opts(self))
        backup_provider = aws.Provider(f"{name}-backup-region", region=cfg.backup_region,
                                       opts=_opts(self))
        self.backup_key = aws.kms.Key(f"{name}-backup-key", enable_key_rotation=True,
                                      description="Koha artifact store backups", tags=tags,
                                      opts=_opts(self, provider=backup_provider))
        self.name_ = name
        self.account = aws.get_caller_identity_output().account_id
        self.logs = self._bucket(f"{name}-logs", cfg, self.key, logs_to=None, purpose="logs",
                                 policy=False)
        self.backup = self._bucket(f"{name}-backup", cfg, self.backup_key, logs_to=None,
                                   provider=backup_provider, purpose="backup")
        self.packages = self._bucket(f"{name}-packages", cfg, self.key, logs_to=self.logs,
                                     purpose="packages")
        self.index = self._bucket(f"{name}-index", cfg, self.key, logs_to=self.logs,
                                  purpose="index", policy=False)
        # S3 access logs and CloudFront logs land in `logs`: S3's log delivery writes
        # under the bucket policy; CloudFront's (legacy standard logging) writes through
        # the bucket's ACL, which BucketOwnerEnforced (the default) would disable
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-logs", bucket=self.logs.id,
            rule={"object_ownership": "BucketOwnerPreferred"}, opts=_opts(self))
        owner = aws.s3.get_canonical_user_id_output().id
        aws.s3.BucketAcl(
            f"{name}-logs", bucket=self.logs.id, opts=_opts(self, depends_on=[ownership]),
            access_control_policy={
                "owner": {"id": owner},
                "grants": [{"grantee": {"type": "CanonicalUser", "id": owner},
                            "permission": "FULL_CONTROL"},
                           {"grantee": {"type": "CanonicalUser",
                                        "id": CLOUDFRONT_LOG_DELIVERY},
                            "permission": "FULL_CONTROL"}]})
        aws.s3.BucketPolicy(f"{name}-logs", bucket=self.logs.id, opts=_opts(self),
                            policy=tls_only_policy(self.logs.arn, Output.all(
                                self.logs.arn, self.account).apply(lambda a: service_statement(
                                    "S3AccessLogs", "logging.s3.amazonaws.com",
                                    ["s3:PutObject"], f"{a[0]}/*",
                                    {"StringEquals": {"aws:SourceAccount": a[1]}}))))
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
        # only this distribution reads the index (origin access control)
        aws.s3.BucketPolicy(f"{name}-index", bucket=self.index.id, opts=_opts(self),
                            policy=tls_only_policy(self.index.arn, Output.all(
                                self.index.arn, self.cdn.arn).apply(lambda a: service_statement(
                                    "CloudFrontReadsIndex", "cloudfront.amazonaws.com",
                                    ["s3:GetObject"], f"{a[0]}/*",
                                    {"StringEquals": {"AWS:SourceArn": a[1]}}))))
        self.index_url = self.cdn.domain_name.apply(lambda d: f"https://{d}")
        self.register_outputs({"packages_bucket": self.packages.bucket,
                               "index_bucket": self.index.bucket,
                               "backup_bucket": self.backup.bucket,
                               "index_url": self.index_url})

    def key_policy(self, *service_statements: Output[dict] | dict) -> aws.kms.KeyPolicy:
        """The key's policy: the account administers it (IAM policies then grant roles),
        and each AWS service that uses data under it on our behalf may: CloudFront
        reading the index (this distribution only), log delivery for CloudFront and S3
        access logs, and ``service_statements`` from other components (the managed
        Prometheus publishing to the encrypted alert topic)."""
        statements = Output.all(self.account, self.cdn.arn, *service_statements).apply(
            lambda a: json.dumps({"Version": "2012-10-17", "Statement": [
                {"Sid": "AccountAdministers", "Effect": "Allow",
                 "Principal": {"AWS": f"arn:aws:iam::{a[0]}:root"}, "Action": "kms:*",
                 "Resource": "*"},
                service_statement("CloudFrontReadsIndex", "cloudfront.amazonaws.com",
                                  ["kms:Decrypt"], "*",
                                  {"StringEquals": {"AWS:SourceArn": a[1]}}),
                service_statement("CloudFrontLogs", "delivery.logs.amazonaws.com",
                                  ["kms:GenerateDataKey*"], "*"),
                service_statement("S3AccessLogs", "logging.s3.amazonaws.com",
                                  ["kms:GenerateDataKey*"], "*",
                                  {"StringEquals": {"aws:SourceAccount": a[0]}}),
                *a[2:]]}))
        return aws.kms.KeyPolicy(f"{self.name_}-key", key_id=self.key.id, policy=statements,
                                 opts=_opts(self))

    def _bucket(self, name: str, cfg: StackConfig, key: aws.kms.Key,
                logs_to: aws.s3.Bucket | None, purpose: str,
                provider: aws.Provider | None = None, policy: bool = True) -> aws.s3.Bucket:
        o = _opts(self, provider=provider) if provider else _opts(self)
        bucket = aws.s3.Bucket(name, force_destroy=not cfg.is_prod,
                               tags={**cfg.tags, "purpose": purpose}, opts=o)
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
        if policy:  # else written by the caller, with its service statements
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

"""The platform's mandatory policies as plain functions, so tests can call them directly.

Each resource rule takes a resource type token and its input properties (camelCase, as
the Pulumi engine passes them) and returns the violations it finds; the stack rule
looks at all resources together. ``__main__.py`` wraps them into a pulumi-policy pack.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

REQUIRED_TAGS = ("project", "environment", "owner", "cost-center", "managed-by")

#: Resource types that carry tags (AWS) or labels (GCP) and so must carry ours.
TAGGED = {
    "aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:iam/role:Role",
    "aws:iam/instanceProfile:InstanceProfile", "aws:cloudfront/distribution:Distribution",
    "aws:cognito/userPool:UserPool", "aws:secretsmanager/secret:Secret",
    "aws:amp/workspace:Workspace", "aws:sns/topic:Topic", "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/keyPair:KeyPair", "aws:ec2/instance:Instance", "aws:rds/subnetGroup:SubnetGroup",
    "aws:rds/instance:Instance",
    "gcp:storage/bucket:Bucket", "gcp:kms/cryptoKey:CryptoKey",
    "gcp:compute/globalAddress:GlobalAddress",
    "gcp:compute/globalForwardingRule:GlobalForwardingRule",
    "gcp:secretmanager/secret:Secret", "gcp:monitoring/notificationChannel:NotificationChannel",
    "gcp:monitoring/alertPolicy:AlertPolicy",
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig", "gcp:compute/instance:Instance",
    "gcp:sql/databaseInstance:DatabaseInstance",
}

Props = dict[str, Any]

#: the label of the one GCS bucket everyone may read: the index a CDN serves (the stack
#: rule public-only-cdn-origins checks that a CDN does serve it)
PUBLIC_READ = "public-read"


def _doc(policy: Any) -> dict:
    if isinstance(policy, str):
        try:
            return json.loads(policy)
        except ValueError:
            return {}
    return policy if isinstance(policy, dict) else {}


def _statements(policy: Any) -> list[dict]:
    st = _doc(policy).get("Statement", [])
    return st if isinstance(st, list) else [st]


def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


S3_SSE = ("aws:s3/bucketServerSideEncryptionConfiguration:"
          "BucketServerSideEncryptionConfiguration")


def encryption_at_rest(t: str, p: Props) -> list[str]:
    if t == S3_SSE:
        rules = p.get("rules") or []
        if not rules or any((r.get("applyServerSideEncryptionByDefault") or {}).get(
                "sseAlgorithm") != "aws:kms" for r in rules):
            return ["S3 encryption must use aws:kms"]
    if t == "aws:rds/instance:Instance" and not p.get("storageEncrypted"):
        return ["RDS storage must be encrypted (storageEncrypted)"]
    if t == "aws:ec2/instance:Instance" and not (p.get("rootBlockDevice") or {}).get(
            "encrypted"):
        return ["EC2 root volumes must be encrypted"]
    if t == "aws:sns/topic:Topic" and not p.get("kmsMasterKeyId"):
        return ["SNS topics must be encrypted with KMS"]
    if t == "aws:secretsmanager/secret:Secret" and not p.get("kmsKeyId"):
        return ["secrets must use the platform's KMS key"]
    if t == "gcp:storage/bucket:Bucket" and not (p.get("encryption") or {}).get(
            "defaultKmsKeyName"):
        return ["GCS buckets must use a customer-managed key (encryption.defaultKmsKeyName)"]
    if t == "gcp:sql/databaseInstance:DatabaseInstance" and not p.get("encryptionKeyName"):
        return ["Cloud SQL must use a customer-managed key (encryptionKeyName)"]
    return []


def no_public_buckets(t: str, p: Props) -> list[str]:
    if t == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                 "restrictPublicBuckets")
        off = [f for f in flags if p.get(f) is not True]
        if off:
            return [f"public access must be blocked: {', '.join(off)} not true"]
    if t == "aws:s3/bucketAcl:BucketAcl" and str(p.get("acl", "")).startswith("public"):
        return [f"bucket ACL {p['acl']!r} is public"]
    if t == "aws:s3/bucketPolicy:BucketPolicy":
        for s in _statements(p.get("policy")):
            if s.get("Effect") == "Allow" and s.get("Principal") in ("*", {"AWS": "*"}):
                return ["bucket policy allows everyone (Principal *)"]
    if t == "gcp:storage/bucket:Bucket":
        public_read = (p.get("labels") or {}).get("access") == PUBLIC_READ
        if p.get("publicAccessPrevention") != "enforced" and not public_read:
            return ["publicAccessPrevention must be 'enforced' (or the bucket labelled "
                    f"access: {PUBLIC_READ}, for the one a CDN serves)"]
        if p.get("uniformBucketLevelAccess") is not True:
            return ["uniformBucketLevelAccess must be on (no per-object ACLs)"]
    if t in ("gcp:storage/bucketIAMMember:BucketIAMMember",
             "gcp:storage/bucketIAMBinding:BucketIAMBinding"):
        members = set(_as_list(p.get("member") or p.get("members") or []))
        if "allAuthenticatedUsers" in members:
            return ["buckets must not be granted to allAuthenticatedUsers"]
        if "allUsers" in members and p.get("role") != "roles/storage.objectViewer":
            return [f"allUsers may at most read objects (roles/storage.objectViewer), not "
                    f"{p.get('role')}"]
    return []


def bucket_versioning(t: str, p: Props) -> list[str]:
    if t == "aws:s3/bucketVersioning:BucketVersioning" and (
            p.get("versioningConfiguration") or {}).get("status") != "Enabled":
        return ["S3 versioning must be Enabled"]
    if t == "gcp:storage/bucket:Bucket" and not (p.get("versioning") or {}).get("enabled"):
        return ["GCS versioning must be enabled"]
    return []


def tls_only(t: str, p: Props) -> list[str]:
    if t == "aws:s3/bucketPolicy:BucketPolicy":
        denies = [s for s in _statements(p.get("policy")) if s.get("Effect") == "Deny"
                  and (s.get("Condition") or {}).get("Bool", {}).get(
                      "aws:SecureTransport") in ("false", False)]
        if not denies:
            return ["bucket policy must deny requests without TLS (aws:SecureTransport)"]
    if t == "aws:cloudfront/distribution:Distribution":
        behaviour = (p.get("defaultCacheBehavior") or {}).get("viewerProtocolPolicy")
        if behaviour not in ("https-only", "redirect-to-https"):
            return ["CloudFront must serve HTTPS only (viewerProtocolPolicy)"]
    if t == "gcp:sql/databaseInstance:DatabaseInstance":
        mode = ((p.get("settings") or {}).get("ipConfiguration") or {}).get("sslMode")
        if mode not in ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"):
            return ["Cloud SQL must require TLS (ipConfiguration.sslMode)"]
    if t == "gcp:compute/sSLPolicy:SSLPolicy" and p.get("minTlsVersion") not in (
            "TLS_1_2", "TLS_1_3"):
        return ["SSL policies must require TLS 1.2 or newer"]
    return []


IAM_POLICY_TYPES = {"aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy",
                    "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy"}


def no_iam_star(t: str, p: Props) -> list[str]:
    if t in IAM_POLICY_TYPES:
        for s in _statements(p.get("policy")):
            if (s.get("Effect") == "Allow" and "*" in _as_list(s.get("Action"))
                    and "*" in _as_list(s.get("Resource"))):
                return ["IAM policies must not allow action * on resource *"]
    if t in ("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding") and \
            p.get("role") in ("roles/owner", "roles/editor"):
        return [f"{p['role']} grants everything: use a narrow role"]
    return []


def tags_of(t: str, p: Props) -> dict[str, str]:
    """AWS tags, or GCP labels (on GCE instances `tags` are network tags, not labels)."""
    if t.startswith("aws:"):
        return p.get("tags") or {}
    return {**(p.get("labels") or {}), **(p.get("userLabels") or {}),
            **((p.get("settings") or {}).get("userLabels") or {})}


def required_tags(t: str, p: Props) -> list[str]:
    if t not in TAGGED:
        return []
    tags = tags_of(t, p)
    missing = [k for k in REQUIRED_TAGS if not tags.get(k)]
    return [f"missing required tags: {', '.join(missing)}"] if missing else []


def database_not_public(t: str, p: Props) -> list[str]:
    if t == "aws:rds/instance:Instance" and p.get("publiclyAccessible") is not False:
        return ["RDS must not be publicly accessible"]
    if t == "gcp:sql/databaseInstance:DatabaseInstance" and (
            (p.get("settings") or {}).get("ipConfiguration") or {}).get("ipv4Enabled") is not False:
        return ["Cloud SQL must not have a public IP (ipConfiguration.ipv4Enabled)"]
    return []


def admins_mfa(t: str, p: Props) -> list[str]:
    """The user pools hold admins, reviewers and publishers; neither cloud can require
    a second factor of one group only, so it is required of all."""
    if t == "aws:cognito/userPool:UserPool" and p.get("mfaConfiguration") != "ON":
        return ["MFA must be required (mfaConfiguration ON): admins, reviewers and "
                "publishers all sign in here"]
    if t == "gcp:identityplatform/config:Config" and (p.get("mfa") or {}).get(
            "state") != "MANDATORY":
        return ["MFA must be MANDATORY: admins, reviewers and publishers all sign in here"]
    return []


RESOURCE_RULES: dict[str, tuple[str, Callable[[str, Props], list[str]]]] = {
    "encryption-at-rest": ("Data stores and volumes are encrypted, with our keys.",
                           encryption_at_rest),
    "no-public-buckets": ("No bucket is readable or writable by the public.", no_public_buckets),
    "bucket-versioning": ("Buckets keep versions, so a bad publish can be undone.",
                          bucket_versioning),
    "tls-only": ("Data in transit is encrypted.", tls_only),
    "no-iam-star": ("No policy allows every action on every resource.", no_iam_star),
    "required-tags": ("Every taggable resource says what it is and who owns it.",
                      required_tags),
    "database-not-public": ("The database is reachable only from private networks.",
                            database_not_public),
    "admins-mfa": ("Everyone who can publish, review or administer signs in with MFA.",
                   admins_mfa),
}

S3_COMPANIONS = {
    "aws:s3/bucketVersioning:BucketVersioning": "versioning",
    S3_SSE: "encryption",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "public access block",
    "aws:s3/bucketPolicy:BucketPolicy": "TLS-only policy",
}


def s3_buckets_complete(resources: Iterable[tuple[str, str, Props]]) -> list[str]:
    """Stack rule: every S3 bucket has its versioning, encryption, public access block
    and policy resources (on AWS these are separate resources, so a per-resource rule
    cannot see that one is missing)."""
    resources = list(resources)
    buckets = {p.get("bucket") or name: name for t, name, p in resources
               if t == "aws:s3/bucket:Bucket"}
    found: dict[str, set[str]] = {b: set() for b in buckets}
    for t, _name, p in resources:
        if t in S3_COMPANIONS and p.get("bucket") in found:
            found[p["bucket"]].add(S3_COMPANIONS[t])
    return [f"bucket {buckets[b]} has no {', '.join(sorted(set(S3_COMPANIONS.values()) - f))}"
            for b, f in found.items() if set(S3_COMPANIONS.values()) - f]


def violations(resources: Iterable[tuple[str, str, Props]]) -> list[str]:
    """Every violation of every rule over a list of (type, name, props)."""
    resources = list(resources)
    out = [f"{rule}: {name}: {v}" for t, name, p in resources
           for rule, (_, fn) in RESOURCE_RULES.items() for v in fn(t, p)]
    return out + [f"s3-buckets-complete: {v}" for v in s3_buckets_complete(resources)]

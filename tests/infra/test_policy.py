"""The policy pack: each mandatory rule passes a compliant resource and rejects a
non-compliant one; the stack rule finds an S3 bucket missing its companions."""

from __future__ import annotations

import json

import pytest

from policy.rules import RESOURCE_RULES, s3_buckets_complete, violations

TAGS = {"project": "koha-platform", "environment": "dev", "owner": "ops",
        "cost-center": "lib-42", "managed-by": "pulumi"}
TLS_POLICY = json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
GCS = "gcp:storage/bucket:Bucket"
GOOD_GCS = {"encryption": {"defaultKmsKeyName": "k"}, "publicAccessPrevention": "enforced",
            "uniformBucketLevelAccess": True, "versioning": {"enabled": True}, "labels": TAGS}
GOOD_SQL = {"encryptionKeyName": "k", "settings": {"userLabels": TAGS, "ipConfiguration": {
    "ipv4Enabled": False, "sslMode": "ENCRYPTED_ONLY"}}}
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
RDS = "aws:rds/instance:Instance"
GOOD_RDS = {"storageEncrypted": True, "publiclyAccessible": False, "tags": TAGS}

# rule → [(type, compliant props, non-compliant props, expected message)]
CASES = {
    "encryption-at-rest": [
        (SSE, {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
         {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
         "aws:kms"),
        (RDS, GOOD_RDS, {**GOOD_RDS, "storageEncrypted": False}, "encrypted"),
        (GCS, GOOD_GCS, {**GOOD_GCS, "encryption": None}, "customer-managed key"),
        (SQL, GOOD_SQL, {**GOOD_SQL, "encryptionKeyName": None}, "customer-managed key"),
        ("aws:sns/topic:Topic", {"kmsMasterKeyId": "k", "tags": TAGS}, {"tags": TAGS}, "KMS"),
    ],
    "no-public-buckets": [
        ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
         dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                        "restrictPublicBuckets"), True),
         {"blockPublicAcls": True, "blockPublicPolicy": False, "ignorePublicAcls": True,
          "restrictPublicBuckets": True}, "blockPublicPolicy"),
        (GCS, GOOD_GCS, {**GOOD_GCS, "publicAccessPrevention": "inherited"}, "enforced"),
        ("gcp:storage/bucketIAMMember:BucketIAMMember", {"member": "serviceAccount:x"},
         {"member": "allUsers"}, "allUsers"),
        ("aws:s3/bucketPolicy:BucketPolicy", {"policy": TLS_POLICY},
         {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*",
                                               "Action": "s3:GetObject"}]})}, "Principal *"),
    ],
    "bucket-versioning": [
        ("aws:s3/bucketVersioning:BucketVersioning",
         {"versioningConfiguration": {"status": "Enabled"}},
         {"versioningConfiguration": {"status": "Suspended"}}, "Enabled"),
        (GCS, GOOD_GCS, {**GOOD_GCS, "versioning": {"enabled": False}}, "versioning"),
    ],
    "tls-only": [
        ("aws:s3/bucketPolicy:BucketPolicy", {"policy": TLS_POLICY},
         {"policy": json.dumps({"Statement": []})}, "aws:SecureTransport"),
        ("aws:cloudfront/distribution:Distribution",
         {"defaultCacheBehavior": {"viewerProtocolPolicy": "https-only"}, "tags": TAGS},
         {"defaultCacheBehavior": {"viewerProtocolPolicy": "allow-all"}, "tags": TAGS},
         "HTTPS only"),
        (SQL, GOOD_SQL, {**GOOD_SQL, "settings": {"userLabels": TAGS, "ipConfiguration": {
            "ipv4Enabled": False, "sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED"}}}, "TLS"),
    ],
    "no-iam-star": [
        ("aws:iam/rolePolicy:RolePolicy",
         {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"],
                                               "Resource": "arn:aws:s3:::b/*"}]})},
         {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*",
                                               "Resource": "*"}]})}, "action *"),
        ("gcp:projects/iAMMember:IAMMember", {"role": "roles/storage.objectViewer"},
         {"role": "roles/owner"}, "roles/owner"),
    ],
    "required-tags": [
        ("aws:s3/bucket:Bucket", {"tags": TAGS}, {"tags": {"project": "koha-platform"}},
         "owner"),
        ("gcp:compute/instance:Instance", {"labels": TAGS, "tags": ["koha-host"]},
         {"tags": ["koha-host"]}, "missing required tags"),
    ],
    "database-not-public": [
        (RDS, GOOD_RDS, {**GOOD_RDS, "publiclyAccessible": True}, "publicly accessible"),
        (SQL, GOOD_SQL, {**GOOD_SQL, "settings": {"userLabels": TAGS, "ipConfiguration": {
            "ipv4Enabled": True, "sslMode": "ENCRYPTED_ONLY"}}}, "public IP"),
    ],
    "admins-mfa": [
        ("aws:cognito/userPool:UserPool", {"mfaConfiguration": "ON"},
         {"mfaConfiguration": "OPTIONAL"}, "mfaConfiguration ON"),
        ("gcp:identityplatform/config:Config", {"mfa": {"state": "MANDATORY"}},
         {"mfa": {"state": "ENABLED"}}, "MANDATORY"),
    ],
}


def test_every_rule_has_cases():
    assert set(CASES) == set(RESOURCE_RULES)


@pytest.mark.parametrize(("rule", "type_", "good", "bad", "message"),
                         [(r, *c) for r, cases in CASES.items() for c in cases],
                         ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_rule_passes_compliant_and_rejects_non_compliant(rule, type_, good, bad, message):
    fn = RESOURCE_RULES[rule][1]
    assert fn(type_, good) == []
    found = fn(type_, bad)
    assert found and message in found[0], found


def test_s3_bucket_without_companions_is_rejected():
    complete = [("aws:s3/bucket:Bucket", "b", {"tags": TAGS}),
                ("aws:s3/bucketVersioning:BucketVersioning", "b",
                 {"bucket": "b", "versioningConfiguration": {"status": "Enabled"}}),
                (SSE, "b", {"bucket": "b", "rules": [
                    {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}),
                ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "b",
                 {"bucket": "b", **dict.fromkeys(("blockPublicAcls", "blockPublicPolicy",
                                                  "ignorePublicAcls", "restrictPublicBuckets"),
                                                 True)}),
                ("aws:s3/bucketPolicy:BucketPolicy", "b", {"bucket": "b", "policy": TLS_POLICY})]
    assert s3_buckets_complete(complete) == []
    assert violations(complete) == []
    lacking = [r for r in complete if r[0] != "aws:s3/bucketVersioning:BucketVersioning"]
    assert s3_buckets_complete(lacking) == ["bucket b has no versioning"]


def test_a_bad_resource_in_a_real_program_is_caught(stack):
    """The program's own output, with one secure default flipped, fails the pack."""
    records, _, _ = stack("aws")
    resources = [(r.type, r.name, dict(r.inputs)) for r in records]
    assert violations(resources) == []
    for _t, name, props in resources:
        if name == "database-postgres":
            props["publiclyAccessible"] = True
    assert violations(resources) == [
        "database-not-public: database-postgres: RDS must not be publicly accessible"]

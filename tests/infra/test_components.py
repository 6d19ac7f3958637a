"""Every component on both clouds, under Pulumi's mocks: secure defaults, names, tags,
parents and outputs. Each test looks at concrete recorded resources and first asserts
they exist, so a program that declares nothing fails instead of passing silently."""

from __future__ import annotations

import json

import pytest

from policy.rules import REQUIRED_TAGS, TAGGED, violations

from .harness import of_type

CLOUDS = ["aws", "gcp"]
COMPONENTS = {"koha:storage:ArtifactStore", "koha:identity:Identity",
              "koha:monitoring:Monitoring", "koha:compute:Hosts", "koha:database:Database"}


def one(records, type_: str, name: str):
    found = [r for r in records if r.type == type_ and r.name == name]
    assert len(found) == 1, f"{type_} {name}: found {len(found)}"
    return found[0]


@pytest.mark.parametrize("cloud", CLOUDS)
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_structure_parents_tags_and_policies(stack, cloud, env):
    records, outputs, raw = stack(cloud, env)
    components = [r for r in records if r.type.startswith("koha:")]
    assert {r.type for r in components} == COMPONENTS
    assert all(r.parent_type == "pulumi:pulumi:Stack" for r in components)
    children = [r for r in records if not r.type.startswith("koha:")]
    assert len(children) > 30
    # every cloud resource belongs to one of our components, never to the stack directly
    orphans = [(r.type, r.name) for r in children if r.parent_type not in COMPONENTS]
    assert orphans == []
    # every taggable resource carries the required tags, with the config's values
    tagged = [r for r in children if r.type in TAGGED]
    assert len(tagged) >= 10
    for r in tagged:
        assert set(REQUIRED_TAGS) <= set(r.tags), (r.type, r.name, r.tags)
        assert r.tags["environment"] == env and r.tags["managed-by"] == "pulumi"
        assert r.tags["cost-center"] == "lib-42"
    # and the whole program passes the policy pack
    assert violations((r.type, r.name, r.inputs) for r in records) == []
    # outputs carry what a deploy needs
    assert len(outputs["host_ips"]) == raw["host_count"]
    assert outputs["cloud"] == cloud and outputs["environment"] == env
    for key in ("database_host", "packages_bucket", "index_bucket", "index_url",
                "issuer_url", "database_url_secret", "signing_key_secret",
                "prometheus_endpoint", "oidc_client_secret", "oidc_token_settings"):
        assert outputs[key], key
    assert outputs["index_url"].startswith("https://")


# ---- ArtifactStore ---------------------------------------------------------------

def test_aws_artifact_store(stack):
    records, _, _ = stack("aws")
    buckets = of_type(records, "aws:s3/bucket:Bucket")
    assert sorted(b.name for b in buckets) == ["artifacts-backup", "artifacts-index",
                                               "artifacts-logs", "artifacts-packages"]
    for b in buckets:
        assert b.parent_type == "koha:storage:ArtifactStore"
        assert one(records, "aws:s3/bucketVersioning:BucketVersioning", b.name).inputs[
            "versioningConfiguration"]["status"] == "Enabled"
        sse = one(records, "aws:s3/bucketServerSideEncryptionConfiguration:"
                           "BucketServerSideEncryptionConfiguration", b.name).inputs
        default = sse["rules"][0]["applyServerSideEncryptionByDefault"]
        assert default["sseAlgorithm"] == "aws:kms" and default["kmsMasterKeyId"]
        pab = one(records, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                  b.name).inputs
        assert all(pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy",
                                            "ignorePublicAcls", "restrictPublicBuckets"))
        policy = json.loads(one(records, "aws:s3/bucketPolicy:BucketPolicy",
                                b.name).inputs["policy"])
        deny = policy["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Condition"]["Bool"] == {
            "aws:SecureTransport": "false"}
        life = one(records, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                   b.name).inputs["rules"][0]
        assert life["noncurrentVersionExpiration"]["noncurrentDays"] == 30
        assert b.inputs["forceDestroy"] is True  # dev: tear-down allowed
    logging = {r.name: r.inputs for r in of_type(records, "aws:s3/bucketLogging:BucketLogging")}
    assert set(logging) == {"artifacts-packages", "artifacts-index"}
    assert {v["targetBucket"] for v in logging.values()} == {"artifacts-logs"}
    replication = of_type(records, "aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    assert sorted(r.inputs["bucket"] for r in replication) == ["artifacts-index",
                                                               "artifacts-packages"]
    for r in replication:
        assert r.inputs["rules"][0]["destination"]["bucket"] == "arn:mock:artifacts-backup"
    cdn = one(records, "aws:cloudfront/distribution:Distribution", "artifacts-index-cdn").inputs
    assert cdn["defaultCacheBehavior"]["viewerProtocolPolicy"] == "https-only"
    assert cdn["defaultCacheBehavior"]["allowedMethods"] == ["GET", "HEAD"]
    assert cdn["origins"][0]["originAccessControlId"] == "artifacts-index-oac"
    assert one(records, "aws:kms/key:Key", "artifacts-key").inputs["enableKeyRotation"]


def test_aws_prod_keeps_buckets_on_destroy(stack):
    records, _, _ = stack("aws", "prod")
    assert all(b.inputs["forceDestroy"] is False
               for b in of_type(records, "aws:s3/bucket:Bucket"))


def test_gcp_artifact_store(stack):
    records, _, raw = stack("gcp")
    buckets = of_type(records, "gcp:storage/bucket:Bucket")
    assert sorted(b.name for b in buckets) == ["artifacts-backup", "artifacts-index",
                                               "artifacts-logs", "artifacts-packages"]
    for b in buckets:
        i = b.inputs
        # only the index, which the CDN serves to everyone (objects only, read only)
        assert i["publicAccessPrevention"] == (
            "inherited" if b.name == "artifacts-index" else "enforced"), b.name
        assert i["uniformBucketLevelAccess"] is True
        assert i["versioning"] == {"enabled": True}
        assert i["encryption"]["defaultKmsKeyName"]
        assert i["lifecycleRules"][0]["condition"]["daysSinceNoncurrentTime"] == 30
    by_name = {b.name: b.inputs for b in buckets}
    assert by_name["artifacts-backup"]["location"] == raw["backup_region"]
    assert by_name["artifacts-packages"]["location"] == raw["region"]
    assert by_name["artifacts-packages"]["logging"]["logBucket"] == "artifacts-logs"
    jobs = of_type(records, "gcp:storage/transferJob:TransferJob")
    assert sorted(j.inputs["transferSpec"]["gcsDataSource"]["bucketName"] for j in jobs) == [
        "artifacts-index", "artifacts-packages"]
    cdn = one(records, "gcp:compute/backendBucket:BackendBucket", "artifacts-index-cdn").inputs
    assert cdn["enableCdn"] is True and cdn["bucketName"] == "artifacts-index"
    assert one(records, "gcp:compute/sSLPolicy:SSLPolicy",
               "artifacts-index").inputs["minTlsVersion"] == "TLS_1_2"
    keys = of_type(records, "gcp:kms/cryptoKey:CryptoKey")
    assert len(keys) == 2 and all(k.inputs["rotationPeriod"] == "7776000s" for k in keys)


# ---- Identity ---------------------------------------------------------------------

def test_aws_identity(stack):
    records, _, raw = stack("aws")
    pool = one(records, "aws:cognito/userPool:UserPool", "identity-users").inputs
    assert pool["passwordPolicy"]["minimumLength"] >= 12
    assert pool["deletionProtection"] == "INACTIVE"
    groups = of_type(records, "aws:cognito/userGroup:UserGroup")
    assert sorted(g.inputs["name"] for g in groups) == ["admin", "host-admin", "publisher",
                                                         "reviewer"]
    market = one(records, "aws:cognito/userPoolClient:UserPoolClient",
                 "identity-marketplace").inputs
    assert market["callbackUrls"] == raw["marketplace_callback_urls"]
    assert market["allowedOauthFlows"] == ["code"] and market["generateSecret"] is True
    cli = one(records, "aws:cognito/userPoolClient:UserPoolClient", "identity-cli").inputs
    assert cli["generateSecret"] is False  # a public client: PKCE
    ci = one(records, "aws:cognito/userPoolClient:UserPoolClient", "identity-ci").inputs
    assert ci["allowedOauthFlows"] == ["client_credentials"] and ci["generateSecret"] is True
    assert ci["allowedOauthScopes"] == ["koha-plugins/publish"]
    policies = {r.name: json.loads(r.inputs["policy"])
                for r in of_type(records, "aws:iam/rolePolicy:RolePolicy")}
    host = {a for s in policies["identity-host"]["Statement"] for a in s["Action"]}
    registry = {a for s in policies["identity-registry"]["Statement"] for a in s["Action"]}
    assert "s3:GetObject" in host and not {"s3:PutObject", "s3:DeleteObject"} & host
    assert {"s3:PutObject", "s3:DeleteObject"} <= registry
    secrets_of = {n: [r for s in p["Statement"] if "secretsmanager:GetSecretValue" in s["Action"]
                      for r in s["Resource"]] for n, p in policies.items()
                  if n.startswith("identity-")}
    assert sorted(secrets_of["identity-host"]) == ["arn:mock:identity-database-url",
                                                   "arn:mock:identity-oidc-client-secret"]
    assert sorted(secrets_of["identity-registry"]) == [
        "arn:mock:identity-database-url", "arn:mock:identity-oidc-client-secret",
        "arn:mock:identity-signing-key"]
    for s in of_type(records, "aws:secretsmanager/secret:Secret"):
        assert s.inputs["kmsKeyId"] == "arn:mock:artifacts-key"
        assert s.inputs["name"].startswith("koha-dev-")


def test_aws_prod_protects_the_user_pool(stack):
    records, _, _ = stack("aws", "prod")
    assert one(records, "aws:cognito/userPool:UserPool",
               "identity-users").inputs["deletionProtection"] == "ACTIVE"


def test_gcp_identity(stack):
    records, _, _ = stack("gcp")
    groups = of_type(records, "gcp:cloudidentity/group:Group")
    assert sorted(g.inputs["displayName"] for g in groups) == [
        "koha-dev-admin", "koha-dev-host-admin", "koha-dev-publisher", "koha-dev-reviewer"]
    grants = {r.name: r.inputs["role"]
              for r in of_type(records, "gcp:storage/bucketIAMMember:BucketIAMMember")}
    assert grants == {"artifacts-index-public": "roles/storage.objectViewer",
                      "identity-host-packages": "roles/storage.objectViewer",
                      "identity-host-index": "roles/storage.objectViewer",
                      "identity-registry-packages": "roles/storage.objectAdmin",
                      "identity-registry-index": "roles/storage.objectAdmin"}
    readers = sorted(r.name for r in of_type(
        records, "gcp:secretmanager/secretIamMember:SecretIamMember"))
    assert readers == ["identity-database-url-host", "identity-database-url-registry",
                       "identity-oidc-client-secret-host",
                       "identity-oidc-client-secret-registry",
                       "identity-signing-key-registry"]  # the host never reads the key
    for s in of_type(records, "gcp:secretmanager/secret:Secret"):
        replica = s.inputs["replication"]["userManaged"]["replicas"][0]
        assert replica["customerManagedEncryption"]["kmsKeyName"]
    config = one(records, "gcp:identityplatform/config:Config", "identity-users").inputs
    assert config["authorizedDomains"] == ["market.example.org"]


# ---- Monitoring -------------------------------------------------------------------

def test_aws_monitoring(stack, rules_dir):
    records, _, raw = stack("aws")
    namespaces = of_type(records, "aws:amp/ruleGroupNamespace:RuleGroupNamespace")
    assert [n.inputs["name"] for n in namespaces] == ["plugin-host-rules"]
    assert namespaces[0].inputs["data"] == (rules_dir / "plugin-host.rules.yml").read_text()
    topic = one(records, "aws:sns/topic:Topic", "monitoring-alerts").inputs
    assert topic["kmsMasterKeyId"]
    sub = one(records, "aws:sns/topicSubscription:TopicSubscription",
              "monitoring-alerts-email").inputs
    assert sub["endpoint"] == raw["alert_email"] and sub["protocol"] == "email"
    am = one(records, "aws:amp/alertManagerDefinition:AlertManagerDefinition",
             "monitoring-alertmanager").inputs["definition"]
    assert "topic_arn: arn:mock:monitoring-alerts" in am


def test_gcp_monitoring(stack):
    records, _, raw = stack("gcp")
    policies = {p.inputs["displayName"]: p.inputs
                for p in of_type(records, "gcp:monitoring/alertPolicy:AlertPolicy")}
    assert set(policies) == {"KohaPluginCrashLooping", "KohaHostDown"}  # not the recording rule
    crash = policies["KohaPluginCrashLooping"]
    cond = crash["conditions"][0]["conditionPrometheusQueryLanguage"]
    assert cond["query"] == "max by (plugin) (plugin_host_plugin_crash_looping) == 1"
    assert cond["duration"] == "120s"
    assert crash["userLabels"]["severity"] == "critical"
    assert "runbooks/KohaPluginCrashLooping" in crash["documentation"]["content"]
    channel = one(records, "gcp:monitoring/notificationChannel:NotificationChannel",
                  "monitoring-email").inputs
    assert channel["labels"] == {"email_address": raw["alert_email"]}
    uptime = one(records, "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig",
                 "monitoring-readyz").inputs
    assert uptime["httpCheck"]["path"] == "/readyz" and uptime["httpCheck"]["useSsl"]


# ---- Hosts --------------------------------------------------------------------------

def test_aws_hosts(stack):
    records, _, raw = stack("aws")
    sg = one(records, "aws:ec2/securityGroup:SecurityGroup", "hosts-sg").inputs
    rules = {r["fromPort"]: r["cidrBlocks"] for r in sg["ingress"]}
    assert rules == {8080: raw["lb_source_ranges"], 22: [raw["bastion_cidr"]]}
    instances = of_type(records, "aws:ec2/instance:Instance")
    assert len(instances) == raw["host_count"]
    for i in instances:
        assert i.inputs["associatePublicIpAddress"] is False
        assert i.inputs["metadataOptions"]["httpTokens"] == "required"
        assert i.inputs["rootBlockDevice"]["encrypted"] is True
    # the first runs the registry and Prometheus too (infra.inventory): it writes
    profiles = [(i.inputs["iamInstanceProfile"], i.inputs["tags"]["services"])
                for i in sorted(instances, key=lambda i: i.name)]
    assert profiles == [("identity-registry", "plugin-host_registry_monitoring"),
                        ("identity-host", "plugin-host"), ("identity-host", "plugin-host")]
    assert {i.inputs["subnetId"] for i in instances} == set(raw["subnets"])


def test_gcp_hosts(stack):
    records, _, raw = stack("gcp")
    firewalls = {f.name: f.inputs for f in of_type(records, "gcp:compute/firewall:Firewall")}
    assert firewalls["hosts-ssh"]["sourceRanges"] == [raw["bastion_cidr"]]
    assert firewalls["hosts-ssh"]["allows"] == [{"protocol": "tcp", "ports": ["22"]}]
    assert firewalls["hosts-app"]["sourceRanges"] == ["130.211.0.0/22", "35.191.0.0/16"]
    instances = of_type(records, "gcp:compute/instance:Instance")
    assert len(instances) == raw["host_count"]
    for i in instances:
        assert all("accessConfigs" not in n for n in i.inputs["networkInterfaces"])
        assert i.inputs["shieldedInstanceConfig"]["enableSecureBoot"] is True
        # OS Login would make GCE ignore the deploy key in ssh-keys
        assert i.inputs["metadata"]["enable-oslogin"] == "FALSE"
        assert i.inputs["metadata"]["block-project-ssh-keys"] == "TRUE"
    by_name = {i.name: i.inputs for i in instances}
    assert [by_name[f"hosts-{n}"]["serviceAccount"]["email"] for n in range(3)] == [
        "identity-registry@sa.example", "identity-host@sa.example", "identity-host@sa.example"]
    # europe-west1 has no zone a
    assert [by_name[f"hosts-{n}"]["zone"] for n in range(3)] == [
        "europe-west1-b", "europe-west1-c", "europe-west1-d"]


# ---- Database -----------------------------------------------------------------------

@pytest.mark.parametrize("env", ["dev", "prod"])
def test_aws_database(stack, env):
    records, _, raw = stack("aws", env)
    db = one(records, "aws:rds/instance:Instance", "database-postgres").inputs
    assert db["publiclyAccessible"] is False and db["storageEncrypted"] is True
    assert db["backupRetentionPeriod"] == raw.get("db_backup_days", 7)
    assert db["manageMasterUserPassword"] is True and "password" not in db
    assert db["deletionProtection"] is (env == "prod")
    assert db["multiAz"] is (env == "prod")
    sg = one(records, "aws:ec2/securityGroup:SecurityGroup", "database-sg").inputs
    assert sg["ingress"] == [{"protocol": "tcp", "fromPort": 5432, "toPort": 5432,
                              "securityGroups": ["hosts-sg"],
                              "description": "PostgreSQL from the hosts"}]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_gcp_database(stack, env):
    records, _, raw = stack("gcp", env)
    db = one(records, "gcp:sql/databaseInstance:DatabaseInstance", "database-postgres").inputs
    ip = db["settings"]["ipConfiguration"]
    assert ip["ipv4Enabled"] is False and ip["privateNetwork"] == raw["network"]
    assert ip["sslMode"] == "ENCRYPTED_ONLY"
    backups = db["settings"]["backupConfiguration"]
    assert backups["enabled"] and backups["pointInTimeRecoveryEnabled"]
    assert db["deletionProtection"] is (env == "prod")
    assert db["encryptionKeyName"]

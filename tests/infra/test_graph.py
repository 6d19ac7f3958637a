"""The stack rules (infra/policy/graph.py) over whole recorded stacks.

Pulumi's cloud cannot be reached here: the stacks run under Pulumi's mocks
(tests/infra/harness.py), which answer with the outputs a provider would compute. Each
finding of the cloud review is reproduced by taking the shipped stack back to what it
was (one resource or property, as the code declared it before) and checking that the
rule names it; the shipped stacks pass every rule.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from koha_infra.rules import RuleError, alerting_rules, inline, recording_rules
from policy.graph import STACK_RULES, Graph, graph_violations
from policy.rules import violations

from ..support.paths import MONITORING
from ..support.system import require_tool
from .harness import example_config, run_stack

RULES_DIR = MONITORING / "rules"


@pytest.fixture(scope="module")
def stacks():
    """(cloud, env) → records of the stack built with the shipped monitoring rules."""
    built = {}

    def get(cloud: str, env: str = "prod"):
        if (cloud, env) not in built:
            built[cloud, env] = run_stack(example_config(cloud, env), RULES_DIR)[0]
        return built[cloud, env]

    return get


def outputs(records) -> list[tuple[str, str, dict]]:
    return [(r.type, r.name, copy.deepcopy(r.outputs)) for r in records]


def edit(res, type_: str, name: str, change) -> list:
    """``res`` with resource (type_, name) changed by ``change(props)`` (returning None
    drops the resource)."""
    out, found = [], False
    for t, n, p in res:
        if t == type_ and n == name:
            found = True
            p = change(p)
            if p is None:
                continue
        out.append((t, n, p))
    assert found, f"no {type_} {name} in the stack"
    return out


def rule(res, name: str) -> list[str]:
    return STACK_RULES[name][1](Graph(res))


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_shipped_stacks_pass_every_rule(stacks, cloud, env):
    records = stacks(cloud, env)
    assert graph_violations(outputs(records)) == []
    assert violations((r.type, r.name, r.inputs) for r in records) == []


# ---- AWS: each finding, as it was -------------------------------------------------

def test_aws_registry_on_the_read_only_profile_cannot_write(stacks):
    res = edit(outputs(stacks("aws")), "aws:ec2/instance:Instance", "hosts-0",
               lambda p: {**p, "iamInstanceProfile": "identity-host"})
    found = rule(res, "writers-may-write")
    assert any("instance hosts-0 runs monitoring, plugin-host, registry and must write "
               "bucket artifacts-packages" in v and "may not s3:PutObject" in v
               for v in found), found
    assert any("aps:RemoteWrite" in v for v in found), found


def test_aws_prometheus_without_remote_write_permission(stacks):
    res = edit(outputs(stacks("aws")), "aws:iam/rolePolicy:RolePolicy",
               "monitoring-remote-write", lambda p: None)
    assert rule(res, "writers-may-write") == [
        "instance hosts-0 runs monitoring, plugin-host, registry and must remote-write to "
        "the managed Prometheus, but its profile identity-registry may not aps:RemoteWrite"]


def test_aws_cdn_without_grants_on_the_index_would_answer_403(stacks):
    res = outputs(stacks("aws"))
    res = edit(res, "aws:kms/keyPolicy:KeyPolicy", "artifacts-key", lambda p: None)
    res = edit(res, "aws:s3/bucketPolicy:BucketPolicy", "artifacts-index", lambda p: {
        **p, "policy": json.dumps({"Statement": json.loads(p["policy"])["Statement"][:1]})})
    found = rule(res, "cdn-reads-origin")
    assert any("serves bucket artifacts-index, whose policy does not let "
               "cloudfront.amazonaws.com s3:GetObject" in v for v in found), found
    # without a key policy, AWS's default lets only the account's IAM principals use it
    assert any("whose policy does not let cloudfront.amazonaws.com kms:Decrypt" in v
               for v in found), found
    res = outputs(stacks("aws"))
    res = edit(res, "aws:kms/keyPolicy:KeyPolicy", "artifacts-key", lambda p: {
        **p, "policy": json.dumps({"Statement": [
            s for s in json.loads(p["policy"])["Statement"]
            if s["Sid"] != "CloudFrontReadsIndex"]})})
    assert rule(res, "cdn-reads-origin") == [
        "distribution artifacts-index-cdn serves bucket artifacts-index, encrypted with key "
        "artifacts-key, whose policy does not let cloudfront.amazonaws.com kms:Decrypt: "
        "every request would be 403"]


def test_aws_a_grant_to_another_distribution_does_not_count(stacks):
    res = edit(outputs(stacks("aws")), "aws:s3/bucketPolicy:BucketPolicy", "artifacts-index",
               lambda p: {**p, "policy": p["policy"].replace(
                   "arn:mock:artifacts-index-cdn", "arn:aws:cloudfront::1:distribution/OTHER")})
    assert any("s3:GetObject (for this distribution)" in v
               for v in rule(res, "cdn-reads-origin"))


def test_aws_cdn_log_bucket_with_acls_disabled(stacks):
    res = edit(outputs(stacks("aws")), "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
               "artifacts-logs", lambda p: None)
    assert rule(res, "cdn-reads-origin") == [
        "distribution artifacts-index-cdn logs to bucket artifacts-logs, which has ACLs "
        "disabled (object ownership BucketOwnerEnforced, the default): CloudFront standard "
        "logging needs ACLs"]


def test_aws_access_logs_need_the_log_delivery_grant(stacks):
    res = edit(outputs(stacks("aws")), "aws:s3/bucketPolicy:BucketPolicy", "artifacts-logs",
               lambda p: {**p, "policy": json.dumps(
                   {"Statement": json.loads(p["policy"])["Statement"][:1]})})
    found = rule(res, "cdn-reads-origin")
    assert sorted(found) == [
        f"access logs of artifacts-{b} go to bucket artifacts-logs, whose policy does not "
        "let logging.s3.amazonaws.com s3:PutObject" for b in ("index", "packages")]


def test_aws_alert_topic_without_a_policy_for_the_managed_prometheus(stacks):
    res = edit(outputs(stacks("aws")), "aws:sns/topicPolicy:TopicPolicy", "monitoring-alerts",
               lambda p: None)
    res = edit(res, "aws:kms/keyPolicy:KeyPolicy", "artifacts-key", lambda p: {
        **p, "policy": json.dumps({"Statement": [
            s for s in json.loads(p["policy"])["Statement"]
            if s["Sid"] != "ManagedPrometheusPublishesAlerts"]})})
    found = rule(res, "publishers-may-publish")
    assert len(found) == 3, found
    assert "does not let aps.amazonaws.com sns:Publish: no alert would be sent" in found[-1]
    assert any("aps.amazonaws.com kms:GenerateDataKey" in v for v in found)


def test_aws_a_role_reading_an_encrypted_bucket_needs_the_key(stacks):
    res = edit(outputs(stacks("aws")), "aws:iam/rolePolicy:RolePolicy", "identity-host",
               lambda p: {**p, "policy": json.dumps({"Statement": [
                   s for s in json.loads(p["policy"])["Statement"]
                   if "kms:Decrypt" not in s["Action"]]})})
    found = rule(res, "kms-users-granted")
    assert "role identity-host reads bucket artifacts-index but may not kms:Decrypt with " \
           "its key artifacts-key" in found, found
    assert "role identity-host reads secret identity-database-url but may not kms:Decrypt " \
           "with its key artifacts-key" in found


def test_aws_admins_must_use_mfa(stacks):
    pool = next(r for r in stacks("aws") if r.type == "aws:cognito/userPool:UserPool")
    assert pool.inputs["mfaConfiguration"] == "ON"
    assert violations([(pool.type, pool.name, {**pool.inputs,
                                               "mfaConfiguration": "OPTIONAL"})]) == [
        "admins-mfa: identity-users: MFA must be required (mfaConfiguration ON): admins, "
        "reviewers and publishers all sign in here"]


# ---- GCP --------------------------------------------------------------------------

def test_gcp_a_zone_that_does_not_exist(stacks):
    res = edit(outputs(stacks("gcp")), "gcp:compute/instance:Instance", "hosts-0",
               lambda p: {**p, "zone": "europe-west1-a"})
    assert rule(res, "placement") == [
        "instance hosts-0: zone europe-west1-a does not exist in europe-west1 "
        "(europe-west1-b, europe-west1-c, europe-west1-d)"]


def test_gcp_os_login_hides_the_deploy_key(stacks):
    res = edit(outputs(stacks("gcp")), "gcp:compute/instance:Instance", "hosts-1",
               lambda p: {**p, "metadata": {**p["metadata"], "enable-oslogin": "TRUE"}})
    assert rule(res, "placement") == [
        "instance hosts-1: OS Login is on, so the key in metadata ssh-keys is ignored and "
        "the deploy cannot log in"]


def test_gcp_a_machine_type_not_offered_everywhere(stacks):
    res = edit(outputs(stacks("gcp")), "gcp:compute/instance:Instance", "hosts-2",
               lambda p: {**p, "machineType": "zz9-standard-4"})
    assert rule(res, "placement") == [
        "instance hosts-2: 'zz9-standard-4' is not a machine type of the families offered "
        "in every supported region (e2-*, n2-*)"]


@pytest.mark.parametrize(("agent_grant", "who"), [
    ("artifacts-key-sql", "Cloud SQL database-postgres"),
    ("artifacts-key-secretmanager", "secret identity-database-url")])
def test_gcp_the_key_granted_only_to_the_storage_agent(stacks, agent_grant, who):
    res = edit(outputs(stacks("gcp")), "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
               agent_grant, lambda p: None)
    found = rule(res, "kms-users-granted")
    assert any(v.startswith(f"{who} is encrypted with key artifacts-key, which is not "
                            "granted to the") for v in found), found


def test_gcp_a_key_in_another_region(stacks):
    res = edit(outputs(stacks("gcp")), "gcp:sql/databaseInstance:DatabaseInstance",
               "database-postgres", lambda p: {**p, "region": "europe-north1"})
    assert rule(res, "kms-users-granted") == [
        "Cloud SQL database-postgres is in europe-north1 but its key artifacts-key is in "
        "europe-west1: a CMEK must be in the resource's location"]


def test_gcp_cdn_in_front_of_a_private_bucket(stacks):
    res = edit(outputs(stacks("gcp")), "gcp:storage/bucketIAMMember:BucketIAMMember",
               "artifacts-index-public", lambda p: None)
    res = edit(res, "gcp:storage/bucket:Bucket", "artifacts-index",
               lambda p: {**p, "publicAccessPrevention": "enforced"})
    assert len(rule(res, "cdn-reads-origin")) == 2


def test_gcp_only_the_cdn_origin_may_be_public(stacks):
    res = edit(outputs(stacks("gcp")), "gcp:storage/bucketIAMMember:BucketIAMMember",
               "identity-host-packages", lambda p: {**p, "member": "allUsers"})
    assert rule(res, "public-only-cdn-origins") == [
        "identity-host-packages lets allUsers read bucket artifacts-packages, which is not "
        "the public-read origin of a CDN"]
    member = ("gcp:storage/bucketIAMMember:BucketIAMMember", "x",
              {"bucket": "b", "member": "allUsers", "role": "roles/storage.objectAdmin"})
    assert violations([member]) == [
        "no-public-buckets: x: allUsers may at most read objects "
        "(roles/storage.objectViewer), not roles/storage.objectAdmin"]


def test_gcp_registry_and_prometheus_need_their_grants(stacks):
    res = edit(outputs(stacks("gcp")), "gcp:compute/instance:Instance", "hosts-0",
               lambda p: {**p, "serviceAccount": {**p["serviceAccount"],
                                                  "email": "identity-host@sa.example"}})
    found = rule(res, "writers-may-write")
    assert "instance hosts-0 runs the registry and must write bucket artifacts-packages, " \
           "but identity-host@sa.example has no write role on it" in found, found
    assert "instance hosts-0 runs Prometheus, but identity-host@sa.example may not write " \
           "metrics (roles/monitoring.metricWriter)" in found
    assert "instance hosts-0 must read secret identity-signing-key, but " \
           "identity-host@sa.example is not its secretAccessor" in found


def test_gcp_admins_must_use_mfa(stacks):
    config = next(r for r in stacks("gcp") if r.type == "gcp:identityplatform/config:Config")
    assert config.inputs["mfa"]["state"] == "MANDATORY"
    assert violations([(config.type, config.name, {
        **config.inputs, "mfa": {**config.inputs["mfa"], "state": "ENABLED"}})]) == [
        "admins-mfa: identity-users: MFA must be MANDATORY: admins, reviewers and "
        "publishers all sign in here"]


# ---- recording rules where the alerts are evaluated -------------------------------

def test_gcp_alerts_querying_recording_rules_are_refused(stacks):
    raw = {r["alert"]: r["expr"] for r in alerting_rules(RULES_DIR)}
    res = outputs(stacks("gcp"))
    res = edit(res, "gcp:monitoring/alertPolicy:AlertPolicy",
               "monitoring-KohaHostAvailabilityBudgetBurnSlow", lambda p: {
                   **p, "conditions": [{**c, "conditionPrometheusQueryLanguage": {
                       **c["conditionPrometheusQueryLanguage"],
                       "query": raw["KohaHostAvailabilityBudgetBurnSlow"]}}
                       for c in p["conditions"]]})
    assert rule(res, "recording-rules-deployed") == [
        "alert policy monitoring-KohaHostAvailabilityBudgetBurnSlow queries "
        "job:plugin_host_http_request_errors:ratio_rate3d, "
        "job:plugin_host_http_request_errors:ratio_rate6h: recording rules are not "
        "deployed to Cloud Monitoring (inline them)"]


def test_aws_alerts_query_only_recorded_series_deployed_there(stacks):
    res = outputs(stacks("aws"))
    res = [(t, n, p) for t, n, p in res if n != "monitoring-recording-rules"]
    found = rule(res, "recording-rules-deployed")
    assert found and all("recorded by no deployed rule" in v for v in found), found


def test_inlining_keeps_label_values_and_refuses_selectors():
    recorded = {"a:b:rate5m": 'sum by (job) (rate(x_total{route="/p/{path:path}"}[5m]))',
                "a:b:double": "2 * a:b:rate5m"}
    assert inline("a:b:double > 1", recorded) == \
        '(2 * (sum by (job) (rate(x_total{route="/p/{path:path}"}[5m])))) > 1'
    assert inline('up{route="/x:y:z"} == 0', recorded) == 'up{route="/x:y:z"} == 0'
    with pytest.raises(RuleError, match="selector or range"):
        inline('a:b:rate5m{job="x"} > 1', recorded)
    with pytest.raises(RuleError, match="recorded by no rule"):
        inline("a:b:missing > 1", recorded)


def test_every_inlined_alert_is_valid_promql(tmp_path: Path):
    """What Cloud Monitoring evaluates, checked by the real promtool."""
    recorded = recording_rules(RULES_DIR)
    alerts = [{**r, "expr": inline(r["expr"], recorded)} for r in alerting_rules(RULES_DIR)]
    assert any(r["expr"] != a for r, a in zip(alerts, (x["expr"] for x in alerting_rules(
        RULES_DIR)), strict=True))
    path = tmp_path / "inlined.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "inlined", "rules": alerts}]}))
    r = subprocess.run([require_tool("promtool", "apt-get install prometheus"), "check",
                        "rules", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

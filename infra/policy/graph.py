"""Checks over the whole stack: does each resource work with the others?

A per-resource rule (rules.py) sees one resource: a bucket encrypted with a key, a
distribution in front of a bucket. It cannot see that the distribution may not read the
bucket, or that the key is granted to nobody who must use it: the stack then deploys
and fails on first use (403s, undelivered alerts, a registry that cannot write). These
rules follow the references between resources, as the clouds resolve them at run time:

- ``kms-users-granted``: every principal that reads or writes data under a key may use
  that key (IAM roles, and the services behind a CDN, log delivery, alert publishing,
  Cloud SQL, Secret Manager, Cloud Storage), and on GCP the key is in the resource's
  location;
- ``writers-may-write``: the machine running the registry may write the packages and
  index buckets, the one running Prometheus may write metrics to the managed service,
  the plugin hosts may read their database secret;
- ``cdn-reads-origin``: the CDN may read the bucket it serves; its log bucket accepts
  its logs;
- ``publishers-may-publish``: the managed Prometheus may publish to the alert topic;
- ``placement``: zones and machine types exist in their region (koha_infra/regions.py,
  from the providers' published lists); OS Login does not hide the deploy key;
- ``recording-rules-deployed``: every recording rule a cloud alert queries is evaluated
  there.

Long on purpose: the pack loads the modules of its folder as top-level modules and the
tests as the ``policy`` package, so rules split over sibling modules would import each
other under two names; the AWS and GCP halves are marked below.

Each takes ``(type, name, props)`` triples with the resources' *output* properties
(camelCase), as a Pulumi stack policy receives them. A value still unknown (a preview
of resources not yet created) is never a violation: the rule judges it at ``up``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from koha_infra import regions
from koha_infra.rules import recorded_names

Res = tuple[str, str, dict[str, Any]]

#: the role a GCP key must grant its users
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
#: Google-managed service agents that use CMEK on our behalf, by the resource they serve
GCP_AGENTS = {"storage": "gs-project-accounts.iam.gserviceaccount.com",
              "sql": "gcp-sa-cloud-sql.iam.gserviceaccount.com",
              "secretmanager": "gcp-sa-secretmanager.iam.gserviceaccount.com"}
class Graph:
    """The resources of a stack, looked up by type and by the identifiers clouds use
    to refer to each other (id, name, ARN, self link)."""

    def __init__(self, resources: Iterable[Res]):
        self.resources = [(t, n, p or {}) for t, n, p in resources]

    def of(self, type_: str) -> list[tuple[str, dict[str, Any]]]:
        return [(n, p) for t, n, p in self.resources if t == type_]


def _doc(policy: Any) -> dict:
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return {}
    return policy if isinstance(policy, dict) else {}


def _list(v: Any) -> list:
    return v if isinstance(v, list) else [] if v is None else [v]


def _statements(policy: Any) -> list[dict]:
    return [s for s in _list(_doc(policy).get("Statement")) if isinstance(s, dict)]


def _action_matches(pattern: str, action: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), action, re.I) is not None


def allows(policy: Any, action: str, resource: str | None = None,
           service: str | None = None, source_arn: str | None = None) -> bool:
    """Whether ``policy`` (IAM JSON) has an Allow statement for ``action`` on
    ``resource`` (or any, for key and topic policies), for the service principal
    ``service`` when given; a statement restricted to another source ARN does not count."""
    for s in _statements(policy):
        if s.get("Effect") != "Allow":
            continue
        if not any(_action_matches(a, action) for a in _list(s.get("Action"))):
            continue
        if resource is not None and not any(
                _action_matches(r, resource) for r in _list(s.get("Resource"))):
            continue
        if service is not None:
            principal = s.get("Principal")
            services = _list(principal.get("Service")) if isinstance(principal, dict) else []
            if service not in services:
                continue
            cond = json.dumps(s.get("Condition") or {})
            arns = re.findall(r'"(arn:[^"]+)"', cond)
            if source_arn and arns and source_arn not in arns:
                continue
        return True
    return False


# ---- AWS ---------------------------------------------------------------------------

def _aws_keys(g: Graph) -> dict[str, tuple[str, Any]]:
    """Every reference to a KMS key (id or ARN) → (key name, its key policy)."""
    policies = {p.get("keyId"): p.get("policy") for _, p in g.of("aws:kms/keyPolicy:KeyPolicy")}
    out = {}
    for n, p in g.of("aws:kms/key:Key"):
        policy = policies.get(p.get("id")) or policies.get(p.get("arn")) or p.get("policy")
        for ref in (p.get("id"), p.get("arn"), p.get("keyId")):
            if ref:
                out[ref] = (n, policy)
    return out


def _aws_buckets(g: Graph) -> dict[str, dict[str, Any]]:
    """Bucket id → {name, arn, key (ref or None), policy, tags, ownership}."""
    out: dict[str, dict[str, Any]] = {}
    for n, p in g.of("aws:s3/bucket:Bucket"):
        out[p.get("id") or p.get("bucket") or n] = {
            "name": n, "arn": p.get("arn"), "key": None, "policy": None,
            "tags": p.get("tags") or {}, "ownership": None,
            "domain": p.get("bucketDomainName"), "regional": p.get("bucketRegionalDomainName")}
    for _, p in g.of("aws:s3/bucketServerSideEncryptionConfiguration:"
                     "BucketServerSideEncryptionConfiguration"):
        for r in _list(p.get("rules")):
            key = (r.get("applyServerSideEncryptionByDefault") or {}).get("kmsMasterKeyId")
            if p.get("bucket") in out and key:
                out[p["bucket"]]["key"] = key
    for _, p in g.of("aws:s3/bucketPolicy:BucketPolicy"):
        if p.get("bucket") in out:
            out[p["bucket"]]["policy"] = p.get("policy")
    for _, p in g.of("aws:s3/bucketOwnershipControls:BucketOwnershipControls"):
        if p.get("bucket") in out:
            out[p["bucket"]]["ownership"] = (p.get("rule") or {}).get("objectOwnership")
    return out


def _aws_role_policies(g: Graph) -> dict[str, list[Any]]:
    """Role (its id, which is its name, or its ARN) → its inline policies."""
    out: dict[str, list[Any]] = defaultdict(list)
    for _, p in g.of("aws:iam/rolePolicy:RolePolicy"):
        out[p.get("role")].append(p.get("policy"))
    for n, p in g.of("aws:iam/role:Role"):
        for ref in (p.get("name"), p.get("arn"), n):
            if ref and ref != p.get("id"):
                out[ref] = out[p.get("id") or n]
    return out


def _key_allows_service(keys, key_ref, action: str, service: str,
                        source_arn: str | None = None) -> bool:
    if key_ref not in keys:
        return True  # an AWS-managed key, or not known yet
    return allows(keys[key_ref][1], action, service=service, source_arn=source_arn)


def aws_kms_users_granted(g: Graph) -> list[str]:
    keys, buckets, roles = _aws_keys(g), _aws_buckets(g), _aws_role_policies(g)
    key_arn = {n: p.get("arn") for n, p in g.of("aws:kms/key:Key")}
    secrets = {p.get("arn"): (n, p.get("kmsKeyId"))
               for n, p in g.of("aws:secretsmanager/secret:Secret")}
    out = []
    for role_name, role in g.of("aws:iam/role:Role"):
        policies = roles.get(role.get("id") or role_name, [])

        def may(action: str, key_ref: str, policies=policies) -> bool:
            arn = key_arn.get(keys[key_ref][0])
            return any(allows(pol, action, arn) for pol in policies)

        for s in (s for pol in policies for s in _statements(pol)):
            if s.get("Effect") != "Allow":
                continue
            actions, resources = _list(s.get("Action")), _list(s.get("Resource"))
            for b in buckets.values():
                if b["key"] not in keys or not b["arn"] or not (
                        {b["arn"], f"{b['arn']}/*"} & set(resources)):
                    continue
                key = keys[b["key"]][0]
                if any(_action_matches(a, "s3:GetObject") for a in actions) and not may(
                        "kms:Decrypt", b["key"]):
                    out.append(f"role {role_name} reads bucket {b['name']} but may not "
                               f"kms:Decrypt with its key {key}")
                if any(_action_matches(a, "s3:PutObject") for a in actions) and not may(
                        "kms:GenerateDataKey", b["key"]):
                    out.append(f"role {role_name} writes bucket {b['name']} but may not "
                               f"kms:GenerateDataKey with its key {key}")
            for arn, (name, key) in secrets.items():
                if (arn in resources and key in keys
                        and any(_action_matches(a, "secretsmanager:GetSecretValue")
                                for a in actions)
                        and not may("kms:Decrypt", key)):
                    out.append(f"role {role_name} reads secret {name} but may not "
                               f"kms:Decrypt with its key {keys[key][0]}")
    return sorted(set(out))


def aws_cdn_reads_origin(g: Graph) -> list[str]:
    keys, buckets = _aws_keys(g), _aws_buckets(g)
    by_regional = {b["regional"]: b for b in buckets.values() if b["regional"]}
    by_domain = {b["domain"]: b for b in buckets.values() if b["domain"]}
    out = []
    for n, p in g.of("aws:cloudfront/distribution:Distribution"):
        arn = p.get("arn")
        for origin in _list(p.get("origins")):
            b = by_regional.get(origin.get("domainName"))
            if b is None:
                continue
            if not allows(b["policy"], "s3:GetObject", f"{b['arn']}/x",
                          service="cloudfront.amazonaws.com", source_arn=arn):
                out.append(f"distribution {n} serves bucket {b['name']}, whose policy does "
                           "not let cloudfront.amazonaws.com s3:GetObject (for this "
                           "distribution): every request would be 403")
            if b["key"] and not _key_allows_service(keys, b["key"], "kms:Decrypt",
                                                    "cloudfront.amazonaws.com", arn):
                out.append(f"distribution {n} serves bucket {b['name']}, encrypted with key "
                           f"{keys[b['key']][0]}, whose policy does not let "
                           "cloudfront.amazonaws.com kms:Decrypt: every request would be 403")
        log = by_domain.get((p.get("loggingConfig") or {}).get("bucket"))
        if log is not None:
            if log["ownership"] not in ("BucketOwnerPreferred", "ObjectWriter"):
                out.append(f"distribution {n} logs to bucket {log['name']}, which has ACLs "
                           "disabled (object ownership BucketOwnerEnforced, the default): "
                           "CloudFront standard logging needs ACLs")
            if log["key"] and not _key_allows_service(keys, log["key"], "kms:GenerateDataKey",
                                                      "delivery.logs.amazonaws.com"):
                out.append(f"distribution {n} logs to bucket {log['name']}, encrypted with "
                           f"key {keys[log['key']][0]}, whose policy does not let "
                           "delivery.logs.amazonaws.com kms:GenerateDataKey")
    for n, p in g.of("aws:s3/bucketLogging:BucketLogging"):
        target = buckets.get(p.get("targetBucket"))
        if target is None:
            continue
        if not allows(target["policy"], "s3:PutObject", f"{target['arn']}/x",
                      service="logging.s3.amazonaws.com"):
            out.append(f"access logs of {n} go to bucket {target['name']}, whose policy does "
                       "not let logging.s3.amazonaws.com s3:PutObject")
        if target["key"] and not _key_allows_service(keys, target["key"], "kms:GenerateDataKey",
                                                     "logging.s3.amazonaws.com"):
            out.append(f"access logs of {n} go to bucket {target['name']}, encrypted with key "
                       f"{keys[target['key']][0]}, whose policy does not let "
                       "logging.s3.amazonaws.com kms:GenerateDataKey")
    return sorted(set(out))


def aws_publishers_may_publish(g: Graph) -> list[str]:
    keys = _aws_keys(g)
    topics = {p.get("arn"): (n, p.get("kmsMasterKeyId"), p.get("policy"))
              for n, p in g.of("aws:sns/topic:Topic")}
    policies = {p.get("arn"): p.get("policy") for _, p in g.of("aws:sns/topicPolicy:TopicPolicy")}
    out = []
    for n, p in g.of("aws:amp/alertManagerDefinition:AlertManagerDefinition"):
        for arn in re.findall(r"topic_arn:\s*(\S+)", str(p.get("definition") or "")):
            if arn not in topics:
                continue
            topic, key, inline = topics[arn]
            if not allows(policies.get(arn) or inline, "sns:Publish",
                          service="aps.amazonaws.com"):
                out.append(f"alert manager {n} publishes to topic {topic}, whose policy does "
                           "not let aps.amazonaws.com sns:Publish: no alert would be sent")
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                if key and not _key_allows_service(keys, key, action, "aps.amazonaws.com"):
                    out.append(f"alert manager {n} publishes to topic {topic}, encrypted with "
                               f"key {keys[key][0]}, whose policy does not let "
                               f"aps.amazonaws.com {action}: no alert would be sent")
    return sorted(set(out))


def _services(tags: dict[str, Any]) -> set[str]:
    """What a machine runs: its ``services`` tag or label (``plugin-host_registry``)."""
    return set(str(tags.get("services") or "").split("_")) - {""}


def aws_writers_may_write(g: Graph) -> list[str]:
    buckets, roles = _aws_buckets(g), _aws_role_policies(g)
    profiles = {p.get("name"): p.get("role") for _, p in g.of(
        "aws:iam/instanceProfile:InstanceProfile")}
    workspaces = [p.get("arn") for _, p in g.of("aws:amp/workspace:Workspace")]
    secrets = {(p.get("tags") or {}).get("purpose"): (n, p.get("arn"))
               for n, p in g.of("aws:secretsmanager/secret:Secret")}
    out = []
    for n, p in g.of("aws:ec2/instance:Instance"):
        runs = _services(p.get("tags") or {})
        profile = p.get("iamInstanceProfile")
        if profile is None:
            continue
        policies = roles.get(profiles.get(profile), [])
        needs: list[tuple[str, str, str]] = []
        if "registry" in runs:
            needs += [("s3:PutObject", f"{b['arn']}/x", f"write bucket {b['name']}")
                      for b in buckets.values() if b["tags"].get("purpose") in
                      ("packages", "index")]
            if "signing-key" in secrets:
                needs.append(("secretsmanager:GetSecretValue", secrets["signing-key"][1],
                              f"read secret {secrets['signing-key'][0]}"))
        if "monitoring" in runs:
            needs += [("aps:RemoteWrite", ws, "remote-write to the managed Prometheus")
                      for ws in workspaces]
        if runs & {"plugin-host", "registry"} and "database-url" in secrets:
            needs.append(("secretsmanager:GetSecretValue", secrets["database-url"][1],
                          f"read secret {secrets['database-url'][0]}"))
        for action, resource, what in needs:
            if not any(allows(pol, action, resource) for pol in policies):
                out.append(f"instance {n} runs {', '.join(sorted(runs))} and must {what}, but "
                           f"its profile {profile} may not {action}")
    return sorted(set(out))


# ---- GCP ---------------------------------------------------------------------------

def _gcp_keys(g: Graph) -> dict[str, dict[str, Any]]:
    """Key id → {name, location, members: {(role, member)}}."""
    rings = {p.get("id"): p.get("location") for _, p in g.of("gcp:kms/keyRing:KeyRing")}
    out = {}
    for n, p in g.of("gcp:kms/cryptoKey:CryptoKey"):
        out[p.get("id")] = {"name": n, "location": rings.get(p.get("keyRing")),
                            "members": set()}
    for _, p in g.of("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"):
        if p.get("cryptoKeyId") in out:
            out[p["cryptoKeyId"]]["members"].add((p.get("role"), p.get("member")))
    return out


def _agent_granted(key: dict[str, Any], agent: str) -> bool:
    return any(role == ENCRYPTER and re.fullmatch(rf"serviceAccount:service-\d+@{re.escape(agent)}",
                                                   str(member))
               for role, member in key["members"])


def gcp_kms_users_granted(g: Graph) -> list[str]:
    keys = _gcp_keys(g)
    users: list[tuple[str, str, str, str | None]] = []  # (what, key id, agent, location)
    for n, p in g.of("gcp:storage/bucket:Bucket"):
        users.append((f"bucket {n}", (p.get("encryption") or {}).get("defaultKmsKeyName"),
                      "storage", p.get("location")))
    for n, p in g.of("gcp:sql/databaseInstance:DatabaseInstance"):
        users.append((f"Cloud SQL {n}", p.get("encryptionKeyName"), "sql", p.get("region")))
    for n, p in g.of("gcp:secretmanager/secret:Secret"):
        for replica in _list(((p.get("replication") or {}).get("userManaged") or {}).get(
                "replicas")):
            users.append((f"secret {n}", (replica.get("customerManagedEncryption") or {}).get(
                "kmsKeyName"), "secretmanager", replica.get("location")))
    out = []
    for what, key_id, agent, location in users:
        key = keys.get(key_id)
        if key is None:
            continue
        if not _agent_granted(key, GCP_AGENTS[agent]):
            out.append(f"{what} is encrypted with key {key['name']}, which is not granted to "
                       f"the {agent} service agent (service-N@{GCP_AGENTS[agent]}, "
                       f"{ENCRYPTER}): writes would fail")
        if location and key["location"] and location.lower() != key["location"].lower():
            out.append(f"{what} is in {location} but its key {key['name']} is in "
                       f"{key['location']}: a CMEK must be in the resource's location")
    return sorted(set(out))


def gcp_writers_may_write(g: Graph) -> list[str]:
    buckets = {p.get("name"): (n, (p.get("labels") or {}).get("purpose"))
               for n, p in g.of("gcp:storage/bucket:Bucket")}
    bucket_members = defaultdict(set)
    for _, p in g.of("gcp:storage/bucketIAMMember:BucketIAMMember"):
        bucket_members[p.get("bucket")].add((p.get("role"), p.get("member")))
    project_members = {(p.get("role"), p.get("member"))
                       for _, p in g.of("gcp:projects/iAMMember:IAMMember")}
    secret_members = defaultdict(set)
    for _, p in g.of("gcp:secretmanager/secretIamMember:SecretIamMember"):
        secret_members[p.get("secretId")].add((p.get("role"), p.get("member")))
    secrets = {(p.get("labels") or {}).get("purpose"): (n, p.get("secretId"))
               for n, p in g.of("gcp:secretmanager/secret:Secret")}
    writers = {"roles/storage.objectAdmin", "roles/storage.objectCreator",
               "roles/storage.objectUser", "roles/storage.admin"}
    out = []
    for n, p in g.of("gcp:compute/instance:Instance"):
        runs = _services(p.get("labels") or {})
        email = (p.get("serviceAccount") or {}).get("email")
        if not email:
            continue
        member = f"serviceAccount:{email}"
        if "registry" in runs:
            for name, (bn, purpose) in buckets.items():
                if purpose in ("packages", "index") and not any(
                        r in writers and m == member for r, m in bucket_members[name]):
                    out.append(f"instance {n} runs the registry and must write bucket {bn}, "
                               f"but {email} has no write role on it")
        if "monitoring" in runs and ("roles/monitoring.metricWriter", member) not in \
                project_members:
            out.append(f"instance {n} runs Prometheus, but {email} may not write metrics "
                       "(roles/monitoring.metricWriter)")
        wanted = (["database-url"] if runs & {"plugin-host", "registry"} else []) + \
                 (["signing-key"] if "registry" in runs else [])
        for purpose in wanted:
            if purpose in secrets and ("roles/secretmanager.secretAccessor", member) not in \
                    secret_members[secrets[purpose][1]]:
                out.append(f"instance {n} must read secret {secrets[purpose][0]}, but {email} "
                           "is not its secretAccessor")
    return sorted(set(out))


def gcp_cdn_reads_origin(g: Graph) -> list[str]:
    buckets = {p.get("name"): (n, p) for n, p in g.of("gcp:storage/bucket:Bucket")}
    members = defaultdict(set)
    for _, p in g.of("gcp:storage/bucketIAMMember:BucketIAMMember"):
        members[p.get("bucket")].add((p.get("role"), p.get("member")))
    out = []
    for n, p in g.of("gcp:compute/backendBucket:BackendBucket"):
        name = p.get("bucketName")
        if name not in buckets:
            continue
        bn, bp = buckets[name]
        signed = bool((p.get("cdnPolicy") or {}).get("signedUrlKeyNames"))
        readable = ("roles/storage.objectViewer", "allUsers") in members[name]
        if not signed and not readable:
            out.append(f"backend bucket {n} serves bucket {bn}, whose objects are not "
                       "readable by allUsers: Cloud CDN would answer 403 to every unsigned "
                       "request")
        if not signed and bp.get("publicAccessPrevention") == "enforced":
            out.append(f"backend bucket {n} serves bucket {bn}, which enforces public access "
                       "prevention: Cloud CDN would answer 403 to every unsigned request")
    return sorted(set(out))


def gcp_public_only_cdn_origins(g: Graph) -> list[str]:
    """Everyone may read a bucket only if it is labelled public-read and a CDN backend
    bucket serves it (rules.py lets allUsers read such a bucket, never write)."""
    served = {p.get("bucketName") for _, p in g.of("gcp:compute/backendBucket:BackendBucket")}
    labelled = {p.get("name"): (p.get("labels") or {}).get("access") == "public-read"
                for _, p in g.of("gcp:storage/bucket:Bucket")}
    out = []
    for n, p in g.of("gcp:storage/bucketIAMMember:BucketIAMMember"):
        if p.get("member") in ("allUsers", "allAuthenticatedUsers"):
            b = p.get("bucket")
            if b not in served or not labelled.get(b):
                out.append(f"{n} lets {p.get('member')} read bucket {b}, which is not the "
                           "public-read origin of a CDN")
    for name, public in labelled.items():
        if public and name not in served:
            out.append(f"bucket {name} is labelled public-read but no CDN serves it")
    return out


def gcp_placement(g: Graph) -> list[str]:
    out = []
    for n, p in g.of("gcp:compute/instance:Instance"):
        zone = str(p.get("zone") or "")
        region = zone.rsplit("-", 1)[0]
        if zone and zone not in regions.zones("gcp", region):
            known = ", ".join(regions.zones("gcp", region)) or "none known"
            out.append(f"instance {n}: zone {zone} does not exist in {region} ({known})")
        machine = str(p.get("machineType") or "")
        if machine and regions.machine_problem("gcp", machine.rsplit("/", 1)[-1]):
            out.append(f"instance {n}: {regions.machine_problem('gcp', machine)}")
        meta = p.get("metadata") or {}
        if str(meta.get("enable-oslogin", "")).upper() == "TRUE" and meta.get("ssh-keys"):
            out.append(f"instance {n}: OS Login is on, so the key in metadata ssh-keys is "
                       "ignored and the deploy cannot log in")
    for n, p in g.of("gcp:sql/databaseInstance:DatabaseInstance"):
        tier = (p.get("settings") or {}).get("tier")
        if tier and regions.db_class_problem("gcp", tier):
            out.append(f"Cloud SQL {n}: {regions.db_class_problem('gcp', tier)}")
    return out


def aws_placement(g: Graph) -> list[str]:
    out = []
    for n, p in g.of("aws:ec2/instance:Instance"):
        problem = regions.machine_problem("aws", str(p.get("instanceType") or ""))
        if p.get("instanceType") and problem:
            out.append(f"instance {n}: {problem}")
        zone = p.get("availabilityZone")
        if zone and zone not in regions.zones("aws", zone[:-1]):
            out.append(f"instance {n}: zone {zone} does not exist")
    for n, p in g.of("aws:rds/instance:Instance"):
        problem = regions.db_class_problem("aws", str(p.get("instanceClass") or ""))
        if p.get("instanceClass") and problem:
            out.append(f"RDS {n}: {problem}")
    return out


# ---- rules deployed ----------------------------------------------------------------

def _recorded(text: str) -> set[str]:
    import yaml

    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return set()
    return {r["record"] for grp in doc.get("groups", []) for r in grp.get("rules", [])
            if "record" in r}


def recording_rules_deployed(g: Graph) -> list[str]:
    """AMP evaluates the rule namespaces deployed to it; Cloud Monitoring evaluates only
    the query of each alert policy (no recording rules are deployed there)."""
    import yaml

    out = []
    recorded: set[str] = set()
    for _, p in g.of("aws:amp/ruleGroupNamespace:RuleGroupNamespace"):
        recorded |= _recorded(str(p.get("data") or ""))
    for n, p in g.of("aws:amp/ruleGroupNamespace:RuleGroupNamespace"):
        doc = yaml.safe_load(str(p.get("data") or "")) or {}
        for grp in doc.get("groups", []):
            for r in grp.get("rules", []):
                missing = recorded_names(str(r.get("expr", ""))) - recorded
                if missing:
                    out.append(f"rule {r.get('alert') or r.get('record')} in {n} queries "
                               f"{', '.join(sorted(missing))}, recorded by no deployed rule")
    for n, p in g.of("gcp:monitoring/alertPolicy:AlertPolicy"):
        for c in _list(p.get("conditions")):
            query = str((c.get("conditionPrometheusQueryLanguage") or {}).get("query", ""))
            names = recorded_names(query)
            if names:
                out.append(f"alert policy {n} queries {', '.join(sorted(names))}: recording "
                           "rules are not deployed to Cloud Monitoring (inline them)")
    return out


STACK_RULES: dict[str, tuple[str, Callable[[Graph], list[str]]]] = {
    "kms-users-granted": ("Everyone who reads or writes data under a key may use the key.",
                          lambda g: aws_kms_users_granted(g) + gcp_kms_users_granted(g)),
    "writers-may-write": ("Each machine may do what the services it runs must do.",
                          lambda g: aws_writers_may_write(g) + gcp_writers_may_write(g)),
    "cdn-reads-origin": ("The CDN may read what it serves; its logs are accepted.",
                         lambda g: aws_cdn_reads_origin(g) + gcp_cdn_reads_origin(g)),
    "public-only-cdn-origins": ("Only the bucket a CDN serves is readable by everyone.",
                                gcp_public_only_cdn_origins),
    "publishers-may-publish": ("The managed Prometheus may publish to the alert topic.",
                               aws_publishers_may_publish),
    "placement": ("Zones and machine types exist in their region; the deploy key is used.",
                  lambda g: aws_placement(g) + gcp_placement(g)),
    "recording-rules-deployed": ("Every recording rule an alert queries is evaluated where "
                                 "the alert is.", recording_rules_deployed),
}


def graph_violations(resources: Iterable[Res]) -> list[str]:
    g = Graph(resources)
    return [f"{rule}: {v}" for rule, (_, fn) in STACK_RULES.items() for v in fn(g)]

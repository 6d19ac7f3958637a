"""The registry as a provisioned stack runs it: uploads in the packages bucket, the
signed index and approved packages in the index bucket (what the CDN serves to hosts),
the index's online keys read from Secrets Manager at start and never written to disk,
the database URL from Secrets Manager too. S3 and Secrets Manager are moto's server over
real HTTP; PostgreSQL is real."""

from __future__ import annotations

import json
import subprocess
import sys

import boto3
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..support.catalogue import CHAIN
from ..support.plugins import variant
from ..support.servers import ADMIN_TOKEN, BUCKET, S3_ENV, publish_and_approve

INDEX_BUCKET = "koha-index"


def pem() -> str:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()


def objects(client, bucket: str) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_two_buckets_and_keys_from_secrets_manager(s3_server, postgres, registry_factory,
                                                   host_factory, keys, tmp_path):
    s3 = boto3.client("s3", endpoint_url=s3_server.url, **{
        "region_name": "us-east-1", "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing"})
    s3.create_bucket(Bucket=INDEX_BUCKET)
    s3.put_bucket_policy(Bucket=INDEX_BUCKET, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{INDEX_BUCKET}/*"}]}))
    sm = boto3.client("secretsmanager", endpoint_url=s3_server.url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    # first start: the root key too (on the offline machine that makes the index)
    online = {role: pem() for role in ("targets", "snapshot", "timestamp")}
    sm.create_secret(Name="koha/index-keys", SecretString=json.dumps({**online, "root": pem()}))
    sm.create_secret(Name="koha/database", SecretString=postgres())
    env = {**s3_server.env, **S3_ENV, "AWS_ENDPOINT_URL_SECRETS_MANAGER": s3_server.url,
           "PLUGIN_REGISTRY_INDEX_BUCKET": INDEX_BUCKET,
           "PLUGIN_REGISTRY_TUF_KEYS_SECRET": "aws-sm://koha/index-keys",
           "PLUGIN_REGISTRY_DATABASE_URL": "aws-sm://koha/database"}
    reg = registry_factory(env)
    assert not (reg.data / "tuf-keys").exists()  # keys only in memory
    assert not (reg.data / "registry.db").exists()  # state in PostgreSQL

    # a package in review is in the packages bucket only
    (name, version, deps), *rest = CHAIN
    r = reg.client("publisher").post("/api/v1/packages",
                                     content=variant(tmp_path, name, version, deps, keys["key"]),
                                     headers={"Content-Type": "application/zip"})
    assert r.status_code == 201 and r.json()["state"] == "in_review", r.text
    in_review = {k for k in objects(s3, BUCKET) if k.startswith("targets/packages/")}
    assert len(in_review) == 1
    assert not any(k.startswith("targets/packages/") for k in objects(s3, INDEX_BUCKET))
    r = reg.client("reviewer").post(f"/api/v1/review/{name}/{version}",
                                    json={"decision": "approve", "comment": "ok"})
    assert r.status_code == 200, r.text
    released = {k for k in objects(s3, INDEX_BUCKET) if k.startswith("targets/packages/")}
    assert released == in_review
    for name, version, deps in rest:
        publish_and_approve(reg, variant(tmp_path, name, version, deps, keys["key"]))
    assert not any(k.startswith("metadata/") for k in objects(s3, BUCKET))

    # the index bucket alone serves hosts; the registry can be gone
    root = httpx.get(f"{s3_server.url}/{INDEX_BUCKET}/metadata/root.json").content
    (tmp_path / "root.json").write_bytes(root)
    reg.stop()
    host = host_factory(extra_args=["--registry-url", f"{s3_server.url}/{INDEX_BUCKET}",
                                    "--registry-root", str(tmp_path / "root.json")])
    r = subprocess.run([sys.executable, "-m", "plugin_host.cli", "install", "hello-world@^1",
                        "--url", host.url, "--token", ADMIN_TOKEN],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr

    # later starts need only the online keys
    sm.put_secret_value(SecretId="koha/index-keys", SecretString=json.dumps(online))
    reg.restart()
    assert reg.client().get("/readyz").status_code == 200

"""Secrets named, not written: the database URL, the admin token and plugin secrets may be
references to AWS Secrets Manager (here moto's server over real HTTP, the same API),
Google Secret Manager or a file, read once when the service starts. Google Secret
Manager has no emulator here: its path is the same code with another client and is not
exercised."""

from __future__ import annotations

import json
import subprocess
import sys

import boto3
import pytest
import sqlalchemy

from ..support.servers import S3_ENV, Host


@pytest.fixture
def secrets_manager(s3_server):
    """moto's server (it speaks Secrets Manager too) and a client for it."""
    client = boto3.client("secretsmanager", endpoint_url=s3_server.url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    env = {**S3_ENV, "AWS_ENDPOINT_URL_SECRETS_MANAGER": s3_server.url}
    return client, env


def test_the_host_reads_its_database_and_plugin_secrets_from_secrets_manager(
        secrets_manager, postgres, keys, packages, tmp_path):
    client, env = secrets_manager
    url = postgres()
    client.create_secret(Name="koha/prod/database", SecretString=json.dumps({"url": url}))
    arn = client.create_secret(Name="koha/prod/faulty-token",
                               SecretString="value-from-secrets-manager")["ARN"]
    host = Host(tmp_path / "host", keys["pub"], env={
        **env, "PLUGIN_HOST_DATABASE_URL": "aws-sm://koha/prod/database#url",
        "PLUGIN_HOST_SECRET_FAULTY_TOKEN": f"aws-sm://{arn}"}).start()
    try:
        assert host.install(packages["faulty"]).status_code == 201
        # the plugin gets the secret's value, never the reference
        r = host.client.get("/plugins/faulty/api/secret/FAULTY_TOKEN")
        assert r.status_code == 200 and r.json() == {"value": "value-from-secrets-manager"}
        # the host's state is in that PostgreSQL database, not in SQLite
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as c:
            names = {row[0] for row in c.execute(sqlalchemy.text("SELECT name FROM plugins"))}
        engine.dispose()
        assert "faulty" in names
        assert not (host.data_dir / "host.db").exists()
        # and neither value is written anywhere under the host's data folder
        for f in host.data_dir.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                assert b"value-from-secrets-manager" not in data, f
                assert url.encode() not in data, f
    finally:
        host.stop()


def test_a_reference_that_cannot_be_read_stops_the_service_with_its_name(
        secrets_manager, tmp_path):
    _, env = secrets_manager
    for var, value, words in [
        ("PLUGIN_HOST_DATABASE_URL", "aws-sm://koha/missing", "ResourceNotFoundException"),
        ("PLUGIN_HOST_SECRET_TOKEN", "aws-sm://koha/missing", "PLUGIN_HOST_SECRET_TOKEN"),
        ("PLUGIN_HOST_ADMIN_TOKEN", f"file://{tmp_path}/nope", "No such file"),
    ]:
        r = subprocess.run([sys.executable, "-m", "plugin_host.cli", "serve", "--port", "1",
                            "--data-dir", str(tmp_path / "d")],
                           env={**env, "PATH": "/usr/bin:/bin", var: value},
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (var, r.stderr)
        assert words in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (tmp_path / "d" / "host.db").exists()


def test_the_registry_takes_its_admin_token_from_a_secret(secrets_manager, tmp_path):
    client, env = secrets_manager
    client.create_secret(Name="koha/registry-admin", SecretString="registry-admin-from-sm")
    from ops.processes import free_port, start_server

    port = free_port()
    server = start_server(
        [sys.executable, "-m", "plugin_host.cli", "registry", "serve", "--port", str(port),
         "--data-dir", str(tmp_path / "reg")], tmp_path / "reg.log", port=port,
        env={**env, "PATH": "/usr/bin:/bin",
             "PLUGIN_REGISTRY_ADMIN_TOKEN": "aws-sm://koha/registry-admin"})
    try:
        import httpx

        account = {"name": "alice", "role": "user"}
        ok = httpx.post(f"{server.url}/api/v1/accounts", json=account,
                        headers={"Authorization": "Bearer registry-admin-from-sm"})
        assert ok.status_code == 201, ok.text
        assert httpx.post(f"{server.url}/api/v1/accounts", json=account, headers={
            "Authorization": "Bearer aws-sm://koha/registry-admin"}).status_code == 401
    finally:
        server.stop()

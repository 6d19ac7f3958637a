"""Settings that name a secret (plugin_host/service/secrets.py), resolved against a real
AWS Secrets Manager API (moto's server) and real files: a plain value stays itself, a
secret or one key of a JSON secret comes back, and every reference that cannot be
resolved is refused naming it and why (never a traceback, never the secret)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
import pytest

from plugin_host.service.secrets import SecretError, is_reference, resolve

from .support.servers import S3_ENV, serve


@pytest.fixture(scope="module")
def secrets_manager(tmp_path_factory):
    moto = serve(lambda p: [str(Path(sys.executable).parent / "moto_server"), "-H",
                            "127.0.0.1", "-p", str(p)],
                 tmp_path_factory.mktemp("moto") / "moto.log", "/moto-api/", env=S3_ENV)
    client = boto3.client("secretsmanager", endpoint_url=moto.url, region_name="eu-west-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_secret(Name="koha/db", SecretString=json.dumps(
        {"url": "postgresql://koha:pw@db/koha", "port": 5432, "nested": {"a": 1}}))
    client.create_secret(Name="koha/token", SecretString="t0ken-value\n")
    client.create_secret(Name="koha/binary", SecretBinary=b"b1nary")
    try:
        yield moto.url
    finally:
        moto.stop()


@pytest.fixture
def aws(secrets_manager, monkeypatch):
    for key, value in {**S3_ENV, "AWS_REGION": "eu-west-1",
                       "AWS_ENDPOINT_URL_SECRETS_MANAGER": secrets_manager}.items():
        monkeypatch.setenv(key, value)


def test_plain_values_are_themselves():
    assert not is_reference("hunter2") and resolve("hunter2") == "hunter2"
    assert not is_reference(None) and is_reference("aws-sm://x")


def test_aws_secrets_and_their_keys(aws):
    assert resolve("aws-sm://koha/token") == "t0ken-value"
    assert resolve("aws-sm://koha/db#url") == "postgresql://koha:pw@db/koha"
    assert resolve("aws-sm://koha/db#port") == "5432"
    assert resolve("aws-sm://koha/binary") == "b1nary"


@pytest.mark.parametrize(("reference", "says"), [
    ("aws-sm://koha/missing", "aws-sm://koha/missing: ResourceNotFoundException"),
    ("aws-sm://koha/db#password", "aws-sm://koha/db: the secret is not a JSON object with a "
                                  "key 'password'"),
    ("aws-sm://koha/token#url", "not a JSON object"),
    ("aws-sm://koha/db#nested", "aws-sm://koha/db#nested: not a string"),
])
def test_aws_references_that_cannot_be_resolved_are_refused(aws, reference, says):
    with pytest.raises(SecretError) as e:
        resolve(reference)
    assert says in str(e.value)
    assert "pw@db" not in str(e.value)  # never the secret itself


def test_an_unreachable_secrets_manager_is_named(monkeypatch):
    for key, value in {**S3_ENV, "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:9",
                       "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SecretError, match=r"^aws-sm://arn:aws:secretsmanager:eu-west-1:1:"
                                          r"secret:db: Could not connect"):
        resolve("aws-sm://arn:aws:secretsmanager:eu-west-1:1:secret:db")


def test_files_and_their_keys(tmp_path):
    (tmp_path / "token").write_text("from-a-file\n")
    (tmp_path / "db.json").write_text(json.dumps({"url": "sqlite:///x"}))
    assert resolve(f"file://{tmp_path}/token") == "from-a-file"
    assert resolve(f"file://{tmp_path}/db.json#url") == "sqlite:///x"
    with pytest.raises(SecretError, match=r"file:///nowhere/at/all: No such file"):
        resolve("file:///nowhere/at/all")

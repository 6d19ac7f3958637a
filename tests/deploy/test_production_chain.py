"""The production chain on this machine: stack outputs → `invoke infra.inventory` →
`invoke deploy`, then the fleet's plugin set, under load through the load balancer.

Real parts: four Debian containers (three plugin hosts, the first also running the
registry and Prometheus, and a load balancer), a real PostgreSQL server with one
database per service, a moto server standing in for S3 and Secrets Manager (the one
emulated part: AWS itself; the services reach it with dummy credentials through
`koha_service_environment`, where an instance profile would serve on AWS), and a second
Prometheus started with its remote-write receiver standing in for the managed one. The
peers listen on the containers' network gateway, this machine's address as they see it.

The stack-outputs file points at these peers; the test only adds what an operator adds
to the generated inventory (the SSH key, the root.json kept from the offline key
ceremony, the balancer host, tokens). It then checks what an operator would: packages in
the bucket, both services on PostgreSQL, secrets read from Secrets Manager and written
to no file, metrics arriving at the remote-write receiver; sign-in with the stack's
identity service (a real OpenID provider on the gateway); the declared plugin set
converged on every host; a fleet upgrade and a rollback with requests through the
balancer all the while, none failing; PostgreSQL stopped for 30 s under load, the hosts
serving and saying so (`/readyz` degraded), and catching up when it returns.

Long on purpose: every test here shares one fleet of containers started by this
module's fixtures (minutes to build); split across files, it would start twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import testinfra
import yaml

from ops.deploy import INVENTORIES
from ops.processes import free_port, start_server

from ..host.test_hot_swap import version_of
from ..support.oidc import RESOURCE, WEB_SECRET, Idp, start_idp
from ..support.paths import ROOT, TEST_PLUGINS
from ..support.plugins import signed
from ..support.servers import S3_ENV, RegistryProc, publish_and_approve, throwaway_postgres
from ..support.system import require
from ..support.waiting import Load

ENV = "chain"
HOSTS = [f"koha-{ENV}-host-{i}" for i in range(3)]
TOKEN = "chain-hosts-admin-token-0123456789"
REGISTRY_TOKEN = "chain-registry-admin-token-0123456789"
PACKAGES, INDEX = "koha-chain-packages", "koha-chain-index"
DECLARED = [{"name": "hello-world", "range": "^1"}, {"name": "versioned", "range": "~1.0"}]


@dataclass
class Peers:
    gateway: str
    moto: str
    receiver: str
    database_password: str
    tuf_pems: dict[str, str]
    root_json: Path
    db_secret_arn: str
    keys_secret_arn: str
    pg: object
    idp: Idp
    client_secret_arn: str


def invoke(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def container(name: str):
    return testinfra.get_host(f"docker://{name}")


def _aws(service: str, moto: str):
    import boto3

    return boto3.client(service, endpoint_url=moto, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _offline_index(moto: str, work: Path) -> tuple[dict[str, str], bytes]:
    """The key ceremony on the "offline machine": a registry started once with an empty
    data folder writes root v1 into the index bucket; its online keys go to the secret,
    root.pem stays here. Returns the PEMs and root.json."""
    data = work / "offline-registry"
    port = free_port()
    env = {**os.environ, **S3_ENV, "PLUGIN_REGISTRY_STORAGE": "s3",
           "PLUGIN_REGISTRY_STORAGE_BUCKET": PACKAGES, "PLUGIN_REGISTRY_INDEX_BUCKET": INDEX,
           "PLUGIN_REGISTRY_STORAGE_ENDPOINT": moto}
    server = start_server([sys.executable, "-m", "plugin_host.cli", "registry", "serve",
                           "--port", str(port), "--data-dir", str(data)],
                          work / "offline-registry.log", port=port, env=env)
    server.stop()
    pems = {role: (data / "tuf-keys" / f"{role}.pem").read_text()
            for role in ("targets", "snapshot", "timestamp")}
    root = _aws("s3", moto).get_object(Bucket=INDEX, Key="metadata/root.json")["Body"].read()
    return pems, root


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    from ops.containers import NETWORK
    from ops.docker_engine import ensure_dockerd, ensure_network, network_gateway

    require(os.geteuid() == 0, "the chain test starts dockerd and PostgreSQL: run as root")
    ensure_dockerd()
    ensure_network(NETWORK)
    gateway, subnet = network_gateway(NETWORK)
    work = tmp_path_factory.mktemp("chain")
    password = secrets.token_urlsafe(18)
    with throwaway_postgres("koha-chain-pg-", listen=f"127.0.0.1,{gateway}",
                            network=subnet) as pg, contextlib.ExitStack() as stack:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE ROLE koha LOGIN PASSWORD '{password}'")
            for db in ("koha_host", "koha_registry"):
                conn.execute(f"CREATE DATABASE {db} OWNER koha")
        port = free_port()
        moto = start_server([str(Path(sys.executable).parent / "moto_server"), "-H", gateway,
                             "-p", str(port)], work / "moto.log", port=port,
                            ready_path="/moto-api/", env={**os.environ, **S3_ENV},
                            address=gateway)
        stack.callback(moto.stop)
        s3 = _aws("s3", moto.url)
        for bucket in (PACKAGES, INDEX):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_policy(Bucket=INDEX, Policy=json.dumps({  # the CDN's read access
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{INDEX}/*"}]}))
        pems, root = _offline_index(moto.url, work)
        (work / "root.json").write_bytes(root)
        db = f"postgresql+psycopg://koha:{password}@{gateway}:{pg.port}"
        sm = _aws("secretsmanager", moto.url)
        db_arn = sm.create_secret(Name="koha/chain/database-url", SecretString=json.dumps(
            {"host": f"{db}/koha_host", "registry": f"{db}/koha_registry"}))["ARN"]
        keys_arn = sm.create_secret(Name="koha/chain/registry-signing-key",
                                    SecretString=json.dumps(pems))["ARN"]
        client_arn = sm.create_secret(Name="koha/chain/oidc-client-secret",
                                      SecretString=WEB_SECRET)["ARN"]
        # the identity service (Cognito in the cloud): a real OpenID provider
        idp = start_idp(work / "idp", ["https://registry.chain.koha.invalid/auth/oidc/callback"],
                        {"ada": ["host-admin", "admin"]}, address=gateway)
        stack.callback(idp.stop)
        rport = free_port()
        receiver = start_server(
            ["prometheus", f"--web.listen-address={gateway}:{rport}",
             "--web.enable-remote-write-receiver", f"--storage.tsdb.path={work / 'tsdb'}",
             f"--config.file={_empty_config(work)}"], work / "receiver.log", port=rport,
            ready_path="/-/ready", address=gateway)
        stack.callback(receiver.stop)
        yield Peers(gateway, moto.url, receiver.url, password, pems, work / "root.json",
                    db_arn, keys_arn, pg, idp, client_arn)


def _empty_config(work: Path) -> Path:
    path = work / "receiver.yml"
    path.write_text("global: {scrape_interval: 1h}\n")
    return path


@pytest.fixture(scope="module")
def fleet(peers, tmp_path_factory, wheelhouse):
    """The four containers, the inventory made from stack outputs, the first deploy."""
    from ops.containers import start_hosts, stop_hosts

    state = tmp_path_factory.mktemp("chain-state")
    key = state / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    started = start_hosts(f"koha-{ENV}", 4, key.with_suffix(".pub").read_text(),
                          log=lambda m: None)
    try:
        outputs = {"cloud": "aws", "environment": ENV,
                   "host_ips": [h.address for h in started[:3]],
                   "database_host": peers.gateway, "database_port": peers.pg.port,
                   "packages_bucket": PACKAGES, "index_bucket": INDEX,
                   "index_url": f"{peers.moto}/{INDEX}",
                   "issuer_url": peers.idp.issuer,
                   "oidc_clients": {"web": "marketplace", "cli": "plugin-host-cli",
                                    "ci": "ci-publisher"},
                   "oidc_client_secret": peers.client_secret_arn,
                   "oidc_token_settings": {"audiences": [RESOURCE], "groups_claim": "groups",
                                           "username_claims": ["email", "sub"],
                                           "cli_redirect_uri": "http://localhost:8765/callback"},
                   "database_url_secret": peers.db_secret_arn,
                   "signing_key_secret": peers.keys_secret_arn,
                   "prometheus_endpoint": f"{peers.receiver}/api/v1/write"}
        (state / "outputs.json").write_text(json.dumps(outputs))
        r = invoke("infra.inventory", "--stack", ENV, "--file", str(state / "outputs.json"))
        assert r.returncode == 0, r.stdout + r.stderr
        path = INVENTORIES / f"{ENV}.yml"
        inventory = yaml.safe_load(path.read_text())
        # what the operator adds to the generated inventory (docs/operations/production.md)
        inventory["all"]["vars"].update({
            "ansible_ssh_private_key_file": str(key),
            "plugin_host_registry_root_src": str(peers.root_json),
            "plugin_host_admin_token": TOKEN, "registry_admin_token": REGISTRY_TOKEN,
            "registry_storage_endpoint": peers.moto, "koha_grafana_enabled": False,
            "koha_service_environment": {**S3_ENV,
                                        "AWS_ENDPOINT_URL_SECRETS_MANAGER": peers.moto}})
        balancer = started[3]
        inventory["all"]["children"]["load_balancer"] = {"hosts": {balancer.name: {
            "ansible_host": balancer.address, "koha_address": balancer.address}}}
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
        # no deploy before the machines' host keys are recorded (no trust on first use)
        r = invoke("deploy", "--env", ENV, "--wheelhouse", str(wheelhouse))
        assert r.returncode != 0 and f"invoke known-hosts --env {ENV}" in r.stdout + r.stderr
        r = invoke("known-hosts", "--env", ENV)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count("ED25519") >= 4, r.stdout  # a fingerprint per machine
        r = invoke("deploy", "--env", ENV, "--wheelhouse", str(wheelhouse))
        assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]
        yield {"outputs": outputs, "balancer": balancer, "hosts": started[:3],
               "deploy": r, "wheelhouse": wheelhouse, "state": state}
    finally:
        if not os.environ.get("KOHA_KEEP_CHAIN"):  # to look at them after a failure
            stop_hosts(f"koha-{ENV}")
            (INVENTORIES / f"{ENV}.yml").unlink(missing_ok=True)
            (INVENTORIES / f"{ENV}.known_hosts").unlink(missing_ok=True)


def test_every_output_reaches_the_service_that_uses_it(fleet, peers):
    h0 = container(started_name(fleet, 0))
    env = h0.file("/etc/koha/registry.env").content_string
    assert f"PLUGIN_REGISTRY_STORAGE_BUCKET='{PACKAGES}'" in env
    assert f"PLUGIN_REGISTRY_INDEX_BUCKET='{INDEX}'" in env
    assert f"PLUGIN_REGISTRY_DATABASE_URL='aws-sm://{peers.db_secret_arn}#registry'" in env
    assert f"PLUGIN_REGISTRY_TUF_KEYS_SECRET='aws-sm://{peers.keys_secret_arn}'" in env
    for i in range(3):
        host_env = container(started_name(fleet, i)).file(
            "/etc/koha/plugin-host.env").content_string
        assert f"PLUGIN_HOST_DATABASE_URL='aws-sm://{peers.db_secret_arn}#host'" in host_env
        assert f"PLUGIN_HOST_REGISTRY_URL='{peers.moto}/{INDEX}'" in host_env
    # both services keep their state in PostgreSQL, each in its own database
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{peers.pg.port}/koha_registry") as c:
        tables = {r[0] for r in c.execute("SELECT tablename FROM pg_tables "
                                          "WHERE schemaname = 'public'")}
    assert {"releases", "accounts"} <= tables
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{peers.pg.port}/koha_host") as c:
        hosts = {r[0] for r in c.execute("SELECT instance FROM fleet_hosts")}
    assert hosts == {h for h in HOSTS}, hosts
    # Prometheus ships its series to the remote-write receiver
    def remote_series() -> int:
        r = httpx.get(f"{peers.receiver}/api/v1/query",
                      params={"query": f'count(up{{environment="{ENV}",cloud="aws"}})'})
        result = r.json()["data"]["result"]
        return int(result[0]["value"][1]) if result else 0

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and remote_series() < 8:
        time.sleep(3)
    assert remote_series() >= 8  # 3 hosts, registry, 4 node exporters, the balancer


def test_the_stacks_identity_service_signs_in_to_the_deployed_services(fleet, peers):
    """The issuer, clients and client secret the stack provisions reach both services:
    the CI client's token publishes-as-publisher on the registry, and is refused (403) by
    the hosts' admin API (no host-admin role); forged tokens are refused (401)."""
    token = peers.idp.client_credentials()
    registry = f"http://{fleet['hosts'][0].address}:8090"
    me = httpx.get(f"{registry}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json() == {"name": "ci-publisher", "role": "publisher",
                         "roles": ["publisher"], "provider": "oidc"}
    providers = httpx.get(f"{registry}/auth/providers").json()
    assert providers["oidc"]["issuer"] == peers.idp.issuer
    assert providers["oidc"]["cli_client_id"] == "plugin-host-cli"
    for url in host_urls(fleet):
        r = httpx.get(f"{url}/admin/plugins", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403, r.text
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        r = httpx.get(f"{url}/admin/plugins", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401, r.text
    env = container(started_name(fleet, 0)).file("/etc/koha/registry.env").content_string
    assert f"PLUGIN_REGISTRY_OIDC_CLIENT_SECRET='aws-sm://{peers.client_secret_arn}'" in env
    assert WEB_SECRET not in env


def started_name(fleet, i: int) -> str:
    return fleet["hosts"][i].name


def test_no_secret_value_is_in_any_file(fleet, peers):
    values = [peers.database_password, *(p.splitlines()[1] for p in peers.tuf_pems.values())]
    inventory = (INVENTORIES / f"{ENV}.yml").read_text()
    assert not any(v in inventory for v in values)
    for v in values:
        r = subprocess.run(["git", "grep", "-q", "-F", "-e", v], cwd=ROOT)
        assert r.returncode == 1, "a secret value is in the repository"
    for h in [*fleet["hosts"], fleet["balancer"]]:
        for v in values:
            r = container(h.name).run(f"grep -rqF -- '{v}' /etc /opt/koha /var/lib/koha "
                                      "/var/log/koha /home")
            assert r.rc == 1, f"{h.name}: a secret value is written in a file"


def fleet_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plugin_host.cli", "fleet", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PLUGIN_HOST_ADMIN_TOKEN": TOKEN})


def host_urls(fleet) -> list[str]:
    return [f"http://{h.address}:8080" for h in fleet["hosts"]]


def through_balancer(fleet, path: str) -> str:
    return f"https://{fleet['balancer'].address}{path}"


@pytest.fixture(scope="module")
def published(fleet, keys, packages, tmp_path_factory):
    """hello-world 1.0.0, versioned 1.0.0 and 1.1.0 published to the deployed registry
    and approved (their packages then live in the index bucket), and declared in
    koha_plugins by a deploy."""
    url = f"http://{fleet['hosts'][0].address}:8090"
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {REGISTRY_TOKEN}"})
    tokens = {}
    for role in ("publisher", "reviewer"):
        assert admin.post("/api/v1/accounts", json={"name": role, "role": role}
                          ).status_code == 201
        tokens[role] = admin.post(f"/api/v1/accounts/{role}/tokens").json()["token"]
    reg = RegistryProc(url, None, tokens)
    assert reg.client("publisher").post("/api/v1/keys", json={
        "public_key": keys["pub"].read_text()}).status_code == 201
    publish_and_approve(reg, packages["hello-world"])
    work = tmp_path_factory.mktemp("versions")
    for version in ("1.0.0", "1.1.0"):
        src = work / f"src-{version}"
        shutil.copytree(TEST_PLUGINS / "versioned", src)
        version_of(src, version)
        publish_and_approve(reg, signed(src, keys["key"], work / version))
    path = INVENTORIES / f"{ENV}.yml"
    inventory = yaml.safe_load(path.read_text())
    inventory["all"]["vars"]["koha_plugins"] = DECLARED
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    r = invoke("deploy", "--env", ENV, "--wheelhouse", str(fleet["wheelhouse"]))
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]
    return r


def test_the_declared_plugin_set_converges_on_every_host(fleet, published):
    out = " ".join(published.stdout.split())
    assert "fleet: 6 changes on 3 hosts, generation 1" in out, published.stdout[-3000:]
    assert "canary http://" in out and "installed versioned 1.0.0" in out
    for url in host_urls(fleet):
        r = httpx.get(f"{url}/plugins/versioned/api/version", timeout=10)
        assert r.status_code == 200 and r.json()["version"] == "1.0.0", url
    r = httpx.get(through_balancer(fleet, "/plugins/versioned/api/version"), verify=False)
    assert r.json()["version"] == "1.0.0"
    status = fleet_cli("status", "--url", host_urls(fleet)[1])
    assert status.returncode == 0, status.stdout + status.stderr
    for name in HOSTS:
        assert f"{name}: in sync, generation 1" in status.stdout, status.stdout


def test_a_fleet_upgrade_and_rollback_under_load_fail_no_request(fleet, published):
    url = through_balancer(fleet, "/plugins/versioned/api/version")
    with Load(url, field="version") as load:
        time.sleep(1)
        started = time.monotonic()
        r = subprocess.run(
            [sys.executable, "-m", "plugin_host.cli", "fleet", "apply", "-",
             *[a for u in host_urls(fleet) for a in ("--host", u)]],
            input=json.dumps([DECLARED[0], {"name": "versioned", "range": "~1.1"}]),
            capture_output=True,
            text=True, timeout=300, env={**os.environ, "PLUGIN_HOST_ADMIN_TOKEN": TOKEN})
        upgrade_s = time.monotonic() - started
        time.sleep(1)
        upgraded = list(load.seen)
        back = fleet_cli("rollback", *[a for u in host_urls(fleet) for a in ("--host", u)])
        time.sleep(1)
    assert r.returncode == 0, r.stdout + r.stderr
    assert back.returncode == 0, back.stdout + back.stderr
    assert load.failures == [], load.failures[:10]
    assert upgraded[-1] == "1.1.0" and load.seen[-1] == "1.0.0" and load.ok > 100
    print(f"fleet upgrade of 3 hosts under load: {upgrade_s:.1f} s")
    for u in host_urls(fleet):
        assert httpx.get(f"{u}/plugins/versioned/api/version").json()["version"] == "1.0.0"


def test_a_database_outage_under_load_fails_no_request(fleet, peers, published):
    """PostgreSQL stopped for 30 s: the hosts keep serving their plugins and say they
    are degraded; when it returns they report to the fleet again. (A plugin's own kv
    data lives in the database: calls that read it fail until it returns; hello-world's
    greeting does not.)"""
    url = through_balancer(fleet, "/plugins/hello-world/api/greet/Ada")
    first = host_urls(fleet)[0]
    with Load(url, field="greeting") as load:
        time.sleep(1)
        peers.pg.stop()
        stopped = time.monotonic()
        try:
            time.sleep(5)
            ready = httpx.get(f"{first}/readyz", timeout=10)
            while time.monotonic() - stopped < 30:
                time.sleep(1)
        finally:
            peers.pg.start()
        resumed = datetime_now()
        time.sleep(2)
    assert ready.status_code == 200 and ready.json()["status"] == "degraded", ready.text
    assert load.failures == [], load.failures[:10]
    assert load.ok > 100
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = json.loads(fleet_cli("status", "--json", "--url", first).stdout)
        if all(h["seen_at"] > resumed for h in status["hosts"]):
            break
        time.sleep(2)
    assert all(h["seen_at"] > resumed and not h["drift"] for h in status["hosts"]), status
    assert httpx.get(f"{first}/readyz").json()["status"] == "ready"


def datetime_now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()

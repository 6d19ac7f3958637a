"""Shared fixtures: signing keys, packed plugins and real host processes on free ports."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from ops.processes import free_port, wait_ready
from plugin_host.package.archive import pack
from plugin_host.package.signing import generate_keypair, sign_package

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TEST_PLUGINS = Path(__file__).parent / "plugins"
ADMIN_TOKEN = "test-admin-token-0123456789"


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    trusted_key, trusted_pub, _ = generate_keypair(d / "trusted")
    other_key, other_pub, _ = generate_keypair(d / "stranger")
    return {"key": trusted_key, "pub": trusted_pub, "other_key": other_key,
            "other_pub": other_pub}


@pytest.fixture(scope="session")
def packages(tmp_path_factory, keys) -> dict[str, bytes]:
    """Every example and test plugin, packed and signed by the trusted key."""
    out = tmp_path_factory.mktemp("packages")
    result = {}
    for folder in [*EXAMPLES.iterdir(), *TEST_PLUGINS.iterdir()]:
        if (folder / "plugin.toml").exists():
            path = pack(folder, out)
            sign_package(path, keys["key"])
            result[folder.name] = path.read_bytes()
    return result


def signed(folder: Path, key: Path, out: Path) -> bytes:
    path = pack(folder, out)
    sign_package(path, key)
    return path.read_bytes()


class Host:
    """A real `plugin-host serve` process."""

    def __init__(self, data_dir: Path, trusted: Path, env: dict[str, str] | None = None,
                 extra_args: list[str] | None = None):
        self.data_dir = data_dir
        self.trusted = trusted
        self.env = env or {}
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log = data_dir.parent / f"{data_dir.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Host:
        self.port = free_port()
        env = {**os.environ, **self.env}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "plugin_host.cli", "serve", "--port", str(self.port),
                 "--data-dir", str(self.data_dir), "--trusted-key", str(self.trusted),
                 "--admin-token", ADMIN_TOKEN, *self.extra_args],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            wait_ready(self.url, proc=self.proc)
        except BaseException:
            self.stop()
            raise
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.admin = httpx.Client(base_url=self.url, timeout=60,
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError, TypeError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # any worker left in the group

    def restart(self) -> Host:
        self.stop()
        return self.start()

    def install(self, data: bytes, **params) -> httpx.Response:
        return self.admin.post("/admin/plugins", content=data, params=params,
                               headers={"Content-Type": "application/zip"})

    def installed(self) -> list[str]:
        return [p["name"] for p in self.admin.get("/admin/plugins").json()["plugins"]]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def host_factory(tmp_path, keys) -> Iterator:
    hosts: list[Host] = []

    def make(**kw) -> Host:
        h = Host(tmp_path / f"host{len(hosts)}", keys["pub"], **kw).start()
        hosts.append(h)
        return h

    yield make
    for h in hosts:
        h.stop()


@pytest.fixture
def host(host_factory) -> Host:
    return host_factory()


@pytest.fixture
def plugin_copy(tmp_path):
    """Copy a plugin folder so a test can change it."""

    def copy(folder: Path) -> Path:
        dest = tmp_path / "src" / folder.name
        shutil.copytree(folder, dest)
        return dest

    return copy


def wait_until(fn, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Prober(threading.Thread):
    """Calls hello-world continuously and records any failure."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.stop_event = threading.Event()
        self.ok = 0
        self.failures: list[str] = []

    def run(self) -> None:
        with httpx.Client(timeout=5) as c:
            while not self.stop_event.is_set():
                try:
                    r = c.get(f"{self.url}/plugins/hello-world/api/greet/probe")
                    if r.status_code == 200 and r.json() == {"greeting": "Hello probe"}:
                        self.ok += 1
                    else:
                        self.failures.append(f"{r.status_code} {r.text}")
                except httpx.HTTPError as e:
                    self.failures.append(repr(e))
                time.sleep(0.01)

    def finish(self) -> None:
        self.stop_event.set()
        self.join(10)


class OpenLibrary(BaseHTTPRequestHandler):
    """A stand-in for openlibrary.org on 127.0.0.1 (a real HTTP server)."""

    seen: list[dict] = []

    def do_GET(self):
        OpenLibrary.seen.append({"path": self.path, "auth": self.headers.get("authorization")})
        if self.path == "/isbn/9780441013593.json":
            body = json.dumps({"title": "Dune"}).encode()
            self.send_response(200)
        else:
            body = b'{"error": "notfound"}'
            self.send_response(404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def openlibrary():
    server = ThreadingHTTPServer(("127.0.0.1", 0), OpenLibrary)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    OpenLibrary.seen = []
    yield server.server_address[1]
    server.shutdown()


# ---- a real registry ------------------------------------------------------------


def terminate(proc: subprocess.Popen) -> None:
    """SIGTERM a server started in its own session, and wait for it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)

REGISTRY_ADMIN = "registry-admin-token-0123456789"


@dataclass
class RegistryProc:
    url: str
    proc: subprocess.Popen
    tokens: dict[str, str] = field(default_factory=dict)
    data: Path | None = None

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        terminate(self.proc)

    @property
    def storage(self) -> Path:
        """The local storage folder (with the default storage backend)."""
        return self.data / "storage"


@pytest.fixture
def registry_factory(tmp_path, keys):
    """Start real registries (with accounts for every role and the publisher's key)."""
    procs: list[subprocess.Popen] = []

    def make(env: dict[str, str] | None = None) -> RegistryProc:
        port = free_port()
        data = tmp_path / f"registry{len(procs)}"
        with (tmp_path / f"registry{len(procs)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "plugin_host.cli", "registry", "serve", "--port",
                 str(port), "--data-dir", str(data), "--admin-token", REGISTRY_ADMIN],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, **(env or {})})
        procs.append(proc)
        reg = RegistryProc(f"http://127.0.0.1:{port}", proc, {"admin": REGISTRY_ADMIN}, data)
        wait_ready(reg.url, proc=proc)
        admin = reg.client("admin")
        for role in ("publisher", "reviewer", "user"):
            assert admin.post("/api/v1/accounts", json={"name": role, "role": role}
                              ).status_code == 201
            reg.tokens[role] = admin.post(f"/api/v1/accounts/{role}/tokens").json()["token"]
        pem = keys["pub"].read_text()
        assert reg.client("publisher").post("/api/v1/keys", json={"public_key": pem}
                                            ).status_code == 201
        return reg

    yield make
    for proc in procs:
        terminate(proc)


@pytest.fixture
def registry(registry_factory) -> RegistryProc:
    return registry_factory()


# ---- a real PostgreSQL server ----------------------------------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL 15 server; yields a function making a fresh database URL."""
    if not (PG_BIN / "initdb").exists():
        message = "PostgreSQL 15 is not installed (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    import tempfile

    # pytest's own temporary folders are private to root; PostgreSQL runs as postgres
    base = Path(tempfile.mkdtemp(prefix="koha-pg-"))
    data = base / "data"
    data.mkdir()
    shutil.chown(base, "postgres")
    shutil.chown(data, "postgres")
    port = free_port()

    def as_postgres(cmd: str) -> None:
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", cmd], check=True,
                       capture_output=True)

    as_postgres(f"{PG_BIN}/initdb -D {data} -U postgres -A trust --no-sync -E UTF8 "
                "--locale=C.UTF-8")
    as_postgres(f"{PG_BIN}/pg_ctl -D {data} -l {base}/log -w start -o "
                f"'-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off'")
    counter = iter(range(1000))

    def new_database() -> str:
        import psycopg

        name = f"db{next(counter)}"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{name}"

    try:
        yield new_database
    finally:
        as_postgres(f"{PG_BIN}/pg_ctl -D {data} -w -m immediate stop")
        shutil.rmtree(base, ignore_errors=True)


# ---- object storage and static file servers ----------------------------------------


@dataclass
class Served:
    """A real server process on a free port: the registry's storage or a static mirror."""

    url: str
    proc: subprocess.Popen
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        terminate(self.proc)


def _serve(cmd: list[str], log: Path, url: str, ready_path: str, env=None) -> Served:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, **(env or {})})
    served = Served(url, proc)
    try:
        wait_ready(url, proc=proc, path=ready_path)
    except BaseException:
        served.stop()
        raise
    return served


@pytest.fixture
def static_server(tmp_path) -> Iterator:
    """Serve a folder over HTTP with Python's own static file server."""
    started: list[Served] = []

    def serve(folder: Path) -> Served:
        port = free_port()
        s = _serve([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                    "--directory", str(folder)], tmp_path / f"static{port}.log",
                   f"http://127.0.0.1:{port}", "/")
        started.append(s)
        return s

    yield serve
    for s in started:
        s.stop()


BUCKET = "koha-plugins"
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def s3_server(tmp_path) -> Iterator[Served]:
    """moto's S3 server over HTTP, with the registry's bucket created."""
    import boto3

    port = free_port()
    s = _serve([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p",
                str(port)], tmp_path / "moto.log", f"http://127.0.0.1:{port}",
               "/moto-api/", env=S3_ENV)
    client = boto3.client("s3", endpoint_url=s.url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=BUCKET)
    # hosts read the index anonymously: in production through the CDN infra/ puts in
    # front of a private bucket; here a public-read policy on the emulator stands in
    client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "PublicIndex", "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}))
    s.env = {**S3_ENV, "PLUGIN_REGISTRY_STORAGE": "s3", "PLUGIN_REGISTRY_STORAGE_BUCKET": BUCKET,
             "PLUGIN_REGISTRY_STORAGE_ENDPOINT": s.url}
    yield s
    s.stop()


@pytest.fixture
def gcs_server(tmp_path) -> Iterator[Served]:
    """gcp-storage-emulator over HTTP, with the registry's bucket created."""
    port = free_port()
    s = _serve([str(Path(sys.executable).parent / "gcp-storage-emulator"), "start", "--host",
                "127.0.0.1", "--port", str(port), "--in-memory", "--default-bucket", BUCKET],
               tmp_path / "gcs.log", f"http://127.0.0.1:{port}", "/")
    s.env = {"PLUGIN_REGISTRY_STORAGE": "gcs", "PLUGIN_REGISTRY_STORAGE_BUCKET": BUCKET,
             "PLUGIN_REGISTRY_STORAGE_ENDPOINT": s.url}
    yield s
    s.stop()

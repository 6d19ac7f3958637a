"""Real servers for the tests, each a process on a free port started through
ops.processes: the plugin host, the registry, static file servers, S3 (moto) and GCS
emulators, a stand-in for an upstream HTTP API, and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from ops.processes import Server, free_port, open_for_workers, start_server

ADMIN_TOKEN = "test-admin-token-0123456789"
HOOK_SECRET = "test-hook-secret-0123456789abcdefghij"
REGISTRY_ADMIN = "registry-admin-token-0123456789"
BUCKET = "koha-plugins"
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_DEFAULT_REGION": "us-east-1"}


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    # not pytest's own (a parametrized test id can pass the kernel's 128 KiB per variable)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    return {**env, **(extra or {})}


class Host:
    """A real `plugin-host serve` process."""

    def __init__(self, data_dir: Path, trusted: Path, env: dict[str, str] | None = None,
                 extra_args: list[str] | None = None, user: tuple[int, int] | None = None,
                 port: int | None = None):
        """``user``: (uid, gid) to run the host as, instead of the test's own user (the
        data folder is given to it). ``port``: where to listen (default: any free one)."""
        self.data_dir = data_dir
        self.trusted = trusted
        self.env = env or {}
        self.extra_args = extra_args or []
        self.user = user
        self.server: Server | None = None
        self.fixed_port = port
        self.port = 0
        self.log = data_dir.parent / f"{data_dir.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.server.proc if self.server else None

    def start(self) -> Host:
        open_for_workers(self.data_dir)
        prefix: list[str] = []
        if self.user is not None:
            uid, gid = self.user
            for p in (self.data_dir, *self.data_dir.rglob("*")):
                os.chown(p, uid, gid)
            prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
        self.port = self.fixed_port or free_port()
        self.server = start_server(
            [*prefix, sys.executable, "-m", "plugin_host.cli", "serve", "--port", str(self.port),
             "--data-dir", str(self.data_dir), "--trusted-key", str(self.trusted),
             "--admin-token", ADMIN_TOKEN, *self.extra_args],
            self.log, port=self.port, env=_env({"PLUGIN_HOST_HOOK_SECRET": HOOK_SECRET,
                                                **self.env}))
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.admin = httpx.Client(base_url=self.url, timeout=60,
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()  # the host and any worker left in its group

    def restart(self) -> Host:
        self.stop()
        return self.start()

    def install(self, data: bytes, **params) -> httpx.Response:
        return self.admin.post("/admin/plugins", content=data, params=params,
                               headers={"Content-Type": "application/zip"})

    def hook(self, event: str, payload: object = None, content: bytes | None = None,
             secret: str = HOOK_SECRET) -> httpx.Response:
        """Deliver a Koha event as the Koha bridge does: signed with the hook secret."""
        from plugin_host.hook_signature import signed_headers

        body = content if content is not None else json.dumps(payload).encode()
        return self.client.post(f"/hooks/{event}", content=body,
                                headers=signed_headers(secret, f"/hooks/{event}", body))

    def installed(self) -> list[str]:
        return [p["name"] for p in self.admin.get("/admin/plugins").json()["plugins"]]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class RegistryProc:
    """A real `plugin-host registry serve` process with an account per role."""

    url: str
    server: Server
    tokens: dict[str, str] = field(default_factory=dict)
    data: Path | None = None
    log: Path | None = None
    env: dict[str, str] | None = None

    @property
    def proc(self) -> subprocess.Popen:
        return self.server.proc

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        self.server.stop()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown runs."""
        self.server.proc.kill()
        self.server.proc.wait()
        self.server.stop()

    def restart(self) -> RegistryProc:
        """Start it again on the same data (accounts and tokens kept), on a new port."""
        port = free_port()
        self.server = start_server(_registry_argv(self.data, port), self.log, port=port,
                                   env=_env(self.env))
        self.url = self.server.url
        return self

    @property
    def storage(self) -> Path:
        """The local storage folder (with the default storage backend)."""
        return self.data / "storage"


def _registry_argv(data: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "plugin_host.cli", "registry", "serve", "--port", str(port),
            "--data-dir", str(data), "--admin-token", REGISTRY_ADMIN]


def start_registry(data: Path, log: Path, publisher_pem: str,
                   env: dict[str, str] | None = None, port: int | None = None) -> RegistryProc:
    """A registry with accounts publisher, reviewer and user, and the publisher's key."""
    port = port or free_port()
    server = start_server(_registry_argv(data, port), log, port=port, env=_env(env),
                          append=False)
    reg = RegistryProc(server.url, server, {"admin": REGISTRY_ADMIN}, data, log, env)
    try:
        admin = reg.client("admin")
        for role in ("publisher", "reviewer", "user"):
            assert admin.post("/api/v1/accounts", json={"name": role, "role": role}
                              ).status_code == 201
            reg.tokens[role] = admin.post(f"/api/v1/accounts/{role}/tokens").json()["token"]
        assert reg.client("publisher").post("/api/v1/keys", json={"public_key": publisher_pem}
                                            ).status_code == 201
    except BaseException:
        reg.stop()
        raise
    return reg


def publish_and_approve(reg: RegistryProc, data: bytes) -> dict:
    r = reg.client("publisher").post("/api/v1/packages", content=data,
                                     headers={"Content-Type": "application/zip"})
    assert r.status_code == 201 and r.json()["state"] == "in_review", r.text
    body = r.json()
    r = reg.client("reviewer").post(f"/api/v1/review/{body['plugin']}/{body['version']}",
                                    json={"decision": "approve", "comment": "looks fine"})
    assert r.status_code == 200, r.text
    return r.json()


@dataclass
class Served:
    """A real server process on a free port: the registry's storage or a static mirror."""

    url: str
    server: Server
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        self.server.stop()


def serve(cmd_for_port: Callable[[int], list[str]], log: Path, ready_path: str,
          env: dict[str, str] | None = None) -> Served:
    port = free_port()
    server = start_server(cmd_for_port(port), log, port=port, ready_path=ready_path,
                          env=_env(env), append=False)
    return Served(server.url, server)


def static_files(folder: Path, log: Path) -> Served:
    """Python's own static file server over ``folder``."""
    return serve(lambda p: [sys.executable, "-m", "http.server", str(p), "--bind",
                            "127.0.0.1", "--directory", str(folder)], log, "/")


def s3(log: Path) -> Served:
    """moto's S3 server over HTTP, with the registry's bucket created and readable
    anonymously (in production the CDN in front of a private bucket stands there)."""
    import boto3

    s = serve(lambda p: [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1",
                         "-p", str(p)], log, "/moto-api/", env=S3_ENV)
    client = boto3.client("s3", endpoint_url=s.url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "PublicIndex", "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}))
    s.env = {**S3_ENV, "PLUGIN_REGISTRY_STORAGE": "s3", "PLUGIN_REGISTRY_STORAGE_BUCKET": BUCKET,
             "PLUGIN_REGISTRY_STORAGE_ENDPOINT": s.url}
    return s


def gcs(log: Path) -> Served:
    """gcp-storage-emulator over HTTP, with the registry's bucket created."""
    s = serve(lambda p: [str(Path(sys.executable).parent / "gcp-storage-emulator"), "start",
                         "--host", "127.0.0.1", "--port", str(p), "--in-memory",
                         "--default-bucket", BUCKET], log, "/")
    s.env = {"PLUGIN_REGISTRY_STORAGE": "gcs", "PLUGIN_REGISTRY_STORAGE_BUCKET": BUCKET,
             "PLUGIN_REGISTRY_STORAGE_ENDPOINT": s.url}
    return s


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


@contextmanager
def serve_in_thread(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """An HTTP server with ``handler`` in a thread of this process, on a free loopback
    port; yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True  # a handler still sleeping never holds up the test
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def openlibrary() -> Iterator[int]:
    """The OpenLibrary stand-in on a free port; yields the port."""
    OpenLibrary.seen = []
    with serve_in_thread(OpenLibrary) as port:
        yield port


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@contextmanager
def throwaway_postgres(prefix: str = "koha-pg-", **options) -> Iterator[Callable[[], str]]:
    """:func:`postgres_server` in a temporary folder of its own (pytest's are private
    to root, and PostgreSQL runs as postgres), removed afterwards."""
    from .system import require

    require((PG_BIN / "initdb").exists(),
            "PostgreSQL 15 is not installed (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with postgres_server(base, **options) as new_database:
            yield new_database
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def postgres_server(base: Path, listen: str = "127.0.0.1", network: str | None = None
                    ) -> Iterator[Callable[[], str]]:
    """A throwaway PostgreSQL 15 server in ``base`` (which it owns: PostgreSQL runs as
    the postgres user); yields a function making a fresh database URL. ``listen``: the
    addresses it listens on; ``network``: a CIDR whose clients may log in with a
    password (the server's own address is trusted)."""
    data = base / "data"
    data.mkdir()
    shutil.chown(base, "postgres")
    shutil.chown(data, "postgres")
    port = free_port()

    def as_postgres(cmd: str) -> None:
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", cmd], check=True,
                       capture_output=True)

    def start() -> None:
        as_postgres(f"{PG_BIN}/pg_ctl -D {data} -l {base}/log -w start -o "
                    f"'-p {port} -k {base} -c listen_addresses={listen} -c fsync=off'")

    def stop() -> None:
        as_postgres(f"{PG_BIN}/pg_ctl -D {data} -w -m fast stop")

    as_postgres(f"{PG_BIN}/initdb -D {data} -U postgres -A trust --no-sync -E UTF8 "
                "--locale=C.UTF-8")
    if network:
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {network} scram-sha-256\n")
    start()
    counter = iter(range(1000))

    def new_database() -> str:
        import psycopg

        name = f"db{next(counter)}"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{name}"

    new_database.stop, new_database.start = stop, start  # type: ignore[attr-defined]
    new_database.port = port  # type: ignore[attr-defined]
    try:
        yield new_database
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped by a test
            as_postgres(f"{PG_BIN}/pg_ctl -D {data} -w -m immediate stop")

"""Publish → checks → review → approve → a host installs hello-world@^1 with its
dependency chain from the registry's signed (TUF) index while the registry is stopped.

The same flow runs on SQLite + a local folder (served by a static file server),
PostgreSQL + S3 (moto's S3 server over HTTP) and SQLite + GCS (gcp-storage-emulator over
HTTP): real TUF metadata, real servers, the host reading with TUF's ngclient.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import httpx
import pytest

from ..support.catalogue import CHAIN, publish_chain
from ..support.servers import ADMIN_TOKEN, BUCKET


def install_cli(host, requirement: str) -> subprocess.CompletedProcess:
    """`plugin-host install NAME@RANGE`, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "plugin_host.cli", "install", requirement, "--url", host.url],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PLUGIN_HOST_ADMIN_TOKEN": ADMIN_TOKEN})


@pytest.mark.parametrize("backend", ["sqlite+local", "postgresql+s3", "sqlite+gcs"])
def test_install_from_the_signed_index_with_the_registry_stopped(
        backend, request, registry_factory, host_factory, static_server, keys, tmp_path):
    env: dict[str, str] = {}
    if backend == "postgresql+s3":
        s3 = request.getfixturevalue("s3_server")
        env = {**s3.env, "PLUGIN_REGISTRY_DATABASE_URL": request.getfixturevalue("postgres")()}
        index_url = f"{s3.url}/{BUCKET}"
    elif backend == "sqlite+gcs":
        gcs = request.getfixturevalue("gcs_server")
        env = dict(gcs.env)
        index_url = f"{gcs.url}/{BUCKET}"
    reg = registry_factory(env)
    publish_chain(reg, tmp_path, keys["key"])
    status = reg.client().get("/api/v1/index").json()
    assert status["roles"]["timestamp"]["version"] >= 4  # first start + three approvals

    # the operator copies root.json to the host once and checks its fingerprint
    root = httpx.get(f"{index_url}/metadata/root.json").content if env else (
        reg.storage / "metadata" / "root.json").read_bytes()
    import hashlib
    assert hashlib.sha256(root).hexdigest() == status["root_sha256"]
    (tmp_path / "root.json").write_bytes(root)

    reg.stop()
    if not env:  # a local folder: any static file server will do
        index_url = static_server(reg.storage).url
    host = host_factory(extra_args=["--registry-url", index_url,
                                    "--registry-root", str(tmp_path / "root.json")])
    result = install_cli(host, "hello-world@^1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"installed {n} {v}" for n, v, _ in CHAIN]
    plugins = {p["name"]: p for p in host.admin.get("/admin/plugins").json()["plugins"]}
    assert {n: p["version"] for n, p in plugins.items()} == {n: v for n, v, _ in CHAIN}
    assert all(p["state"] == "enabled" for p in plugins.values()), plugins
    r = host.client.get("/plugins/hello-world/api/greet/Ada")
    assert r.status_code == 200, r.text

    # browsing what the index offers: by part of the name, at most `limit` of them
    offered = host.admin.get("/admin/registry", params={"q": "marc", "limit": 5}).json()
    assert offered["total"] == 1 and list(offered["plugins"]) == ["marc-utils"], offered
    assert offered["plugins"]["marc-utils"]["versions"][0]["version"] == "2.1.0"
    first = host.admin.get("/admin/registry", params={"limit": 1}).json()
    assert first["total"] == len(CHAIN) and list(first["plugins"]) == ["base-lib"], first
    one = host.admin.get("/admin/registry", params={"name": "marc-utils"}).json()
    assert list(one["plugins"]) == ["marc-utils"] and one["total"] == 1, one
    none = host.admin.get("/admin/registry", params={"name": "no-such-plugin"}).json()
    assert none["plugins"] == {} and none["total"] == 0, none
    bad = host.admin.get("/admin/registry", params={"name": "../x"})
    assert bad.status_code == 422 and "name" in bad.text, bad.text

    # installing again upgrades to what the range selects: here it already runs it;
    # a range nothing satisfies is explained
    r = host.admin.post("/admin/plugins", json={"name": "hello-world", "range": "^1"})
    assert r.status_code == 200 and r.json()["upgraded"] is None, r.text
    assert r.json()["version"] == "1.1.0"
    r = host.admin.post("/admin/plugins", json={"name": "marc-utils-x", "range": "^9"})
    assert r.status_code == 409, r.text
    assert "marc-utils-x ^9" in r.json()["error"]["message"]


def test_a_failing_member_of_the_set_leaves_nothing_installed(
        registry, host_factory, static_server, keys, tmp_path):
    """The chain is installed all or nothing: a dependency that cannot start (here: its
    package is signed by a key the index does not list for it, so the host refuses it)
    → no plugin of the set stays."""
    publish_chain(registry, tmp_path, keys["key"])
    registry.stop()
    storage = registry.storage
    shutil.copy(storage / "metadata" / "root.json", tmp_path / "root.json")
    mirror = static_server(storage)
    host = host_factory(extra_args=["--registry-url", mirror.url,
                                    "--registry-root", str(tmp_path / "root.json")])
    # break the last of the chain: remove hello-world's package from the mirror
    for f in (storage / "targets" / "packages" / "hello-world").iterdir():
        f.unlink()
    r = host.admin.post("/admin/plugins", json={"name": "hello-world", "range": "^1"})
    assert r.status_code == 502, r.text
    assert "missing from the registry index" in r.json()["error"]["message"]
    assert host.installed() == []
    assert not any((host.data_dir / "plugins").glob("*/*"))


def test_bad_install_requests_are_refused_clearly(host_factory, tmp_path):
    host = host_factory()
    r = host.admin.post("/admin/plugins", json={"name": "hello-world", "range": "^1"})
    assert r.status_code == 501
    assert "registry_url" in r.json()["error"]["message"]
    (tmp_path / "root.json").write_text("{}")
    host2 = host_factory(extra_args=["--registry-url", "http://127.0.0.1:9",
                                     "--registry-root", str(tmp_path / "root.json")])
    r = host2.admin.post("/admin/plugins", json={"name": "Bad Name", "range": "^^1"})
    assert r.status_code == 422
    assert "name: 'Bad Name'" in r.text and "range: '^^1'" in r.text
    r = host2.admin.post("/admin/plugins", content=b"[1]",
                         headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON object" in r.text


def test_an_upgrade_that_fails_takes_its_new_dependencies_back_out(
        registry, host_factory, static_server, keys, tmp_path, plugin_copy):
    """Asking to install a plugin that is there upgrades it from the index; a new version
    bringing a new dependency, that then fails its health check, leaves the old version
    serving and the dependency it brought removed. A healthy one gets both."""
    from ..host.test_hot_swap import version_of
    from ..support.paths import TEST_PLUGINS
    from ..support.plugins import signed, variant
    from ..support.servers import publish_and_approve

    def versioned(version: str, healthy: bool = True, needs_base: bool = False) -> bytes:
        src = plugin_copy(TEST_PLUGINS / "versioned")
        version_of(src, version, healthy=healthy)
        if needs_base:
            toml = src / "plugin.toml"
            toml.write_text(toml.read_text().replace(
                "[backend]", '[dependencies]\n"base-lib" = "^2"\n\n[backend]'))
        data = signed(src, keys["key"], tmp_path / f"v{version}")
        shutil.rmtree(src)
        return data

    publish_and_approve(registry, variant(tmp_path, "base-lib", "2.0.0", key=keys["key"]))
    publish_and_approve(registry, versioned("1.0.0"))
    shutil.copy(registry.storage / "metadata" / "root.json", tmp_path / "root.json")
    host = host_factory(extra_args=["--registry-url", static_server(registry.storage).url,
                                    "--registry-root", str(tmp_path / "root.json")])
    assert install_cli(host, "versioned@^1").returncode == 0
    publish_and_approve(registry, versioned("1.1.0", healthy=False, needs_base=True))

    result = install_cli(host, "versioned@^1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "health" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert host.installed() == ["versioned"]
    assert host.client.get("/plugins/versioned/api/version").json()["version"] == "1.0.0"
    assert not (host.data_dir / "plugins" / "base-lib").exists() or not any(
        (host.data_dir / "plugins" / "base-lib").iterdir())

    publish_and_approve(registry, versioned("1.1.1", needs_base=True))
    result = install_cli(host, "versioned@^1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "installed base-lib 2.0.0" in result.stdout, result.stdout
    assert sorted(host.installed()) == ["base-lib", "versioned"]
    assert host.client.get("/plugins/versioned/api/version").json()["version"] == "1.1.1"

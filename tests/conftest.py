"""Fixtures shared by every test: signing keys, packed plugins, real host and registry
processes, PostgreSQL, object storage. What they build on is in tests/support/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugin_host.package.signing import generate_keypair

from .support.paths import EXAMPLES, FIRST_PARTY, TEST_PLUGINS
from .support.plugins import signed
from .support.servers import (
    Host,
    RegistryProc,
    Served,
    gcs,
    s3,
    start_registry,
    static_files,
    throwaway_postgres,
)
from .support.servers import (
    openlibrary as openlibrary_server,
)


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    trusted_key, trusted_pub, _ = generate_keypair(d / "trusted")
    other_key, other_pub, _ = generate_keypair(d / "stranger")
    return {"key": trusted_key, "pub": trusted_pub, "other_key": other_key,
            "other_pub": other_pub}


@pytest.fixture(scope="session")
def packages(tmp_path_factory, keys) -> dict[str, bytes]:
    """Every example, first-party and test plugin, packed and signed by the trusted key."""
    out = tmp_path_factory.mktemp("packages")
    return {folder.name: signed(folder, keys["key"], out)
            for folder in [*EXAMPLES.iterdir(), *FIRST_PARTY.iterdir(), *TEST_PLUGINS.iterdir()]
            if (folder / "plugin.toml").exists()}


@pytest.fixture
def host_factory(tmp_path, keys) -> Iterator:
    """Start real plugin hosts trusting the test key; all stopped afterwards."""
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


@pytest.fixture
def openlibrary() -> Iterator[int]:
    """The port of a stand-in for openlibrary.org (a real HTTP server)."""
    with openlibrary_server() as port:
        yield port


@pytest.fixture
def registry_factory(tmp_path, keys) -> Iterator:
    """Start real registries (with accounts for every role and the publisher's key)."""
    started: list[RegistryProc] = []

    def make(env: dict[str, str] | None = None) -> RegistryProc:
        n = len(started)
        reg = start_registry(tmp_path / f"registry{n}", tmp_path / f"registry{n}.log",
                             keys["pub"].read_text(), env)
        started.append(reg)
        return reg

    yield make
    for reg in started:
        reg.stop()


@pytest.fixture
def registry(registry_factory) -> RegistryProc:
    return registry_factory()


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL 15 server; yields a function making a fresh database URL."""
    with throwaway_postgres() as new_database:
        yield new_database


@pytest.fixture
def static_server(tmp_path) -> Iterator:
    """Serve a folder over HTTP with Python's own static file server."""
    started: list[Served] = []

    def serve(folder: Path) -> Served:
        s = static_files(folder, tmp_path / f"static{len(started)}.log")
        started.append(s)
        return s

    yield serve
    for s in started:
        s.stop()


@pytest.fixture
def s3_server(tmp_path) -> Iterator[Served]:
    """moto's S3 server over HTTP, with the registry's bucket created."""
    s = s3(tmp_path / "moto.log")
    yield s
    s.stop()


@pytest.fixture
def gcs_server(tmp_path) -> Iterator[Served]:
    """gcp-storage-emulator over HTTP, with the registry's bucket created."""
    s = gcs(tmp_path / "gcs.log")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory) -> Path:
    """The wheelhouse of `invoke build` for this tree (the wheel and its dependencies),
    built once per session."""
    from ops.build import build as build_artifacts

    out = tmp_path_factory.mktemp("dist")
    build_artifacts(out)
    return out / "wheelhouse"

"""schemathesis over both OpenAPI documents, against real services: bounded examples, a
fixed seed, a token of each role. No server error, no undocumented status, no response
that breaks its schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .support.servers import ADMIN_TOKEN

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"


def schemathesis(url: str, token: str | None, tmp: Path, *exclude: str
                 ) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{url}/openapi.json",
           "-n", "20", "--seed", "1", "-c", CHECKS, "--no-color"]
    for path in exclude:
        cmd += ["--exclude-path", path]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp)


@pytest.fixture
def host_with_registry(registry, static_server, host_factory, tmp_path):
    """A host reading a registry's (empty) signed index: installs and upgrades by name
    are tried for real (not refused as unconfigured)."""
    root = tmp_path / "root.json"
    root.write_bytes((registry.storage / "metadata" / "root.json").read_bytes())
    return host_factory(extra_args=["--registry-url", static_server(registry.storage).url,
                                    "--registry-root", str(root)])


@pytest.mark.parametrize("token", ["admin", None], ids=["admin", "anonymous"])
def test_the_host_api_holds_to_its_schema(host_with_registry, packages, tmp_path, token):
    host = host_with_registry
    assert host.install(packages["hello-world"]).status_code == 201
    # the log's follow mode is a stream that lasts as long as the caller stays
    # (tests/host/test_traces.py); its plain answer is checked in tests/test_api_answers.py
    r = schemathesis(host.url, ADMIN_TOKEN if token else None, tmp_path,
                     "/admin/plugins/{name}/logs")
    assert r.returncode == 0, r.stdout[-6000:]
    assert " passed" in r.stdout


@pytest.mark.parametrize("role", ["admin", "publisher", "reviewer", "user", None])
def test_the_registry_api_holds_to_its_schema(registry, tmp_path, role):
    # package uploads (application/zip only: schemathesis cannot make one) have their own
    # hostile-input tests (tests/registry/test_hostile_input.py)
    r = schemathesis(registry.url, registry.tokens[role] if role else None, tmp_path,
                     "/api/v1/packages")
    assert r.returncode == 0, r.stdout[-6000:]
    assert " passed" in r.stdout

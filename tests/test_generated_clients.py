"""Clients generated from the OpenAPI documents come out typed and work: openapi-python-
client generates one per document (operations named as the API names them, answer
models, package uploads as a file argument), and each drives a real service: the host
client installs a package and reads it back as typed models, the registry client
publishes, searches and is told "not found" as the typed error body.

Plugin routes answer whatever their plugin answers (``*/*``), so the generator leaves
their answer untyped, as it says; SAML metadata is XML for people to copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .support.servers import ADMIN_TOKEN

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
#: the generator's complaints we expect, and only these
EXPECTED_WARNINGS = {"GET /plugins/{name}/api/{path}", "POST /plugins/{name}/api/{path}",
                     "PUT /plugins/{name}/api/{path}", "PATCH /plugins/{name}/api/{path}",
                     "DELETE /plugins/{name}/api/{path}", "HEAD /plugins/{name}/api/{path}",
                     "OPTIONS /plugins/{name}/api/{path}", "GET /auth/saml/metadata"}


@pytest.fixture(scope="module")
def clients(tmp_path_factory) -> Path:
    from ops.docs_api import documents

    out = tmp_path_factory.mktemp("clients")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for name, doc in documents().items():
        source = out / f"{name}.openapi.json"
        source.write_text(json.dumps(doc))
        r = subprocess.run([str(GENERATOR), "generate", "--path", str(source), "--output-path",
                            str(out / f"koha_{name}"), "--meta", "none"],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        warned = {line.removeprefix("WARNING parsing ").split(" within ")[0]
                  for line in r.stdout.splitlines() if line.startswith("WARNING parsing")}
        assert warned <= EXPECTED_WARNINGS, warned - EXPECTED_WARNINGS
    return out


def run_client(clients: Path, script: str, **values: str) -> dict:
    """Run ``script`` with the generated packages importable; it prints one JSON line."""
    prelude = "".join(f"{k} = {v!r}\n" for k, v in values.items())
    r = subprocess.run([sys.executable, "-c", prelude + script], capture_output=True,
                       text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(clients)})
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


HOST_SCRIPT = """
import json
from koha_host import AuthenticatedClient
from koha_host.api.admin import install_plugin, list_plugins, show_plugin
from koha_host.models import Installed, PluginDetail, PluginList
from koha_host.types import File

client = AuthenticatedClient(base_url=URL, token=TOKEN)
with open(PACKAGE, "rb") as f:
    installed = install_plugin.sync(client=client, body=File(payload=f, file_name="p.kplugin",
                                                             mime_type="application/octet-stream"))
listed = list_plugins.sync(client=client)
detail = show_plugin.sync(name="hello-world", client=client)
assert isinstance(installed, Installed), installed
assert isinstance(listed, PluginList) and isinstance(detail, PluginDetail)
print(json.dumps({"installed": installed.name, "listed": [p.name for p in listed.plugins],
                  "state": detail.state, "layers": detail.sandbox.additional_properties,
                  "workers": detail.runtime.configured_workers, "routes": detail.routes}))
"""


def test_a_generated_host_client_installs_and_reads_typed_answers(clients, host, packages,
                                                                   tmp_path):
    package = tmp_path / "hello-world.kplugin"
    package.write_bytes(packages["hello-world"])
    out = run_client(clients, HOST_SCRIPT, URL=host.url, TOKEN=ADMIN_TOKEN,
                     PACKAGE=str(package))
    assert out["installed"] == "hello-world" and out["listed"] == ["hello-world"]
    assert out["state"] == "enabled" and out["workers"] == 1
    assert ["GET", "/greet/{name}"] in out["routes"]
    assert "process" in out["layers"]["layers"]


REGISTRY_SCRIPT = """
import json
from koha_registry import AuthenticatedClient
from koha_registry.api.catalogue import get_plugin, search_plugins
from koha_registry.api.publishing import publish_package
from koha_registry.models import ErrorBody, PluginPage, Published, Search
from koha_registry.types import File

client = AuthenticatedClient(base_url=URL, token=TOKEN)
with open(PACKAGE, "rb") as f:
    published = publish_package.sync(client=client, body=File(payload=f, file_name="p.kplugin"))
missing = get_plugin.sync(name="no-such-plugin", client=client)
found = search_plugins.sync(client=client)
page = get_plugin.sync(name="hello-world", client=client)
assert isinstance(published, Published), published
assert isinstance(missing, ErrorBody) and isinstance(found, Search), (missing, found)
print(json.dumps({"state": published.state,
                  "checks": {c.name: c.status for c in published.checks},
                  "missing": [missing.error.code, missing.error.message],
                  "page": [type(page).__name__, [v.state for v in page.versions]]}))
"""


def test_a_generated_registry_client_publishes_and_reads_typed_errors(clients, registry,
                                                                      packages, tmp_path):
    package = tmp_path / "hello-world.kplugin"
    package.write_bytes(packages["hello-world"])
    out = run_client(clients, REGISTRY_SCRIPT, URL=registry.url,
                     TOKEN=registry.tokens["publisher"], PACKAGE=str(package))
    assert out["state"] == "in_review"
    assert out["checks"]["smoke-load"] == "pass"
    assert out["missing"][0] == "not_found" and "no-such-plugin" in out["missing"][1]
    # its publisher sees the release in review on its page, typed
    assert out["page"] == ["PluginPage", ["in_review"]]

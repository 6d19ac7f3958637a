"""The API reference at 100 %, and true: every operation of both OpenAPI documents has a
summary, a description, an example request and answer, a typed schema and its error
statuses with the one error body (tests/support/openapi_check.py); and the answers a
real host and registry give, driven through their main flows, fit the schemas the
documents give for them."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from ops.docs_api import documents as api_documents
from plugin_host.registry.app import create_app as registry_app
from plugin_host.registry.settings import RegistrySettings

from .support.openapi_check import gaps


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    """Both documents as the services serve them (and the docs site renders them)."""
    return api_documents()


@pytest.mark.parametrize("service", ["host", "registry"])
def test_every_operation_is_documented_in_full(documents, service):
    assert gaps(documents[service]) == []
    assert len(documents[service]["paths"]) > 20


def test_the_check_names_an_operation_that_loses_its_example(tmp_path):
    """Shown once: take the example off one route's answer model and the check fails,
    naming the route."""
    from plugin_host.registry.api import models

    saved = models.Deprecated.model_config.get("json_schema_extra")
    models.Deprecated.model_config["json_schema_extra"] = None
    try:
        app = registry_app(RegistrySettings(data_dir=tmp_path, admin_token="y" * 20))
        models.Deprecated.model_rebuild(force=True)
        found = gaps(app.openapi())
    finally:
        models.Deprecated.model_config["json_schema_extra"] = saved
        models.Deprecated.model_rebuild(force=True)
    assert found == ["POST /api/v1/plugins/{name}/deprecate (deprecate): 200 application/json "
                     "has no example"]


def answer_schema(doc: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    op = doc["paths"][path][method.lower()]
    media = op["responses"][str(status)]["content"]["application/json"]
    return {**media["schema"], "components": doc["components"]}


class Checked:
    """An HTTP client whose every JSON answer is checked against the document's schema
    for that operation and status."""

    def __init__(self, client: httpx.Client, doc: dict[str, Any]):
        self.client, self.doc, self.seen = client, doc, set()

    def __call__(self, method: str, template: str, status: int, **kw) -> Any:
        url = template.format(**kw.pop("path", {}))
        r = self.client.request(method, url, **kw)
        assert r.status_code == status, (method, url, r.status_code, r.text[:500])
        jsonschema.validate(r.json(), answer_schema(self.doc, method, template, status))
        self.seen.add((method, template))
        return r.json()


def test_real_answers_fit_their_documented_schemas(host, registry, packages, documents):
    h = Checked(host.admin, documents["host"])
    h("POST", "/admin/plugins", 201, content=packages["book-notes"],
      headers={"Content-Type": "application/zip"})
    assert host.install(packages["hello-world"]).status_code == 201
    name = {"name": "hello-world"}
    for method, template in [("GET", "/admin/plugins"), ("GET", "/admin/sandbox"),
                             ("GET", "/admin/registry"), ("GET", "/admin/fleet"),
                             ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/ui/loader"),
                             ("GET", "/auth/providers"), ("GET", "/auth/me")]:
        h(method, template, 200)
    h("GET", "/ui/slots/{slot}", 200, path={"slot": "opac.biblio.sidebar"})
    assert host.client.get("/plugins/hello-world/api/greet/Ada",
                           headers={"X-Request-ID": "answers-check-1"}).status_code == 200
    h("GET", "/admin/traces/{correlation_id}", 200,
      path={"correlation_id": "answers-check-1"})
    for method, template in [("GET", "/admin/plugins/{name}"),
                             ("GET", "/admin/plugins/{name}/traces"),
                             ("GET", "/admin/plugins/{name}/logs"),
                             ("POST", "/admin/plugins/{name}/disable"),
                             ("POST", "/admin/plugins/{name}/enable")]:
        h(method, template, 200, path=name)
    h("POST", "/admin/plugins/{name}/profile", 200, path=name,
      json={"path": "/greet/Ada", "calls": 3})
    notes = {"name": "book-notes"}
    h("PUT", "/admin/plugins/{name}/config", 200, path=notes,
      json={"openlibrary_url": "https://openlibrary.org"})
    h("PUT", "/admin/plugins/{name}/secrets/{secret}", 200,
      path={**notes, "secret": "OPENLIBRARY_KEY"}, json={"value": "k3y"})
    h("DELETE", "/admin/plugins/{name}/secrets/{secret}", 200,
      path={**notes, "secret": "OPENLIBRARY_KEY"})
    h("GET", "/admin/audit", 200)
    h("DELETE", "/admin/plugins/{name}", 200, path=name)

    r = Checked(registry.client("admin"), documents["registry"])
    pub = Checked(registry.client("publisher"), documents["registry"])
    rev = Checked(registry.client("reviewer"), documents["registry"])
    r("POST", "/api/v1/accounts", 201, json={"name": "zed", "role": "user"})
    token = r("POST", "/api/v1/accounts/{name}/tokens", 201, path={"name": "zed"}, json={})
    r("DELETE", "/api/v1/tokens/{token_id}", 200, path={"token_id": token["id"]})
    pub("GET", "/api/v1/me", 200)
    pub("POST", "/api/v1/packages", 201, content=packages["hello-world"],
        headers={"Content-Type": "application/zip"})
    release = {"name": "hello-world", "version": "1.0.0"}
    rev("GET", "/api/v1/review/queue", 200)
    rev("GET", "/api/v1/review/{name}/{version}/diff", 200, path=release)
    rev("POST", "/api/v1/review/{name}/{version}", 200, path=release,
        json={"decision": "approve", "comment": "read"})
    for method, template in [("GET", "/api/v1/plugins"), ("GET", "/api/v1/index"),
                             ("GET", "/auth/providers"), ("GET", "/auth/me"),
                             ("GET", "/api/v1/audit")]:
        r(method, template, 200)
    r("GET", "/api/v1/plugins/{name}", 200, path=name)
    r("GET", "/api/v1/publishers/{name}", 200, path={"name": "publisher"})
    r("POST", "/api/v1/resolve", 200, json={"requirements": {"hello-world": "^1"}})
    r("POST", "/api/v1/usage", 202, json={"installation": "0123456789abcdef" * 2,
                                          "plugins": [release]})
    pub("POST", "/api/v1/plugins/{name}/{version}/yank", 200, path=release)
    pub("POST", "/api/v1/plugins/{name}/{version}/unyank", 200, path=release)
    pub("POST", "/api/v1/plugins/{name}/deprecate", 200, path=name, json={"message": "old"})
    Checked(registry.client("user"), documents["registry"])(
        "PUT", "/api/v1/plugins/{name}/rating", 200, path=name, json={"stars": 4})
    assert len(h.seen) + len(r.seen | pub.seen | rev.seen) >= 40

"""The OpenAPI documents tell the truth: unique operation ids named after what each does,
and every error status a route can return documented with the one error body."""

from __future__ import annotations

from collections import Counter

import pytest


@pytest.fixture(scope="module")
def documents():
    from ops.docs_api import documents

    return documents()


@pytest.mark.parametrize("service", ["host", "registry"])
def test_operation_ids_are_unique(documents, service):
    import re

    ops = [(path, op["operationId"]) for path, item in documents[service]["paths"].items()
           for op in item.values()]
    ids = Counter(i for _, i in ops)
    assert [i for i, n in ids.items() if n > 1] == []
    # named after what they do (generated clients read like the API), never FastAPI's
    # default of name, path and method (list_plugins_admin_plugins_get)
    assert [i for path, i in ops if not re.fullmatch(r"[a-z]+(_[a-z]+)*", i)
            or re.sub(r"\W", "_", path) in i] == []
    assert {"list_plugins", "install_plugin", "get_plugin", "publish_package"} & set(ids)


@pytest.mark.parametrize(("service", "path", "method", "statuses"), [
    ("host", "/admin/plugins", "post", {"401", "409", "413", "415", "422", "501", "502",
                                        "503"}),
    ("host", "/plugins/{name}/api/{path}", "get", {"404", "405", "413", "500", "502", "503",
                                                   "504"}),
    ("host", "/hooks/{event}", "post", {"404", "413", "422"}),
    ("registry", "/api/v1/packages", "post", {"401", "403", "409", "413", "415", "422"}),
    ("registry", "/api/v1/tokens/{token_id}", "delete", {"401", "403", "404", "422"}),
    ("registry", "/api/v1/resolve", "post", {"409", "422"}),
])
def test_error_statuses_are_documented_with_the_error_body(documents, service, path, method,
                                                           statuses):
    op = documents[service]["paths"][path][method]
    assert statuses <= set(op["responses"]), set(op["responses"])
    for status in statuses:
        schema = op["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}


def test_a_method_a_plugin_route_does_not_take_answers_405_with_allow(host, packages):
    assert host.install(packages["hello-world"]).status_code == 201
    r = host.client.delete("/plugins/hello-world/api/greet/Ada")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET"
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_starlette_405_keeps_allow_and_the_error_shape(host):
    r = host.client.get("/hooks/biblio.after_save")
    assert r.status_code == 405 and "POST" in r.headers["allow"]
    assert r.json()["error"]["code"] == "http_error"



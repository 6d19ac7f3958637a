"""Hostile requests against a real registry: the documented 4xx (one error shape),
never a 500 or a dropped connection, nothing stored; and no way to lock it out."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from ..support.plugins import ZIP, crafted
from ..support.servers import REGISTRY_ADMIN, start_registry


@pytest.mark.parametrize("name", ["corrupt deflate data", "bad header offset",
                                  "nested MANIFEST.json", "keyid of the wrong type"])
def test_crafted_packages_get_a_4xx_before_anything_is_stored(registry, packages, name):
    if name == "keyid of the wrong type":
        data = with_signature(packages["hello-world"], {"keyid": [1, 2], "signature": "AA==",
                                                        "algorithm": "ed25519"})
    else:
        data = crafted(packages["hello-world"], name)
    r = registry.client("publisher").post("/api/v1/packages", content=data, headers=ZIP)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in ("invalid_package", "untrusted_package")
    assert registry.client().get("/api/v1/plugins").json()["plugins"] == []


def with_signature(data: bytes, doc: dict) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            body = json.dumps(doc).encode() if info.filename == "SIGNATURE" else src.read(info)
            z.writestr(info, body)
    return out.getvalue()


@pytest.mark.parametrize(("method", "path", "body", "problem"), [
    ("PUT", "/api/v1/plugins/hello-world/rating", b'{"stars": 5, "text": "\\ud800"}',
     "lone surrogate"),
    ("PUT", "/api/v1/plugins/hello-world/rating", b'{"stars": 123456789012345678901234567890}',
     "beyond 64 bits"),
    ("POST", "/api/v1/plugins/hello-world/deprecate", b'{"message": "\\udc00"}',
     "lone surrogate"),
    ("POST", "/api/v1/keys", b'{"public_key": "\\ud83d"}', "lone surrogate"),
    ("POST", "/api/v1/resolve", b"[" * 50000 + b"]" * 50000, "nested too deeply"),
    ("POST", "/api/v1/resolve", b"{not json", "JSON decode error"),
])
def test_values_the_registry_cannot_store_are_refused(registry, method, path, body, problem):
    r = registry.client("admin").request(method, path, content=body,
                                         headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert problem in r.json()["error"]["message"]


@pytest.mark.parametrize(("method", "path", "params"), [
    ("DELETE", "/api/v1/tokens/99999999999999999999999", None),
    ("GET", "/api/v1/plugins", {"host_api": "1.0.01"}),
    ("POST", "/api/v1/resolve", None),
])
def test_bad_values_in_paths_and_queries_get_a_422_in_the_error_shape(registry, method, path,
                                                                       params):
    kw = {"json": {"requirements": {"x": "^1"}, "host_api": "1.0.01"}} \
        if method == "POST" else {}
    r = registry.client("admin").request(method, path, params=params, **kw)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_request"
    assert "detail" not in r.json()


def test_revoking_the_bootstrap_token_cannot_lock_the_registry_out(tmp_path, keys):
    reg = start_registry(tmp_path / "r", tmp_path / "r.log", keys["pub"].read_text())
    try:
        admin = reg.client("admin")
        mine = admin.get("/api/v1/review/queue")
        assert mine.status_code == 200
        assert admin.delete("/api/v1/tokens/1").status_code == 200
        assert admin.get("/api/v1/review/queue").status_code == 401
    finally:
        reg.stop()
    # the operator starts it again with the same --admin-token: back in
    from ops.processes import free_port, start_server

    port = free_port()
    import sys

    server = start_server([sys.executable, "-m", "plugin_host.cli", "registry", "serve",
                           "--port", str(port), "--data-dir", str(tmp_path / "r"),
                           "--admin-token", REGISTRY_ADMIN], tmp_path / "r2.log", port=port)
    try:
        import httpx

        r = httpx.get(f"{server.url}/api/v1/review/queue",
                      headers={"Authorization": f"Bearer {REGISTRY_ADMIN}"})
        assert r.status_code == 200, r.text
    finally:
        server.stop()

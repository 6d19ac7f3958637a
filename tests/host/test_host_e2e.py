"""End to end with real processes: scaffold → pack → sign → install → route, hook, slot."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys

from ..support.plugins import signed
from ..support.servers import ADMIN_TOKEN


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          cwd=cwd)


def test_scaffold_pack_sign_install_and_use(tmp_path, keys, host):
    r = run("plugin_host.cli", "plugin", "new", "shelf-check", "--dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "shelf-check"
    # The scaffold comes with its own tests, and they pass.
    t = run("pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=folder)
    assert t.returncode == 0, t.stdout + t.stderr
    assert "4 passed" in t.stdout  # one of them on a real host, in a sandboxed worker

    r = run("plugin_host.cli", "plugin", "pack", str(folder))
    assert r.returncode == 0, r.stderr
    pkg = r.stdout.strip()
    assert run("plugin_host.cli", "plugin", "sign", pkg, "--key",
               str(keys["key"])).returncode == 0
    with open(pkg, "rb") as f:
        resp = host.install(f.read())
    assert resp.status_code == 201, resp.text
    info = resp.json()
    assert info["state"] == "enabled" and info["version"] == "0.1.0"
    assert info["routes"] == [["GET", "/hello/{who}"], ["POST", "/counter"]]

    r = host.client.get("/plugins/shelf-check/api/hello/Ada")
    assert r.status_code == 200
    assert r.json() == {"message": "Hello Ada from shelf-check"}
    assert r.headers["x-correlation-id"]
    r = host.client.post("/plugins/shelf-check/api/counter")
    assert r.status_code == 201 and r.json() == {"counter": 1}

    r = host.hook("biblio.after_save", {"biblionumber": 7})
    assert r.status_code == 200
    assert r.json()["results"] == [{"plugin": "shelf-check", "version": "0.1.0", "ok": True,
                                    "result": {"seen": 7}}]

    comps = host.client.get("/ui/slots/opac.biblio.sidebar").json()["components"]
    assert [c["plugin"] for c in comps] == ["shelf-check"]
    asset = host.client.get(comps[0]["url"])
    assert asset.status_code == 200
    digest = base64.b64encode(hashlib.sha384(asset.content).digest()).decode()
    assert comps[0]["integrity"] == f"sha384-{digest}"
    assert asset.headers["content-type"].startswith("text/javascript")
    assert "immutable" in asset.headers["cache-control"]
    assert b"export function Widget" in asset.content


def test_hooks_give_per_plugin_results(host, packages):
    for name in ("hello-world", "book-notes"):
        assert host.install(packages[name]).status_code == 201
    r = host.hook("biblio.after_save", {"biblionumber": 12})
    results = r.json()["results"]
    assert [x["plugin"] for x in results] == ["book-notes", "hello-world"]
    assert results[0]["result"] == {"saves": 1}
    assert results[1]["result"] == {"greeted_record": 12}
    # an event no plugin subscribes to: delivered to none
    assert host.hook("patron.after_delete", {"borrowernumber": 5}
                            ).json()["results"] == []


def test_admin_routes_need_the_admin_token(host, packages):
    assert host.client.get("/admin/plugins").status_code == 401
    bad = host.client.get("/admin/plugins", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "unauthorized"
    assert bad.headers["www-authenticate"] == "Bearer"
    r = host.client.post("/admin/plugins", content=packages["hello-world"],
                         headers={"Content-Type": "application/zip"})
    assert r.status_code == 401
    assert host.installed() == []
    ok = host.client.get("/admin/plugins", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ok.status_code == 200


def test_disable_enable_uninstall(host, packages):
    assert host.install(packages["hello-world"]).status_code == 201
    assert host.admin.post("/admin/plugins/hello-world/disable").json()["state"] == "disabled"
    assert host.client.get("/plugins/hello-world/api/greet/x").status_code == 404
    assert host.client.get("/ui/slots/opac.biblio.sidebar").json()["components"] == []
    assert host.admin.post("/admin/plugins/hello-world/enable").json()["state"] == "enabled"
    assert host.client.get("/plugins/hello-world/api/greet/x").status_code == 200
    again = host.install(packages["hello-world"])
    assert again.status_code == 409 and "already installed" in again.json()["error"]["message"]
    assert host.admin.delete("/admin/plugins/hello-world").status_code == 200
    assert host.installed() == []
    assert host.client.get("/plugins/hello-world/api/greet/x").status_code == 404
    assert host.admin.delete("/admin/plugins/hello-world").status_code == 404
    assert not (host.data_dir / "plugins" / "hello-world").exists()


def test_unknown_routes_and_methods(host, packages):
    host.install(packages["hello-world"])
    r = host.client.get("/plugins/hello-world/api/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = host.client.post("/plugins/hello-world/api/greet/Ada")
    assert r.status_code == 405


def test_install_refuses_incompatible_host_api_and_missing_dependency(
        host, keys, plugin_copy, tmp_path):
    src = plugin_copy(__import__("tests.conftest", fromlist=["EXAMPLES"]).EXAMPLES
                      / "hello-world")
    toml = (src / "plugin.toml").read_text()
    (src / "plugin.toml").write_text(toml.replace('host_api = "^1.0"', 'host_api = "^2.0"'))
    r = host.install(signed(src, keys["key"], tmp_path / "a"))
    assert r.status_code == 422
    assert "plugin.host_api: ^2.0 does not include this host's API version 1.0.0" in r.text
    (src / "plugin.toml").write_text(toml.replace("[backend]",
                                                  '[dependencies]\n"marc-utils" = "^2.1"\n\n'
                                                  "[backend]"))
    r = host.install(signed(src, keys["key"], tmp_path / "b"))
    assert r.status_code == 409
    assert "dependencies.marc-utils: needs marc-utils ^2.1, which is not installed" in r.text
    assert host.installed() == []


def test_manifest_hooks_must_match_the_code(host, keys, plugin_copy, tmp_path):
    from ..support.paths import EXAMPLES

    src = plugin_copy(EXAMPLES / "hello-world")
    toml = (src / "plugin.toml").read_text()
    (src / "plugin.toml").write_text(toml.replace(
        'hooks = ["biblio.after_save"]', 'hooks = ["biblio.after_save", "item.after_save"]'))
    r = host.install(signed(src, keys["key"], tmp_path))
    assert r.status_code == 422
    assert ("permissions.hooks: 'item.after_save' is listed but the backend registers no handler"
            in r.json()["error"]["message"])
    assert host.installed() == []
    assert not (host.data_dir / "plugins" / "hello-world").exists()


def test_backend_that_fails_to_load_is_refused(host, keys, plugin_copy, tmp_path):
    from ..support.paths import EXAMPLES

    src = plugin_copy(EXAMPLES / "hello-world")
    (src / "hello_world" / "__init__.py").write_text("import not_a_module\n")
    r = host.install(signed(src, keys["key"], tmp_path))
    assert r.status_code == 422
    assert "backend failed to load: ModuleNotFoundError" in r.json()["error"]["message"]
    assert host.installed() == []


def test_probes_and_metrics(host, packages):
    assert host.client.get("/healthz").json() == {"status": "ok"}
    host.install(packages["hello-world"])
    ready = host.client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["plugins"] == {"hello-world": "enabled"}
    host.client.get("/plugins/hello-world/api/greet/Ada")
    text = host.client.get("/metrics").text
    assert ('plugin_host_plugin_calls_total{outcome="ok",plugin="hello-world",'
            'route="/greet/{name}"} 1.0') in text
    assert 'plugin_host_installs_total{outcome="success"} 1.0' in text
    assert ('plugin_host_http_requests_total{fault="",method="GET",'
            'route="/plugins/{name}/api/{path:path}",status="200"} 1.0') in text
    assert "plugin_host_plugin_call_duration_seconds_bucket" in text
    assert 'plugin_host_build_info{host_api="1.0.0",version="0.1.0"} 1.0' in text


def test_openapi_lists_the_host_api(host):
    spec = host.client.get("/openapi.json").json()
    for path in ("/admin/plugins", "/hooks/{event}", "/ui/slots/{slot}",
                 "/plugins/{name}/api/{path}", "/admin/plugins/{name}/enable"):
        assert path in spec["paths"], path

"""The in-process test client authors use (``PluginTestClient``, the ``plugin`` fixture):
``ctx.upstream`` calls reach the author's http fake at the upstream's URL, redirects
under it followed as the host follows them and others handed back; without a fake, or
for an upstream not declared, the plugin gets the error the host would give; misuse of
the client itself (a folder with no backend, an upgrade with no handler, an event the
plugin does not subscribe to) is said plainly."""

from __future__ import annotations

import json
import shutil

import pytest

from plugin_host.sdk import HttpResponse
from plugin_host.sdk.testing import PluginTestClient

from .support.paths import EXAMPLES, TEST_PLUGINS

LIB = "https://lib.example.org/api"


def test_upstream_calls_reach_the_fake_with_redirects_as_the_host_follows_them():
    seen: list[tuple[str, str]] = []

    def fake(method, url, headers, body):
        seen.append((method, url))
        if url == f"{LIB}/item?q=7":
            return HttpResponse(302, {"Location": f"{LIB}/items/7"}, b"")
        if url == f"{LIB}/away":
            return HttpResponse(302, {"Location": "https://elsewhere.example/x"}, b"")
        return HttpResponse(200, {"content-type": "application/json"}, b'{"ok": true}')

    client = PluginTestClient.from_folder(TEST_PLUGINS / "upstream-user", http=fake)
    r = client.get("/call", query={"path": "/item", "q": "7"}).json()
    assert r["status"] == 200 and json.loads(r["body"]) == {"ok": True}, r
    assert seen == [("GET", f"{LIB}/item?q=7"), ("GET", f"{LIB}/items/7")]
    r = client.get("/call", query={"path": "/away"}).json()
    assert r["status"] == 302  # leaving the upstream: handed back, not followed
    assert seen[-1] == ("GET", f"{LIB}/away")
    r = client.get("/call", query={"upstream": "other", "path": "/x"}).json()
    assert r["code"] == "capability_denied" and "is not declared in [upstreams]" in \
        r["message"], r

    bare = PluginTestClient.from_folder(TEST_PLUGINS / "upstream-user")
    r = bare.get("/call", query={"path": "/x"}).json()
    assert r["message"] == "no http fake was given to PluginTestClient", r


def test_misuse_of_the_client_is_said_plainly(tmp_path):
    ui_only = tmp_path / "ui-only"
    shutil.copytree(EXAMPLES / "hello-world", ui_only)
    toml = ui_only / "plugin.toml"
    text = toml.read_text().replace('[backend]\nentry = "hello_world:plugin"\n', "")
    toml.write_text(text.replace('hooks = ["biblio.after_save"]', "hooks = []"))
    with pytest.raises(ValueError, match=r"plugin.toml has no \[backend\]"):
        PluginTestClient.from_folder(ui_only)
    client = PluginTestClient.from_folder(EXAMPLES / "hello-world")
    with pytest.raises(ValueError, match=r"registers no @plugin\.on_upgrade handler"):
        client.upgrade("0.9.0")
    with pytest.raises(ValueError, match=r"'circulation\.after_checkout' is not in "
                                         r"permissions\.hooks"):
        client.hook("circulation.after_checkout")

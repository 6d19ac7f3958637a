"""A plugin's settings are declared in its manifest (`[config.KEY]`: type, default,
description, required, choices) and checked on every change: a wrong type, an unknown
key (with a did-you-mean) or a required one missing is refused whole, naming each key,
and the settings in force stay as they were. Defaults apply until set; the test client
gives the same."""

from __future__ import annotations

import pytest

from plugin_host.errors import ManifestError
from plugin_host.manifest import parse_manifest
from plugin_host.sdk.testing import PluginTestClient

from ..support.paths import EXAMPLES
from ..support.plugins import signed

REQUIRED = '''
[config.branch]
type = "string"
required = true
description = "The library branch code"

[config.mode]
type = "string"
default = "brief"
choices = ["brief", "full"]
'''


def test_a_wrong_config_is_refused_whole_naming_each_key(host, packages):
    assert host.install(packages["book-notes"]).status_code == 201
    info = host.admin.get("/admin/plugins/book-notes").json()
    assert info["config"] == {"openlibrary_url": "https://openlibrary.org"}  # the default
    assert info["config_problems"] == []
    r = host.admin.put("/admin/plugins/book-notes/config",
                       json={"openlibrary_url": 5, "typo_key": True})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_config", r.text
    message = r.json()["error"]["message"]
    assert "openlibrary_url: must be a string, not an integer" in message
    assert "typo_key: not a setting of book-notes (its settings: openlibrary_url)" in message
    r = host.admin.put("/admin/plugins/book-notes/config", json={"openlibrary_ur": "x"})
    assert "openlibrary_ur: not a setting of book-notes: did you mean 'openlibrary_url'?" in \
        r.json()["error"]["message"]
    # nothing changed
    assert host.admin.get("/admin/plugins/book-notes").json()["config"] == info["config"]
    r = host.admin.put("/admin/plugins/book-notes/config",
                       json={"openlibrary_url": "https://mirror.example.org"})
    assert r.status_code == 200 and r.json()["config"] == {
        "openlibrary_url": "https://mirror.example.org"}
    r = host.admin.put("/admin/plugins/book-notes/config", json={})
    assert r.json()["config"] == {"openlibrary_url": "https://openlibrary.org"}  # back


def test_a_required_setting_is_reported_until_it_is_set(host, keys, plugin_copy, tmp_path):
    src = plugin_copy(EXAMPLES / "hello-world")
    (src / "plugin.toml").write_text((src / "plugin.toml").read_text() + REQUIRED)
    r = host.install(signed(src, keys["key"], tmp_path))
    assert r.status_code == 201, r.text
    assert r.json()["config_problems"] == ["branch: required"]
    assert r.json()["config"] == {"mode": "brief"}
    r = host.admin.put("/admin/plugins/hello-world/config", json={"mode": "verbose"})
    assert r.status_code == 422
    assert "mode: must be one of 'brief', 'full'; branch: required" in \
        r.json()["error"]["message"]
    r = host.admin.put("/admin/plugins/hello-world/config", json={"branch": "CPL"})
    assert r.status_code == 200 and r.json()["config_problems"] == []
    assert r.json()["config"] == {"mode": "brief", "branch": "CPL"}


@pytest.mark.parametrize(("section", "expected"), [
    ('[config.limit]\ntype = "integer"\ndefault = "ten"\n',
     "config.limit: default must be an integer, not a string"),
    ('[config.limit]\ntype = "int"\n', "config.limit.type"),
    ('[config.Limit]\ntype = "integer"\n', "'Limit' is not a setting name"),
    ('[config.limit]\ntype = "integer"\ndefault = 3\nrequired = true\n',
     "config.limit: required: a field with a default is never missing"),
])
def test_a_config_declaration_that_cannot_work_is_refused(section, expected):
    text = (EXAMPLES / "hello-world" / "plugin.toml").read_text() + "\n" + section
    with pytest.raises(ManifestError) as e:
        parse_manifest(text)
    assert any(expected in p for p in e.value.problems), e.value.problems


def test_the_test_client_applies_defaults_and_refuses_a_wrong_config():
    client = PluginTestClient.from_folder(EXAMPLES / "book-notes")
    assert client.ctx.config == {"openlibrary_url": "https://openlibrary.org"}
    with pytest.raises(ValueError, match="openlibrary_url: must be a string"):
        PluginTestClient.from_folder(EXAMPLES / "book-notes", config={"openlibrary_url": 1})

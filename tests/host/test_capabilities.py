"""ctx.kv, ctx.http and ctx.config through a real host, with a real HTTP peer."""

from __future__ import annotations

import pytest

from ..support.paths import EXAMPLES
from ..support.plugins import signed
from ..support.servers import OpenLibrary


@pytest.fixture
def notes_host(host_factory, keys, plugin_copy, tmp_path, openlibrary):
    """book-notes allowed to reach the local Open Library stand-in, and nothing else."""
    src = plugin_copy(EXAMPLES / "book-notes")
    toml = (src / "plugin.toml").read_text()
    (src / "plugin.toml").write_text(
        toml.replace('network = ["openlibrary.org:443"]', f'network = ["127.0.0.1:{openlibrary}"]'))
    host = host_factory(env={"PLUGIN_HOST_SECRET_OPENLIBRARY_KEY": "ol-key"})
    assert host.install(signed(src, keys["key"], tmp_path / "pkg")).status_code == 201
    r = host.admin.put("/admin/plugins/book-notes/config",
                       json={"openlibrary_url": f"http://127.0.0.1:{openlibrary}"})
    assert r.status_code == 200, r.text
    assert r.json()["config"] == {"openlibrary_url": f"http://127.0.0.1:{openlibrary}"}
    return host


def test_kv_round_trip(notes_host):
    c = notes_host.client
    r = c.post("/plugins/book-notes/api/notes", json={"id": "n1", "text": "mend the spine"})
    assert r.status_code == 201 and r.json() == {"stored": "n1"}
    assert c.get("/plugins/book-notes/api/notes/n1").json() == {"id": "n1",
                                                                "text": "mend the spine"}
    assert c.get("/plugins/book-notes/api/notes").json() == {"ids": ["n1"]}
    assert c.get("/plugins/book-notes/api/notes/zz").status_code == 404
    info = notes_host.admin.get("/admin/plugins/book-notes").json()
    assert info["kv_bytes"] > 0


def test_kv_quota_is_enforced(notes_host):
    c = notes_host.client
    big = "x" * 20_000
    for i in range(3):  # three notes of 20 kB fit in 64 KiB
        assert c.post("/plugins/book-notes/api/notes",
                      json={"id": f"n{i}", "text": big}).status_code == 201
    r = c.post("/plugins/book-notes/api/notes", json={"id": "n3", "text": big})
    assert r.status_code == 507
    assert "kv quota exceeded" in r.json()["error"]
    assert "above the quota of 65536 bytes" in r.json()["error"]
    assert c.get("/plugins/book-notes/api/notes").json() == {"ids": ["n0", "n1", "n2"]}
    # replacing a value counts its new size, not both
    assert c.post("/plugins/book-notes/api/notes",
                  json={"id": "n2", "text": "short"}).status_code == 201


def test_http_to_an_allowed_host(notes_host, openlibrary):
    r = notes_host.client.get("/plugins/book-notes/api/title/9780441013593")
    assert r.status_code == 200, r.text
    assert r.json() == {"isbn": "9780441013593", "title": "Dune"}
    assert OpenLibrary.seen == [{"path": "/isbn/9780441013593.json", "auth": "Bearer ol-key"}]


@pytest.mark.parametrize("url", [
    "https://example.org/", "http://127.0.0.1:1/", "http://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd", "http://localhost:{port}/isbn/9780441013593.json",
])
def test_http_outside_the_allow_list_is_refused(notes_host, openlibrary, url):
    url = url.format(port=openlibrary)
    r = notes_host.client.get("/plugins/book-notes/api/fetch", params={"url": url})
    assert r.status_code == 403, r.text
    refused = r.json()["refused"]
    assert "not in permissions.network" in refused or "not an http(s) URL" in refused
    assert OpenLibrary.seen == []


def test_config_reaches_the_plugin_and_survives_restart(notes_host, openlibrary):
    notes_host.restart()
    info = notes_host.admin.get("/admin/plugins/book-notes").json()
    assert info["config"] == {"openlibrary_url": f"http://127.0.0.1:{openlibrary}"}
    assert notes_host.client.get("/plugins/book-notes/api/title/9780441013593").status_code \
        == 200

"""After a host restart every enabled plugin is back, with its data."""

from __future__ import annotations


def test_plugins_state_and_kv_survive_a_restart(host, packages):
    for name in ("hello-world", "book-notes", "faulty"):
        assert host.install(packages[name]).status_code == 201
    c = host.client
    assert c.post("/plugins/book-notes/api/notes",
                  json={"id": "keep", "text": "still here"}).status_code == 201
    assert host.admin.post("/admin/plugins/faulty/disable").status_code == 200

    host.restart()

    listed = {p["name"]: p["state"] for p in host.admin.get("/admin/plugins").json()["plugins"]}
    assert listed == {"book-notes": "enabled", "faulty": "disabled", "hello-world": "enabled"}
    assert host.client.get("/plugins/book-notes/api/notes/keep").json()["text"] == "still here"
    assert host.client.get("/plugins/hello-world/api/greet/Ada").status_code == 200
    assert host.client.get("/plugins/faulty/api/ok").status_code == 404
    # workers run with pools of the declared size
    info = host.admin.get("/admin/plugins/book-notes").json()
    assert len(info["runtime"]["workers"]) == 2


def test_uninstall_keeps_data_unless_purged(host, packages):
    host.install(packages["book-notes"])
    host.client.post("/plugins/book-notes/api/notes", json={"id": "a", "text": "b"})
    assert host.admin.delete("/admin/plugins/book-notes").json() == {
        "uninstalled": "book-notes", "purged": False}
    host.install(packages["book-notes"])
    assert host.client.get("/plugins/book-notes/api/notes/a").status_code == 200
    assert host.admin.delete("/admin/plugins/book-notes",
                             params={"purge": "true"}).status_code == 200
    host.install(packages["book-notes"])
    assert host.client.get("/plugins/book-notes/api/notes/a").status_code == 404

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


def test_state_survives_a_restart_on_postgresql(host_factory, packages, postgres):
    """The same, with the host's state in a real PostgreSQL server."""
    url = postgres()
    host = host_factory(env={"PLUGIN_HOST_DATABASE_URL": url})
    for name in ("hello-world", "book-notes"):
        assert host.install(packages[name]).status_code == 201
    host.client.post("/plugins/book-notes/api/notes", json={"id": "pg", "text": "in postgres"})
    host.admin.post("/admin/plugins/hello-world/disable")
    host.restart()
    listed = {p["name"]: p["state"] for p in host.admin.get("/admin/plugins").json()["plugins"]}
    assert listed == {"book-notes": "enabled", "hello-world": "disabled"}
    assert host.client.get("/plugins/book-notes/api/notes/pg").json()["text"] == "in postgres"
    assert not (host.data_dir / "host.db").exists()  # nothing went to SQLite


def test_files_no_install_owns_are_removed_at_start(host, packages):
    """What an install cut short leaves (a folder of code, a package file the database
    never recorded) is removed when the host starts; what is installed stays."""
    assert host.install(packages["hello-world"]).status_code == 201
    host.stop()
    ghost = host.data_dir / "plugins" / "ghost" / "1.0.0"
    ghost.mkdir(parents=True)
    (ghost / "plugin.toml").write_text("[plugin]\n")
    stray_version = host.data_dir / "plugins" / "hello-world" / "0.9.0"
    stray_version.mkdir()
    stray_package = host.data_dir / "packages" / "ghost-1.0.0.kplugin"
    stray_package.write_bytes(b"PK")
    host.start()
    assert not ghost.parent.exists() and not stray_version.exists()
    assert not stray_package.exists()
    assert "host.leftovers_removed" in host.log_text()
    assert host.installed() == ["hello-world"]
    assert host.client.get("/plugins/hello-world/api/greet/x").status_code == 200

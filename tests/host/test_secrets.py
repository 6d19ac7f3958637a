"""Plugin secrets set through the admin API and `plugin-host secrets`: write-only (no
route returns a value), encrypted in the database, read by the plugin from its next call
with no restart; a declared secret left unset is reported on install and on the plugin's
page; a secret the plugin does not declare is refused with a did-you-mean."""

from __future__ import annotations

import os
import subprocess
import sys

from ..support.paths import EXAMPLES
from ..support.plugins import signed
from ..support.servers import ADMIN_TOKEN, OpenLibrary

SECRET = "s3cret-value-0123456789"


def secrets_cli(host, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plugin_host.cli", "secrets", *args,
                           "--url", host.url], input=stdin, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PLUGIN_HOST_ADMIN_TOKEN": ADMIN_TOKEN})


def install_notes_on_local_openlibrary(host, keys, plugin_copy, tmp_path, openlibrary):
    """book-notes allowed to reach the local Open Library stand-in, installed."""
    src = plugin_copy(EXAMPLES / "book-notes")
    toml = (src / "plugin.toml").read_text()
    (src / "plugin.toml").write_text(toml.replace('network = ["openlibrary.org:443"]',
                                                  f'network = ["127.0.0.1:{openlibrary}"]'))
    r = host.install(signed(src, keys["key"], tmp_path / "pkg"))
    assert r.status_code == 201, r.text
    assert host.admin.put("/admin/plugins/book-notes/config", json={
        "openlibrary_url": f"http://127.0.0.1:{openlibrary}"}).status_code == 200
    return r


def test_a_secret_set_through_the_admin_api_reaches_the_plugin_and_nobody_else(
        host, keys, plugin_copy, tmp_path, openlibrary):
    r = install_notes_on_local_openlibrary(host, keys, plugin_copy, tmp_path, openlibrary)
    assert r.json()["secrets"] == {"OPENLIBRARY_KEY": "unset"}
    assert any(w.startswith("secret OPENLIBRARY_KEY is unset: set it with") for w in
               r.json()["warnings"]), r.json()["warnings"]
    pid = host.proc.pid

    r = secrets_cli(host, "set", "book-notes", "OPENLIBRARY_KEY", stdin=SECRET + "\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "book-notes OPENLIBRARY_KEY: set (admin API)"
    OpenLibrary.seen.clear()
    assert host.client.get("/plugins/book-notes/api/title/9780441013593").status_code == 200
    assert OpenLibrary.seen[-1]["auth"] == f"Bearer {SECRET}"
    assert host.proc.pid == pid
    page = host.admin.get("/admin/plugins/book-notes")
    assert SECRET not in page.text and page.json()["warnings"] == []
    assert page.json()["secrets"] == {"OPENLIBRARY_KEY": "set (admin API)"}
    assert SECRET not in host.admin.get("/admin/plugins").text
    assert SECRET.encode() not in (host.data_dir / "host.db").read_bytes()  # encrypted
    assert SECRET not in host.log_text()
    key = host.data_dir / "secrets.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"

    # it survives a restart; unset, the plugin no longer sees it
    host.restart()
    assert host.admin.get("/admin/plugins/book-notes").json()["secrets"] == {
        "OPENLIBRARY_KEY": "set (admin API)"}
    r = secrets_cli(host, "unset", "book-notes", "OPENLIBRARY_KEY")
    assert r.returncode == 0 and r.stdout.strip() == "book-notes OPENLIBRARY_KEY: unset"
    OpenLibrary.seen.clear()
    host.client.get("/plugins/book-notes/api/title/9780441013593")
    assert OpenLibrary.seen[-1]["auth"] is None


def test_a_secret_the_plugin_does_not_declare_or_an_empty_one_is_refused(host, packages):
    assert host.install(packages["book-notes"]).status_code == 201
    r = host.admin.put("/admin/plugins/book-notes/secrets/OPENLIBRARY_KY", json={"value": "x"})
    assert r.status_code == 422
    assert "does not declare 'OPENLIBRARY_KY': did you mean 'OPENLIBRARY_KEY'?" in \
        r.json()["error"]["message"]
    r = host.admin.put("/admin/plugins/book-notes/secrets/OPENLIBRARY_KEY", json={"value": ""})
    assert r.status_code == 422 and "value:" in r.json()["error"]["message"]
    r = host.admin.put("/admin/plugins/book-notes/secrets/OPENLIBRARY_KEY",
                       json={"value": "x" * (64 * 1024 + 1)})
    assert r.status_code == 422
    assert host.admin.get("/admin/plugins/book-notes").json()["secrets"] == {
        "OPENLIBRARY_KEY": "unset"}
    r = host.client.put("/admin/plugins/book-notes/secrets/OPENLIBRARY_KEY",
                        json={"value": "x"})  # no token
    assert r.status_code == 401
    r = secrets_cli(host, "set", "no-such-plugin", "KEY", stdin="x")
    assert r.returncode == 2 and "404" in r.stderr and "Traceback" not in r.stderr


def test_a_plugin_never_reads_a_secret_set_for_another(host, keys, plugin_copy, tmp_path,
                                                       openlibrary):
    """Two plugins declaring the same secret name: the value set for one is not the
    other's (secrets are kept per plugin), and neither sees a value it was not given."""
    for name in ("other-notes", "book-notes"):  # the copy moves away first
        src = plugin_copy(EXAMPLES / "book-notes") if name == "book-notes" else \
            plugin_copy_as(plugin_copy, name)
        toml = (src / "plugin.toml").read_text()
        (src / "plugin.toml").write_text(toml.replace(
            'network = ["openlibrary.org:443"]', f'network = ["127.0.0.1:{openlibrary}"]'))
        assert host.install(signed(src, keys["key"], tmp_path / name)).status_code == 201
        host.admin.put(f"/admin/plugins/{name}/config",
                       json={"openlibrary_url": f"http://127.0.0.1:{openlibrary}"})
    assert host.admin.put("/admin/plugins/book-notes/secrets/OPENLIBRARY_KEY",
                          json={"value": SECRET}).status_code == 200
    OpenLibrary.seen.clear()
    host.client.get("/plugins/other-notes/api/title/9780441013593")
    assert OpenLibrary.seen[-1]["auth"] is None
    assert host.admin.get("/admin/plugins/other-notes").json()["secrets"] == {
        "OPENLIBRARY_KEY": "unset"}
    host.client.get("/plugins/book-notes/api/title/9780441013593")
    assert OpenLibrary.seen[-1]["auth"] == f"Bearer {SECRET}"


def plugin_copy_as(plugin_copy, name: str):
    """book-notes under another name (its module kept)."""
    import shutil
    src = plugin_copy(EXAMPLES / "book-notes")
    dest = src.with_name(name)
    shutil.move(src, dest)
    toml = dest / "plugin.toml"
    toml.write_text(toml.read_text().replace('name = "book-notes"', f'name = "{name}"'))
    return dest


def test_secrets_across_a_key_change_an_overwrite_and_a_purge(host_factory, packages,
                                                              tmp_path):
    """Written again, the new value counts; a host restarted with another secrets_key
    cannot read what the old key wrote and says so (the plugin sees no value, never a
    wrong one); uninstalled with --purge, the plugin's secrets go with it."""
    from cryptography.fernet import Fernet

    host = host_factory(env={"PLUGIN_HOST_SECRETS_KEY": Fernet.generate_key().decode()})
    assert host.install(packages["book-notes"]).status_code == 201
    for value in ("first-value-0123456789", "second-value-0123456789"):
        r = secrets_cli(host, "set", "book-notes", "OPENLIBRARY_KEY", stdin=value + "\n")
        assert r.returncode == 0, r.stderr
    assert b"second-value" not in (host.data_dir / "host.db").read_bytes()

    host.env["PLUGIN_HOST_SECRETS_KEY"] = Fernet.generate_key().decode()
    host.restart()
    page = host.admin.get("/admin/plugins/book-notes").json()
    assert page["secrets"] == {
        "OPENLIBRARY_KEY": "unreadable: written with another host's secrets_key"}
    assert any(w.startswith("secret OPENLIBRARY_KEY is unreadable") for w in page["warnings"])

    assert host.admin.delete("/admin/plugins/book-notes",
                             params={"purge": "true"}).status_code == 200
    assert host.install(packages["book-notes"]).status_code == 201
    assert host.admin.get("/admin/plugins/book-notes").json()["secrets"] == {
        "OPENLIBRARY_KEY": "unset"}


def test_secret_settings_that_cannot_work_stop_the_host_in_one_line(tmp_path, keys):
    from ops.processes import free_port

    def serve(env: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "plugin_host.cli", "serve", "--port", str(free_port()),
             "--data-dir", str(tmp_path / "h"), "--trusted-key", str(keys["pub"]),
             "--admin-token", ADMIN_TOKEN], capture_output=True, text=True, timeout=60,
            env={**os.environ, **env})

    r = serve({"PLUGIN_HOST_SECRETS_KEY": "not-a-fernet-key"})
    assert r.returncode == 2, r.stderr
    assert "secrets_key: not a Fernet key" in r.stderr and "Traceback" not in r.stderr
    missing = tmp_path / "nowhere.txt"
    r = serve({"PLUGIN_HOST_SECRET_OPENLIBRARY_KEY": f"file://{missing}"})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().startswith(
        "error: bad setting: PLUGIN_HOST_SECRET_OPENLIBRARY_KEY: "), r.stderr
    assert str(missing) in r.stderr and "Traceback" not in r.stderr


def test_a_secret_from_a_reference_in_the_environment_reaches_the_plugin(
        host_factory, keys, plugin_copy, tmp_path, openlibrary):
    """``PLUGIN_HOST_SECRET_<NAME>=file://…`` (or aws-sm://, gcp-sm://): read once at
    start, shown as set from the environment, and what the plugin gets."""
    secret = tmp_path / "openlibrary-key"
    secret.write_text(SECRET + "\n")
    host = host_factory(env={"PLUGIN_HOST_SECRET_OPENLIBRARY_KEY": f"file://{secret}"})
    r = install_notes_on_local_openlibrary(host, keys, plugin_copy, tmp_path, openlibrary)
    assert r.json()["secrets"] == {"OPENLIBRARY_KEY": "set (environment)"}
    OpenLibrary.seen.clear()
    assert host.client.get("/plugins/book-notes/api/title/9780441013593").status_code == 200
    assert OpenLibrary.seen[-1]["auth"] == f"Bearer {SECRET}"
    assert SECRET not in host.log_text()

"""The command line at its edges, each a one-line refusal with what to do: a host that
is not there, a server that is not a plugin host (HTML, not JSON), credentials that are
not readable, no registry chosen, a registry not logged in to, settings that cannot
work for a backup, a backup folder with nothing in it, and a restore answered "no"."""

from __future__ import annotations

from ops.processes import free_port

from .support.servers import ADMIN_TOKEN
from .test_cli import cli


def test_the_command_line_at_its_edges(tmp_path, static_server):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "PLUGIN_HOST_ADMIN_TOKEN": ADMIN_TOKEN}
    gone = f"http://127.0.0.1:{free_port()}"
    r = cli("status", "--url", gone, env=env)
    assert r.returncode == 2 and r.stderr.startswith(f"error: cannot reach {gone}: "), r.stderr
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<html>a library's web site</html>")
    other = static_server(site).url
    r = cli("status", "--url", other, env=env)
    assert r.returncode == 2 and r.stderr.startswith("error: 404 "), r.stderr
    assert "Traceback" not in r.stderr

    r = cli("publish", str(tmp_path / "x.kplugin"), env=env)
    assert r.returncode == 2 and "x.kplugin" in r.stderr  # no such file, said by click
    (tmp_path / "x.kplugin").write_bytes(b"PK")
    r = cli("publish", str(tmp_path / "x.kplugin"), env=env)
    assert r.returncode == 2 and "no registry: log in first" in r.stderr, r.stderr
    r = cli("publish", str(tmp_path / "x.kplugin"), "--registry", gone, env=env)
    assert r.returncode == 2 and f"not logged in to {gone}" in r.stderr, r.stderr
    creds = tmp_path / "config" / "koha-plugin-host" / "credentials.json"
    creds.parent.mkdir(parents=True)
    creds.write_text("{not json")
    r = cli("logout", env=env)
    assert r.returncode == 2 and f"{creds}: unreadable" in r.stderr, r.stderr
    assert "remove it and log in again" in r.stderr


def test_backup_commands_at_their_edges(tmp_path):
    empty = tmp_path / "backups"
    empty.mkdir()
    r = cli("backup", "list", "--from", str(empty), env={})
    assert r.returncode == 0 and r.stdout.strip() == f"no backups in {empty}", r.stderr
    r = cli("backup", "run", "host", "--to", str(empty), "--data-dir", str(tmp_path / "h"),
            env={"PLUGIN_HOST_HOOK_SECRET": "too-short"})
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: bad setting: hook_secret: ") and \
        "(options, or PLUGIN_HOST_* variables)" in r.stderr, r.stderr
    from plugin_host.host.db import MIGRATIONS
    from plugin_host.service.db import make_engine, migrate

    data = tmp_path / "h"
    data.mkdir()
    migrate(make_engine(f"sqlite:///{data / 'host.db'}"), MIGRATIONS)  # a host's state
    (data / "note").write_text("kept")
    r = cli("backup", "run", "host", "--to", str(empty), "--data-dir", str(data), env={})
    assert r.returncode == 0, r.stderr
    archive = next(empty.iterdir())
    r = cli("backup", "restore", "host", str(archive), "--data-dir", str(data), env={},
            stdin="n\n")
    assert r.returncode == 1 and "Aborted" in r.stderr
    assert (data / "note").read_text() == "kept"

"""The one CLI for what was curl before, driven as a person would against a real
registry and a real host: log in (the token kept 0600), publish, review (list, show,
download, diff, approve, reject), install by name, status, show, config get/set, upgrade
from the registry, rollback, disable, enable, uninstall, log out. Every command has
--help with an example, and no line of a command list is cut off."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click

from plugin_host.cli import main

from .support.plugins import variant
from .support.servers import ADMIN_TOKEN


def cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plugin_host.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env})


def _commands(group: click.Group, path: list[str]):
    for name, cmd in group.commands.items():
        yield [*path, name], cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, [*path, name])


def test_every_command_has_help_and_no_list_line_is_cut():
    for path, cmd in _commands(main, []):
        r = subprocess.run([sys.executable, "-m", "plugin_host.cli", *path, "--help"],
                           capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"})
        assert r.returncode == 0, (path, r.stderr)
        assert (cmd.help or "").strip(), f"plugin-host {' '.join(path)} has no help"
        if not isinstance(cmd, click.Group):
            assert "Example" in r.stdout, f"plugin-host {' '.join(path)} --help has no example"
        if isinstance(cmd, click.Group):
            listed = r.stdout.split("Commands:")[1]
            assert "..." not in listed, (path, listed)


def test_the_whole_flow_from_the_command_line(registry, host_factory, static_server, keys,
                                              tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "PLUGIN_HOST_ADMIN_TOKEN": ADMIN_TOKEN}
    # a publisher and a reviewer, each logged in with their own token
    r = cli("login", "--registry", registry.url, env=env,
            stdin=registry.tokens["publisher"] + "\n")
    assert r.returncode == 0 and "as publisher (publisher)" in r.stdout, r.stderr
    creds = tmp_path / "config" / "koha-plugin-host" / "credentials.json"
    assert oct(creds.stat().st_mode & 0o777) == "0o600"
    assert oct(creds.parent.stat().st_mode & 0o777) == "0o700"
    r = cli("login", "--registry", registry.url, env=env, stdin="kr_wrong\n")
    assert r.returncode == 2 and "refused the token" in r.stderr
    v1 = tmp_path / "shelf-1.0.0.kplugin"
    v1.write_bytes(variant(tmp_path, "shelf", "1.0.0", key=keys["key"]))
    r = cli("publish", str(v1), env=env)
    assert r.returncode == 0 and "published shelf 1.0.0: in review" in r.stdout, r.stderr
    assert "ok   smoke-load" in r.stdout
    reviewer = {**env, "PLUGIN_REGISTRY_TOKEN": registry.tokens["reviewer"]}
    r = cli("review", "list", env=reviewer)
    assert r.returncode == 0 and r.stdout.startswith("shelf 1.0.0"), r.stdout + r.stderr
    r = cli("review", "download", "shelf", "1.0.0", "-o", str(tmp_path / "got.kplugin"),
            env=reviewer)
    assert r.returncode == 0 and (tmp_path / "got.kplugin").read_bytes() == v1.read_bytes()
    r = cli("review", "diff", "shelf", "1.0.0", env=reviewer)
    assert "against nothing (a first version)" in r.stdout and "+++ b/plugin.toml" in r.stdout
    r = cli("review", "show", "shelf", "1.0.0", "--json", env=reviewer)
    assert json.loads(r.stdout)["state"] == "in_review"
    r = cli("review", "approve", "shelf", "1.0.0", env=reviewer)
    assert r.returncode == 0 and r.stdout.strip() == "shelf 1.0.0: approved", r.stderr
    r = cli("review", "reject", "shelf", "1.0.0", "--comment", "x", env=reviewer)
    assert r.returncode == 2 and "409" in r.stderr and "not in review" in r.stderr

    # a host reading the registry's index: install by name, look, configure
    root = tmp_path / "root.json"
    root.write_bytes((registry.storage / "metadata" / "root.json").read_bytes())
    host = host_factory(extra_args=["--registry-url", static_server(registry.storage).url,
                                    "--registry-root", str(root)])
    hosted = {**env, "PLUGIN_HOST_URL": host.url}
    assert cli("install", "shelf@^1", env=hosted).stdout.strip() == "installed shelf 1.0.0"
    r = cli("status", "--json", env=hosted)
    assert [p["name"] for p in json.loads(r.stdout)["plugins"]] == ["shelf"]
    assert "shelf" in cli("status", env=hosted).stdout
    r = cli("show", "shelf", env=hosted)
    assert "route  GET /plugins/shelf/api/greet/{name}" in r.stdout, r.stdout
    r = cli("config", "set", "shelf", "greeting=Hej", "limit=5", env=hosted)
    assert r.returncode == 0 and 'greeting = "Hej"' in r.stdout and "limit = 5" in r.stdout
    assert json.loads(cli("config", "get", "shelf", "--json", env=hosted).stdout) == {
        "greeting": "Hej", "limit": 5}
    r = cli("config", "set", "shelf", "oops", env=hosted)
    assert r.returncode == 2 and "write KEY=VALUE" in r.stderr

    # a new version: published, approved, upgraded live from the registry, rolled back
    v2 = tmp_path / "shelf-1.1.0.kplugin"
    v2.write_bytes(variant(tmp_path, "shelf", "1.1.0", key=keys["key"]))
    assert cli("publish", str(v2), env=env).returncode == 0
    assert cli("review", "approve", "shelf", "1.1.0", env=reviewer).returncode == 0
    r = cli("upgrade", "shelf", "^1", env=hosted)
    assert r.stdout.strip() == "upgraded shelf 1.0.0 → 1.1.0", r.stdout + r.stderr
    assert json.loads(cli("config", "get", "shelf", "--json", env=hosted).stdout)["limit"] == 5
    assert cli("rollback", "shelf", env=hosted).stdout.strip() == "shelf 1.0.0: enabled"
    assert cli("disable", "shelf", env=hosted).stdout.strip() == "shelf 1.0.0: disabled"
    assert cli("enable", "shelf", env=hosted).stdout.strip() == "shelf 1.0.0: enabled"
    r = cli("uninstall", "shelf", "--yes", env=hosted)
    assert r.stdout.strip() == "uninstalled shelf (its data kept)"
    r = cli("show", "shelf", env=hosted)
    assert r.returncode == 2 and "404" in r.stderr and "Traceback" not in r.stderr

    assert cli("logout", env=env).stdout.strip() == f"logged out of {registry.url}"
    r = cli("publish", str(v2), env=env)
    assert r.returncode == 2 and "log in first" in r.stderr

"""What an operator reads from the command line, in its human form (the --json forms are
in test_cli.py): an empty host, what a plugin still lacks, its settings, a live upgrade
from a package file, its log lines, a call's trace by its correlation id, a profile
written as speedscope JSON and as folded stacks, and the refusals each says in one line."""

from __future__ import annotations

import json

from .support.plugins import variant
from .support.servers import ADMIN_TOKEN
from .test_cli import cli


def test_an_operator_reads_a_host_in_plain_words(host_factory, packages, keys, tmp_path):
    host = host_factory()
    env = {"PLUGIN_HOST_URL": host.url, "PLUGIN_HOST_ADMIN_TOKEN": ADMIN_TOKEN}
    r = cli("status", env=env)
    assert r.returncode == 0 and r.stdout.strip() == "no plugins installed", r.stderr

    assert host.install(packages["book-notes"]).status_code == 201
    r = cli("show", "book-notes", env=env)
    assert r.returncode == 0, r.stderr
    assert "  hook   biblio.after_save" in r.stdout
    assert '  config openlibrary_url = "https://openlibrary.org"' in r.stdout
    assert "  secret OPENLIBRARY_KEY: unset" in r.stdout
    assert ("  warning: secret OPENLIBRARY_KEY is unset: set it with PUT "
            "/admin/plugins/book-notes/secrets/OPENLIBRARY_KEY") in r.stdout
    r = cli("config", "get", "book-notes", env=env)
    assert r.stdout.strip() == 'openlibrary_url = "https://openlibrary.org"', r.stderr

    # a live upgrade from a package file; a range beside it is refused before anything
    assert host.install(packages["hello-world"]).status_code == 201
    v2 = tmp_path / "hello-world-1.1.0.kplugin"
    v2.write_bytes(variant(tmp_path, "hello-world", "1.1.0", key=keys["key"]))
    r = cli("upgrade", "hello-world", "^1", "--package", str(v2), env=env)
    assert r.returncode == 2 and r.stderr.strip().endswith(
        "give a RANGE or --package, not both"), r.stderr
    r = cli("upgrade", "hello-world", "--package", str(v2), env=env)
    assert r.stdout.strip() == "upgraded hello-world 1.0.0 → 1.1.0", r.stderr

    # a call: its log line and its trace, found by the id its answer carried
    answer = host.client.get("/plugins/hello-world/api/greet/Ada")
    assert answer.status_code == 200
    cid = answer.headers["X-Correlation-ID"]
    r = cli("logs", "hello-world", env=env)
    assert r.returncode == 0 and "[info] greeting name=Ada" in r.stdout, r.stdout + r.stderr
    r = cli("trace", cid, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{cid}  hello-world 1.1.0  GET /greet/Ada → 200  ok"), r.stdout
    r = cli("trace", "hello-world", env=env)
    assert f"{cid}  hello-world 1.1.0" in r.stdout
    r = cli("trace", "no-such-call", env=env)
    assert r.returncode == 2 and "404" in r.stderr and "Traceback" not in r.stderr
    r = cli("logs", "nothing-here", "--follow", env=env)
    assert r.returncode == 2 and "404" in r.stderr and "Traceback" not in r.stderr

    # a profile, both ways; a route this quick is named as too quick to sample
    out = tmp_path / "greet.speedscope.json"
    r = cli("profile", "hello-world", "--route", "GET /greet/Ada", "--calls", "5", "-o",
            str(out), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("GET /greet/Ada, 5 calls: median "), r.stdout
    assert "statuses {'200': 5}" in r.stdout
    graph = json.loads(out.read_text())
    assert graph["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    folded = tmp_path / "greet.folded"
    r = cli("profile", "hello-world", "--route", "/greet/Ada", "--calls", "3", "--folded",
            "-o", str(folded), env=env)
    assert r.returncode == 0 and folded.exists(), r.stderr
    total = sum(int(line.rsplit(" ", 1)[1]) for line in folded.read_text().splitlines())
    assert (total == 0) == ("no samples: each call took under" in r.stdout)

    # nothing is removed without a yes
    r = cli("uninstall", "hello-world", env=env, stdin="n\n")
    assert r.returncode == 1 and "Aborted" in r.stderr
    assert sorted(host.installed()) == ["book-notes", "hello-world"]

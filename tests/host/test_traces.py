"""Debugging a plugin from outside: each call's trace (what was called, its status and
time, and every capability request made during it — kv keys, http hosts and paths,
secret names, never values) by correlation id or by plugin, through the admin API and
`plugin-host trace`; the plugin's own log lines apart from the host's, through the admin
API and `plugin-host logs` (also followed as they come)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from ..support.paths import EXAMPLES
from ..support.plugins import signed
from ..support.servers import ADMIN_TOKEN


def cli(host, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plugin_host.cli", *args, "--url", host.url],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PLUGIN_HOST_ADMIN_TOKEN": ADMIN_TOKEN})


def test_a_call_is_traced_with_each_capability_request(host, keys, plugin_copy, tmp_path,
                                                       openlibrary):
    src = plugin_copy(EXAMPLES / "book-notes")
    toml = (src / "plugin.toml").read_text()
    (src / "plugin.toml").write_text(toml.replace('network = ["openlibrary.org:443"]',
                                                  f'network = ["127.0.0.1:{openlibrary}"]'))
    assert host.install(signed(src, keys["key"], tmp_path / "pkg")).status_code == 201
    host.admin.put("/admin/plugins/book-notes/config",
                   json={"openlibrary_url": f"http://127.0.0.1:{openlibrary}"})
    r = host.client.get("/plugins/book-notes/api/title/9780441013593",
                        headers={"X-Request-ID": "trace-me-1"})
    assert r.status_code == 200
    (trace,) = host.admin.get("/admin/traces/trace-me-1").json()["traces"]
    assert trace["call"] == "GET /title/9780441013593" and trace["status"] == 200
    assert trace["outcome"] == "ok" and trace["ms"] > 0
    ops = [(c["op"], c["what"], c["outcome"]) for c in trace["caps"]]
    assert ops == [("secret.get", "OPENLIBRARY_KEY", "secret_not_set"),
                   ("http.request",
                    f"GET http://127.0.0.1:{openlibrary}/isbn/9780441013593.json", "ok")]
    host.client.post("/plugins/book-notes/api/notes", json={"id": "n1", "text": "secret text"},
                     headers={"X-Request-ID": "trace-me-2"})
    host.client.get("/plugins/book-notes/api/fetch", params={"url": "https://evil.example/x"},
                    headers={"X-Request-ID": "trace-me-3"})
    recent = host.admin.get("/admin/plugins/book-notes/traces").json()["traces"]
    assert [t["correlation_id"] for t in recent[:3]] == ["trace-me-3", "trace-me-2",
                                                         "trace-me-1"]
    assert [(c["op"], c["what"]) for c in recent[1]["caps"]] == [("kv.set", "note:n1")]
    assert "secret text" not in json.dumps(recent)  # names, never values
    assert recent[0]["caps"][0]["outcome"] == "capability_denied"

    r = cli(host, "trace", "trace-me-1")
    assert r.returncode == 0, r.stderr
    assert "book-notes 1.0.0  GET /title/9780441013593 → 200  ok" in r.stdout
    assert "secret.get     OPENLIBRARY_KEY" in r.stdout
    r = cli(host, "trace", "book-notes", "--json")
    assert [t["correlation_id"] for t in json.loads(r.stdout)][:1] == ["trace-me-3"]
    r = cli(host, "trace", "no-such-call")
    assert r.returncode == 2 and "no call with correlation id 'no-such-call'" in r.stderr


def test_a_plugins_own_log_lines_apart_and_followed(host, packages):
    assert host.install(packages["hello-world"]).status_code == 201
    host.client.get("/plugins/hello-world/api/greet/Ada")
    r = cli(host, "logs", "hello-world")
    assert r.returncode == 0 and "[info] greeting name=Ada" in r.stdout, r.stdout + r.stderr
    follower = subprocess.Popen(
        [sys.executable, "-m", "plugin_host.cli", "logs", "hello-world", "--follow", "-n", "1",
         "--url", host.url], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PLUGIN_HOST_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        assert "greeting name=Ada" in follower.stdout.readline()  # the last line so far
        time.sleep(0.5)
        host.client.get("/plugins/hello-world/api/greet/Grace")
        assert "greeting name=Grace" in follower.stdout.readline()
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    lines = host.admin.get("/admin/plugins/hello-world/logs").json()["lines"]
    assert [x["name"] for x in lines] == ["Ada", "Grace"]
    assert host.client.get("/admin/plugins/hello-world/logs").status_code == 401


SLOW = '''

@plugin.route("GET", "/slow")
def slow(request, ctx):
    return {"n": crunch(300000)}


def crunch(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
'''


def test_a_profile_of_a_route_is_a_flame_graph(host, keys, plugin_copy, tmp_path):
    """`plugin-host profile`: the worker samples the handler's stack during the calls;
    the flame graph (speedscope JSON, or folded stacks) shows where the time goes, down
    to the plugin's own functions."""
    src = plugin_copy(EXAMPLES / "hello-world")
    code = src / "hello_world" / "__init__.py"
    code.write_text(code.read_text() + SLOW)
    assert host.install(signed(src, keys["key"], tmp_path / "pkg")).status_code == 201
    out = tmp_path / "hello.speedscope.json"
    r = cli(host, "profile", "hello-world", "--route", "GET /slow", "--calls", "10",
            "-o", str(out), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "GET /slow, 10 calls: median" in r.stdout and "statuses {'200': 10}" in r.stdout
    assert "crunch (hello_world/__init__.py:" in r.stdout  # among the top frames
    doc = json.loads(out.read_text())
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    (prof,) = doc["profiles"]
    assert prof["type"] == "sampled" and len(prof["samples"]) == len(prof["weights"]) > 0
    names = {f["name"] for f in doc["shared"]["frames"]}
    assert {"slow", "crunch"} <= names
    r = cli(host, "profile", "hello-world", "--route", "/slow", "--calls", "3", "--folded",
            "-o", str(tmp_path / "p.folded"))
    assert r.returncode == 0, r.stderr
    line = (tmp_path / "p.folded").read_text().splitlines()[0]
    assert line.rsplit(" ", 1)[1].isdigit() and "slow (hello_world/__init__.py:" in line
    r = host.admin.post("/admin/plugins/hello-world/profile", json={"path": "/slow",
                                                                    "calls": 5000})
    assert r.status_code == 422 and "calls:" in r.json()["error"]["message"]
    for method in ({}, "TRACE", "CONNECT"):  # not a method a route is profiled with
        r = host.admin.post("/admin/plugins/hello-world/profile",
                            json={"path": "/slow", "method": method})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["message"].startswith("method: one of GET, POST"), r.text


def test_a_follower_does_not_hold_the_host_up_at_a_stop(host, packages):
    """A console's or `plugin-host logs --follow`'s open stream ends when the host is
    told to stop, so a stop takes a second, not the supervisor's kill timeout."""
    import httpx

    assert host.install(packages["hello-world"]).status_code == 201
    with httpx.stream("GET", f"{host.url}/admin/plugins/hello-world/logs",
                      params={"follow": "true"}, timeout=30,
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as stream:
        assert stream.status_code == 200
        t0 = time.monotonic()
        host.proc.terminate()
        host.proc.wait(timeout=20)
        assert time.monotonic() - t0 < 5, "the open log stream held the host up"

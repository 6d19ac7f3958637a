"""Live validation: a real host under generated traffic, scraped by a real Prometheus
running monitoring/rules, alerting through a real Alertmanager to a webhook here.

A real registry is scraped too, with publishes, a review and downloads. Every recording
rule and every dashboard query must return data, and a crash-looping plugin must reach
the webhook as KohaPluginCrashLooping.
"""

from __future__ import annotations

import contextlib
import shutil
import time

import httpx
import pytest
import yaml

from monitoring import dashboards, scrape_config
from ops.processes import free_port, start_server

from ..support.alerting import Receiver, receiver, short_for
from ..support.paths import EXAMPLES, MONITORING
from ..support.plugins import signed
from ..support.system import require_tool
from ..support.waiting import wait_until

TOOLS_HINT = "apt-get install prometheus prometheus-alertmanager prometheus-node-exporter"


@pytest.fixture
def stack(tmp_path, host_factory, keys, packages, plugin_copy, openlibrary, registry):
    prometheus_bin = require_tool("prometheus", TOOLS_HINT)
    alertmanager_bin = (shutil.which("prometheus-alertmanager")
                        or require_tool("alertmanager", TOOLS_HINT))
    hooks = contextlib.ExitStack()
    hook_port = hooks.enter_context(receiver())  # the webhooks Alertmanager calls

    host = host_factory()
    for name in ("hello-world", "faulty"):
        assert host.install(packages[name]).status_code == 201
    notes = plugin_copy(EXAMPLES / "book-notes")
    toml = (notes / "plugin.toml").read_text()
    (notes / "plugin.toml").write_text(
        toml.replace('"openlibrary.org:443"', f'"127.0.0.1:{openlibrary}"'))
    assert host.install(signed(notes, keys["key"], tmp_path / "pkg")).status_code == 201
    host.admin.put("/admin/plugins/book-notes/config",
                   json={"openlibrary_url": f"http://127.0.0.1:{openlibrary}"})

    am_port, prom_port = free_port(), free_port()
    am_config = (MONITORING / "alertmanager.yml").read_text().replace(
        "127.0.0.1:9095", f"127.0.0.1:{hook_port}")
    (tmp_path / "alertmanager.yml").write_text(am_config)
    node_port = free_port()
    prom = scrape_config.render(
        "test", {"plugin_host": [host.url.removeprefix("http://")],
                 "registry": [registry.url.removeprefix("http://")],
                 "node": [f"127.0.0.1:{node_port}"]},
        [f"127.0.0.1:{am_port}"],
        short_for(tmp_path / "rules"), "1s", "1s")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom))
    servers: list = []
    try:
        servers.append(start_server(  # the Hosts dashboard reads this machine's
            [require_tool("prometheus-node-exporter", TOOLS_HINT),
             f"--web.listen-address=127.0.0.1:{node_port}"], tmp_path / "node.log",
            port=node_port, ready_path="/metrics"))
        servers.append(start_server(
            [alertmanager_bin, f"--config.file={tmp_path / 'alertmanager.yml'}",
             f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
             "--cluster.listen-address="], tmp_path / "alertmanager.log", port=am_port,
            ready_path="/-/ready"))
        servers.append(start_server(
            [prometheus_bin, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"], tmp_path / "prometheus.log",
            port=prom_port, ready_path="/-/ready"))
        publish_and_review(registry, packages)
        yield host, servers[-1].url  # Prometheus, started last
    finally:
        for started in servers:
            started.stop()
        hooks.close()


def query(prom_url: str, expr: str) -> list:
    r = httpx.get(f"{prom_url}/api/v1/query", params={"query": expr}, timeout=10)
    assert r.status_code == 200, (expr, r.text)
    return r.json()["data"]["result"]


def traffic(host) -> None:
    c = host.client
    for i in range(30):
        assert c.get(f"/plugins/hello-world/api/greet/reader{i}").status_code == 200
    for i in range(3):
        c.post("/plugins/book-notes/api/notes", json={"id": f"n{i}", "text": "mend"})
        assert c.get("/plugins/book-notes/api/title/9780441013593").status_code == 200
    c.get("/plugins/faulty/api/raise")                 # a 500
    c.get("/plugins/faulty/api/sleep", params={"s": 3})  # a timeout, worker replaced
    c.get("/plugins/faulty/api/secret/OTHER")          # a capability denial
    host.hook("biblio.after_save", {"biblionumber": 1})
    # an upgrade attempt that is refused still counts
    host.admin.post("/admin/plugins/hello-world/upgrade", content=b"x",
                    headers={"Content-Type": "application/zip"})


def publish_and_review(registry, packages) -> None:
    """Registry traffic: a publish, an approval, a rejected publish, downloads."""
    zip_ = {"Content-Type": "application/zip"}
    pub, rev = registry.client("publisher"), registry.client("reviewer")
    assert pub.post("/api/v1/packages", content=packages["hello-world"],
                    headers=zip_).status_code == 201
    assert pub.post("/api/v1/packages", content=packages["book-notes"],
                    headers=zip_).status_code == 201
    rev.post("/api/v1/review/hello-world/1.0.0", json={"decision": "approve"})
    for _ in range(3):
        assert registry.client().get(
            "/api/v1/plugins/hello-world/1.0.0/download").status_code == 200


def rule_names() -> list[str]:
    names = []
    for path in sorted((MONITORING / "rules").glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names += [r["record"] for r in group["rules"] if "record" in r]
    return names


def test_rules_dashboards_and_a_real_alert(stack):
    host, prom = stack
    traffic(host)
    # let a few scrapes and rule evaluations happen, with traffic flowing meanwhile
    deadline = time.monotonic() + 60
    records = rule_names()
    assert len(records) == 35  # every recording rule, the registry's included
    missing = records
    while time.monotonic() < deadline:
        traffic(host)
        missing = [r for r in records if not query(prom, r)]
        if not missing:
            break
        time.sleep(1)
    assert missing == [], f"recording rules without data: {missing}"

    panels = [(d.uid, title, q) for d in dashboards.DASHBOARDS
              for title, q in dashboards.queries(d)]
    assert len(panels) >= 30
    empty = [(uid, title) for uid, title, q in panels if not query(prom, q)]
    assert empty == [], f"dashboard panels without data: {empty}"

    # a crash-looping plugin drives its real alert through Alertmanager to the webhook
    for _ in range(8):
        host.client.get("/plugins/faulty/api/exit")
    assert host.admin.get("/admin/plugins/faulty").json()["state"] == "crash-looping"

    def delivered():
        return [(path, a) for path, a in Receiver.received
                if a["labels"]["alertname"] == "KohaPluginCrashLooping"
                and a["status"] == "firing"]

    assert wait_until(delivered, timeout=75), "KohaPluginCrashLooping never reached the webhook"
    path, alert = delivered()[0]
    # a cause, not a symptom: a ticket (environment "test": the general tickets receiver)
    assert path == "/alerts/tickets"
    assert alert["labels"]["plugin"] == "faulty" and alert["labels"]["severity"] == "warning"
    # which host: job and instance survive, and the environment from the external label
    assert alert["labels"]["instance"] == host.url.removeprefix("http://")
    assert alert["labels"]["job"] == "plugin-host"
    assert alert["labels"]["environment"] == "test"
    assert alert["annotations"]["runbook_url"].endswith("/KohaPluginCrashLooping.md")

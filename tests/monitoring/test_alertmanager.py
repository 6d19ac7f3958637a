"""The shipped Alertmanager configuration on a real Alertmanager, and the dead man's
switch and absent() alerts through a real Prometheus.

The configuration is monitoring/alertmanager.yml as shipped, with two changes a test
needs: the webhook host points at this test's receiver (the paths stay, so each
receiver is told apart), and the group waits are one second (routing and inhibition
are what is tested, not the waits). The rules are the shipped files with every ``for:``
cut to 5 s (promtool's tests cover the durations).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from monitoring import scrape_config
from ops.processes import free_port, start_server

from ..support.paths import MONITORING
from ..support.system import require_tool
from ..support.waiting import wait_until

TOOLS_HINT = "apt-get install prometheus prometheus-alertmanager prometheus-node-exporter"


class Receiver(BaseHTTPRequestHandler):
    """Every webhook call: (path, alert) for each alert in it."""

    received: list[tuple[str, dict]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Receiver.received += [(self.path, a) for a in body["alerts"]]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def delivered(alertname: str, **labels: str) -> list[str]:
    """The receiver paths an alert with these labels reached (firing)."""
    return sorted({path for path, a in Receiver.received
                   if a["labels"].get("alertname") == alertname and a["status"] == "firing"
                   and all(a["labels"].get(k) == v for k, v in labels.items())})


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.received = []
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def alertmanager(tmp_path, receiver):
    binary = shutil.which("prometheus-alertmanager") or require_tool("alertmanager", TOOLS_HINT)
    doc = yaml.safe_load((MONITORING / "alertmanager.yml").read_text())

    def quick(route: dict) -> None:
        for key in ("group_wait", "group_interval"):
            if key in route:
                route[key] = "1s"
        for child in route.get("routes", []):
            quick(child)

    doc["route"].update(group_wait="1s", group_interval="1s")
    quick(doc["route"])
    for r in doc["receivers"]:
        for hook in r["webhook_configs"]:
            hook["url"] = hook["url"].replace("127.0.0.1:9095", f"127.0.0.1:{receiver}")
    (tmp_path / "am.yml").write_text(yaml.safe_dump(doc))
    port = free_port()
    server = start_server([binary, f"--config.file={tmp_path / 'am.yml'}",
                           f"--storage.path={tmp_path / 'am'}",
                           f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                          tmp_path / "am.log", port=port, ready_path="/-/ready")
    yield server.url
    server.stop()


def post(am: str, alertname: str, **labels: str) -> None:
    r = httpx.post(f"{am}/api/v2/alerts", json=[{"labels": {"alertname": alertname, **labels},
                                                  "annotations": {"summary": alertname}}])
    assert r.status_code == 200, r.text


def test_one_plugin_crash_looping_hides_no_other_plugin(alertmanager):
    """Before, the inhibition compared only `job`, which the plugin alerts had dropped:
    two missing labels compare equal, so one plugin crash-looping silenced every other
    plugin's warnings."""
    common = {"environment": "prod", "job": "plugin-host", "instance": "h1:8080",
              "severity": "warning"}
    post(alertmanager, "KohaPluginCrashLooping", plugin="faulty", **common)
    time.sleep(1)
    post(alertmanager, "KohaPluginTimeoutRate", plugin="other", **common)
    post(alertmanager, "KohaPluginTimeoutRate", plugin="faulty", **common)
    assert wait_until(lambda: delivered("KohaPluginTimeoutRate", plugin="other"), timeout=20)
    assert delivered("KohaPluginTimeoutRate", plugin="other") == ["/alerts/prod/tickets"]
    # the crash-looping plugin's own timeouts follow from it: inhibited, and said so
    alerts = httpx.get(f"{alertmanager}/api/v2/alerts").json()
    inhibited = {a["labels"]["plugin"]: a["status"]["inhibitedBy"] for a in alerts
                 if a["labels"]["alertname"] == "KohaPluginTimeoutRate"}
    assert inhibited["faulty"] and not inhibited["other"], inhibited
    time.sleep(3)
    assert delivered("KohaPluginTimeoutRate", plugin="faulty") == []


def test_a_host_down_hides_only_its_own_warnings(alertmanager):
    post(alertmanager, "KohaInstanceDown", environment="prod", job="plugin-host",
         instance="h1:8080", severity="warning")
    time.sleep(1)
    for instance in ("h1:8080", "h2:8080"):
        post(alertmanager, "KohaPluginFleetDrift", environment="prod", job="plugin-host",
             instance=instance, severity="warning")
    assert wait_until(lambda: delivered("KohaPluginFleetDrift", instance="h2:8080"), timeout=20)
    time.sleep(3)
    assert delivered("KohaPluginFleetDrift", instance="h1:8080") == []


def test_staging_never_pages_production(alertmanager):
    down = {"job": "plugin-host", "severity": "critical"}
    post(alertmanager, "KohaScrapeJobDown", environment="staging", **down)
    post(alertmanager, "KohaScrapeJobDown", environment="prod", **down)
    post(alertmanager, "KohaScrapeJobDown", environment="dev", **down)
    assert wait_until(lambda: len({p for p, _ in Receiver.received}) == 3, timeout=20)
    assert delivered("KohaScrapeJobDown", environment="staging") == ["/alerts/staging/tickets"]
    assert delivered("KohaScrapeJobDown", environment="prod") == ["/alerts/prod/pager"]
    assert delivered("KohaScrapeJobDown", environment="dev") == ["/alerts/tickets"]


def test_watchdog_and_absent_through_a_real_prometheus(tmp_path, alertmanager):
    """The Watchdog reaches its receiver; killing the only node_exporter fires
    KohaScrapeJobDown{job="node"} (absent(up{job="node"} == 1))."""
    prometheus = require_tool("prometheus", TOOLS_HINT)
    exporter = require_tool("prometheus-node-exporter", TOOLS_HINT)
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in sorted((MONITORING / "rules").glob("*.rules.yml")):
        (rules / path.name).write_text(
            re.sub(r"(?m)^(\s+for: )\S+$", r"\g<1>5s", path.read_text()))
    node_port, prom_port = free_port(), free_port()
    node = start_server([exporter, f"--web.listen-address=127.0.0.1:{node_port}"],
                        tmp_path / "node.log", port=node_port, ready_path="/metrics")
    config = scrape_config.render(
        "test", {"node": [f"127.0.0.1:{node_port}"]},
        [alertmanager.removeprefix("http://")],
        [str(p) for p in sorted(rules.glob("*.yml"))], "1s", "1s")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    # an alert fired before Prometheus has discovered Alertmanager is sent again after
    # --rules.alert.resend-delay (1 m by default): 2 s here
    prom = start_server([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                         "--rules.alert.resend-delay=2s",
                         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                         f"--web.listen-address=127.0.0.1:{prom_port}"],
                        tmp_path / "prometheus.log", port=prom_port, ready_path="/-/ready")
    try:
        assert wait_until(lambda: delivered("Watchdog"), timeout=45), \
            "the Watchdog never reached its receiver"
        assert delivered("Watchdog", environment="test") == ["/alerts/watchdog"]

        def node_up() -> bool:
            r = httpx.get(f"{prom.url}/api/v1/query", params={"query": 'up{job="node"}'})
            return [s["value"][1] for s in r.json()["data"]["result"]] == ["1"]

        assert wait_until(node_up, timeout=30)
        time.sleep(8)  # longer than the shortened `for`: it would have fired by now
        assert delivered("KohaScrapeJobDown", job="node") == []
        # the plugin hosts and the registry are not scraped here: absent() says so
        assert delivered("KohaScrapeJobDown", job="plugin-host") == ["/alerts/tickets"]
        node.stop()
        assert wait_until(lambda: delivered("KohaScrapeJobDown", job="node"), timeout=45), \
            "killing node_exporter did not fire KohaScrapeJobDown{job=node}"
        path, alert = next((p, a) for p, a in Receiver.received
                           if a["labels"].get("job") == "node"
                           and a["labels"]["alertname"] == "KohaScrapeJobDown")
        assert path == "/alerts/tickets" and alert["labels"]["severity"] == "warning"
    finally:
        prom.stop()
        node.stop()


def test_the_shipped_rules_are_the_ones_tested():
    """The rule files this module shortens are every rule file Prometheus is given."""
    assert sorted(p.name for p in (MONITORING / "rules").glob("*.rules.yml")) == sorted(
        Path(p).name for p in scrape_config.from_environment_file(
            MONITORING / "environments" / "prod.yml", MONITORING / "rules")["rule_files"])

"""The shipped Alertmanager configuration on a real Alertmanager, and the dead man's
switch and absent() alerts through a real Prometheus.

The configuration and rules are the shipped ones, with only the changes a test needs
(tests/support/alerting.py: the webhooks point at the test's receiver, waits short).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from monitoring import scrape_config
from ops.processes import free_port, start_server

from ..support.alerting import TOOLS_HINT, Receiver, delivered, prometheus, query, receiver
from ..support.alerting import alertmanager as start_alertmanager
from ..support.paths import MONITORING
from ..support.system import require_tool
from ..support.waiting import wait_until


@pytest.fixture
def alertmanager(tmp_path):
    with receiver() as port, start_alertmanager(tmp_path / "am", port) as url:
        yield url


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
    exporter = require_tool("prometheus-node-exporter", TOOLS_HINT)
    node_port = free_port()
    node = start_server([exporter, f"--web.listen-address=127.0.0.1:{node_port}"],
                        tmp_path / "node.log", port=node_port, ready_path="/metrics")
    try:
        with prometheus(tmp_path / "prom", "test", {"node": [f"127.0.0.1:{node_port}"]},
                        alertmanager) as prom:
            assert wait_until(lambda: delivered("Watchdog"), timeout=45), \
                "the Watchdog never reached its receiver"
            assert delivered("Watchdog", environment="test") == ["/alerts/watchdog"]
            assert wait_until(lambda: [s["value"][1] for s in query(prom, 'up{job="node"}')]
                              == ["1"], timeout=30)
            # node_exporter answering: no KohaScrapeJobDown for it (one that fired before
            # the first scrape, on a slow machine, resolves)
            node_down = 'ALERTS{alertname="KohaScrapeJobDown",job="node"}'
            assert wait_until(lambda: not query(prom, node_down), timeout=30)
            time.sleep(8)  # longer than the shortened `for`: it would fire by now
            assert query(prom, node_down) == []
            # the plugin hosts and the registry are not scraped here: absent() says so
            assert delivered("KohaScrapeJobDown", job="plugin-host") == ["/alerts/tickets"]
            mark = len(Receiver.received)
            node.stop()

            def fired() -> list[tuple[str, dict]]:
                return [(p, a) for p, a in Receiver.received[mark:]
                        if a["labels"].get("job") == "node" and a["status"] == "firing"
                        and a["labels"]["alertname"] == "KohaScrapeJobDown"]

            assert wait_until(fired, timeout=45), \
                "killing node_exporter did not fire KohaScrapeJobDown{job=node}"
            path, alert = fired()[0]
            assert path == "/alerts/tickets" and alert["labels"]["severity"] == "warning"
    finally:
        node.stop()


def test_the_shipped_rules_are_the_ones_tested():
    """The rule files this module shortens are every rule file Prometheus is given."""
    assert sorted(p.name for p in (MONITORING / "rules").glob("*.rules.yml")) == sorted(
        Path(p).name for p in scrape_config.from_environment_file(
            MONITORING / "environments" / "prod.yml", MONITORING / "rules")["rule_files"])

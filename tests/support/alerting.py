"""A real Alertmanager with the shipped configuration, a real Prometheus with the
shipped rules, and a webhook receiver that records what each receiver was sent.

Two changes a test needs, and no others: the webhooks point at the test's receiver (the
paths stay, so each receiver is told apart), and the waits are short: group waits of
1 s, every rule's ``for:`` cut to 5 s, alerts re-sent every 2 s (promtool's tests cover
the durations; these tests cover routing, inhibition and real series).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import yaml

from monitoring import scrape_config
from ops.processes import free_port, start_server

from .paths import MONITORING
from .servers import serve_in_thread
from .system import require_tool

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
    """The receiver paths a firing alert with these labels reached."""
    return sorted({path for path, a in Receiver.received
                   if a["labels"].get("alertname") == alertname and a["status"] == "firing"
                   and all(a["labels"].get(k) == v for k, v in labels.items())})


@contextmanager
def receiver() -> Iterator[int]:
    """The webhook receiver on a free port; yields the port."""
    Receiver.received = []
    with serve_in_thread(Receiver) as port:
        yield port


def short_for(rules_dir: Path) -> list[str]:
    """The shipped rule files, written to ``rules_dir`` with every ``for:`` cut to 5 s."""
    rules_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for path in sorted((MONITORING / "rules").glob("*.rules.yml")):
        target = rules_dir / path.name
        target.write_text(re.sub(r"(?m)^(\s+for: )\S+$", r"\g<1>5s", path.read_text()))
        out.append(str(target))
    return out


@contextmanager
def alertmanager(tmp: Path, receiver_port: int) -> Iterator[str]:
    """The shipped alertmanager.yml on a real Alertmanager; yields its URL."""
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
            hook["url"] = hook["url"].replace("127.0.0.1:9095", f"127.0.0.1:{receiver_port}")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "am.yml").write_text(yaml.safe_dump(doc))
    port = free_port()
    server = start_server([binary, f"--config.file={tmp / 'am.yml'}",
                           f"--storage.path={tmp / 'am'}",
                           f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                          tmp / "am.log", port=port, ready_path="/-/ready")
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def prometheus(tmp: Path, environment: str, targets: dict[str, list[str]],
               alertmanager_url: str) -> Iterator[str]:
    """A real Prometheus scraping ``targets`` every second with the shipped rules
    (``for`` shortened); yields its URL."""
    binary = require_tool("prometheus", TOOLS_HINT)
    tmp.mkdir(parents=True, exist_ok=True)
    config = scrape_config.render(environment, targets,
                                  [alertmanager_url.removeprefix("http://")],
                                  short_for(tmp / "rules"), "1s", "1s")
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    # an alert fired before Prometheus has discovered Alertmanager is sent again after
    # --rules.alert.resend-delay (1 m by default): 2 s here
    server = start_server([binary, f"--config.file={tmp / 'prometheus.yml'}",
                           "--rules.alert.resend-delay=2s",
                           f"--storage.tsdb.path={tmp / 'tsdb'}",
                           f"--web.listen-address=127.0.0.1:{port}"],
                          tmp / "prometheus.log", port=port, ready_path="/-/ready")
    try:
        yield server.url
    finally:
        server.stop()


def query(prom_url: str, expr: str) -> list:
    r = httpx.get(f"{prom_url}/api/v1/query", params={"query": expr}, timeout=10)
    assert r.status_code == 200, (expr, r.text)
    return r.json()["data"]["result"]

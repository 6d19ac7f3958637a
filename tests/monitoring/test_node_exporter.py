"""The host alerts read node_exporter's series: a real prometheus-node-exporter (the
Debian package the node_exporter role installs on every host) exports each series and
label they use. (promtool's unit tests in monitoring/tests/alerts.test.yml show each
alert firing and staying silent.)"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from monitoring import dashboards, rules_as_code
from monitoring.catalogue import NODE, series_in
from ops.processes import free_port, start_server

from ..support.system import require_tool


def test_a_real_node_exporter_exports_what_the_host_alerts_read(tmp_path):
    exporter = require_tool("prometheus-node-exporter",
                            "apt-get install prometheus-node-exporter (./dev does this as root)")
    port = free_port()
    server = start_server([exporter, f"--web.listen-address=127.0.0.1:{port}"],
                          tmp_path / "node.log", port=port, ready_path="/metrics")
    try:
        text = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            exported.setdefault(sample.name, set()).update(sample.labels)
    for metric in NODE:
        for series in metric.series:
            assert series in exported, f"node_exporter does not export {series}"
            assert set(metric.labels) <= exported[series], metric
    used = {name for rule in rules_as_code.alerts_node for name, _ in series_in(rule["expr"])}
    used |= {name for d in dashboards.DASHBOARDS for _, q in dashboards.queries(d)
             for name, _ in series_in(q) if name.startswith("node_")}
    assert used == {s for m in NODE for s in m.series}


def test_backup_outcomes_reach_prometheus_through_the_textfile_collector(tmp_path):
    """What `plugin-host backup run --metrics-dir` writes, node_exporter exports as is
    (the node_exporter role points its textfile collector at that folder)."""
    from monitoring.catalogue import BACKUPS
    from plugin_host.service.backup_metrics import write_metrics

    exporter = require_tool("prometheus-node-exporter",
                            "apt-get install prometheus-node-exporter (./dev does this as root)")
    textfile = tmp_path / "textfile"
    write_metrics(textfile, "registry", tmp_path / "none-yet", interval=86400, failed=True,
                  duration=1.5)
    port = free_port()
    server = start_server([exporter, f"--web.listen-address=127.0.0.1:{port}",
                           f"--collector.textfile.directory={textfile}"],
                          tmp_path / "node.log", port=port, ready_path="/metrics")
    try:
        text = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    samples = {s.name: s for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples["node_textfile_scrape_error"].value == 0
    for metric in BACKUPS:
        assert samples[metric.name].labels == {"service": "registry"}, metric.name
    assert samples["koha_backup_last_failed"].value == 1
    assert samples["koha_backup_last_success_timestamp_seconds"].value == 0  # none yet
    assert samples["koha_backup_interval_seconds"].value == 86400
    used = {name for rule in rules_as_code.alerts_backups for name, _ in series_in(rule["expr"])}
    assert used <= {m.name for m in BACKUPS}

"""Every metric the platform exports, read from the one place each is defined: the
runtime's metric objects (plugin_host/host/metrics.py, plugin_host/registry/metrics.py).

The rules (rules_as_code.py) and dashboards (dashboards.py) write PromQL with the names
spelled out, because queries read better that way; tests/monitoring/test_catalogue.py
checks that every name and label they use is one defined here, and that
docs/operations/metrics.md documents exactly these metrics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType

from prometheus_client.metrics import MetricWrapperBase

from plugin_host.host import metrics as host_metrics
from plugin_host.identity import metrics as identity_metrics
from plugin_host.registry import metrics as registry_metrics

#: suffixes Prometheus exposes for each type
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum"),
            "summary": ("_count", "_sum")}
#: labels Prometheus itself adds when it scrapes, or a histogram's bucket bound
ADDED_LABELS = {"job", "instance", "environment", "le"}


@dataclass(frozen=True)
class Metric:
    name: str  # the base name (a counter's without _total)
    kind: str
    labels: tuple[str, ...]
    help: str
    service: str  # plugin-host or registry

    @property
    def series(self) -> tuple[str, ...]:
        """The names Prometheus stores for it."""
        return tuple(self.name + s for s in SUFFIXES[self.kind])


def _metrics(module: ModuleType, service: str) -> list[Metric]:
    out = []
    for obj in vars(module).values():
        if isinstance(obj, MetricWrapperBase):
            out.append(Metric(obj._name, obj._type, tuple(obj._labelnames),
                              obj._documentation, service))
    return sorted(out, key=lambda m: m.name)


METRICS: list[Metric] = [*_metrics(host_metrics, "plugin-host"),
                         *_metrics(registry_metrics, "registry"),
                         *_metrics(identity_metrics, "plugin-host and registry")]
#: what the host alerts read from node_exporter (Debian's prometheus-node-exporter, on
#: every host): tests/monitoring/test_node_exporter.py scrapes a real one for them
NODE_FS = ("device", "fstype", "mountpoint")
NODE: list[Metric] = [
    Metric("node_filesystem_avail_bytes", "gauge", NODE_FS, "", "node-exporter"),
    Metric("node_filesystem_size_bytes", "gauge", NODE_FS, "", "node-exporter"),
    Metric("node_filesystem_readonly", "gauge", NODE_FS, "", "node-exporter"),
    Metric("node_filesystem_files", "gauge", NODE_FS, "", "node-exporter"),
    Metric("node_filesystem_files_free", "gauge", NODE_FS, "", "node-exporter"),
    Metric("node_network_receive_packets", "counter", ("device",), "", "node-exporter"),
    Metric("node_network_transmit_packets", "counter", ("device",), "", "node-exporter"),
    Metric("node_filefd_allocated", "gauge", (), "", "node-exporter"),
    Metric("node_filefd_maximum", "gauge", (), "", "node-exporter"),
    Metric("node_memory_MemAvailable_bytes", "gauge", (), "", "node-exporter"),
    Metric("node_memory_MemTotal_bytes", "gauge", (), "", "node-exporter"),
    Metric("node_timex_sync_status", "gauge", (), "", "node-exporter"),
    Metric("node_timex_maxerror_seconds", "gauge", (), "", "node-exporter"),
    Metric("node_timex_offset_seconds", "gauge", (), "", "node-exporter"),
    # the Hosts dashboard (USE: utilisation, saturation, errors)
    Metric("node_cpu_seconds", "counter", ("cpu", "mode"), "", "node-exporter"),
    Metric("node_load1", "gauge", (), "", "node-exporter"),
    Metric("node_vmstat_pgmajfault", "gauge", (), "", "node-exporter"),
    Metric("node_disk_io_time_seconds", "counter", ("device",), "", "node-exporter"),
    Metric("node_disk_io_time_weighted_seconds", "counter", ("device",), "", "node-exporter"),
    Metric("node_network_receive_bytes", "counter", ("device",), "", "node-exporter"),
    Metric("node_network_transmit_bytes", "counter", ("device",), "", "node-exporter"),
    Metric("node_network_receive_errs", "counter", ("device",), "", "node-exporter"),
    Metric("node_network_transmit_errs", "counter", ("device",), "", "node-exporter"),
]
#: every stored series name → its metric
#: what the probe alerts read from the blackbox exporter (Debian's
#: prometheus-blackbox-exporter on the monitoring hosts, job `blackbox`):
#: tests/monitoring/test_probes.py probes with a real one
PROBES: list[Metric] = [
    Metric("probe_success", "gauge", (), "", "blackbox-exporter"),
    Metric("probe_ssl_earliest_cert_expiry", "gauge", (), "", "blackbox-exporter"),
]


def _backup_metrics() -> list[Metric]:
    from plugin_host.service.backup_metrics import METRICS as BACKUP
    return [Metric(name, "gauge", ("service",), help_, "backup") for name, help_ in BACKUP.items()]


#: what the backup alerts read: written by `plugin-host backup run` for node_exporter's
#: textfile collector (job `node`); tests/monitoring/test_node_exporter.py reads them
#: through a real one
BACKUPS: list[Metric] = _backup_metrics()

SERIES: dict[str, Metric] = {s: m for m in [*METRICS, *NODE, *PROBES, *BACKUPS]
                             for s in m.series}

_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")
_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
#: words in PromQL that look like names but are not series
KEYWORDS = {"sum", "min", "max", "avg", "count", "rate", "increase", "by", "without", "and",
            "or", "unless", "on", "ignoring", "group_left", "group_right", "histogram_quantile",
            "time", "abs", "clamp_min", "clamp_max", "absent", "absent_over_time", "vector",
            "scalar", "label_replace", "topk", "bottomk", "irate", "delta", "deriv", "offset",
            "bool", "le", "changes", "resets", "sort", "sort_desc", "round", "ceil", "floor",
            "avg_over_time", "max_over_time", "min_over_time", "sum_over_time",
            "count_over_time", "quantile_over_time", "predict_linear", "up", "inf", "nan"}


def series_in(expr: str) -> list[tuple[str, set[str]]]:
    """(series name, labels matched on it) for each series a PromQL expression selects.

    Heuristic but strict enough for our own rules: durations in ``[...]`` and strings
    are removed first; a ``{__name__=~"a|b"}`` selector yields each name."""
    out = []
    for m in re.finditer(r'\{__name__=~"([^"]+)"([^}]*)\}', expr):
        out += [(n, set(_LABEL.findall(m.group(2)))) for n in m.group(1).split("|")]
    text = re.sub(r'\{__name__=~"[^"]+"[^}]*\}', "", expr)
    text = re.sub(r'"[^"]*"', '""', text)  # label values may hold braces
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    for m in _SELECTOR.finditer(text):
        name, matchers = m.group(1), m.group(2) or ""
        if name in KEYWORDS or ":" in name or re.fullmatch(r"\d.*", name):
            continue
        if text[m.end(1):m.end(1) + 1] == "(" and not matchers:
            continue  # a function call
        out.append((name, set(_LABEL.findall(matchers))))
    return out

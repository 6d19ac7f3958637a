"""Metric names have one definition (the runtime's metric objects): the rules, the
dashboards and the metrics page use only those names and their labels."""

from __future__ import annotations

import re

import pytest

from monitoring import dashboards, rules_as_code
from monitoring.catalogue import ADDED_LABELS, METRICS, SERIES, series_in

from ..support.paths import ROOT


def _recorded() -> set[str]:
    return {r["record"] for groups in rules_as_code.FILES.values() for g in groups
            for r in g["rules"] if "record" in r}


def _expressions() -> list[tuple[str, str]]:
    rules = [(r.get("alert") or r["record"], r["expr"])
             for groups in rules_as_code.FILES.values() for g in groups for r in g["rules"]]
    panels = [(f"{d.title}: {title}", expr) for d in dashboards.DASHBOARDS
              for title, expr in dashboards.queries(d)]
    return rules + panels


@pytest.mark.parametrize(("where", "expr"), _expressions(), ids=lambda x: x[:60])
def test_every_series_a_rule_or_panel_uses_is_exported(where, expr):
    recorded = _recorded()
    for name, labels in series_in(expr):
        if name in recorded:
            continue
        assert name in SERIES, f"{where}: {name} is not a metric the platform exports"
        unknown = labels - set(SERIES[name].labels) - ADDED_LABELS
        assert not unknown, f"{where}: {name} has no label(s) {sorted(unknown)}"


def test_the_check_catches_a_misspelt_metric_and_label():
    assert [n for n, _ in series_in("sum(rate(plugin_host_plugin_cals_total[5m]))")
            if n not in SERIES] == ["plugin_host_plugin_cals_total"]
    (name, labels), = series_in('plugin_host_plugin_calls_total{plugn="x"}')
    assert labels - set(SERIES[name].labels) == {"plugn"}


def test_the_metrics_page_documents_exactly_the_exported_metrics():
    text = (ROOT / "docs" / "operations" / "metrics.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)`", text, re.M))
    documented |= {n for row in re.findall(r"^\| (`[a-z_]+`(?:, `[a-z_]+`)+)", text, re.M)
                   for n in re.findall(r"`([a-z_]+)`", row)}
    exported = {m.series[0] if m.kind == "counter" else m.name for m in METRICS}  # ours
    assert documented == exported, (f"undocumented: {sorted(exported - documented)}; "
                                    f"documented but not exported: "
                                    f"{sorted(documented - exported)}")

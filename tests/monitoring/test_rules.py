"""Rules, alerts, Alertmanager routing and dashboards, checked with the real tools."""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from monitoring import dashboards, rules_as_code

from ..support.paths import MONITORING, ROOT
from ..support.system import require_tool

TOOLS_HINT = "apt-get install prometheus prometheus-alertmanager"

RULE_FILES = sorted((MONITORING / "rules").glob("*.rules.yml"))
TEST_FILES = sorted((MONITORING / "tests").glob("*.test.yml"))


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)


def test_committed_files_match_the_code():
    for name, text in rules_as_code.render().items():
        stale = f"stale {name}: ./dev monitoring.build"
        assert (MONITORING / "rules" / name).read_text() == text, stale
    for rel, text in dashboards.render().items():
        stale = f"stale {rel}: ./dev monitoring.build"
        assert (MONITORING / "grafana" / rel).read_text() == text, stale


def test_promtool_check_rules():
    r = run(require_tool("promtool", TOOLS_HINT), "check", "rules", *map(str, RULE_FILES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == len(RULE_FILES)


def test_promtool_unit_tests_pass():
    """Each test file in its own promtool, side by side (the slow-burn SLO file alone
    evaluates days of samples)."""
    promtool = require_tool("promtool", TOOLS_HINT)
    with ThreadPoolExecutor(len(TEST_FILES)) as pool:
        results = list(pool.map(lambda f: run(promtool, "test", "rules", str(f)), TEST_FILES))
    for r in results:
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count("SUCCESS") == 1
    assert len(TEST_FILES) == 2


def test_every_alert_has_a_firing_and_a_silent_case():
    tests = [t for f in TEST_FILES for t in yaml.safe_load(f.read_text())["tests"]]
    fires, silent = set(), set()
    for test in tests:
        for case in test.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {a["alert"] for a in rules_as_code.alerts()}
    # 23 platform alerts + 8 host alerts (node_exporter) + 3 probe/certificate + 2 backup
    # + 2 sign-in alerts + Watchdog
    assert len(names) == 39
    assert names - fires == set(), "alerts never shown to fire"
    assert names - silent == {"Watchdog"}, "alerts never shown to stay silent"


def test_alerts_are_complete_and_have_runbooks():
    for a in rules_as_code.alerts():
        if a["alert"] == "Watchdog":  # the dead man's switch: always firing, severity none
            assert a["expr"] == "vector(1)" and a["labels"]["severity"] == "none"
        else:
            assert re.fullmatch(r"Koha[A-Z][A-Za-z]+", a["alert"])
            assert a["labels"]["severity"] in ("critical", "warning")
        assert {"summary", "description", "runbook_url"} <= set(a["annotations"])
        assert a["annotations"]["runbook_url"].endswith(f"/{a['alert']}.md")
        runbook = ROOT / "docs" / "runbooks" / f"{a['alert']}.md"
        assert runbook.exists(), runbook
        text = runbook.read_text()
        assert "## Check" in text and "## Act" in text


def test_recording_rules_are_named_level_metric_operations():
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", rule["record"]), rule


def test_slo_alerts_use_the_multiwindow_burn_rates():
    by_name = {a["alert"]: a["expr"] for a in rules_as_code.alerts()}
    fast = by_name["KohaHostAvailabilityBudgetBurnFast"]
    for window, factor in (("1h", "14.4"), ("5m", "14.4"), ("6h", "6"), ("30m", "6")):
        assert f"ratio_rate{window} > ({factor} * 0.001)" in fast
    slow = by_name["KohaPluginLatencyBudgetBurnSlow"]
    assert "ratio_rate3d > (1 * 0.01)" in slow and "ratio_rate6h > (1 * 0.01)" in slow


def test_alertmanager_config_routes_by_environment_and_severity():
    amtool = require_tool("amtool", TOOLS_HINT)
    config = str(MONITORING / "alertmanager.yml")
    r = run(amtool, "check-config", config)
    assert r.returncode == 0, r.stdout + r.stderr
    for labels, receiver in (
            (["environment=prod", "severity=critical", "alertname=KohaScrapeJobDown"],
             "prod-pager"),
            (["environment=prod", "severity=warning", "alertname=KohaVersionSkew"],
             "prod-tickets"),
            # staging never pages production's receiver, nor any pager
            (["environment=staging", "severity=critical", "alertname=KohaScrapeJobDown"],
             "staging-tickets"),
            (["environment=dev", "severity=critical", "alertname=KohaScrapeJobDown"], "tickets"),
            (["environment=prod", "severity=none", "alertname=Watchdog"], "watchdog"),
            (["alertname=Unlabelled"], "tickets")):
        r = run(amtool, "config", "routes", "test", f"--config.file={config}", *labels)
        assert r.stdout.strip() == receiver, (labels, r.stdout, r.stderr)
    doc = yaml.safe_load((MONITORING / "alertmanager.yml").read_text())
    assert all(r["webhook_configs"] for r in doc["receivers"])


def test_every_inhibition_compares_labels_its_source_alerts_always_carry():
    """A label missing on both sides compares equal in Alertmanager: an inhibition may
    only compare labels each of its source alerts is sure to have (environment from the
    external label; the others from the alert's expression or its own labels)."""
    doc = yaml.safe_load((MONITORING / "alertmanager.yml").read_text())
    alerts = rules_as_code.alerts()
    for rule in doc["inhibit_rules"]:
        pattern = re.fullmatch(r'alertname=~?"(.+)"', rule["source_matchers"][0]).group(1)
        sources = [a for a in alerts if re.fullmatch(pattern, a["alert"])]
        assert sources, rule
        for a in sources:
            carried = {"environment", *a["labels"]} | set(
                re.findall(r"[a-z_]+", " ".join(re.findall(r"by \(([^)]*)\)", a["expr"]))))
            if " by (" not in a["expr"] and "absent(" not in a["expr"]:
                carried |= {"job", "instance"}  # not aggregated: every scraped series has them
            # a fast burn's source has either job or plugin: both sides come from one SLO
            wanted = set(rule["equal"]) - ({"job", "plugin"} if "slo" in rule["equal"] else set())
            assert wanted <= carried, (a["alert"], rule["equal"], carried)


@pytest.mark.parametrize("dashboard", dashboards.DASHBOARDS, ids=lambda d: d.uid)
def test_dashboards_are_valid_grafana_json(dashboard):
    doc = json.loads((MONITORING / "grafana" / "dashboards" / f"{dashboard.uid}.json").read_text())
    assert doc["uid"] == dashboard.uid and doc["schemaVersion"] >= 36
    assert doc["templating"]["list"][0]["name"] == "datasource"
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)) >= 4
    for p in doc["panels"]:
        assert p["targets"] and all(t["expr"] for t in p["targets"])
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
    provisioning = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "dashboards" / "koha.yml").read_text())
    assert provisioning["providers"][0]["type"] == "file"


def test_dashboard_queries_parse_as_promql():
    """promtool checks each query by putting it in a throwaway recording rule."""
    promtool = require_tool("promtool", TOOLS_HINT)
    rules = [{"record": f"check:query:n{i}", "expr": expr}
             for i, (d) in enumerate(
                 q for dash in dashboards.DASHBOARDS for _, q in dashboards.queries(dash))
             for expr in [d]]
    path = ROOT / ".pytest-dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]}))
    try:
        r = run(promtool, "check", "rules", str(path))
    finally:
        path.unlink()
    assert r.returncode == 0, r.stdout + r.stderr


def test_prometheus_config_renders_and_passes_promtool(tmp_path):
    from monitoring import scrape_config

    promtool = require_tool("promtool", TOOLS_HINT)
    cfg = scrape_config.from_environment_file(MONITORING / "environments" / "prod.yml",
                                              MONITORING / "rules")
    assert [j["job_name"] for j in cfg["scrape_configs"]] == ["plugin-host", "registry", "node"]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    r = run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    with pytest.raises(ValueError, match="unknown service"):
        scrape_config.render("x", {"grafana": ["a:1"]}, [], [])

"""``monitoring.*``: rule files and dashboards generated from code, and their checks."""

from __future__ import annotations

import shutil

from invoke import Collection, task

from ..paths import MONITORING, ROOT


@task(help={"env": "also write monitoring/build/ENV/prometheus.yml from environments/ENV.yml",
            "runbook_base": "URL where docs/runbooks/ is served"})
def build(c, env=None, runbook_base=None):
    """Write the rule files and the Grafana dashboards + provisioning from code."""
    import yaml

    from monitoring import dashboards, rules_as_code, scrape_config

    written = rules_as_code.write(MONITORING / "rules", runbook_base or rules_as_code.RUNBOOK_BASE)
    written += dashboards.write(MONITORING / "grafana")
    if env:
        out = MONITORING / "build" / env / "prometheus.yml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(scrape_config.from_environment_file(
            MONITORING / "environments" / f"{env}.yml", MONITORING / "rules"), sort_keys=False))
        written.append(out)
    for p in written:
        print(f"wrote {p.relative_to(ROOT)}")


@task
def check(c):
    """Check the rules, alerts and dashboards.

    They match the code; promtool check + test rules; amtool check-config; every alert
    has a runbook."""
    from monitoring import dashboards, rules_as_code

    stale = [name for name, text in rules_as_code.render().items()
             if (MONITORING / "rules" / name).read_text() != text]
    stale += [rel for rel, text in dashboards.render().items()
              if not (MONITORING / "grafana" / rel).exists()
              or (MONITORING / "grafana" / rel).read_text() != text]
    if stale:
        raise SystemExit(f"out of date (run ./dev monitoring.build): {', '.join(stale)}")
    missing = [a["alert"] for a in rules_as_code.alerts()
               if not (ROOT / "docs" / "runbooks" / f"{a['alert']}.md").exists()]
    if missing:
        raise SystemExit(f"alerts without a runbook in docs/runbooks: {', '.join(missing)}")
    for tool in ("promtool", "amtool"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed: apt-get install prometheus "
                             "prometheus-alertmanager (./dev does this as root)")
    c.run(f"promtool check rules {MONITORING}/rules/*.rules.yml")
    c.run(f"promtool test rules {MONITORING}/tests/*.test.yml")
    c.run(f"amtool check-config {MONITORING}/alertmanager.yml")


ns = Collection("monitoring", build, check)

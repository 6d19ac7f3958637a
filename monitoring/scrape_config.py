"""The Prometheus configuration of an environment: scrape jobs for the plugin hosts, the
registry and node exporters, the rule files, and where Alertmanager is.

Targets come from monitoring/environments/<env>.yml (or are passed in by a caller such
as the live test); `invoke monitoring.build --env NAME` writes
monitoring/build/<env>/prometheus.yml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

JOBS = {"plugin_host": "plugin-host", "registry": "registry", "node": "node"}


def render(environment: str, targets: dict[str, list[str]], alertmanagers: list[str],
           rule_files: list[str], scrape_interval: str = "15s",
           evaluation_interval: str = "15s") -> dict[str, Any]:
    unknown = sorted(set(targets) - set(JOBS))
    if unknown:
        raise ValueError(f"targets: unknown service(s) {', '.join(unknown)}; "
                         f"known: {', '.join(JOBS)}")
    scrape = [{"job_name": JOBS[service], "static_configs": [
        {"targets": hosts, "labels": {"environment": environment}}]}
        for service, hosts in targets.items() if hosts]
    return {"global": {"scrape_interval": scrape_interval,
                       "evaluation_interval": evaluation_interval,
                       "external_labels": {"environment": environment}},
            "rule_files": rule_files,
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]},
            "scrape_configs": scrape}


def from_environment_file(path: Path, rules_dir: Path) -> dict[str, Any]:
    doc = yaml.safe_load(Path(path).read_text()) or {}
    return render(doc.get("environment", Path(path).stem), doc.get("targets", {}),
                  doc.get("alertmanagers", []),
                  [str(p) for p in sorted(Path(rules_dir).glob("*.rules.yml"))],
                  doc.get("scrape_interval", "15s"), doc.get("evaluation_interval", "15s"))

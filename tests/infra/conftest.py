"""Pulumi programs under Pulumi's mocks: no Pulumi CLI or cloud is reachable here, so
the engine and providers are mocked (pulumi.runtime.set_mocks) and every resource the
programs declare is recorded and checked."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from .harness import example_config, run_stack

RULES = """
groups:
  - name: plugin-host
    rules:
      - alert: KohaPluginCrashLooping
        expr: max by (plugin) (plugin_host_plugin_crash_looping) == 1
        for: 2m
        labels: {severity: critical}
        annotations:
          summary: A plugin keeps crashing
          runbook_url: https://example.org/runbooks/KohaPluginCrashLooping
      - alert: KohaHostDown
        expr: up{job="plugin-host"} == 0
        for: 5m
        labels: {severity: critical}
        annotations:
          summary: A plugin host is down
          runbook_url: https://example.org/runbooks/KohaHostDown
      - record: plugin:plugin_host_plugin_calls:rate5m
        expr: sum by (plugin) (rate(plugin_host_plugin_calls_total[5m]))
"""


@pytest.fixture(scope="session")
def rules_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("rules")
    (d / "plugin-host.rules.yml").write_text(RULES)
    (d / "plugin-host.test.yml").write_text("not a rule file: promtool tests are skipped\n")
    return d


@pytest.fixture(scope="session")
def stack(rules_dir):
    """stack(cloud, env) → (records, outputs, config), each built once per session."""

    @functools.cache
    def build(cloud: str, env: str = "dev"):
        raw = example_config(cloud, env)
        records, outputs = run_stack(raw, rules_dir)
        assert records, "the program declared nothing"
        return records, outputs, raw

    return build


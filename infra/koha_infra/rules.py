"""Prometheus rule files from monitoring/rules, for the managed Prometheus services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def rule_files(rules_dir: Path) -> list[Path]:
    return sorted(p for p in Path(rules_dir).glob("*.y*ml") if not p.name.endswith(
        ".test.yml"))


def rule_groups(rules_dir: Path) -> list[tuple[str, str]]:
    """(namespace name, file text) per rule file: AMP takes the file as it is."""
    return [(p.stem.replace(".", "-"), p.read_text()) for p in rule_files(rules_dir)]


def alerting_rules(rules_dir: Path) -> list[dict[str, Any]]:
    """Every alerting rule (alert, expr, for, labels, annotations) across the files."""
    out = []
    for p in rule_files(rules_dir):
        doc = yaml.safe_load(p.read_text()) or {}
        for group in doc.get("groups", []):
            out += [r for r in group.get("rules", []) if "alert" in r]
    return out

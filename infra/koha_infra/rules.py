"""Prometheus rule files from monitoring/rules, for the managed Prometheus services."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

#: Prometheus convention: only recording rules put colons in metric names
_NAME = re.compile(r"(?<![a-zA-Z0-9_:])([a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]*[a-zA-Z0-9_])"
                   r"(?![a-zA-Z0-9_:])")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


class RuleError(ValueError):
    pass


def recorded_names(expr: str) -> set[str]:
    """The recording-rule names an expression queries (label values left out)."""
    return set(_NAME.findall(_STRING.sub('""', expr)))


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


def recording_rules(rules_dir: Path) -> dict[str, str]:
    """Every recording rule: recorded name → expression."""
    out = {}
    for p in rule_files(rules_dir):
        doc = yaml.safe_load(p.read_text()) or {}
        for group in doc.get("groups", []):
            out.update({r["record"]: r["expr"] for r in group.get("rules", []) if "record" in r})
    return out


def inline(expr: str, recorded: dict[str, str], _depth: int = 0) -> str:
    """``expr`` with every recorded series replaced by the expression recording it, for
    a place that evaluates single queries and no recording rules (Cloud Monitoring's
    PromQL alert policies). A recorded series used with a label selector or a range
    (``name{…}``, ``name[5m]``) cannot be replaced by an expression: refused."""
    if _depth > 10:
        raise RuleError(f"recording rules nest too deep (a cycle?) in {expr!r}")
    strings: list[str] = []

    def keep(m: re.Match) -> str:
        strings.append(m.group(0))
        return f"\x00{len(strings) - 1}\x00"

    masked = _STRING.sub(keep, expr)

    def swap(m: re.Match) -> str:
        name = m.group(1)
        if name not in recorded:
            raise RuleError(f"{name} is recorded by no rule")
        after = masked[m.end():].lstrip()
        if after.startswith(("{", "[")):
            raise RuleError(f"{name} is used with a selector or range in {expr!r}: write "
                            "the alert on the raw series")
        return f"({inline(recorded[name].strip(), recorded, _depth + 1)})"

    out = _NAME.sub(swap, masked)
    return re.sub(r"\x00(\d+)\x00", lambda m: strings[int(m.group(1))], out)

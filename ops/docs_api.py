"""Reference pages of the docs site made from the code at build time: the two HTTP
APIs from their OpenAPI documents (every operation with its summary, description,
parameters, example request, example answer and every status it documents; the
documents themselves published beside them, ``reference/api/host.openapi.json`` and
``…/registry.openapi.json``, for client generators), and the alerts with their
runbooks."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

TITLES = {"host": "Plugin host HTTP API", "registry": "Registry HTTP API"}


def documents() -> dict[str, dict[str, Any]]:
    """Both services' OpenAPI documents, as the running services serve them."""
    from plugin_host.host.app import create_app as host_app
    from plugin_host.host.settings import HostSettings
    from plugin_host.registry.app import create_app as registry_app
    from plugin_host.registry.settings import RegistrySettings

    with tempfile.TemporaryDirectory() as tmp:
        host = host_app(HostSettings(data_dir=Path(tmp) / "h", admin_token="x" * 24))
        registry = registry_app(RegistrySettings(data_dir=Path(tmp) / "r",
                                                 admin_token="y" * 24))
        return {"host": host.openapi(), "registry": registry.openapi()}


def _schema(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def _example(doc: dict[str, Any], media: dict[str, Any]) -> Any:
    if "example" in media:
        return media["example"]
    examples = _schema(doc, media.get("schema") or {}).get("examples")
    return examples[0] if examples else None


def _block(value: Any) -> list[str]:
    if isinstance(value, str):
        return ["```text", value.rstrip("\n"), "```"]
    return ["```json", json.dumps(value, indent=2, ensure_ascii=False), "```"]


def _model(doc: dict[str, Any], schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    return f" (`{ref.rsplit('/', 1)[1]}`)" if ref else ""


def page(name: str, doc: dict[str, Any]) -> str:
    out = [f"# {TITLES[name]}", "",
           f"Every operation of the {name}'s OpenAPI document (`{name}.openapi.json` beside "
           f"this page, also served by the {name} at `/openapi.json`; interactive at "
           "`/docs`). Errors always have the one body: "
           '`{"error": {"code", "message", "problems", "correlation_id"}}`.', ""]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append((method.upper(), path, op))
    for tag, ops in by_tag.items():
        out += [f"## {tag.capitalize()}", ""]
        for method, path, op in ops:
            out += [f"### `{method} {path}`", "", f"**{op.get('summary', '')}** · operation "
                    f"id `{op['operationId']}`", "", (op.get("description") or "").strip(), ""]
            params = op.get("parameters") or []
            if params:
                out += ["| parameter | in | required | type |", "| --- | --- | --- | --- |"]
                for p in params:
                    kind = _schema(doc, p.get("schema") or {}).get("type", "")
                    out.append(f"| `{p['name']}` | {p['in']} | "
                               f"{'yes' if p.get('required') else 'no'} | {kind} |")
                out.append("")
            for media_type, media in (op.get("requestBody") or {}).get("content", {}).items():
                value = _example(doc, media)
                out += [f"Request body, `{media_type}`{_model(doc, media.get('schema') or {})}"
                        + (":" if value is not None else ": the file's bytes"), ""]
                out += [*_block(value), ""] if value is not None else []
            out += ["| status | meaning |", "| --- | --- |"]
            for status, answer in op["responses"].items():
                out.append(f"| {status} | {answer.get('description', '').replace('|', '/')} |")
            out.append("")
            for status, answer in op["responses"].items():
                if status[0] not in "23":
                    continue
                location = answer.get("headers", {}).get("Location", {}).get("example")
                if location:
                    out += [f"Answer {status}, `Location: {location}`", ""]
                for media_type, media in (answer.get("content") or {}).items():
                    value = _example(doc, media)
                    if value is None:
                        continue
                    out += [f"Answer {status}, `{media_type}`"
                            f"{_model(doc, media.get('schema') or {})}:", "", *_block(value), ""]
    return "\n".join(out) + "\n"


def alerts_page() -> str:
    """Every alert the monitoring rules define (monitoring/rules_as_code.py), with its
    severity, how long it must hold, what it says and its runbook."""
    from monitoring.rules_as_code import alerts

    out = ["# Alerts", "",
           "Every alert in the Prometheus rules (made by `monitoring/rules_as_code.py`, "
           "checked with promtool), with its runbook. The [monitoring guide]"
           "(../operations/monitoring.md) says how they are routed.", "",
           "| alert | severity | for | says | runbook |", "| --- | --- | --- | --- | --- |"]
    for a in sorted(alerts(), key=lambda a: (a["labels"]["severity"] != "critical",
                                             a["alert"])):
        name = a["alert"]
        summary = a["annotations"]["summary"].replace("|", "/")
        out.append(f"| `{name}` | {a['labels']['severity']} | {a.get('for', '')} | "
                   f"{summary} | [{name}](../runbooks/{name}.md) |")
    return "\n".join(out) + "\n"

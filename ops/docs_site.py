"""MkDocs hooks for the documentation site (mkdocs.yml; ``./dev docs`` builds it with
``--strict``): pages made from the code and the repository at build time, so the site
cannot drift from them.

- ``index.md`` is the README;
- ``reference/roles/NAME.md`` is each Ansible role's README (its variables);
- ``reference/manifest.md`` is ``plugin.toml`` from its JSON Schema;
- ``reference/tasks.md`` lists every invoke task with its options;
- ``reference/api/host.md`` and ``reference/api/registry.md`` are the HTTP APIs from their
  OpenAPI documents (ops/docs_api.py), published beside them;
- ``reference/alerts.md`` lists every alert with its runbook (monitoring/rules_as_code.py);
- ``reference/sessions.md`` shows the CLI flows recorded by ``./dev recordings`` with
  their ``.cast`` files;
- the tutorial videos (``./dev tutorials``) are added beside their page when recorded;
  a link to one that is not is shown as its name;
- links are resolved from where a page's text really lives (the README at the root, a
  role's README in its folder): into the site, they point at the page; to any other
  repository file, they become that path in code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ROLES = ROOT / "playbooks" / "roles"
VIDEOS = ROOT / "artifacts" / "tutorials"
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def _generated(path: str, content: str, config: Any) -> File:
    return File.generated(config, path, content=content)


def readme_page() -> str:
    REAL_HOME["index.md"] = ROOT
    return (ROOT / "README.md").read_text()


def role_pages() -> dict[str, str]:
    pages = {}
    for d in sorted(ROLES.iterdir()):
        if (d / "README.md").is_file():
            REAL_HOME[f"reference/roles/{d.name}.md"] = d
            pages[f"reference/roles/{d.name}.md"] = (d / "README.md").read_text()
    return pages


def roles_index(names: list[str]) -> str:
    lines = ["# Ansible roles", "",
             "Each role's README, with every variable it takes (from `playbooks/roles/`).", ""]
    lines += [f"- [{n}]({n}.md)" for n in names]
    return "\n".join(lines) + "\n"


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    kind = prop.get("type", "any")
    if kind == "array" and "items" in prop:
        return f"array of {_type(prop['items'])}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"table of {_type(prop['additionalProperties'])}"
    return str(kind)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    rows = ["| key | type | required | default | what |", "| --- | --- | --- | --- | --- |"]
    for key, prop in schema.get("properties", {}).items():
        default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        rows.append(f"| `{key}` | {_cell(_type(prop))} | {'yes' if key in required else ''} "
                    f"| {_cell(default)} | {_cell(prop.get('description', ''))} |")
    return rows


def manifest_page() -> str:
    schema = json.loads((ROOT / "docs" / "plugin-manifest.schema.json").read_text())
    out = ["# plugin.toml", "",
           "Every key a plugin's manifest may have, made from its JSON Schema "
           "([plugin-manifest.schema.json](../plugin-manifest.schema.json), `./dev schema` "
           "writes it from the code; editors validate against it). What each permission "
           "means at run time is in the [contract](../contract.md).", "",
           "## The top level", "", *_table(schema), ""]
    for name, sub in schema.get("$defs", {}).items():
        out += [f"## {name}", "", _cell(sub.get("description", "")).strip(), ""]
        if sub.get("properties"):
            out += [*_table(sub), ""]
    return "\n".join(out) + "\n"


def tasks_page() -> str:
    from invoke import Collection

    import tasks as repo_tasks

    ns: Collection = repo_tasks.ns
    out = ["# Tasks (`./dev`)", "",
           "Every invoke task, from `tasks.py` and `ops/tasks/`; `./dev TASK --help` shows "
           "the same. `./dev` alone shows them by who uses them.", ""]
    for name in sorted(ns.task_names):
        task = ns[name]
        doc = (task.__doc__ or "").strip()
        out += [f"## `./dev {name}`", "", doc or "(no description)", ""]
        helps = getattr(task, "help", {}) or {}
        if helps:
            out += [f"- `--{k.replace('_', '-')}`: {v}" for k, v in sorted(helps.items())]
            out.append("")
    return "\n".join(out) + "\n"


def on_config(config: Any) -> Any:
    """The docs folder the build reads (a test builds a changed copy)."""
    global DOCS
    DOCS = Path(config["docs_dir"]).resolve()
    return config


def on_files(files: Files, config: Any) -> Files:
    files.append(_generated("index.md", readme_page(), config))
    pages = role_pages()
    for path, text in pages.items():
        files.append(_generated(path, text, config))
    files.append(_generated("reference/roles/index.md",
                            roles_index([Path(p).stem for p in pages]), config))
    files.append(_generated("reference/manifest.md", manifest_page(), config))
    files.append(_generated("reference/tasks.md", tasks_page(), config))
    from ops.docs_api import alerts_page, documents, page

    files.append(_generated("reference/alerts.md", alerts_page(), config))

    for name, doc in documents().items():
        files.append(_generated(f"reference/api/{name}.md", page(name, doc), config))
        files.append(_generated(f"reference/api/{name}.openapi.json",
                                json.dumps(doc, indent=1), config))
    from ops.recordings import OUT as CASTS
    from ops.recordings import page as sessions_page

    files.append(_generated("reference/sessions.md", sessions_page(), config))
    for cast in sorted(CASTS.glob("*.cast")):
        files.append(File.generated(config, f"reference/{cast.name}", abs_src_path=str(cast)))
    for video in sorted(VIDEOS.glob("*.webm")):
        files.append(File.generated(config, f"web/tutorials/{video.name}",
                                    abs_src_path=str(video)))
    return files


#: where a generated page's text really lives: its relative links start there
REAL_HOME: dict[str, Path] = {}


def _rewrite(page_src: str, home: Path, target: str, label: str, bang: str,
             known: set[str]) -> str:
    """A link of the page at ``page_src`` (its path in the site; its text written in
    the folder ``home``) to ``target``."""
    if re.match(r"^[a-z]+:|^#|^/", target):
        return f"{bang}[{label}]({target})"
    path, _, anchor = target.partition("#")
    resolved = (home / path).resolve()
    site_dir = Path(page_src).parent
    suffix = f"#{anchor}" if anchor else ""
    role = re.fullmatch(r".*playbooks/roles/([a-z_]+)/README\.md", resolved.as_posix())
    if role:
        resolved = DOCS / "reference" / "roles" / f"{role.group(1)}.md"
    try:
        inside = resolved.relative_to(DOCS).as_posix()
    except ValueError:
        inside = None
    if inside is not None:
        if inside.startswith("web/tutorials/") and inside not in known:
            return f"{label} (recorded by `./dev tutorials`)"
        rel = _relative(inside, site_dir.as_posix())
        return f"{bang}[{label}]({rel}{suffix})"  # MkDocs reports it if it is missing
    try:
        return f"{label} (`{resolved.relative_to(ROOT).as_posix()}`)"
    except ValueError:
        return label


def _relative(target: str, from_dir: str) -> str:
    import os.path

    return os.path.relpath(target, from_dir or ".").replace(os.sep, "/")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    known = {f.src_uri for f in files}
    src = page.file.src_uri
    home = REAL_HOME.get(src, (DOCS / src).parent)
    return LINK.sub(lambda m: _rewrite(src, home, m.group(3), m.group(2), m.group(1), known),
                    markdown)

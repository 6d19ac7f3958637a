"""``plugin-host plugin new NAME``: a working plugin folder with its own passing tests."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import PluginHostError
from ..manifest import NAME_RE, pattern_problem

TEMPLATE = Path(__file__).parent / "template"
SKIP = {"__pycache__"}


def new_plugin(name: str, parent: Path, author: str = "Your Name <you@example.org>") -> Path:
    if not re.match(NAME_RE, name):
        raise PluginHostError(f"NAME: {pattern_problem(name, NAME_RE)}", code="invalid_name")
    dest = Path(parent) / name
    if dest.exists():
        raise PluginHostError(f"{dest} already exists: choose another name or folder "
                              "(--dir)", code="exists", status=409)
    module = name.replace("-", "_")
    values = {"name": name, "module": module, "author": author,
              "title": name.replace("-", " ").title()}
    files = []
    for src in sorted(TEMPLATE.rglob("*")):
        if src.is_dir() or SKIP & set(src.parts):
            continue
        rel = src.relative_to(TEMPLATE).as_posix().replace("__module__", module)
        if rel == "_gitignore":  # a dotfile would not travel in the wheel
            rel = ".gitignore"
        text = src.read_text()
        for k, v in values.items():
            text = text.replace("{{" + k + "}}", v)
        files.append((dest / rel, text))
    for path, text in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return dest

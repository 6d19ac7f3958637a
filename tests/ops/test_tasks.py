"""`./dev`: with no task, what it can do grouped by who does it (each named task exists);
`./dev --list` shows every task with a first line that is a whole sentence; options
have types (a port is an INT)."""

from __future__ import annotations

import re
import subprocess
import sys

from ops.tasks.dev import GROUPS

from ..support.paths import ROOT

INVOKE = [sys.executable, "-m", "invoke", "--search-root", str(ROOT)]


def _tasks() -> dict[str, str]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("koha_tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    out = {}

    def walk(coll, prefix=""):
        for name, t in coll.tasks.items():
            out[prefix + name] = (t.__doc__ or "").strip()
        for cname, c in coll.collections.items():
            walk(c, f"{prefix}{cname}.")
    walk(tasks.ns)
    return out


def test_no_task_shows_the_tasks_by_who_uses_them():
    r = subprocess.run([str(ROOT / "dev")], capture_output=True, text=True, cwd=ROOT,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    for group in GROUPS:
        assert f"{group}:" in r.stdout
    known = _tasks()
    for rows in GROUPS.values():
        for cmd, _ in rows:
            for part in cmd.split()[0].split("|"):
                base = cmd.split()[0].split(".")[0]
                name = part if "." in part or part in known else f"{base}.{part}"
                assert name in known, f"./dev lists {name}, which is not a task"


def test_every_task_says_what_it_does_in_a_whole_first_line():
    for name, doc in _tasks().items():
        first = doc.splitlines()[0] if doc else ""
        assert first.endswith((".", ")")), f"{name}: first line {first!r} is cut"


def test_options_are_typed():
    r = subprocess.run([*INVOKE, "env.up", "--help"], capture_output=True, text=True)
    assert re.search(r"-p INT, --port=INT", r.stdout), r.stdout

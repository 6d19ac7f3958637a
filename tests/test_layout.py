"""The layout stays as docs/architecture.md describes it: layer contracts that fail when
broken, no sys.path edits to reach the project's own code, no module grown past about
400 lines without a reason written at its top."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from .support.paths import ROOT

CODE = [ROOT / "plugin_host", ROOT / "ops", ROOT / "monitoring", ROOT / "infra",
        ROOT / "tests", ROOT / "bench", ROOT / "examples", ROOT / "plugins", ROOT / "tasks.py"]
#: these put a *plugin's* folder on the path, which is their job
PLUGIN_LOADERS = {"plugin_host/worker/__main__.py", "plugin_host/sdk/testing.py",
                  "bench/plugin_call.py"}
LONG_REASON = "Long on purpose:"


def python_files() -> list[Path]:
    files = []
    for p in CODE:
        files += [p] if p.is_file() else [f for f in p.rglob("*.py")
                                           if "__pycache__" not in f.parts]
    return files


def lint_imports(cwd: Path, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    env = None
    if pythonpath:
        import os

        env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--config",
                           str(ROOT / ".importlinter"), "--no-cache"],
                          cwd=cwd, env=env, capture_output=True, text=True)


def test_the_layer_contracts_hold():
    r = lint_imports(ROOT)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "0 broken" in r.stdout


def test_a_broken_layer_contract_fails_the_lint(tmp_path):
    """The host importing the registry (peers) is refused, naming the chain."""
    shutil.copytree(ROOT / "plugin_host", tmp_path / "plugin_host",
                    ignore=shutil.ignore_patterns("__pycache__"))
    kv = tmp_path / "plugin_host" / "host" / "kv.py"
    kv.write_text(kv.read_text() + "\nfrom ..registry import accounts  # noqa\n")
    r = lint_imports(tmp_path, pythonpath=str(tmp_path))
    assert r.returncode != 0
    assert "plugin_host.host.kv -> plugin_host.registry.accounts" in r.stdout, r.stdout[-3000:]


def test_no_sys_path_edits_reach_the_project_code():
    edits = [str(f.relative_to(ROOT)) for f in python_files()
             if re.search(r"sys\.path\.(insert|append|extend)", f.read_text())
             and str(f.relative_to(ROOT)) not in PLUGIN_LOADERS
             and f.name != "test_layout.py"]
    assert edits == []


def test_no_module_is_long_without_a_reason():
    long = [f"{f.relative_to(ROOT)} ({n} lines)" for f in python_files()
            if (n := len(f.read_text().splitlines())) > 400
            and LONG_REASON not in "\n".join(f.read_text().splitlines()[:30])]
    assert long == [], f"split these, or say why at their top ({LONG_REASON!r})"

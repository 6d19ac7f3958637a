"""The CI/CD workflows in pipelines/ (GitHub Actions syntax; no runner here, so they are
checked statically): well-formed, every `./dev` command names a task and options that
exist, every secret used is documented, and CI runs the same `./dev test` as .ci/run."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest
import yaml

from ..support.paths import ROOT

WORKFLOWS = sorted((ROOT / "pipelines").glob("*.yml"))


def invoke(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def tasks() -> set[str]:
    """Task names as `./dev --list` shows them (collections' add_task names included)."""
    return {m.group(1) for m in re.finditer(r"^  (\S+)", invoke("--list"), re.M)}


def dev_commands(workflow) -> list[list[str]]:
    out = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for cmd in re.findall(r"\./dev [^&|;\n]+", step.get("run", "")):
                out.append(shlex.split(cmd)[1:])
    return out


def test_workflows_are_well_formed():
    assert {w.name for w in WORKFLOWS} >= {"ci.yml", "release.yml", "infra.yml"}
    for path in WORKFLOWS:
        doc = yaml.safe_load(path.read_text())
        assert doc["on"] and doc["jobs"], path
        for name, job in doc["jobs"].items():
            assert job["runs-on"] and job["steps"], (path.name, name)
            for need in job.get("needs", []) if isinstance(job.get("needs"), list) else \
                    [job["needs"]] if "needs" in job else []:
                assert need in doc["jobs"], (path.name, name, need)
            for step in job["steps"]:
                assert ("uses" in step) != ("run" in step), (path.name, name, step)


def test_every_dev_command_is_a_real_task_with_real_options(tasks):
    seen = 0
    for path in WORKFLOWS:
        for argv in dev_commands(yaml.safe_load(path.read_text())):
            task, options = argv[0], [a.split("=")[0] for a in argv[1:] if a.startswith("--")]
            assert task in tasks, f"{path.name}: ./dev {task}: no such task"
            help_text = invoke("--help", task)
            for opt in options:
                assert opt in help_text, f"{path.name}: ./dev {task} has no option {opt}"
            seen += 1
    assert seen >= 8


def test_ci_runs_what_ci_run_runs():
    ci = yaml.safe_load((ROOT / "pipelines" / "ci.yml").read_text())
    runs = [s.get("run", "") for s in ci["jobs"]["test"]["steps"]]
    assert any("./dev test" in r for r in runs)
    assert "./dev test" in (ROOT / ".ci" / "run").read_text()


def test_every_secret_is_documented():
    readme = (ROOT / "pipelines" / "README.md").read_text()
    for path in WORKFLOWS:
        for secret in re.findall(r"secrets\.([A-Z_]+)", path.read_text()):
            assert f"`{secret}`" in readme, f"{path.name}: secret {secret} is not documented"

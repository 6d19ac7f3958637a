"""The CI workflow (pipelines/ci.yml) run for real by nektos/act on this machine, as
`./dev pipeline` runs it: each job on this host in a fresh copy of the repository,
installing what it needs as a new runner would. Green: the suite's job (narrowed to one
test file through PYTEST_ADDOPTS, which the workflow passes through) and the
reproducible build both succeed and the artifacts are kept. Red: a commit whose test
fails stops the workflow at that step and nothing is built.

Both run the build job, which needs the test job, so act runs the two in order; the
coverage job (the whole suite again, under coverage) is `./dev coverage`, which this
suite cannot run inside itself. The two runs go side by side (each spends most of its
time installing its venv)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from ops import pipelines

from ..support.checkout import copy_of_the_checkout
from ..support.paths import ROOT

pytestmark = pytest.mark.timeout(1200)

TEST_STEP = "Test (installs what it needs, as root)"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    broken = copy_of_the_checkout(tmp_path_factory.mktemp("broken"))
    (broken / "tests" / "test_regression.py").write_text(
        "def test_the_answer():\n    assert 6 * 7 == 43, 'a regression'\n")
    green_artifacts = tmp_path_factory.mktemp("artifacts")
    with ThreadPoolExecutor(2) as pool:
        green = pool.submit(pipelines.run, "ci", ROOT, job="build", artifacts=green_artifacts,
                            env={"PYTEST_ADDOPTS": "tests/test_manifest.py"})
        red = pool.submit(pipelines.run, "ci", broken, job="build",
                          artifacts=tmp_path_factory.mktemp("red-artifacts"),
                          env={"PYTEST_ADDOPTS": "tests/test_regression.py"})
        return {"green": green.result(), "red": red.result()}


def test_every_action_the_ci_workflow_uses_runs_here():
    assert pipelines.unmapped_actions(pipelines.PIPELINES / "ci.yml") == []


def test_the_ci_workflow_runs_green(runs):
    run = runs["green"]
    assert run.ok, run.output[-4000:]
    assert run.jobs == {"test": "succeeded", "build": "succeeded"}
    assert "All checks passed!" in run.output  # ./dev test linted first
    assert " passed in " in run.output and " failed" not in run.output
    assert "reproducible: a second build gave the same bytes" in run.output
    kept = run.artifacts / "dist"
    assert (kept / "SHA256SUMS").is_file()
    assert list(kept.glob("*.whl")) and list(kept.glob("plugins/*.kplugin"))
    assert list(kept.glob("koha/*.kpz"))


def test_a_failing_test_turns_it_red_and_nothing_is_built(runs):
    run = runs["red"]
    assert not run.ok and run.returncode != 0
    assert run.jobs == {"test": "failed"}, run.output[-4000:]
    assert ("test", TEST_STEP) in run.failed_steps
    assert "1 failed" in run.output and "a regression" in run.output
    assert not (run.artifacts / "dist").exists()

"""``build`` and ``release``: artifacts, reproducibly, and signed releases."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from invoke import task

from plugin_host.errors import PluginHostError

from ..paths import ROOT


@task(help={"out": "output folder [dist]", "key": "Ed25519 key to sign the example plugins",
            "deps": "include the dependency wheelhouse (default on)",
            "verify": "build twice and fail unless the bytes are identical"})
def build(c, out="dist", key=None, deps=True, verify=False):
    """Wheel, sdist, wheelhouse, example plugins, SBOM and SHA256SUMS, reproducibly."""
    from ..build import build as build_

    start = time.monotonic()
    result = build_(ROOT / out, Path(key) if key else None, deps)
    seconds = time.monotonic() - start
    print(f"built {len(result.files)} files into {result.out} in {seconds:.1f} s")
    if verify:
        with tempfile.TemporaryDirectory() as tmp:
            again = build_(Path(tmp) / "again", Path(key) if key else None, deps)
            if again.checksums() != result.checksums():
                raise SystemExit("not reproducible: the second build differs (see SHA256SUMS)")
        print("reproducible: a second build gave the same bytes")


@task(help={"part": "major, minor, patch, or an explicit X.Y.Z",
            "key": "Ed25519 release key (signs SHA256SUMS and the example plugins)",
            "dry": "show the plan and stop", "yes": "do not ask before acting",
            "deps": "include the dependency wheelhouse (default on)"})
def release(c, part="patch", key=None, dry=False, yes=False, deps=True):
    """Bump the version, changelog, commit, tag, build and sign; shows its plan first."""
    from ..release import apply, plan

    try:
        p = plan(ROOT, part)
    except PluginHostError as e:
        raise SystemExit(f"release: {e.message}") from None
    print(f"release {p.current} → {p.version} ({p.tag}):")
    for i, step in enumerate(p.steps, 1):
        print(f"  {i}. {step}")
    if dry:
        print("(dry run: nothing changed)")
        return
    if not key:
        raise SystemExit("release: --key is needed to sign the artifacts")
    if not yes and input("go ahead? [y/N] ").strip().lower() != "y":
        raise SystemExit("release: cancelled, nothing changed")
    try:
        sig = apply(ROOT, p, Path(key), deps)
    except PluginHostError as e:
        raise SystemExit(f"release: {e.message}") from None
    print(f"released {p.version}: tag {p.tag}, signature {sig.relative_to(ROOT)}")
    print("push with: git push && git push --tags")



@task(help={"workflow": "a workflow in pipelines/ (ci, infra, release) or a path [ci]",
            "job": "only this job", "event": "the event to run it for [push]",
            "pytest": "PYTEST_ADDOPTS for the jobs, to narrow the suite (e.g. a test file)",
            "artifacts": "where uploaded artifacts are copied [build/act-artifacts]"})
def pipeline(c, workflow="ci", job=None, event="push", pytest=None,
             artifacts="build/act-artifacts"):
    """Run a CI/CD workflow on this machine with act, each job in a fresh copy.

    Jobs run on this host (act's self-hosted platform), so no runner image is pulled;
    what cannot be fetched here is mapped (ops/pipelines.py). Fails if a job fails.
    Example: ./dev pipeline --workflow ci --pytest tests/test_manifest.py"""
    from ..pipelines import run

    env = {"PYTEST_ADDOPTS": pytest} if pytest else {}
    result = run(workflow, event=event, job=job, env=env, artifacts=ROOT / artifacts,
                 echo=True)
    for name, how in result.jobs.items():
        print(f"{name}: {how}")
    if not result.ok:
        raise SystemExit(f"{workflow}: failed at "
                         + (", ".join(f"{j}: {s}" for j, s in result.failed_steps) or "act"))


tasks = (build, release, pipeline)

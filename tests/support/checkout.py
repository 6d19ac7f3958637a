"""A copy of this checkout as a commit of it would hold it, for tests that run tools
over a whole repository (act, mike) without touching this one."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .paths import ROOT

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.org",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.org"}


def copy_of_the_checkout(dest: Path, commit: bool = False) -> Path:
    """The tracked files and the new ones not ignored, in a new git repository at
    ``dest`` (committed if ``commit``)."""
    files = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    subprocess.run(["git", "init", "-q", "-b", "main", "."], cwd=dest, check=True)
    if commit:
        subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
        subprocess.run(["git", "commit", "-qm", "the checkout"], cwd=dest, check=True,
                       env=GIT_ENV)
    return dest

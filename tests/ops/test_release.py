"""`invoke release` in a throwaway clone: plan first, dry runs change nothing, a real
run bumps, changelogs, commits, tags, builds and signs."""

from __future__ import annotations

import os
import subprocess
import sys

from ops.release import verify

from ..support.paths import ROOT

GIT_ENV = {"GIT_AUTHOR_NAME": "Release Test", "GIT_AUTHOR_EMAIL": "release@example.org",
           "GIT_COMMITTER_NAME": "Release Test", "GIT_COMMITTER_EMAIL": "release@example.org"}


def invoke(clone, *args):
    return subprocess.run([sys.executable, "-m", "invoke", "--search-root", str(clone), *args],
                          capture_output=True, text=True, cwd=clone,
                          env={**os.environ, **GIT_ENV}, timeout=300)


def git(clone, *args):
    return subprocess.run(["git", "-C", str(clone), *args], capture_output=True, text=True,
                          check=True, env={**os.environ, **GIT_ENV}).stdout.strip()


def test_release_shows_its_plan_then_bumps_tags_builds_and_signs(tmp_path, keys):
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    head = git(clone, "rev-parse", "HEAD")

    r = invoke(clone, "release", "--part", "minor", "--dry")
    assert r.returncode == 0, r.stderr
    assert "release 0.1.0 → 0.2.0 (v0.2.0):" in r.stdout
    assert "(dry run: nothing changed)" in r.stdout
    assert git(clone, "rev-parse", "HEAD") == head and git(clone, "status", "--porcelain") == ""

    r = invoke(clone, "release", "--part", "minor", "--key", str(keys["key"]), "--yes",
               "--no-deps")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "released 0.2.0: tag v0.2.0" in r.stdout
    assert '__version__ = "0.2.0"' in (clone / "plugin_host" / "__init__.py").read_text()
    changelog = (clone / "CHANGELOG.md").read_text()
    assert "## 0.2.0 (" in changelog
    assert f"- {git(clone, 'log', '-1', '--format=%s', 'HEAD~1')}" in changelog
    assert git(clone, "tag", "--list") == "v0.2.0"
    assert git(clone, "log", "-1", "--format=%s") == "Release 0.2.0"
    dist = clone / "dist"
    assert (dist / "koha_plugin_host-0.2.0-py3-none-any.whl").exists()
    assert verify(dist, keys["pub"])  # the signature and every digest check out
    (dist / "constraints.txt").write_text("tampered\n")
    try:
        verify(dist, keys["pub"])
        raise AssertionError("a changed artifact was not noticed")
    except Exception as e:
        assert "constraints.txt: does not match SHA256SUMS" in str(e)

    # a second release of the same version is refused before anything changes
    r = invoke(clone, "release", "--part", "0.2.0", "--key", str(keys["key"]), "--yes")
    assert r.returncode != 0 and "tag v0.2.0 already exists" in r.stderr

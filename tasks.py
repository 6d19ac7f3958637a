"""Tasks for developers, CI and operators. ``./dev --list`` shows them; ``./dev TASK --help``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from invoke import Collection, task

ROOT = Path(__file__).resolve().parent


def _state(c) -> Path:
    return ROOT / c.config.dev.state_dir


@task(help={"name": "environment name", "port": "host port (0 = a free one)",
            "json": "print the environment as JSON"})
def up(c, name=None, port=None, json_=False):
    """Start a local host with the signed example plugins; print its URL and admin token."""
    from plugin_host.devenv import up as env_up

    info = env_up(_state(c), name or c.config.dev.env_name,
                  int(port if port is not None else c.config.dev.host_port))
    if json_:
        print(info.to_json())
        return
    print(f"""
Koha plugin host '{info.name}' is ready
  host         {info.url}
  API docs     {info.url}/docs
  metrics      {info.url}/metrics
  admin token  {info.admin_token}
  plugins      {', '.join(info.plugins)}
  try          curl {info.url}/plugins/hello-world/api/greet/Ada
  log          {info.log}
  stop         ./dev down
""")


@task(help={"name": "environment name"})
def down(c, name=None):
    """Stop a local environment started by `up`."""
    from plugin_host.devenv import down as env_down

    name = name or c.config.dev.env_name
    print(f"stopped {name}" if env_down(_state(c), name) else f"{name} was not running")


@task
def lint(c):
    """ruff over the whole repository."""
    c.run("ruff check .")


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
        c.run(f"{sys.executable} {script}{flag}")


@task
def schema(c):
    """Regenerate docs/plugin-manifest.schema.json from the manifest model."""
    from plugin_host.manifest import json_schema

    out = ROOT / "docs" / "plugin-manifest.schema.json"
    out.write_text(json.dumps(json_schema(), indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


ns = Collection(up, down, lint, test, bench, schema)

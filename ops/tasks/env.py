"""``env.*``: local environments (``./dev up`` is ``env.up``)."""

from __future__ import annotations

import json
from pathlib import Path

from invoke import Collection, task

from . import state_dir


def _env_name(c, name):
    return name or c.config.dev.env_name


@task(help={"name": "environment name", "port": "host port (0 = a free one)",
            "monitoring": "also Prometheus and Alertmanager (default on)",
            "backend": "local (processes here) or docker (containers built from this tree)",
            "json": "print the environment as JSON",
            "trust": "an author's public key (KEY.pub) the host and the registry accept; "
                     "repeatable"},
      iterable=["trust"])
def up(c, name=None, port=0, monitoring=True, backend="local", json_=False, trust=None):
    """Start a local environment and print its URLs and tokens.

    A registry, a host (the examples installed from the registry's signed index),
    Prometheus and Alertmanager."""
    from plugin_host.errors import PluginHostError

    from ..environments import up as env_up
    from ..environments.examples import trust_key
    from ..webui import ensure_built

    ensure_built()  # the registry serves the marketplace from it
    try:
        info = env_up(state_dir(c), _env_name(c, name),
                      int(port or c.config.dev.host_port), monitoring,
                      backend)
        trusted = [trust_key(info.data_dir, info.registry_url, info.registry_token, Path(k))
                   for k in trust or []]
    except PluginHostError as e:
        raise SystemExit(f"env.up: {e.message}") from None
    if json_:
        print(info.to_json())
        return
    lines = [f"Koha environment '{info.name}' is ready in {info.seconds:.1f} s",
             f"  host          {info.url}   (API docs {info.url}/docs)",
             f"  console       {info.url}/console   (sign in with the admin token)",
             f"  admin token   {info.admin_token}",
             f"  registry token {info.registry_token}   (API docs {info.registry_url}/docs)",
             f"  marketplace   {info.registry_url}/",
             f"  plugins       {', '.join(info.plugins)}"]
    for name_, svc in info.services.items():
        if name_ != "host":
            lines.append(f"  {name_:13} {svc.url}")
    for path, keyid in zip(trust or [], trusted, strict=True):
        lines.append(f"  trusted key   {keyid} ({path}): the host installs and the registry "
                     "accepts what it signs")
    for name_, hint in info.skipped.items():
        lines.append(f"  {name_:13} not installed, skipped ({hint})")
    lines += [f"  try           curl {info.url}/plugins/hello-world/api/greet/Ada",
              f"  install       PLUGIN_HOST_ADMIN_TOKEN={info.admin_token} .venv/bin/plugin-host "
              f"install NAME@RANGE --url {info.url}",
              f"  logs          ./dev env.logs --name {info.name} --service host",
              f"  stop          ./dev env.down --name {info.name}"]
    print("\n" + "\n".join(lines) + "\n")


@task(help={"name": "environment name"})
def down(c, name=None):
    """Stop every service of an environment (no process or port left behind)."""
    from ..environments import down as env_down

    name = _env_name(c, name)
    stopped = env_down(state_dir(c), name)
    print(f"stopped {name}: {', '.join(stopped)}" if stopped else f"{name} was not running")


@task(help={"name": "environment name", "json": "print as JSON"})
def status(c, name=None, json_=False):
    """Each service of an environment: running, ready, URL."""
    from ..environments import status as env_status

    name = _env_name(c, name)
    st = env_status(state_dir(c), name)
    if json_:
        print(json.dumps(st))
        return
    if not st:
        print(f"{name}: no services")
    for svc, s in st.items():
        state = "ready" if s["ready"] else "running" if s["running"] else "stopped"
        print(f"{name:12} {svc:13} {state:8} {s['url']}")


@task(name="list", help={"json": "print as JSON"})
def list_(c, json_=False):
    """Every local environment and its services."""
    from ..environments import environments

    envs = environments(state_dir(c))
    if json_:
        print(json.dumps(envs))
        return
    for name, services in envs.items():
        up_ = sum(s["running"] for s in services.values())
        print(f"{name:12} {up_}/{len(services)} services running")


@task(help={"name": "environment name", "service": "host, prometheus or alertmanager",
            "lines": "how many lines"})
def logs(c, name=None, service="host", lines=50):
    """The last lines of a service's log."""
    from ..environments import logs as env_logs

    print(env_logs(state_dir(c), _env_name(c, name), service, int(lines)))


ns = Collection("env", up, down, status, list_, logs)

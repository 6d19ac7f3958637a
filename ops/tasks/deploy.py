"""``deploy`` (Ansible onto an inventory) and ``testhosts.*`` (Debian containers to deploy
to)."""

from __future__ import annotations

import time

from invoke import Collection, task

from plugin_host.errors import PluginHostError

from ..paths import ROOT
from . import state_dir


@task(help={"env": "environment: its inventory is playbooks/inventories/ENV.yml",
            "wheelhouse": "the wheelhouse of `invoke build` [dist/wheelhouse]",
            "version": "release to deploy [the version in the wheelhouse]",
            "check": "Ansible check mode: report what would change",
            "limit": "only these hosts (Ansible --limit)",
            "preflight": "only check the inventory's production settings (no host is "
                         "contacted, nothing changes)",
            "dry": "show the command only"})
def deploy(c, env, wheelhouse=None, version=None, check=False, limit=None, preflight=False,
           dry=False):
    """Deploy the platform to ENV with Ansible (playbooks/site.yml).

    The registry, the plugin hosts one at a time with readiness checks and automatic
    rollback, backups, the declared plugin set, then monitoring."""
    from ..deploy import command, preflight_command, run

    try:
        cmd = preflight_command(env) if preflight else command(
            env, ROOT / (wheelhouse or c.config.deploy.wheelhouse), version, check, limit)
    except PluginHostError as e:
        raise SystemExit(f"error: {e.message}") from None
    print("$ " + " ".join(cmd))
    if dry:
        return
    log = state_dir(c) / "deploy" / f"{env}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    result = run(cmd, log=log)
    print(f"deploy to {env}: {'ok' if result.returncode == 0 else 'FAILED'} in "
          f"{result.seconds:.1f} s, {result.changed} changes on {len(result.recap)} hosts "
          f"(full output: {log.relative_to(ROOT) if log.is_relative_to(ROOT) else log})")
    if result.returncode:
        raise SystemExit(result.returncode)


@task(name="up", help={"count": "how many plugin hosts [3]", "env": "inventory name [test]",
                       "systemd": "systemd as PID 1, as on real hosts (privileged containers)",
                       "balancer": "one more host running the load balancer [with >1 host]"})
def testhosts_up(c, count=3, env="test", systemd=False, balancer=None):
    """Start Debian 12 containers to deploy to, and write their inventory.

    Containers with sshd (Docker; the base image is built once with debootstrap);
    playbooks/inventories/ENV.yml for `deploy --env ENV`."""
    from ..deploy import testhosts_up as up_

    path = up_(state_dir(c), int(count), env=env, systemd=systemd, balancer=balancer)
    print(f"test hosts are up; inventory {path.relative_to(ROOT)}")


@task(name="down", help={"env": "inventory name [test]"})
def testhosts_down(c, env="test"):
    """Remove the test host containers and their inventory."""
    from ..deploy import testhosts_down as down_

    print(f"removed {len(down_(env))} test hosts")


@task(name="known-hosts", help={"env": "environment: its inventory is "
                                       "playbooks/inventories/ENV.yml"})
def known_hosts(c, env):
    """Record the host keys of ENV's machines and print their fingerprints.

    Into playbooks/inventories/ENV.known_hosts: compare the fingerprints with the
    machines' own before the first deploy. Deploys then refuse any host whose key
    differs."""
    from ..deploy import record_known_hosts

    try:
        record_known_hosts(env)
    except PluginHostError as e:
        raise SystemExit(f"error: {e.message}") from None


testhosts = Collection("testhosts", testhosts_up, testhosts_down)

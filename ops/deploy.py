"""`invoke deploy --env NAME`: the playbooks against an environment's inventory.

Inventories live in ``playbooks/inventories/<env>.yml`` (written by `invoke
infra.inventory` from a Pulumi stack, by hand, or — for ``test`` — by `invoke
testhosts.up`, which starts real Debian containers running sshd). The release is the
wheelhouse `invoke build` made (``dist/wheelhouse``) and the version in it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from plugin_host.errors import PluginHostError

from .paths import PLAYBOOKS, ROOT

INVENTORIES = PLAYBOOKS / "inventories"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                   r"failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", re.M)


#: lines worth showing on a terminal while the status line tracks the tasks
IMPORTANT = re.compile(r"^(changed|fatal|failed|FAILED!|ERROR|\[ERROR\])|^\S+\s+: ok=|"
                       r"did not become ready|PLAY RECAP|^\s+msg:")


class DeployError(PluginHostError):
    code = "deploy_failed"


@dataclass
class DeployResult:
    returncode: int
    seconds: float
    output: str
    #: host → {ok, changed, unreachable, failed, skipped, rescued, ignored}
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())


def inventory_path(env: str) -> Path:
    path = INVENTORIES / f"{env}.yml"
    if not path.exists():
        known = sorted(p.stem for p in INVENTORIES.glob("*.yml"))
        hint = " (`invoke testhosts.up` writes it)" if env == "test" else ""
        raise DeployError(f"env: no inventory {path.relative_to(ROOT)}{hint}; "
                          f"known: {', '.join(known) or 'none'}")
    return path


def known_hosts_path(env: str) -> Path:
    """The host keys of ``env``'s machines: SSH refuses any other (no trust on first use
    during a deploy)."""
    return INVENTORIES / f"{env}.known_hosts"


def built_version(wheelhouse: Path) -> str:
    wheels = sorted(Path(wheelhouse).glob("koha_plugin_host-*.whl"))
    if not wheels:
        raise DeployError(f"wheelhouse: no koha_plugin_host wheel in {wheelhouse}: run "
                          "`invoke build` first")
    versions = {w.name.split("-")[1] for w in wheels}
    if len(versions) > 1:
        raise DeployError(f"wheelhouse: several versions in {wheelhouse} "
                          f"({', '.join(sorted(versions))}): pass --version")
    return versions.pop()


def ansible_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment ansible-playbook runs in: this repository's ansible.cfg, and
    Mitogen's strategy when it is installed (one persistent Python interpreter per host
    instead of a fresh one per module: a no-op deploy in less than half the time).
    ``KOHA_DEPLOY_STRATEGY=linear`` (or any built-in strategy) turns it off."""
    env = {**(os.environ if base is None else base),
           "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    strategy = env.get("KOHA_DEPLOY_STRATEGY", "mitogen_linear")
    if strategy.startswith("mitogen"):
        try:
            import ansible_mitogen
        except ImportError:
            strategy = "linear"
        else:
            env["ANSIBLE_STRATEGY_PLUGINS"] = str(Path(ansible_mitogen.__file__).parent
                                                  / "plugins" / "strategy")
    env["ANSIBLE_STRATEGY"] = strategy
    return env


def preflight_command(env: str) -> list[str]:
    """Only site.yml's first play: the production settings check, no host contacted."""
    return [str(Path(sys.executable).parent / "ansible-playbook"), "-i",
            str(inventory_path(env)), str(PLAYBOOKS / "preflight.yml")]


def command(env: str, wheelhouse: Path, version: str | None = None, check: bool = False,
            limit: str | None = None, extra_vars: dict[str, str] | None = None) -> list[str]:
    wheelhouse = Path(wheelhouse).resolve()
    version = version or built_version(wheelhouse)
    if not (wheelhouse / f"koha_plugin_host-{version}-py3-none-any.whl").exists():
        raise DeployError(f"version: no koha_plugin_host {version} wheel in {wheelhouse}")
    inventory = inventory_path(env)
    known = known_hosts_path(env)
    if not known.exists():
        raise DeployError(f"env: no known host keys {known.relative_to(ROOT)}: run "
                          f"`invoke known-hosts --env {env}` and compare the fingerprints it "
                          "prints with the machines' own (cloud console, serial output)")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i",
           str(inventory), str(PLAYBOOKS / "site.yml"),
           "-e", f"koha_version={version}", "-e", f"koha_wheelhouse={wheelhouse}",
           "-e", json.dumps({"ansible_ssh_extra_args": f"-o UserKnownHostsFile={known}"})]
    for k, v in (extra_vars or {}).items():
        cmd += ["-e", f"{k}={v}"]
    if check:  # what would change, with diffs (files holding secrets say `diff: false`)
        cmd += ["--check", "--diff"]
    if limit:
        cmd += ["--limit", limit]
    return cmd


def run(cmd: list[str], echo: bool = True, log: Path | None = None) -> DeployResult:
    """Run ansible-playbook. On a terminal, a live status line shows the play and task
    while only changes, failures and the recap are printed; elsewhere (CI) every line.
    The whole output also goes to ``log`` when given."""
    import contextlib

    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    live = echo and console.is_terminal
    env = ansible_env()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=PLAYBOOKS)
    lines = []
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log.open("w")) if log else None
        status = stack.enter_context(console.status("ansible-playbook")) if live else None
        for line in proc.stdout:
            lines.append(line)
            if out:
                out.write(line)
            if status is not None:
                if line.startswith(("PLAY [", "TASK [", "RUNNING HANDLER [")):
                    status.update(escape(line.strip(" *\n")))
                elif IMPORTANT.search(line):
                    console.print(line.rstrip(), markup=False)
            elif echo:
                print(line, end="", flush=True)
    proc.wait()
    output = "".join(lines)
    recap = {m.group(1): dict(zip(("ok", "changed", "unreachable", "failed", "skipped",
                                   "rescued", "ignored"), map(int, m.groups()[1:]), strict=True))
             for m in RECAP.finditer(output)}
    return DeployResult(proc.returncode, round(time.monotonic() - started, 1), output, recap)


# ---- test hosts: real containers ----------------------------------------------------

def testhosts_up(state: Path, count: int = 3, log=print, env: str = "test",
                 systemd: bool = False, balancer: bool | None = None) -> Path:
    """Start ``count`` Debian containers with sshd and write the inventory of ``env``
    (``playbooks/inventories/<env>.yml``): all are plugin hosts; the first also runs the
    registry and monitoring. With ``balancer`` (the default for more than one host) one
    more container runs the load balancer in front of them. ``systemd``: systemd is
    PID 1, as on a real host."""
    import yaml

    from .containers import start_hosts

    keydir = Path(state) / "testhosts"
    keydir.mkdir(parents=True, exist_ok=True)
    key = keydir / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "koha-deploy",
                        "-f", str(key)], check=True)
    balancer = count > 1 if balancer is None else balancer
    started = start_hosts(f"koha-{env}", count + int(balancer),
                          key.with_suffix(".pub").read_text(), log, systemd=systemd)
    hosts, balancers = started[:count], started[count:]
    first = hosts[0].name
    inventory = {"all": {
        "vars": {"ansible_user": "deploy", "ansible_ssh_private_key_file": str(key.resolve()),
                 "koha_environment": env, "koha_grafana_enabled": False,
                 # test secrets; real environments use ansible-vault or the environment
                 "plugin_host_admin_token": "test-hosts-admin-token-0123456789",
                 "registry_admin_token": "test-hosts-registry-token-0123456789"},
        "children": {
            "plugin_hosts": {"hosts": {h.name: h.inventory() for h in hosts}},
            "registry": {"hosts": {first: {}}},
            "monitoring": {"hosts": {first: {}}},
            **({"load_balancer": {"hosts": {h.name: h.inventory() for h in balancers}}}
               if balancers else {})}}}
    INVENTORIES.mkdir(parents=True, exist_ok=True)
    path = INVENTORIES / f"{env}.yml"
    path.write_text("# written by `invoke testhosts.up`: containers on this machine\n"
                    + yaml.safe_dump(inventory, sort_keys=False))
    # the containers' own host keys, read from inside them: nothing trusted on first use
    from .docker_engine import exec_in

    lines = []
    for h in started:
        code, out = exec_in(h.name, ["sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub"])
        if code:
            raise DeployError(f"testhosts: cannot read the host keys of {h.name}: {out}")
        lines += [f"[127.0.0.1]:{h.ssh_port} {' '.join(k.split()[:2])}"
                  for k in out.splitlines() if k.strip()]
    known_hosts_path(env).write_text("\n".join(lines) + "\n")
    return path


def testhosts_down(env: str = "test") -> list[str]:
    from .containers import stop_hosts

    (INVENTORIES / f"{env}.yml").unlink(missing_ok=True)
    known_hosts_path(env).unlink(missing_ok=True)
    return stop_hosts(f"koha-{env}")


def record_known_hosts(env: str, log=print) -> Path:
    """`invoke known-hosts --env ENV`: connect once to every host of the inventory (through
    its bastion, as the deploy does), accept and record its keys in ENV.known_hosts, and
    print their fingerprints to compare with the machines' own. Run it once per new
    machine; a key that changes later makes every deploy refuse the host."""
    import shlex

    import yaml

    inventory = yaml.safe_load(inventory_path(env).read_text()) or {}
    known = known_hosts_path(env)
    known.touch(mode=0o644)

    def hosts(group: dict, inherited: dict):
        scope = {**inherited, **(group.get("vars") or {})}
        for name, hvars in (group.get("hosts") or {}).items():
            yield name, scope, hvars or {}
        for child in (group.get("children") or {}).values():
            yield from hosts(child or {}, scope)

    # a host listed in several groups (plugin_hosts, registry, monitoring): its own
    # variables from every listing, over the groups' variables
    scoped: dict[str, dict] = {}
    own: dict[str, dict] = {}
    for name, hvars, mine in hosts(inventory.get("all") or {}, {}):
        scoped.setdefault(name, {}).update(hvars)
        own.setdefault(name, {}).update(mine)
    seen = {name: {**scoped[name], **own[name]} for name in scoped}
    for name, hvars in seen.items():
        target = f"{hvars.get('ansible_user', 'deploy')}@{hvars.get('ansible_host', name)}"
        cmd = ["ssh", "-o", "StrictHostKeyChecking=accept-new", "-o",
               f"UserKnownHostsFile={known}", "-o", "BatchMode=yes", "-p",
               str(hvars.get("ansible_port", 22)),
               *shlex.split(hvars.get("ansible_ssh_common_args", "")),
               *(["-i", hvars["ansible_ssh_private_key_file"]]
                 if hvars.get("ansible_ssh_private_key_file") else []), target, "true"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode:
            raise DeployError(f"{name}: ssh {target} failed: {r.stderr.strip()[-300:]}")
        log(f"{name}: recorded")
    fingerprints = subprocess.run(["ssh-keygen", "-l", "-f", str(known)],
                                  capture_output=True, text=True).stdout
    log(fingerprints.rstrip())
    return known

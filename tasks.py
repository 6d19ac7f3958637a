"""Tasks for developers, CI and operators. ``./dev --list`` shows them; ``./dev TASK --help``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from invoke import Collection, task

ROOT = Path(__file__).resolve().parent


def _state(c) -> Path:
    return ROOT / c.config.dev.state_dir


def _env_name(c, name):
    return name or c.config.dev.env_name


@task(help={"name": "environment name", "port": "host port (0 = a free one)",
            "monitoring": "also Prometheus and Alertmanager (default on)",
            "backend": "local (processes here) or docker (containers built from this tree)",
            "json": "print the environment as JSON"})
def env_up(c, name=None, port=None, monitoring=True, backend="local", json_=False):
    """Start an environment: registry, host (examples installed from the registry's signed
    index), Prometheus, Alertmanager; print URLs."""
    from plugin_host.devenv import up as env_up_

    info = env_up_(_state(c), _env_name(c, name),
                   int(port if port is not None else c.config.dev.host_port), monitoring,
                   backend)
    if json_:
        print(info.to_json())
        return
    lines = [f"Koha environment '{info.name}' is ready in {info.seconds:.1f} s",
             f"  host          {info.url}   (API docs {info.url}/docs)",
             f"  admin token   {info.admin_token}",
             f"  registry token {info.registry_token}   (API docs {info.registry_url}/docs)",
             f"  plugins       {', '.join(info.plugins)}"]
    for name_, svc in info.services.items():
        if name_ != "host":
            lines.append(f"  {name_:13} {svc.url}")
    for name_, hint in info.skipped.items():
        lines.append(f"  {name_:13} not installed, skipped ({hint})")
    lines += [f"  try           curl {info.url}/plugins/hello-world/api/greet/Ada",
              f"  install       PLUGIN_HOST_ADMIN_TOKEN={info.admin_token} .venv/bin/plugin-host "
              f"install NAME@RANGE --url {info.url}",
              f"  logs          ./dev env.logs --name {info.name} --service host",
              f"  stop          ./dev env.down --name {info.name}"]
    print("\n" + "\n".join(lines) + "\n")


@task(help={"name": "environment name"})
def env_down(c, name=None):
    """Stop every service of an environment (no process or port left behind)."""
    from plugin_host.devenv import down as env_down_

    name = _env_name(c, name)
    stopped = env_down_(_state(c), name)
    print(f"stopped {name}: {', '.join(stopped)}" if stopped else f"{name} was not running")


@task(help={"name": "environment name", "json": "print as JSON"})
def env_status(c, name=None, json_=False):
    """Each service of an environment: running, ready, URL."""
    from plugin_host.devenv import status

    name = _env_name(c, name)
    st = status(_state(c), name)
    if json_:
        print(json.dumps(st))
        return
    if not st:
        print(f"{name}: no services")
    for svc, s in st.items():
        state = "ready" if s["ready"] else "running" if s["running"] else "stopped"
        print(f"{name:12} {svc:13} {state:8} {s['url']}")


@task(help={"json": "print as JSON"})
def env_list(c, json_=False):
    """Every local environment and its services."""
    from plugin_host.devenv import environments

    envs = environments(_state(c))
    if json_:
        print(json.dumps(envs))
        return
    for name, services in envs.items():
        up_ = sum(s["running"] for s in services.values())
        print(f"{name:12} {up_}/{len(services)} services running")


@task(help={"name": "environment name", "service": "host, prometheus or alertmanager",
            "lines": "how many lines"})
def env_logs(c, name=None, service="host", lines=50):
    """The last lines of a service's log."""
    from plugin_host.devenv import logs

    print(logs(_state(c), _env_name(c, name), service, int(lines)))


@task(help={"name": "environment name", "port": "host port", "json": "print as JSON"})
def up(c, name=None, port=None, json_=False):
    """Same as env.up: the local environment (what ./dev up runs)."""
    env_up(c, name=name, port=port, json_=json_)


@task(help={"name": "environment name"})
def down(c, name=None):
    """Same as env.down."""
    env_down(c, name=name)


@task
def lint(c):
    """ruff over the Python, yamllint over the YAML, ansible-lint over the playbooks."""
    c.run("ruff check .")
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
        c.run(f"{sys.executable} {script}{flag}")


@task(help={"out": "output folder [dist]", "key": "Ed25519 key to sign the example plugins",
            "deps": "include the dependency wheelhouse (default on)",
            "verify": "build twice and fail unless the bytes are identical"})
def build(c, out="dist", key=None, deps=True, verify=False):
    """Wheel, sdist, wheelhouse, example plugins, SBOM and SHA256SUMS, reproducibly."""
    import tempfile
    import time

    from plugin_host.artifacts import build as build_

    start = time.monotonic()
    result = build_(ROOT / out, Path(key) if key else None, deps)
    seconds = time.monotonic() - start
    print(f"built {len(result.files)} files into {result.out} in {seconds:.1f} s")
    if verify:
        with tempfile.TemporaryDirectory() as tmp:
            again = build_(Path(tmp) / "again", Path(key) if key else None, deps)
            if again.checksums() != result.checksums():
                raise SystemExit("not reproducible: the second build differs (see SHA256SUMS)")
        print("reproducible: a second build gave the same bytes")


@task(help={"part": "major, minor, patch, or an explicit X.Y.Z",
            "key": "Ed25519 release key (signs SHA256SUMS and the example plugins)",
            "dry": "show the plan and stop", "yes": "do not ask before acting",
            "deps": "include the dependency wheelhouse (default on)"})
def release(c, part="patch", key=None, dry=False, yes=False, deps=True):
    """Bump the version, changelog, commit, tag, build and sign; shows its plan first."""
    from plugin_host.errors import PluginHostError
    from plugin_host.release import apply, plan

    try:
        p = plan(ROOT, part)
    except PluginHostError as e:
        raise SystemExit(f"release: {e.message}") from None
    print(f"release {p.current} → {p.version} ({p.tag}):")
    for i, step in enumerate(p.steps, 1):
        print(f"  {i}. {step}")
    if dry:
        print("(dry run: nothing changed)")
        return
    if not key:
        raise SystemExit("release: --key is needed to sign the artifacts")
    if not yes and input("go ahead? [y/N] ").strip().lower() != "y":
        raise SystemExit("release: cancelled, nothing changed")
    try:
        sig = apply(ROOT, p, Path(key), deps)
    except PluginHostError as e:
        raise SystemExit(f"release: {e.message}") from None
    print(f"released {p.version}: tag {p.tag}, signature {sig.relative_to(ROOT)}")
    print("push with: git push && git push --tags")


@task
def schema(c):
    """Regenerate docs/plugin-manifest.schema.json from the manifest model."""
    from plugin_host.manifest import json_schema

    out = ROOT / "docs" / "plugin-manifest.schema.json"
    out.write_text(json.dumps(json_schema(), indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


# ---- infra: Pulumi stacks ---------------------------------------------------------

INFRA = ROOT / "infra"
PULUMI_MISSING = """The Pulumi CLI is needed for this and is not installed here.
Install it (https://www.pulumi.com/docs/install/), log in to a backend
(`pulumi login` or `pulumi login --local`), then run this task again.
Without it you can still: ./dev infra.test (the mock tests and the policy pack),
./dev infra.check --stack STACK, and ./dev infra.inventory --stack STACK --file OUTPUTS.json"""


def _pulumi(c, stack: str, *args: str, dry: bool = False) -> None:
    import shutil

    cmd = (f"pulumi --cwd {INFRA} --stack {stack} {' '.join(args)}"
           f" --policy-pack {INFRA / 'policy'}")
    if dry:
        print(cmd)
        return
    if shutil.which("pulumi") is None:
        raise SystemExit(PULUMI_MISSING)
    c.run(cmd, pty=True)


@task(help={"stack": "e.g. aws-dev, gcp-prod", "dry": "show the command only"})
def infra_preview(c, stack, dry=False):
    """pulumi preview of STACK, checked by the policy pack."""
    infra_check(c, stack)
    _pulumi(c, stack, "preview", "--diff", dry=dry)


@task(help={"stack": "e.g. aws-dev, gcp-prod", "dry": "show the command only"})
def infra_up(c, stack, dry=False):
    """pulumi up of STACK (shows the plan and asks first), checked by the policy pack."""
    infra_check(c, stack)
    _pulumi(c, stack, "up", dry=dry)


@task(help={"stack": "e.g. aws-dev, gcp-prod", "dry": "show the command only"})
def infra_destroy(c, stack, dry=False):
    """pulumi destroy of STACK (asks first; prod databases have deletion protection)."""
    _pulumi(c, stack, "destroy", dry=dry)


@task(help={"stack": "e.g. aws-dev"})
def infra_check(c, stack):
    """Validate a stack's koha:* config without the Pulumi CLI."""
    sys.path.insert(0, str(INFRA))
    from koha_infra.config import ConfigError, from_stack_file

    path = INFRA / f"Pulumi.{stack}.yaml"
    if not path.exists():
        known = sorted(p.stem.removeprefix("Pulumi.") for p in INFRA.glob("Pulumi.*-*.yaml"))
        raise SystemExit(f"no stack {stack!r}: known stacks are {', '.join(known)}")
    try:
        cfg = from_stack_file(path)
    except ConfigError as e:
        raise SystemExit(str(e)) from None
    print(f"{stack}: config valid ({cfg.cloud}, {cfg.environment}, {cfg.host_count} hosts)")


@task
def infra_test(c):
    """The Pulumi programs under mocks, and the policy pack's rules."""
    c.run(f"{sys.executable} -m pytest -q tests/infra")


@task(help={"stack": "stack name (used with the CLI, and to name the inventory)",
            "file": "JSON of `pulumi stack output --json` instead of asking the CLI",
            "out": "inventory path [playbooks/inventories/STACK.yml]",
            "bastion": "user@host to jump through for SSH"})
def infra_inventory(c, stack, file=None, out=None, bastion=None):
    """Turn a stack's outputs into an Ansible inventory for `invoke deploy`."""
    import shutil

    import yaml

    sys.path.insert(0, str(INFRA))
    from koha_infra.inventory import InventoryError, to_inventory

    if file:
        text = Path(file).read_text()
    elif shutil.which("pulumi") is None:
        raise SystemExit(PULUMI_MISSING)
    else:
        text = c.run(f"pulumi --cwd {INFRA} --stack {stack} stack output --json --show-secrets",
                     hide=True).stdout
    try:
        inventory = to_inventory(json.loads(text), bastion=bastion)
    except (ValueError, InventoryError) as e:
        raise SystemExit(f"cannot make an inventory from {file or stack}: {e}") from None
    path = Path(out) if out else ROOT / "playbooks" / "inventories" / f"{stack}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# generated by `invoke infra.inventory --stack {stack}`\n"
                    + yaml.safe_dump(inventory, sort_keys=False))
    print(f"wrote {path}")


infra = Collection("infra")
for t, name in ((infra_preview, "preview"), (infra_up, "up"), (infra_destroy, "destroy"),
                (infra_check, "check"), (infra_test, "test"), (infra_inventory, "inventory")):
    infra.add_task(t, name=name)

# ---- monitoring: rules, Alertmanager, dashboards ---------------------------------------

MONITORING = ROOT / "monitoring"


def _monitoring_modules():
    sys.path.insert(0, str(MONITORING))
    import dashboards
    import rules_as_code
    import scrape_config

    return rules_as_code, dashboards, scrape_config


@task(help={"env": "also write monitoring/build/ENV/prometheus.yml from environments/ENV.yml",
            "runbook_base": "URL where docs/runbooks/ is served"})
def monitoring_build(c, env=None, runbook_base=None):
    """Write the rule files and the Grafana dashboards + provisioning from code."""
    import yaml

    rules, dashboards, scrape = _monitoring_modules()
    written = rules.write(MONITORING / "rules", runbook_base or rules.RUNBOOK_BASE)
    written += dashboards.write(MONITORING / "grafana")
    if env:
        out = MONITORING / "build" / env / "prometheus.yml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(scrape.from_environment_file(
            MONITORING / "environments" / f"{env}.yml", MONITORING / "rules"), sort_keys=False))
        written.append(out)
    for p in written:
        print(f"wrote {p.relative_to(ROOT)}")


@task
def monitoring_check(c):
    """Rules and dashboards match the code; promtool check + test rules; amtool check-config;
    every alert has a runbook."""
    import shutil

    rules, dashboards, _ = _monitoring_modules()
    stale = [name for name, text in rules.render().items()
             if (MONITORING / "rules" / name).read_text() != text]
    stale += [rel for rel, text in dashboards.render().items()
              if not (MONITORING / "grafana" / rel).exists()
              or (MONITORING / "grafana" / rel).read_text() != text]
    if stale:
        raise SystemExit(f"out of date (run ./dev monitoring.build): {', '.join(stale)}")
    missing = [a["alert"] for a in rules.alerts()
               if not (ROOT / "docs" / "runbooks" / f"{a['alert']}.md").exists()]
    if missing:
        raise SystemExit(f"alerts without a runbook in docs/runbooks: {', '.join(missing)}")
    for tool in ("promtool", "amtool"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed: apt-get install prometheus "
                             "prometheus-alertmanager (./dev does this as root)")
    c.run(f"promtool check rules {MONITORING}/rules/*.rules.yml")
    c.run(f"promtool test rules {MONITORING}/tests/*.test.yml")
    c.run(f"amtool check-config {MONITORING}/alertmanager.yml")


monitoring = Collection("monitoring")
monitoring.add_task(monitoring_build, name="build")
monitoring.add_task(monitoring_check, name="check")

env = Collection("env")
for t, name in ((env_up, "up"), (env_down, "down"), (env_status, "status"), (env_list, "list"),
                (env_logs, "logs")):
    env.add_task(t, name=name)

@task(help={"env": "environment: its inventory is playbooks/inventories/ENV.yml",
            "wheelhouse": "the wheelhouse of `invoke build` [dist/wheelhouse]",
            "version": "release to deploy [the version in the wheelhouse]",
            "check": "Ansible check mode: report what would change",
            "limit": "only these hosts (Ansible --limit)",
            "dry": "show the command only"})
def deploy(c, env, wheelhouse=None, version=None, check=False, limit=None, dry=False):
    """Deploy the platform to ENV with Ansible (playbooks/site.yml): registry, plugin hosts
    one at a time with readiness checks and automatic rollback, then monitoring."""
    from plugin_host.deploy import command, run
    from plugin_host.errors import PluginHostError

    try:
        cmd = command(env, ROOT / (wheelhouse or c.config.deploy.wheelhouse), version, check,
                      limit)
    except PluginHostError as e:
        raise SystemExit(f"error: {e.message}") from None
    print("$ " + " ".join(cmd))
    if dry:
        return
    log = _state(c) / "deploy" / f"{env}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    result = run(cmd, log=log)
    print(f"deploy to {env}: {'ok' if result.returncode == 0 else 'FAILED'} in "
          f"{result.seconds:.1f} s, {result.changed} changes on {len(result.recap)} hosts "
          f"(full output: {log.relative_to(ROOT) if log.is_relative_to(ROOT) else log})")
    if result.returncode:
        raise SystemExit(result.returncode)


@task(help={"count": "how many hosts [3]", "env": "inventory name [test]",
            "systemd": "systemd as PID 1, as on real hosts (privileged containers)"})
def testhosts_up(c, count=3, env="test", systemd=False):
    """Start Debian 12 containers with sshd (Docker; the base image is built once with
    debootstrap) and write playbooks/inventories/ENV.yml for `deploy --env ENV`."""
    from plugin_host.deploy import testhosts_up as up_

    path = up_(_state(c), int(count), env=env, systemd=systemd)
    print(f"test hosts are up; inventory {path.relative_to(ROOT)}")


@task(help={"env": "inventory name [test]"})
def testhosts_down(c, env="test"):
    """Remove the test host containers and their inventory."""
    from plugin_host.deploy import testhosts_down as down_

    print(f"removed {len(down_(env))} test hosts")


testhosts = Collection("testhosts")
testhosts.add_task(testhosts_up, "up")
testhosts.add_task(testhosts_down, "down")

ns = Collection(up, down, lint, test, bench, build, release, schema, deploy, env, infra,
                testhosts,
                monitoring)

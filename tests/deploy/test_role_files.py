"""The roles' own files, without hosts: the Grafana role's templates (Grafana cannot run
here: it comes from Grafana's apt repository, so its role is not part of the container
deploy) rendered by Ansible itself, and every role variable documented in the role's
README with its default."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from ..support.ansible import ROLES, render
from ..support.paths import ROOT


def test_grafana_provisioning_renders_to_what_grafana_reads(tmp_path):
    ds = yaml.safe_load(render(ROLES / "grafana/templates/datasource.yml.j2", tmp_path,
                               prometheus_port=9191))
    (source,) = ds["datasources"]
    assert ds["apiVersion"] == 1
    assert source["type"] == "prometheus" and source["url"] == "http://127.0.0.1:9191"
    assert source["isDefault"] is True
    dash = yaml.safe_load(render(ROLES / "grafana/templates/dashboards.yml.j2", tmp_path))
    (provider,) = dash["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/koha"
    # what the role copies there: every generated dashboard, valid JSON with a uid
    boards = sorted((ROOT / "monitoring/grafana/dashboards").glob("*.json"))
    assert len(boards) == 5  # overview, plugins, registry, hosts, deployments
    for b in boards:
        assert json.loads(b.read_text())["uid"]


def test_prometheus_config_from_the_role_passes_promtool(tmp_path):
    import shutil

    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (apt-get install prometheus)"
    text = render(ROLES / "prometheus/templates/prometheus.yml.j2", tmp_path,
                  prometheus_plugin_host_targets=["h1:8080", "h2:8080"])
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    r = subprocess.run([promtool, "check", "config", "--syntax-only", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert yaml.safe_load(text)["scrape_configs"][0]["static_configs"][0]["targets"] == [
        "h1:8080", "h2:8080"]


def test_every_role_variable_is_documented_with_its_default():
    for role in sorted(p for p in ROLES.iterdir() if p.is_dir()):
        readme = (role / "README.md").read_text()
        defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
        for name in defaults:
            assert f"`{name}`" in readme, f"{role.name}/README.md does not document {name}"


def test_prometheus_ships_to_the_managed_endpoint_when_the_stack_has_one(tmp_path):
    """The stack's `prometheus_endpoint` (infra.inventory → prometheus_remote_write_url)
    becomes a `remote_write` Prometheus accepts, signed with SigV4 on AWS; with the
    `cloud` label on every series. (A live remote-write receiver is the fleet test's.)"""
    import shutil

    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (apt-get install prometheus)"
    url = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
    text = render(ROLES / "prometheus/templates/prometheus.yml.j2", tmp_path,
                  prometheus_remote_write_url=url, koha_cloud="aws",
                  prometheus_remote_write_sigv4_region="eu-west-1")
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    r = subprocess.run([promtool, "check", "config", "--syntax-only", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    config = yaml.safe_load(text)
    assert config["remote_write"] == [{"url": url, "sigv4": {"region": "eu-west-1"}}]
    assert config["global"]["external_labels"]["cloud"] == "aws"
    plain = yaml.safe_load(render(ROLES / "prometheus/templates/prometheus.yml.j2", tmp_path))
    assert "remote_write" not in plain and "cloud" not in plain["global"]["external_labels"]


def test_the_load_balancer_config_passes_haproxy_check(tmp_path):
    """The balancer's configuration, rendered for an inventory of three plugin hosts and
    a registry, is one real HAProxy accepts (`haproxy -c`), with a health check on each
    backend's /readyz and the Prometheus exporter."""
    import shutil

    haproxy = shutil.which("haproxy")
    assert haproxy, "haproxy is needed (apt-get install haproxy)"
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {
        "plugin_hosts": {"hosts": {f"h{i}": {"koha_address": f"10.0.0.{i}"}
                                   for i in range(1, 4)}},
        "registry": {"hosts": {"h1": {}}}}}}))
    template = ROLES / "load_balancer/templates/haproxy.cfg.j2"
    out = tmp_path / "haproxy.cfg"
    defaults = template.parents[1] / "defaults" / "main.yml"
    r = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "h1", "-i", str(inventory),
         "-c", "local", "-m", "ansible.builtin.template",
         "-a", f"src={template} dest={out}", "-e", f"@{defaults}",
         "-e", json.dumps({"lb_admin_socket": str(tmp_path / "admin.sock"),
                           "lb_nofile": {"stdout": "1024"},
                           "ansible_python_interpreter": sys.executable})],
        capture_output=True, text=True, timeout=120,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    assert r.returncode == 0, r.stdout + r.stderr
    text = out.read_text()
    # a throwaway certificate where the config expects it
    pem = tmp_path / "koha.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=test", "-keyout", str(tmp_path / "k"), "-out",
                    str(tmp_path / "c")], check=True, capture_output=True)
    pem.write_bytes((tmp_path / "c").read_bytes() + (tmp_path / "k").read_bytes())
    (tmp_path / "check.cfg").write_text(text.replace("/etc/haproxy/koha.pem", str(pem)))
    check = subprocess.run([haproxy, "-c", "-f", str(tmp_path / "check.cfg")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert text.count(" check\n") == 4  # three plugin hosts and the registry
    assert "option httpchk GET /readyz" in text
    assert "server h2 10.0.0.2:8080 check" in text and "server h1 10.0.0.1:8090 check" in text
    assert "use-service prometheus-exporter" in text
    assert "maxconn 462\n" in text  # what 1024 descriptors allow, not the 20000 asked for


#: variables that hold secrets (or, like database URLs, may embed one)
SECRET_VARS = re.compile(r"\{\{[^}]*(token|password|database_url|_pem|secret)[^}]*\}\}")


def _tasks(node):
    """Every task in a tasks file, blocks included."""
    for task in node or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def test_files_holding_secrets_are_never_shown_in_a_diff():
    """`--diff` (and a check run with it) prints what a template or copy would change:
    every task writing a secret says `diff: false`, and one passing a secret as a
    module argument also `no_log: true`."""
    checked = 0
    for tasks_file in ROLES.glob("*/tasks/*.yml"):
        for task in _tasks(yaml.safe_load(tasks_file.read_text())):
            for module in ("ansible.builtin.template", "ansible.builtin.copy",
                           "ansible.builtin.lineinfile"):
                args = task.get(module)
                if not isinstance(args, dict):
                    continue
                where = f"{tasks_file.relative_to(ROOT)}: {task['name']}"
                text = " ".join(str(v) for v in args.values())
                if module == "ansible.builtin.template":
                    text += (tasks_file.parents[1] / "templates" / args["src"]).read_text()
                if "tuf-keys" in str(args.get("dest", "")):
                    text += "{{ registry_tuf_keys_secret }}"  # private keys, copied as files
                if SECRET_VARS.search(text):
                    checked += 1
                    assert task.get("diff") is False, f"{where}: no `diff: false`"
                    if SECRET_VARS.search(" ".join(str(v) for v in args.values())):
                        assert task.get("no_log") is True, f"{where}: no `no_log: true`"
    assert checked >= 5  # the host's and registry's settings, keys, TLS, Grafana


def test_read_only_commands_run_in_check_mode():
    """A command or shell task that only reads (changed_when: false) and feeds a later
    task must run in a check run too (`check_mode: false`), or the check reports
    changes that would not happen (e.g. maxconn computed from a skipped `ulimit`)."""
    for tasks_file in ROLES.glob("*/tasks/*.yml"):
        for task in _tasks(yaml.safe_load(tasks_file.read_text())):
            if ({"ansible.builtin.command", "ansible.builtin.shell"} & set(task)
                    and task.get("changed_when") is False and task.get("register")
                    and "until" not in task):  # a wait loop: the switch it guards is skipped
                assert task.get("check_mode") is False, \
                    f"{tasks_file.relative_to(ROOT)}: {task['name']}"


def test_every_variable_the_service_env_files_set_is_a_setting(tmp_path):
    """The services ignore unknown PLUGIN_HOST_*/PLUGIN_REGISTRY_* variables, so a
    misspelt one in a role's env file would be lost without a word: each one rendered
    (every optional branch on) must name a setting. This caught PUBLIC_URL written as
    PLUGIN_HOST_plugin_host_public_url_URL."""
    from plugin_host.host.settings import HostSettings
    from plugin_host.registry.settings import RegistrySettings

    common = {"koha_etc": "/etc/koha", "koha_data": "/var/lib/koha",
              "inventory_hostname": "h1", "koha_identity": {"oidc_issuer": "https://idp"},
              "koha_identity_files": ["saml_idp_metadata"],
              "koha_service_environment": {"AWS_REGION": "eu-west-1"}}
    cases = [
        (ROLES / "plugin_host/templates/plugin-host.env.j2", "PLUGIN_HOST_", HostSettings,
         {"plugin_host_database_url": "postgresql://x", "plugin_host_registry_url": "http://r",
          "plugin_host_registry_api_url": "http://r", "plugin_host_hook_secret": "h" * 40,
          "plugin_host_secrets_key": "k", "plugin_host_sandbox_require": ["seccomp"],
          "plugin_host_public_url": "https://host.example.org",
          "plugin_host_settings": {"otlp_endpoint": "http://collector:4318"}}),
        (ROLES / "registry/templates/registry.env.j2", "PLUGIN_REGISTRY_", RegistrySettings,
         {"registry_public_url": "https://registry.example.org"}),
    ]
    for template, prefix, settings, extra in cases:
        text = render(template, tmp_path, **common, **extra)
        names = [line.split("=", 1)[0] for line in text.splitlines()
                 if line.startswith(prefix)]
        assert f"{prefix}PUBLIC_URL" in names, text
        fields = {prefix + f.upper() for f in settings.model_fields}
        unknown = [n for n in names if n not in fields]
        assert not unknown, f"{template.name} sets {unknown}, which are not settings"

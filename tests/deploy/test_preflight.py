"""A production deploy refuses, before changing anything and without contacting a host,
an inventory that leaves a production setting unset; an inventory `infra.inventory` made
from a stack's outputs passes once the operator adds what the stack cannot know. The
hosts here are TEST-NET addresses nothing answers on: a run that tried to reach them
would report them unreachable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from ..support.paths import ROOT

ROLES = ROOT / "playbooks"


def preflight(inventory: dict, tmp: Path, alone: bool = True) -> subprocess.CompletedProcess:
    path = tmp / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(path),
           str(ROLES / ("preflight.yml" if alone else "site.yml"))]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROLES,
                          env={**{k: v for k, v in os.environ.items()
                                  if k != "KOHA_GRAFANA_ADMIN_PASSWORD"},
                               "ANSIBLE_CONFIG": str(ROLES / "ansible.cfg"),
                               "ANSIBLE_FORCE_COLOR": "0",
                               "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})


def outputs() -> dict:
    return {"cloud": "aws", "environment": "prod", "host_ips": ["192.0.2.10", "192.0.2.11"],
            "database_host": "db.internal", "database_port": 5432,
            "packages_bucket": "koha-prod-packages", "index_bucket": "koha-prod-index",
            "index_url": "https://d111.cloudfront.net", "issuer_url": "https://cognito/x",
            "oidc_clients": {"web": "w1", "cli": "c1", "ci": "ci1"},
            "oidc_client_secret": "arn:aws:secretsmanager:eu-west-1:1:secret:oidc",
            "oidc_token_settings": {"audiences": ["c1", "ci1"],
                                    "groups_claim": "cognito:groups"},
            "database_url_secret": "arn:aws:secretsmanager:eu-west-1:1:secret:db",
            "signing_key_secret": "arn:aws:secretsmanager:eu-west-1:1:secret:keys",
            "prometheus_endpoint": "https://aps-workspaces.eu-west-1.amazonaws.com/"
                                   "workspaces/ws-1/api/v1/remote_write"}


def test_an_incomplete_production_inventory_is_refused_before_anything_runs(tmp_path):
    inventory = {"all": {"vars": {"koha_production": True, "koha_environment": "prod",
                                  "plugin_host_database_url": "aws-sm://db",
                                  "registry_storage": "local"},
                         "children": {"plugin_hosts": {"hosts": {"h1": {
                             "ansible_host": "192.0.2.1"}}}}}}
    r = preflight(inventory, tmp_path, alone=False)  # the whole site.yml, as deploy runs it
    out = r.stdout + r.stderr
    assert r.returncode != 0
    for var in ("registry_database_url", "registry_index_bucket",
                "plugin_host_registry_root_src", "prometheus_remote_write_url"):
        assert f"{var} is not set: a production deploy (prod) needs it" in out, var
    assert "plugin_host_database_url is not set" not in out
    assert "unreachable=0" in out and "changed=0" in out
    assert "Base of every host" not in out  # no later play started


def test_a_stack_inventory_passes_once_the_operator_adds_the_root(tmp_path):
    from koha_infra.inventory import to_inventory

    inventory = to_inventory(outputs())
    r = preflight(inventory, tmp_path)
    assert r.returncode != 0
    failed = [line for line in (r.stdout + r.stderr).splitlines() if "is not set:" in line
              and line.lstrip().startswith("msg:")]
    assert len(failed) == 1 and "plugin_host_registry_root_src" in failed[0], failed
    root = tmp_path / "root.json"
    root.write_text(json.dumps({"signed": {}}))
    inventory["all"]["vars"]["plugin_host_registry_root_src"] = str(root)
    # Grafana (deployed by default) without an admin password would keep admin/admin
    r = preflight(inventory, tmp_path)
    assert r.returncode != 0
    assert "grafana_admin_password is missing or shorter than 12 characters" in r.stdout
    inventory["all"]["vars"]["grafana_admin_password"] = "correct horse battery"
    r = preflight(inventory, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    # index keys from files (the vault) instead of a secret will do too
    del inventory["all"]["vars"]["registry_tuf_keys_secret"]
    r = preflight(inventory, tmp_path)
    assert r.returncode != 0 and "neither registry_tuf_keys_secret nor" in r.stdout
    inventory["all"]["vars"]["registry_tuf_keys_src"] = str(tmp_path)
    assert preflight(inventory, tmp_path).returncode == 0
    # production also means every sandbox layer
    inventory["all"]["vars"]["plugin_host_sandbox_require"] = ["bubblewrap", "seccomp"]
    r = preflight(inventory, tmp_path)
    assert r.returncode != 0 and "production requires [bubblewrap, seccomp, cgroups]" in r.stdout


def test_a_development_inventory_is_not_held_to_production(tmp_path):
    inventory = {"all": {"vars": {"koha_environment": "dev"},
                         "children": {"plugin_hosts": {"hosts": {"h1": {
                             "ansible_host": "192.0.2.1"}}}}}}
    r = preflight(inventory, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr

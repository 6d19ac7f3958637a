"""Stack outputs → Ansible inventory, and the infra tasks without the Pulumi CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from koha_infra.inventory import InventoryError, to_inventory

ROOT = Path(__file__).resolve().parents[2]
INVOKE = [sys.executable, "-m", "invoke", "--search-root", str(ROOT)]


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_inventory_from_the_programs_outputs(stack, cloud):
    _records, outputs, raw = stack(cloud)
    inv = to_inventory(outputs, bastion="ops@bastion.example.org")["all"]
    hosts = inv["children"]["plugin_hosts"]["hosts"]
    assert len(hosts) == raw["host_count"]
    assert list(hosts) == [f"koha-dev-host-{i}" for i in range(raw["host_count"])]
    assert all(h["koha_address"] == h["ansible_host"] for h in hosts.values())
    assert list(inv["children"]["registry"]["hosts"]) == ["koha-dev-host-0"]
    assert list(inv["children"]["monitoring"]["hosts"]) == ["koha-dev-host-0"]
    v = inv["vars"]
    assert v["koha_database_host"] == outputs["database_host"]
    assert v["koha_database_port"] == 5432
    assert v["registry_index_url"].startswith("https://")
    assert v["plugin_host_registry_url"] == v["registry_index_url"]
    assert v["ansible_ssh_common_args"] == "-o ProxyJump=ops@bastion.example.org"
    scheme = "aws-sm://" if cloud == "aws" else "gcp-sm://"
    assert v["plugin_host_database_url"] == scheme + outputs["database_url_secret"] + "#host"
    assert v["registry_database_url"] == scheme + outputs["database_url_secret"] + "#registry"
    assert v["registry_tuf_keys_secret"] == scheme + outputs["signing_key_secret"]
    assert v["registry_storage"] == ("s3" if cloud == "aws" else "gcs")
    assert (v["registry_storage_bucket"], v["registry_index_bucket"]) == \
        (outputs["packages_bucket"], outputs["index_bucket"])
    assert v["prometheus_remote_write_url"] == outputs["prometheus_endpoint"]
    assert v["koha_production"] is False and "plugin_host_sandbox_require" not in v


def role_files() -> str:
    """Everything the playbooks read: roles' tasks, defaults, templates, the playbooks."""
    files = [*(ROOT / "playbooks").glob("*.yml"),
             *(f for f in (ROOT / "playbooks" / "roles").rglob("*")
               if f.is_file() and f.suffix in (".yml", ".j2") and "README" not in f.name)]
    return "\n".join(f.read_text() for f in files)


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_every_stack_output_becomes_a_variable_a_role_reads(stack, cloud):
    from koha_infra.inventory import MAPPING, NOT_YET_READ
    from koha_infra.outputs import NAMES

    _records, outputs, _ = stack(cloud)
    assert set(MAPPING) == set(NAMES), "each stack output is mapped exactly once"
    inv = to_inventory(outputs)["all"]
    made = {*inv["vars"], *inv["children"]}
    read = role_files()
    for output, (variables, _what) in MAPPING.items():
        for var in variables:
            assert var in made, f"{output}: the inventory does not set {var}"
            if var in inv["children"]:
                assert f"hosts: {var}" in read or f"groups['{var}']" in read, var
            elif var not in NOT_YET_READ:
                assert var in read, f"{output} → {var}: no role reads it"
    assert NOT_YET_READ == {}  # keep it empty
    # secrets stay references: no value of a secret is in the inventory
    assert all(not str(v).startswith(("postgresql", "-----BEGIN")) for v in inv["vars"].values())


def test_production_doc_table_is_the_mapping():
    import re

    from koha_infra.inventory import MAPPING

    doc = (ROOT / "docs" / "operations" / "production.md").read_text()
    rows = {m.group(1): tuple(re.findall(r"`([^`]+)`", m.group(2)))
            for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", doc, re.M)}
    assert rows == {k: v for k, (v, _) in MAPPING.items()}


def test_a_production_inventory_sets_what_production_needs(stack):
    _records, outputs, _ = stack("aws")
    v = to_inventory({**outputs, "environment": "prod"})["all"]["vars"]
    assert v["koha_production"] is True
    assert v["plugin_host_sandbox_require"] == ["bubblewrap", "seccomp", "cgroups"]


def test_outputs_of_another_stack_are_refused():
    with pytest.raises(InventoryError, match="stack outputs lack cloud"):
        to_inventory({"hello": "world"})


def run_task(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    return subprocess.run([*INVOKE, *args], capture_output=True, text=True, cwd=ROOT, env=env)


def test_inventory_task_from_a_file(stack, tmp_path):
    _records, outputs, _ = stack("aws")
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    out = tmp_path / "inv.yml"
    r = run_task("infra.inventory", "--stack", "aws-dev", "--file",
                 str(tmp_path / "outputs.json"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    inv = yaml.safe_load(out.read_text())
    assert inv["all"]["vars"]["koha_cloud"] == "aws"
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = run_task("infra.inventory", "--stack", "aws-dev", "--file", str(bad), "--out",
                 str(out))
    assert r.returncode != 0 and "stack outputs lack" in r.stderr


def test_cli_tasks_say_what_is_needed_without_pulumi():
    # a PATH with this venv's Python but no pulumi binary
    r = run_task("infra.preview", "--stack", "gcp-staging",
                 path=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    assert r.returncode != 0
    assert "gcp-staging: config valid" in r.stdout
    assert "The Pulumi CLI is needed" in r.stderr and "./dev infra.test" in r.stderr
    r = run_task("infra.check", "--stack", "azure-dev")
    assert r.returncode != 0 and "no stack 'azure-dev': known stacks are aws-dev" in r.stderr


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_the_identity_service_becomes_the_services_sign_in_settings(stack, cloud):
    """What infra.inventory hands both roles is exactly what the services read: every key
    an identity setting, each value one it accepts, the secret a reference."""
    from plugin_host.identity.settings import IdentitySettings

    _records, outputs, _ = stack(cloud)
    identity = to_inventory(outputs)["all"]["vars"]["koha_identity"]
    settings = IdentitySettings.model_validate(
        {**identity, "oidc_client_secret": None})  # a reference is read only at start
    assert set(identity) <= set(IdentitySettings.model_fields)
    assert settings.oidc_issuer == outputs["issuer_url"]
    assert identity["oidc_client_secret"].startswith("aws-sm://" if cloud == "aws"
                                                     else "gcp-sm://")
    assert settings.role_groups["host-admin"] == ["host-admin"]
    if cloud == "aws":
        assert settings.oidc_groups_claim == "cognito:groups"
        assert settings.oidc_audiences == [outputs["oidc_clients"]["cli"],
                                           outputs["oidc_clients"]["ci"]]
        assert settings.oidc_machine_roles == {outputs["oidc_clients"]["ci"]: ["publisher"]}
        assert settings.oidc_cli_redirect_uri == "http://localhost:8765/callback"
    else:
        assert settings.oidc_audiences and "oidc_client_id" not in identity

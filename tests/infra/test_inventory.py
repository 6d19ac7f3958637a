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
    assert list(inv["children"]["registry"]["hosts"]) == ["koha-dev-host-0"]
    v = inv["vars"]
    assert v["koha_database_host"] == outputs["database_host"]
    assert v["koha_database_port"] == 5432
    assert v["koha_index_url"].startswith("https://")
    assert v["ansible_ssh_common_args"] == "-o ProxyJump=ops@bastion.example.org"


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

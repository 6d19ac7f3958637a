"""Stack config: every shipped stack file is valid; bad values are refused by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from koha_infra.config import ConfigError, from_stack_file, parse

from .harness import example_config

INFRA = Path(__file__).resolve().parents[2] / "infra"
STACKS = sorted(INFRA.glob("Pulumi.*-*.yaml"))


def test_there_are_dev_staging_and_prod_stacks_on_each_cloud():
    names = {p.name for p in STACKS}
    assert names == {f"Pulumi.{c}-{e}.yaml" for c in ("aws", "gcp")
                     for e in ("dev", "staging", "prod")}


@pytest.mark.parametrize("path", STACKS, ids=[p.stem for p in STACKS])
def test_shipped_stack_files_are_valid(path):
    cfg = from_stack_file(path)
    cloud, env = path.stem.split(".")[1].split("-")
    assert (cfg.cloud, cfg.environment) == (cloud, env)
    assert cfg.tags["environment"] == env


BAD = [
    ("owner missing", {"owner": None}, "koha:owner: required key is missing"),
    ("SSH from everywhere", {"bastion_cidr": "0.0.0.0/0"}, "koha:bastion_cidr: '0.0.0.0/0' "
                                                          "would open SSH"),
    ("not a range", {"bastion_cidr": "bastion"}, "koha:bastion_cidr: 'bastion' is not a "
                                                 "network range"),
    ("unknown key", {"colour": "red"}, "koha:colour: unknown key"),
    ("bad environment", {"environment": "qa"}, "koha:environment:"),
    ("http callback", {"marketplace_callback_urls": ["http://market.example.org/cb"]},
     "koha:marketplace_callback_urls: 'http://market.example.org/cb' must be an https URL"),
    ("bad e-mail", {"alert_email": "ops"}, "koha:alert_email:"),
    ("too many hosts", {"host_count": 50}, "koha:host_count:"),
    ("tiny database", {"db_storage_gb": 5}, "koha:db_storage_gb:"),
    ("backup in the same region", {"backup_region": "eu-west-1"},
     "koha:backup_region: must differ from region"),
    ("bad ssh key", {"ssh_public_key": "hunter2"}, "koha:ssh_public_key:"),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_the_key(case, change, message):
    raw = example_config("aws")
    for k, v in change.items():
        if v is None:
            raw.pop(k)
        else:
            raw[k] = v
    with pytest.raises(ConfigError) as err:
        parse(raw)
    assert any(message in p for p in err.value.problems), err.value.problems


def test_gcp_needs_a_project():
    raw = example_config("gcp")
    raw.pop("project")
    with pytest.raises(ConfigError) as err:
        parse(raw)
    assert "koha:project: required when cloud is gcp" in err.value.problems


def test_tags_are_valid_gcp_labels_too():
    cfg = parse(example_config("gcp", owner="Library Ops <ops@example.org>"))
    assert cfg.tags["owner"] == "library-ops--ops-example-org-"
    assert all(k.islower() for k in cfg.tags)


@pytest.mark.parametrize("stack_name", ["aws-prod", "gcp-dev"])
def test_the_program_reads_a_stack_file_as_pulumi_would(stack_name):
    """infra/__main__.py under the mocks, with the stack file's config loaded the way
    the engine passes it (structured values as JSON strings)."""
    import json
    import runpy

    import pulumi
    import yaml

    from .harness import Recorder

    doc = yaml.safe_load((INFRA / f"Pulumi.{stack_name}.yaml").read_text())["config"]
    config = {k: json.dumps(v) if isinstance(v, list) else str(v) for k, v in doc.items()}
    pulumi.runtime.set_mocks(Recorder(), preview=False)
    pulumi.runtime.set_all_config(config)
    exported = {}
    original = pulumi.export
    pulumi.export = lambda k, v: exported.__setitem__(k, v)
    try:
        @pulumi.runtime.test
        def program():
            runpy.run_path(str(INFRA / "__main__.py"))
            return pulumi.Output.all(**exported).apply(lambda o: exported.update(o))

        program()
    finally:
        pulumi.export = original
        pulumi.runtime.set_all_config({})
    cloud, env = stack_name.split("-")
    assert exported["cloud"] == cloud and exported["environment"] == env
    assert len(exported["host_ips"]) == int(doc["koha:host_count"])

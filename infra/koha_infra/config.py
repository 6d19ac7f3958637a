"""Stack configuration (`koha:*` keys in Pulumi.<stack>.yaml), validated in one place.

Every problem is reported as ``koha:<key>: <reason>`` before any resource is declared.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import regions

NAMESPACE = "koha"
KEYS = [
    "cloud", "environment", "region", "backup_region", "project", "name_prefix", "owner",
    "cost_center", "bastion_cidr", "lb_source_ranges", "host_count", "host_machine_type",
    "host_image", "ssh_public_key", "db_instance_class", "db_storage_gb", "db_backup_days",
    "noncurrent_version_days", "alert_email", "marketplace_callback_urls", "network",
    "subnets", "gcp_customer_id",
]


class ConfigError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack config:\n  " + "\n  ".join(problems))


class StackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cloud: Literal["aws", "gcp"]
    environment: Literal["dev", "staging", "prod"]
    region: str = Field(min_length=2)
    backup_region: str = Field(min_length=2)
    project: str | None = Field(default=None, description="GCP project id (gcp only)")
    name_prefix: str = Field(default="koha", pattern=r"^[a-z][a-z0-9-]{1,14}$")
    owner: str = Field(min_length=1, description="Required tag: who answers for it")
    cost_center: str = Field(min_length=1, description="Required tag: who pays")
    bastion_cidr: str = Field(description="SSH is allowed only from this range")
    lb_source_ranges: list[str] = Field(default_factory=list,
                                        description="Ranges the load balancer sends from")
    host_count: int = Field(default=2, ge=1, le=20)
    host_machine_type: str = Field(min_length=2)
    host_image: str = Field(min_length=2, description="AMI id or GCE image")
    ssh_public_key: str = Field(pattern=r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-\S+) \S+")
    db_instance_class: str = Field(min_length=2)
    db_storage_gb: int = Field(default=20, ge=20, le=16384)
    db_backup_days: int = Field(default=7, ge=1, le=35)
    noncurrent_version_days: int = Field(default=30, ge=1, le=3650)
    alert_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    marketplace_callback_urls: list[str] = Field(min_length=1)
    network: str = Field(min_length=1, description="VPC id (aws) or network name (gcp)")
    subnets: list[str] = Field(min_length=1, description="Private subnet ids / subnetwork")
    gcp_customer_id: str | None = Field(default=None, description="Cloud Identity customer")

    @field_validator("bastion_cidr")
    @classmethod
    def _bastion(cls, v: str) -> str:
        net = _cidr(v)
        if net.prefixlen < 8:
            raise ValueError(f"{v!r} would open SSH to too much of the internet")
        return v

    @field_validator("lb_source_ranges")
    @classmethod
    def _ranges(cls, v: list[str]) -> list[str]:
        for item in v:
            _cidr(item)
        return v

    @field_validator("marketplace_callback_urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for url in v:
            if not re.match(r"^https://[^\s/]+(/\S*)?$", url) and not url.startswith(
                    "http://localhost"):
                raise ValueError(f"{url!r} must be an https URL (or http://localhost)")
        return v

    @model_validator(mode="after")
    def _cloud_specific(self) -> StackConfig:
        if self.cloud == "gcp" and not self.project:
            raise ValueError("project: required when cloud is gcp")
        if self.region == self.backup_region:
            raise ValueError("backup_region: must differ from region (backups survive a "
                             "regional outage)")
        for key in ("region", "backup_region"):
            if not regions.known_region(self.cloud, getattr(self, key)):
                known = sorted(regions.GCP_ZONES if self.cloud == "gcp" else regions.AWS_ZONES)
                raise ValueError(f"{key}: {getattr(self, key)!r} is not a {self.cloud} region "
                                 f"this platform knows the zones of ({', '.join(known)}; "
                                 "koha_infra/regions.py)")
        problem = regions.machine_problem(self.cloud, self.host_machine_type)
        if problem:
            raise ValueError(f"host_machine_type: {problem}")
        problem = regions.db_class_problem(self.cloud, self.db_instance_class)
        if problem:
            raise ValueError(f"db_instance_class: {problem}")
        return self

    @property
    def zones(self) -> tuple[str, ...]:
        """The region's zones, full names (koha_infra/regions.py)."""
        return regions.zones(self.cloud, self.region)

    @property
    def tags(self) -> dict[str, str]:
        """Required on every taggable resource (labels on GCP, same keys)."""
        return {"project": "koha-platform", "environment": self.environment,
                "owner": _label(self.owner), "cost-center": _label(self.cost_center),
                "managed-by": "pulumi"}

    def name(self, *parts: str) -> str:
        return "-".join([self.name_prefix, self.environment, *parts])

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"


def _cidr(v: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(v, strict=True)
    except ValueError:
        raise ValueError(f"{v!r} is not a network range like 203.0.113.0/24") from None


def _label(v: str) -> str:
    """GCP labels allow lower case, digits, - and _: keep tags and labels identical."""
    return re.sub(r"[^a-z0-9_-]", "-", v.lower())[:63]


def _problem(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        msg = "required key is missing"
    elif err["type"] == "extra_forbidden":
        msg = "unknown key"
    if not loc and ": " in msg:
        loc, msg = msg.split(": ", 1)
    return f"{NAMESPACE}:{loc}: {msg}"


def parse(raw: dict[str, Any]) -> StackConfig:
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError([_problem(err) for err in e.errors()]) from None


def from_pulumi() -> StackConfig:
    """Read `koha:*` from the current stack's config."""
    import json

    import pulumi

    cfg = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    for key in KEYS:
        value = cfg.get(key)
        if value is None:
            continue
        if value[:1] in "[{" or value.isdigit():
            with contextlib.suppress(ValueError):  # else kept as the string it is
                value = json.loads(value)
        raw[key] = value
    return parse(raw)


def from_stack_file(path: str | Path) -> StackConfig:
    """Read and check the `koha:*` keys of a Pulumi.<stack>.yaml without the CLI."""
    import yaml

    doc = yaml.safe_load(Path(path).read_text()) or {}
    raw = {k.split(":", 1)[1]: v for k, v in (doc.get("config") or {}).items()
           if k.startswith(f"{NAMESPACE}:")}
    for key, value in raw.items():
        if isinstance(value, str) and value.isdigit():
            raw[key] = int(value)
    return parse(raw)

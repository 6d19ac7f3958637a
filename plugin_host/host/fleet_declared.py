"""The declared plugin set of a fleet: each entry validated field by field, and how a
host's plugins differ from it (its drift). Used by host/fleet.py."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import PluginHostError
from ..manifest import NAME_RE
from ..service.http import unrepresentable
from ..service.secrets import is_reference
from ..versions import parse_range


class DeclaredPlugin(BaseModel):
    """One entry of ``koha_plugins``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_RE)
    range: str = "*"
    config: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True

    @field_validator("range")
    @classmethod
    def _range(cls, v: str) -> str:
        try:
            parse_range(v)
        except (ValueError, TypeError):
            raise ValueError(f"{v!r} is not a version range (like ^1.2)") from None
        return v

    @field_validator("config")
    @classmethod
    def _config(cls, v: dict[str, Any]) -> dict[str, Any]:
        problem = unrepresentable(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, v: dict[str, str]) -> dict[str, str]:
        for name, ref in v.items():
            if not is_reference(ref):
                raise ValueError(f"{name}: a secret reference (aws-sm://, gcp-sm:// or "
                                 "file://), never the value itself")
        return v


def parse_declared(body: Any) -> list[DeclaredPlugin]:
    """``{"plugins": [...]}`` → the declared set; every problem named by its field."""
    if not isinstance(body, dict) or not isinstance(body.get("plugins"), list):
        raise PluginHostError('send {"plugins": [{"name": …, "range": …}, …]}',
                              code="invalid_request", status=422)
    problems, out, seen = [], [], set()
    for i, entry in enumerate(body["plugins"]):
        try:
            p = DeclaredPlugin.model_validate(entry)
        except ValidationError as e:
            for err in e.errors():
                where = ".".join(str(x) for x in err["loc"])
                problems.append(f"plugins[{i}]{'.' + where if where else ''}: "
                                f"{err['msg'].removeprefix('Value error, ')}")
            continue
        if p.name in seen:
            problems.append(f"plugins[{i}].name: {p.name} is declared twice")
        seen.add(p.name)
        out.append(p)
    if problems:
        raise PluginHostError("; ".join(problems), code="invalid_request", status=422)
    return out


def config_digest(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def drift_of(desired: list[dict], actual: dict[str, dict]) -> list[str]:
    """How a host's plugins (``actual``: name → version, enabled, config digest) differ
    from the desired set, one line per difference."""
    out = []
    wanted = {p["name"]: p for p in desired}
    for name, want in wanted.items():
        have = actual.get(name)
        if have is None:
            out.append(f"{name}: missing (want {want['version']})")
            continue
        if have["version"] != want["version"]:
            out.append(f"{name}: {have['version']} installed, want {want['version']}")
        if have["enabled"] != want["enabled"]:
            out.append(f"{name}: {'enabled' if have['enabled'] else 'disabled'}, want "
                       f"{'enabled' if want['enabled'] else 'disabled'}")
        if have["config"] != config_digest(want["config"]):
            out.append(f"{name}: config differs from the declared one")
    out += [f"{name}: installed but not declared" for name in sorted(set(actual) - set(wanted))]
    return out

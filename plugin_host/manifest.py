"""The plugin manifest, ``plugin.toml``: parsed, validated, and explained when wrong.

Every problem is reported as ``key.path: reason`` so an author knows what to fix.
See docs/contract.md for the format and docs/plugin-manifest.schema.json for the schema.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .errors import ManifestError
from .integrations import UPSTREAM_NAME, Upstream
from .versions import parse_range, parse_version

NAME_RE = r"^[a-z][a-z0-9-]{1,62}$"
HOOK_RE = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
SLOT_RE = r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$"
SECRET_RE = r"^[A-Z][A-Z0-9_]{0,63}$"
TAG_RE = r"^[a-z0-9][a-z0-9-]{0,31}$"
CONFIG_KEY_RE = r"^[a-z][a-z0-9_]{0,63}$"
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
ENTRY_RE = re.compile(rf"^({_IDENT}(?:\.{_IDENT})*):({_IDENT})$")
HOSTPORT_RE = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(?P<port>[0-9]{1,5})$")
SIZE_RE = re.compile(r"^\s*([0-9]+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$")


def _suggest_name(text: str) -> str | None:
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    out = re.sub(r"^[^a-z]+", "", out)[:63]
    return out if re.match(NAME_RE, out) else None


#: what each pattern means in words, and a likely fix for a value that misses it
PATTERNS: dict[str, tuple[str, Any]] = {
    NAME_RE: ("a plugin name: lower case letters, digits and '-', starting with a letter, "
              "2 to 63 characters", _suggest_name),
    HOOK_RE: ("an event name like biblio.after_save: lower case words joined by dots",
              lambda t: re.sub(r"[^a-z0-9_.]+", "_", t.lower()).strip("._") or None),
    SLOT_RE: ("a UI slot like opac.biblio.sidebar: lower case words joined by dots",
              lambda t: re.sub(r"[^a-z0-9_.-]+", "-", t.lower()).strip(".-") or None),
    SECRET_RE: ("a secret name like API_KEY: upper case letters, digits and '_', starting "
                "with a letter", lambda t: re.sub(r"[^A-Z0-9_]+", "_", t.upper()).strip("_")
                or None),
    CONFIG_KEY_RE: ("a setting name like covers_url: lower case letters, digits and '_', "
                    "starting with a letter",
                    lambda t: re.sub(r"[^a-z0-9_]+", "_", t.lower()).strip("_") or None),
    TAG_RE: ("a tag: lower case letters, digits and '-', up to 32 characters",
             lambda t: re.sub(r"[^a-z0-9]+", "-", t.lower()).strip("-")[:32] or None),
}


def pattern_problem(value: str, pattern: str, what: str | None = None) -> str:
    """``value`` does not match ``pattern``: what it should be, in words, and a likely
    fix ("try 'good-one'")."""
    words, fix = PATTERNS.get(pattern, (f"a value matching {pattern}", None))
    text = f"{value!r} is not {what or words}"
    suggestion = fix(value) if fix and isinstance(value, str) else None
    if suggestion and suggestion != value and re.match(pattern, suggestion):
        text += f": try {suggestion!r}"
    return text


SIZE_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3,
              "KB": 1000, "MB": 1000**2, "GB": 1000**3}
SPDX_TOKEN_RE = re.compile(r"^(\(|\)|AND|OR|WITH|[A-Za-z0-9][A-Za-z0-9.+-]*)$")

MANIFEST_FILE = "plugin.toml"


def parse_size(text: str | int) -> int:
    """``"10MiB"`` → bytes. Integers are taken as bytes."""
    if isinstance(text, int):
        if text < 0:
            raise ValueError("must not be negative")
        return text
    m = SIZE_RE.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a size (e.g. 512KiB, 10MiB)")
    return int(m.group(1)) * SIZE_UNITS[m.group(2)]


def _version(v: str) -> str:
    parse_version(v)
    return v


def _range(v: str) -> str:
    parse_range(v)
    return v


def _spdx(v: str) -> str:
    tokens = v.replace("(", " ( ").replace(")", " ) ").split()
    if not tokens or not all(SPDX_TOKEN_RE.match(t) for t in tokens):
        raise ValueError(f"{v!r} is not an SPDX licence expression (e.g. GPL-3.0-or-later)")
    return v


Version = Annotated[str, AfterValidator(_version)]
Range = Annotated[str, AfterValidator(_range)]
Size = Annotated[
    int,
    Field(ge=0),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0},
                              {"type": "string", "pattern": SIZE_RE.pattern}]}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class PluginInfo(_Strict):
    name: str = Field(pattern=NAME_RE, description="Unique plugin name")
    version: Version = Field(description="Semantic version 2.0.0")
    summary: str = Field(min_length=1, max_length=200)
    authors: list[str] = Field(min_length=1)
    license: Annotated[str, AfterValidator(_spdx)] = Field(description="SPDX expression")
    host_api: Range = Field(description="Range of host API versions it works with")
    homepage: HttpUrl | None = None
    tags: list[Annotated[str, Field(pattern=TAG_RE)]] = Field(default_factory=list, max_length=20)


class Backend(_Strict):
    entry: str = Field(description="module:attribute of a plugin_host.sdk.Plugin")

    @field_validator("entry")
    @classmethod
    def _entry(cls, v: str) -> str:
        if not ENTRY_RE.match(v):
            raise ValueError(f"{v!r} is not of the form module:attribute")
        return v

    @property
    def module(self) -> str:
        return self.entry.split(":")[0]

    @property
    def attribute(self) -> str:
        return self.entry.split(":")[1]


class Permissions(_Strict):
    network: list[str] = Field(default_factory=list, description="Egress allow-list, host:port")
    kv_quota: Size = Field(default=1024 * 1024, description="Key-value quota, e.g. 10MiB")
    secrets: list[Annotated[str, Field(pattern=SECRET_RE)]] = Field(default_factory=list)
    hooks: list[Annotated[str, Field(pattern=HOOK_RE)]] = Field(default_factory=list)

    @field_validator("kv_quota", mode="before")
    @classmethod
    def _quota(cls, v: Any) -> int:
        return parse_size(v)

    @field_validator("network")
    @classmethod
    def _network(cls, v: list[str]) -> list[str]:
        for item in v:
            m = HOSTPORT_RE.match(item)
            if not m or not 0 < int(m.group("port")) < 65536:
                raise ValueError(f"{item!r} is not host:port (e.g. covers.openlibrary.org:443)")
        return [item.lower() for item in v]


class Resources(_Strict):
    memory: Size = Field(default=128 * 1024**2, description="Memory limit, e.g. 128MiB")
    timeout_ms: int = Field(default=2000, ge=10, le=300_000, description="Per-call timeout")
    workers: int = Field(default=1, ge=1, le=16,
                         description="Workers kept running (the pool's minimum)")
    max_workers: int | None = Field(
        default=None, ge=1, le=16,
        description="Workers the pool may grow to while every worker is busy (one more "
        "per call that finds none free); those idle for worker_idle_seconds go again. "
        "Default: workers (a fixed pool)")

    @model_validator(mode="after")
    def _bounds(self) -> Resources:
        if self.max_workers is not None and self.max_workers < self.workers:
            raise ValueError(f"max_workers ({self.max_workers}) is below workers "
                             f"({self.workers})")
        return self

    most_workers = property(lambda self: self.max_workers or self.workers)  # the pool's top

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, v: Any) -> int:
        size = parse_size(v)
        if size < 16 * 1024**2:
            raise ValueError("must be at least 16MiB")
        return size


class UIComponent(_Strict):
    slot: str = Field(pattern=SLOT_RE, description="UI slot, e.g. opac.biblio.sidebar")
    module: str = Field(description="Path of the ES module, under ui/")
    export: str = Field(pattern=r"^[A-Za-z_$][A-Za-z0-9_$]*$")

    @field_validator("module")
    @classmethod
    def _module(cls, v: str) -> str:
        p = PurePosixPath(v)
        if p.is_absolute() or ".." in p.parts or not v.startswith("ui/"):
            raise ValueError(f"{v!r} must be a relative path under ui/")
        if p.suffix not in (".js", ".mjs"):
            raise ValueError(f"{v!r} must be an ES module (.js or .mjs)")
        return v


class UI(_Strict):
    components: list[UIComponent] = Field(default_factory=list)


#: a config field's type → the Python types a value of it may have (bool is not a number)
CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,)}


class ConfigField(_Strict):
    """One key of the plugin's config: ``[config.KEY]`` in plugin.toml."""

    type: Literal["string", "integer", "number", "boolean", "array", "object"]
    description: str = Field(default="", max_length=500)
    default: Any = None
    required: bool = Field(default=False, description="Must be set (no default)")
    choices: list[Any] | None = Field(default=None, min_length=1,
                                      description="The only values allowed")

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit this field (None: it does)."""
        kinds = CONFIG_TYPES[self.type]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            return f"must be {'an' if self.type[0] in 'aeiou' else 'a'} {self.type}, " \
                   f"not {json_type(value)}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(repr, self.choices))}"
        return None

    @model_validator(mode="after")
    def _default_fits(self) -> ConfigField:
        if self.default is not None:
            problem = self.problem(self.default)
            if problem:
                raise ValueError(f"default {problem}")
            if self.required:
                raise ValueError("required: a field with a default is never missing")
        return self


def json_type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "an object", type(None): "null"}.get(type(value),
                                                                       type(value).__name__)


class Manifest(_Strict):
    """A validated plugin.toml."""

    plugin: PluginInfo
    dependencies: dict[Annotated[str, Field(pattern=NAME_RE)], Range] = Field(default_factory=dict)
    backend: Backend | None = None
    permissions: Permissions = Field(default_factory=Permissions)
    resources: Resources = Field(default_factory=Resources)
    ui: UI = Field(default_factory=UI)
    config: dict[Annotated[str, Field(pattern=CONFIG_KEY_RE)], ConfigField] = Field(
        default_factory=dict, description="The plugin's settings: checked on install and "
                                          "on every change; none declared: any object")
    upstreams: dict[Annotated[str, Field(pattern=UPSTREAM_NAME)], Upstream] = Field(
        default_factory=dict, description="Library services called through "
                                          "ctx.upstream(NAME), credentials held by the host")

    def operator_secrets(self) -> list[str]:
        """Every secret an operator may set for it: ``permissions.secrets`` (the plugin
        reads them) and its upstreams' credentials (only the host reads those)."""
        names = list(self.permissions.secrets)
        for upstream in self.upstreams.values():
            names += [n for n in upstream.auth.secret_names() if n not in names]
        return names

    def default_config(self) -> dict[str, Any]:
        return {k: f.default for k, f in self.config.items() if f.default is not None}

    def config_problems(self, config: dict[str, Any]) -> list[str]:
        """Each way ``config`` does not fit ``[config]``, naming the key (none declared:
        anything goes)."""
        if not self.config:
            return []
        import difflib

        problems = []
        for key, value in config.items():
            field = self.config.get(key)
            if field is None:
                close = difflib.get_close_matches(key, list(self.config), n=1)
                problems.append(f"{key}: not a setting of {self.name}"
                                + (f": did you mean {close[0]!r}?" if close else
                                   f" (its settings: {', '.join(self.config)})"))
            elif value is not None and (problem := field.problem(value)):
                problems.append(f"{key}: {problem}")
        problems += [f"{k}: required" for k, f in self.config.items()
                     if f.required and config.get(k) is None]
        return problems

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.plugin.name in self.dependencies:
            raise ValueError(f"dependencies: {self.plugin.name!r} cannot depend on itself")
        if self.permissions.hooks and self.backend is None:
            raise ValueError("permissions.hooks: hooks need a [backend] to handle them")
        for name, upstream in self.upstreams.items():
            shared = set(upstream.auth.secret_names()) & set(self.permissions.secrets)
            if shared:
                raise ValueError(f"upstreams.{name}.auth: {sorted(shared)[0]} is also in "
                                 "permissions.secrets, so the plugin could read it: the "
                                 "host alone holds upstream credentials")
        return self

    @property
    def name(self) -> str:
        return self.plugin.name

    @property
    def version(self) -> str:
        return self.plugin.version

    def required_files(self) -> Iterable[tuple[str, tuple[str, ...]]]:
        """(key, alternatives): each key needs one of its files present."""
        if self.backend:
            base = self.backend.module.replace(".", "/")
            yield "backend.entry", (f"{base}/__init__.py", f"{base}.py")
        for i, c in enumerate(self.ui.components):
            yield f"ui.components.{i}.module", (c.module,)

    def check_files(self, present: Iterable[str]) -> None:
        """Refuse a manifest that names files the folder or package lacks."""
        names = set(present)
        problems = [
            f"{key}: file {alts[0]!r} is missing" for key, alts in self.required_files()
            if not any(a in names for a in alts)
        ]
        if problems:
            raise ManifestError(problems)


def _problem(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return f"{loc}: unknown key"
    if kind == "missing":
        return f"{loc}: required key is missing"
    if kind == "string_pattern_mismatch" and "input" in err:
        return f"{loc}: {pattern_problem(err['input'], err['ctx']['pattern'])}"
    msg = msg.removeprefix("Value error, ")
    if loc == "(top level)" and ": " in msg:
        return msg
    return f"{loc}: {msg}"


def parse_manifest(data: str | bytes) -> Manifest:
    """Parse and validate plugin.toml text; ManifestError lists every problem by key."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ManifestError(["plugin.toml: not UTF-8 text"]) from None
    try:
        raw = tomllib.loads(data)
    except tomllib.TOMLDecodeError as e:
        raise ManifestError([f"plugin.toml: not valid TOML ({e})"]) from None
    except RecursionError:
        raise ManifestError(["plugin.toml: nested too deeply"]) from None
    try:
        return Manifest.model_validate(raw)
    except ValidationError as e:
        raise ManifestError([_problem(err) for err in e.errors()]) from None


def json_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "plugin.toml"
    return schema

"""The plugin host's answers as its OpenAPI document describes them (typed clients are
generated from it). Routes return dicts (``host/views.py`` and friends); these models
document them and ``tests/test_openapi.py`` checks real answers against them. Examples
are real answers, trimmed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ...service.http import Answer, example

LAYERS = ["bubblewrap", "seccomp", "cgroups", "rlimits", "scrubbed-env", "no-inherited-fds",
          "unprivileged", "process"]
PLUGIN = {"name": "hello-world", "version": "1.0.0", "state": "enabled", "enabled": True,
          "summary": "Greets patrons and notes saved records", "previous_version": None,
          "signer": "cffcd78675ebb1c5", "error": None, "sandbox": {"layers": LAYERS},
          "runtime": {"workers": [{"pid": 12239, "inflight": 0}], "crash_looping": False,
                      "configured_workers": 1, "restarts": 0},
          "calls": {"total": 4, "failed": 0}}
DETAIL = {**PLUGIN, "manifest": {"plugin": {"name": "hello-world", "version": "1.0.0"},
                                 "permissions": {"hooks": ["biblio.after_save"]}},
          "config": {}, "config_problems": [], "secrets": {}, "upstreams": {},
          "warnings": [], "routes": [["GET", "/greet/{name}"]],
          "hooks": ["biblio.after_save"],
          "ui": [{"slot": "opac.biblio.sidebar", "export": "Greeting",
                  "url": "/ui/assets/hello-world/1.0.0/ui/dist/greeting.js",
                  "integrity": "sha384-…"}],
          "kv_bytes": 0,
          "sha256": "7e03a65ce11956ab2fc3a6dec7687fd8d7bbd8bc7a49cba0842eb21ce96b9826"}
TRACE = {"plugin": "hello-world", "version": "1.0.0", "correlation_id": "abcdefgh1234",
         "call": "GET /greet/Ada", "started": 1796296289.912, "ms": 0.622, "outcome": "ok",
         "caps": [], "status": 200}


class Workers(BaseModel):
    workers: list[dict[str, Any]] = Field(description="each worker's pid and calls in flight")
    crash_looping: bool
    configured_workers: int
    restarts: int


class Calls(BaseModel):
    total: int = Field(description="calls since the host started")
    failed: int


class Plugin(Answer):
    """An installed plugin: version, state, sandbox layers, workers, calls."""

    model_config = example(PLUGIN)
    name: str
    version: str
    state: str = Field(description="enabled, disabled, failed or crash-looping")
    enabled: bool
    summary: str
    previous_version: str | None = Field(description="what a rollback returns to")
    signer: str | None = Field(description="the key id the package was signed with")
    error: str | None = Field(description="why it failed to start, if it did")
    sandbox: dict[str, list[str]] = Field(description="the layers its workers run in")
    runtime: Workers | None = Field(description="its workers, when running")
    calls: Calls


class PluginDetail(Plugin):
    """An installed plugin in full: manifest, settings, secrets (never values), routes,
    hooks, UI components, upstreams, warnings."""

    model_config = example(DETAIL)
    manifest: dict[str, Any] = Field(description="its plugin.toml, as read")
    config: dict[str, Any] = Field(description="settings in effect")
    config_problems: list[str]
    secrets: dict[str, str] = Field(description="each declared secret: where it comes from "
                                                "or unset, never the value")
    upstreams: dict[str, dict[str, Any]] = Field(description="each library service: "
                                                             "breaker, limits, health")
    warnings: list[str] = Field(description="what it lacks to work fully")
    routes: list[list[str]] = Field(description="[method, path] pairs")
    hooks: list[str]
    ui: list[dict[str, Any]]
    kv_bytes: int
    sha256: str = Field(description="the installed package's hash")


class Installed(PluginDetail):
    """The installed (or upgraded) plugin; ``installed`` lists its dependencies installed
    with it, ``upgraded`` the versions it went between when it replaced one."""

    model_config = example({**DETAIL, "installed": [{"name": "hello-world",
                                                     "version": "1.0.0"}], "upgraded": None},
                           {**DETAIL, "version": "1.1.0", "previous_version": "1.0.0",
                            "installed": [], "upgraded": {"from": "1.0.0", "to": "1.1.0"}})
    installed: list[dict[str, str]] | None = None
    upgraded: dict[str, str] | None = None


class PluginList(Answer):
    """Installed plugins, by name."""

    model_config = example({"plugins": [PLUGIN]})
    plugins: list[Plugin]


class Uninstalled(Answer):
    """The plugin is gone (with its data too when ``purge`` was asked)."""

    model_config = example({"uninstalled": "hello-world", "purged": False})
    uninstalled: str
    purged: bool


class SandboxReport(Answer):
    """The sandbox layers workers get here, what is required, and why any layer is
    missing."""

    model_config = example({
        "layers": LAYERS, "required": [], "scratch": {"tmpfs": True, "reason": None},
        "worker_uid": 65534, "cgroups": {"version": 1, "pids": 64, "cpus": 1.0},
        "machine": {"bubblewrap": {"available": True, "reason": None},
                    "landlock": {"available": True, "reason": None}}})
    layers: list[str]
    required: list[str]
    scratch: dict[str, Any]
    worker_uid: int | None = None
    cgroups: dict[str, Any] | None = None
    machine: dict[str, dict[str, Any]] = Field(description="each layer: available, or why "
                                                           "not")


class RegistryCatalogue(Answer):
    """What the registry's signed index offers: the plugins matching ``q``, at most
    ``limit`` of them (``total``: how many matched; ``problem``: why there is nothing)."""

    model_config = example(
        {"registry": "https://registry.example.org", "plugins": {"book-notes": {
            "summary": "Staff notes on records", "tags": ["staff"], "deprecated": None,
            "versions": ["1.1.0", "1.0.0"]}}, "total": 1, "problem": None},
        {"registry": None, "plugins": {}, "total": 0,
         "problem": "this host has no registry: set registry_url and registry_root"})
    registry: str | None
    plugins: dict[str, dict[str, Any]]
    total: int = Field(0, description="plugins whose name matched, shown or not")
    problem: str | None = None


class Traces(Answer):
    """Recent calls into a plugin: what was called, how long, the outcome, and each
    capability request (keys, hosts, secret names; never values)."""

    model_config = example({"plugin": "hello-world", "traces": [TRACE]})
    plugin: str
    traces: list[dict[str, Any]]


class TraceOf(Answer):
    """Every plugin call made for one request (by its correlation id)."""

    model_config = example({"correlation_id": "abcdefgh1234", "traces": [TRACE]})
    correlation_id: str
    traces: list[dict[str, Any]]


class LogLines(Answer):
    """The plugin's own recent log lines, oldest first."""

    model_config = example({"plugin": "hello-world", "lines": [
        {"seq": 1, "time": 1796296289.913, "plugin": "hello-world", "level": "info",
         "event": "greeting", "name": "Ada"}]})
    plugin: str
    lines: list[dict[str, Any]]


class Profile(Answer):
    """A route called ``calls`` times while its worker was sampled: timings, statuses and
    where the time went."""

    model_config = example({"plugin": "hello-world", "route": "GET /greet/Ada", "calls": 3,
                            "statuses": {"200": 3}, "ms": {"median": 0.482, "max": 2.155},
                            "interval_ms": 1, "samples": {"greet (hello_world/__init__.py:10)":
                                                          3}})
    plugin: str
    route: str
    calls: int
    statuses: dict[str, int]
    ms: dict[str, float]
    interval_ms: float
    samples: dict[str, int] = Field(description="stack frames by how often they were seen")


class Secrets(Answer):
    """Each secret the plugin declares: where its value comes from, or ``unset``."""

    model_config = example({"plugin": "book-notes",
                            "secrets": {"OPENLIBRARY_KEY": "set (admin API)"}})
    plugin: str
    secrets: dict[str, str]


class Fleet(Answer):
    """The declared plugin set and where each host of the fleet stands against it."""

    model_config = example({
        "instance": "koha-host-1",
        "desired": {"generation": 3, "updated_at": "2026-12-03T11:11:28+00:00",
                    "plugins": [{"name": "book-notes", "version": "1.1.0",
                                 "enabled": True}]},
        "hosts": [{"instance": "koha-host-1", "release": "0.1.0", "generation": 3,
                   "plugins": {"book-notes": {"version": "1.1.0", "enabled": True,
                                              "state": "enabled"}},
                   "drift": [], "converged_at": "2026-12-03T11:11:29+00:00",
                   "seen_at": "2026-12-03T11:11:29+00:00", "stale": False}]})
    instance: str = Field(description="this host")
    desired: dict[str, Any]
    hosts: list[dict[str, Any]]


class Declared(Answer):
    """The declared set stored as a generation (resolved over the signed index)."""

    model_config = example({"generation": 3, "updated_at": "2026-12-03T11:11:28+00:00",
                            "plugins": [{"name": "book-notes", "version": "1.1.0",
                                         "enabled": True}]})
    generation: int
    updated_at: str | None
    plugins: list[dict[str, Any]]


class Converged(Answer):
    """What converging changed on this host, what failed, and the drift left."""

    model_config = example({"instance": "koha-host-1", "generation": 3, "converged": True,
                            "actions": ["upgrade book-notes 1.0.0 -> 1.1.0"], "errors": [],
                            "drift": []})
    instance: str
    generation: int
    converged: bool
    actions: list[str]
    errors: list[str]
    drift: list[Any]


class HookResults(Answer):
    """The event's delivery to each plugin that subscribes to it."""

    model_config = example({"event": "biblio.after_save",
                            "correlation_id": "7810f80f894f4ca5ae200b80d0e46102",
                            "results": [{"plugin": "hello-world", "version": "1.0.0",
                                         "ok": True, "result": {"greeted_record": 1}}]})
    event: str
    correlation_id: str
    results: list[dict[str, Any]] = Field(description="plugin, version, ok, and its result "
                                                      "or error")


class LoaderInfo(Answer):
    """Where the slot loader is and its Subresource Integrity hash (the Koha bridge
    puts both in Koha's pages)."""

    model_config = example({"url": "/ui/loader.js", "integrity": "sha384-77byWdp/YD3ELalrWvl"
                                                                "TlLPogkuZSmFlhBMvj7977Qz3k"
                                                                "s/wj9drWKv/dB+VijIE"})
    url: str
    integrity: str


class Slot(Answer):
    """The components enabled plugins put in one slot of Koha's pages."""

    model_config = example({"slot": "opac.biblio.sidebar", "components": [
        {"plugin": "hello-world", "version": "1.0.0", "export": "Greeting",
         "url": "/ui/assets/hello-world/1.0.0/ui/dist/greeting.js",
         "integrity": "sha384-…"}]})
    slot: str
    components: list[dict[str, Any]]

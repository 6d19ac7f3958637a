"""The host's settings: one typed object, read once at start-up.

Every field can be set with an environment variable ``PLUGIN_HOST_<FIELD>`` or by a
``plugin-host serve`` option. Plugin secrets come from ``PLUGIN_HOST_SECRET_<NAME>``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from ..identity.settings import IdentitySettings
from ..protocol.framing import POLL_US
from ..service.secrets import SecretError, is_reference, resolve
from ..service.settings import ServiceSettings

SECRET_ENV_PREFIX = "PLUGIN_HOST_SECRET_"


class HostSettings(ServiceSettings, IdentitySettings):
    model_config = SettingsConfigDict(env_prefix="PLUGIN_HOST_", extra="ignore")
    db_file: ClassVar[str] = "host.db"

    data_dir: Path = Field(default=Path("./var/host"),
                           description="Installed plugins, packages and the SQLite file")
    port: int = 8080
    instance: str = Field(default_factory=socket.gethostname, min_length=1, max_length=128,
                          pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
                          description="This host's name in a fleet sharing one database "
                                      "(default: the machine's host name)")
    fleet_interval: float = Field(default=15.0, gt=0, le=3600,
                                  description="Seconds between this host's fleet reports "
                                              "(its plugins against the desired set)")
    trusted_keys: list[Path] = Field(default_factory=list,
                                     description="Public key files or folders of *.pub")
    allow_unsigned: bool = Field(default=False, description="Development only")
    hook_auth: Literal["signed", "token", "none"] = Field(
        default="signed", description="Who may deliver Koha events: requests signed with "
        "hook_secret (the Koha bridge), a bearer hook_secret, or anyone (development)")
    hook_secret: str | None = Field(default=None, description="Shared with the Koha bridge; "
                                    "kept in data_dir/hook-secret if not set; may name a "
                                    "secret (aws-sm://, gcp-sm://, file://)")
    sandbox_layers: list[str] | None = Field(
        default=None, description="Optional layers to use (bubblewrap, seccomp, landlock, "
                                  "cgroups); "
                                  "default: every one the machine offers")
    sandbox_require: list[str] = Field(
        default_factory=list, description="Layers a worker must have, or it is refused")
    worker_uid: int = Field(default=65534, ge=1, description="Who workers run as when the "
                            "host runs as root (never 0)")
    worker_gid: int = Field(default=65534, ge=1)
    worker_pids: int = Field(default=64, ge=8, le=4096,
                             description="Processes and threads per worker (cgroups layer)")
    worker_cpus: float = Field(default=1.0, ge=0, le=64,
                               description="CPU time per worker per second, e.g. 0.5 for "
                                           "half a CPU; 0 for no quota (cgroups layer)")
    max_request_bytes: int = Field(default=10 * 1024 * 1024,
                                   description="Largest body a plugin route or hook accepts")
    max_package_bytes: int = Field(default=16 * 1024 * 1024,
                                   description="Largest package an install or upgrade accepts")
    upstreams: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict, description="Overrides of plugins' [upstreams], "
        '{"plugin": {"upstream": {"url": "https://…", "rate": {"per_second": 5}}}}: '
        "another region, a test server, a tighter limit")
    worker_start_timeout: float = 10.0
    worker_spare: bool = Field(
        default=True,
        description="Keep one worker per running plugin spawned in its sandbox and waiting "
        "(no plugin code run yet): a crashed worker's replacement and a growing pool's "
        "next worker start from it in milliseconds. Costs one idle process per plugin")
    worker_idle_seconds: float = Field(
        default=30.0, gt=0, le=86400,
        description="A worker beyond a plugin's resources.workers idle this long is stopped")
    worker_poll_us: int = Field(
        default=POLL_US, ge=0, le=10_000,
        description="How long (µs) a worker polls for its next call before it sleeps; it "
        "polls only while calls come that often. 0: always sleep (no CPU spent waiting)")
    http_response_limit: int = 10 * 1024 * 1024
    log_level: str = "info"
    registry_url: str | None = Field(
        default=None, description="Base URL of the registry's signed index (the folder "
                                  "or bucket holding metadata/ and targets/)")
    registry_root: Path | None = Field(
        default=None, description="The registry's root.json this host trusts")
    registry_timeout: float = Field(
        default=20.0, gt=0, description="Seconds each index file may take, plus one per "
                                        "64 KiB of its signed length")
    secrets_key: str | None = Field(
        default=None, description="Fernet key encrypting plugin secrets set through the "
                                  "admin API (hosts sharing a database must share it); may "
                                  "name a secret (aws-sm://, gcp-sm://, file://); default: "
                                  "data_dir/secrets.key, made on first start")
    usage_reporting: bool = Field(
        default=False, description="Opt in: tell the registry (registry_api_url) once a day "
        "which plugins this host runs, under a random installation id, for the "
        "catalogue's active installs; nothing else is sent")
    usage_report_interval: float = Field(default=86400, ge=1, le=7 * 86400,
                                         description="Seconds between usage reports")
    otlp_endpoint: str | None = Field(
        default=None, description="OpenTelemetry collector (OTLP over HTTP, e.g. "
        "http://otel-collector:4318): a trace per request, host to worker to capability to "
        "upstream; also read from OTEL_EXPORTER_OTLP_ENDPOINT. Unset: no traces exported")
    registry_api_url: str | None = Field(
        default=None, description="The registry's API (e.g. https://registry.example.org), "
                                  "told of each install so download counts stay true")

    @field_validator("secrets_key", "hook_secret")
    @classmethod
    def _secrets_key(cls, v: str | None) -> str | None:
        """A reference to a secret store is read now, once."""
        return resolve(v) if v else v

    @field_validator("hook_secret")
    @classmethod
    def _hook_secret_long_enough(cls, v: str | None) -> str | None:
        if v and len(v) < 32:
            raise ValueError("at least 32 characters (the Koha bridge refuses shorter ones "
                             "too): e.g. python3 -c 'import secrets; print(secrets."
                             "token_urlsafe(32))'")
        return v

    @property
    def plugins_dir(self) -> Path:
        return self.data_dir / "plugins"

    @property
    def packages_dir(self) -> Path:
        return self.data_dir / "packages"

    @property
    def plugin_data_dir(self) -> Path:
        """Each plugin's private writable folder lives below this one."""
        return self.data_dir / "plugin-data"

    @property
    def trusted_keys_dir(self) -> Path:
        return self.data_dir / "trusted-keys"


_resolved: dict[str, str] = {}


def plugin_secret(name: str) -> str | None:
    """``PLUGIN_HOST_SECRET_<NAME>``: the value, or the secret it names (aws-sm://,
    gcp-sm://, file://; read once, then kept in memory)."""
    value = os.environ.get(SECRET_ENV_PREFIX + name)
    if value is None or not is_reference(value):
        return value
    if value not in _resolved:
        _resolved[value] = resolve(value)
    return _resolved[value]


def reference_secret(ref: str) -> str | None:
    """The secret a fleet's declared set names for a plugin (read once, then kept in
    memory); None if it cannot be read now (the plugin sees "not set")."""
    if ref not in _resolved:
        try:
            _resolved[ref] = resolve(ref)
        except SecretError:
            return None
    return _resolved[ref]


def check_plugin_secrets() -> list[str]:
    """Resolve every ``PLUGIN_HOST_SECRET_*`` reference at start: a wrong one stops the
    host with its name, rather than failing a plugin's call later. The names resolved."""
    names = []
    for key in sorted(os.environ):
        if key.startswith(SECRET_ENV_PREFIX):
            name = key.removeprefix(SECRET_ENV_PREFIX)
            try:
                if is_reference(os.environ[key]):
                    plugin_secret(name)
                    names.append(name)
            except SecretError as e:
                raise SecretError(f"{key}: {e}") from None
    return names

"""The host's settings: one typed object, read once at start-up.

Every field can be set with an environment variable ``PLUGIN_HOST_<FIELD>`` or by a
``plugin-host serve`` option. Plugin secrets come from ``PLUGIN_HOST_SECRET_<NAME>``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_ENV_PREFIX = "PLUGIN_HOST_SECRET_"


class HostSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLUGIN_HOST_", extra="ignore")

    data_dir: Path = Field(default=Path("./var/host"),
                           description="Installed plugins, packages and the SQLite file")
    database_url: str | None = Field(default=None,
                                     description="SQLAlchemy URL; default sqlite in data_dir")
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = Field(default=None, description="Generated if not set")
    trusted_keys: list[Path] = Field(default_factory=list,
                                     description="Public key files or folders of *.pub")
    allow_unsigned: bool = Field(default=False, description="Development only")
    sandbox_layers: list[str] | None = Field(
        default=None, description="Optional layers to use (bubblewrap, seccomp, landlock); "
                                  "default: every one the machine offers")
    sandbox_require: list[str] = Field(
        default_factory=list, description="Layers a worker must have, or it is refused")
    max_request_bytes: int = 10 * 1024 * 1024
    worker_start_timeout: float = 10.0
    http_response_limit: int = 10 * 1024 * 1024
    log_level: str = "info"

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        # Workers see paths from other working directories (and other mount namespaces).
        return v.expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'host.db').resolve()}"

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

    def resolve_admin_token(self) -> str:
        """The configured token, or one kept in ``data_dir/admin-token`` (mode 0600)."""
        if self.admin_token:
            return self.admin_token
        path = self.data_dir / "admin-token"
        if path.exists():
            return path.read_text().strip()
        token = secrets.token_urlsafe(32)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token


def plugin_secret(name: str) -> str | None:
    return os.environ.get(SECRET_ENV_PREFIX + name)

"""The registry's settings: one typed object, from `PLUGIN_REGISTRY_*` variables or options."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .checks import DEFAULT_LICENSES


class RegistrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLUGIN_REGISTRY_", extra="ignore")

    data_dir: Path = Field(default=Path("./var/registry"))
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8090
    admin_token: str | None = Field(default=None, description="Generated if not set")
    licenses: tuple[str, ...] = DEFAULT_LICENSES
    max_package_bytes: int = 16 * 1024 * 1024

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'registry.db'}"

    @property
    def packages_dir(self) -> Path:
        return self.data_dir / "packages"

    def resolve_admin_token(self) -> str:
        if self.admin_token:
            return self.admin_token
        path = self.data_dir / "admin-token"
        if path.exists():
            return path.read_text().strip()
        import os

        from .service import new_token

        token = new_token()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token

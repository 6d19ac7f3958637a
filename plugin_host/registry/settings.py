"""The registry's settings: one typed object, from `PLUGIN_REGISTRY_*` variables or options."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ..service_settings import ServiceSettings
from .checks import DEFAULT_LICENSES


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLUGIN_REGISTRY_", extra="ignore")
    db_file: ClassVar[str] = "registry.db"
    token_prefix: ClassVar[str] = "kr_"

    data_dir: Path = Field(default=Path("./var/registry"))
    port: int = 8090
    licenses: tuple[str, ...] = DEFAULT_LICENSES
    max_package_bytes: int = 16 * 1024 * 1024

    @property
    def packages_dir(self) -> Path:
        return self.data_dir / "packages"

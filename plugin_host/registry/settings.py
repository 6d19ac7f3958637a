"""The registry's settings: one typed object, from `PLUGIN_REGISTRY_*` variables or options."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ..identity.settings import IdentitySettings
from ..service.settings import ServiceSettings
from .checks import DEFAULT_LICENSES


class RegistrySettings(ServiceSettings, IdentitySettings):
    model_config = SettingsConfigDict(env_prefix="PLUGIN_REGISTRY_", extra="ignore")
    db_file: ClassVar[str] = "registry.db"
    token_prefix: ClassVar[str] = "kr_"

    data_dir: Path = Field(default=Path("./var/registry"))
    port: int = 8090
    licenses: tuple[str, ...] = DEFAULT_LICENSES
    max_package_bytes: int = 16 * 1024 * 1024

    # where package files and the TUF index go (plugin_host/registry/storage.py)
    storage: Literal["local", "s3", "gcs"] = "local"
    storage_path: Path | None = Field(default=None, description="local: default data_dir/storage")
    storage_bucket: str | None = Field(
        default=None, description="s3/gcs: uploads and packages in review (and the index "
                                  "too unless index_bucket is set)")
    index_bucket: str | None = Field(
        default=None, description="s3/gcs: the signed index and approved packages, served "
                                  "to hosts (by a CDN); default: storage_bucket")
    storage_prefix: str = ""
    storage_endpoint: str | None = Field(
        default=None, description="S3-compatible endpoint URL, or a GCS emulator's")
    storage_region: str | None = None
    storage_project: str | None = None
    #: the public base URL hosts read the index from (shown by GET /api/v1/index)
    index_url: str | None = None

    # the TUF index (plugin_host/registry/index.py)
    tuf_keys_dir: Path | None = Field(
        default=None, description="root/targets/snapshot/timestamp .pem keys; "
                                  "default data_dir/tuf-keys, generated when missing")
    tuf_keys_secret: str | None = Field(
        default=None, description="Instead of tuf_keys_dir: a secret (aws-sm://, gcp-sm://, "
                                  "file://) holding JSON {role: PEM} of the online keys")
    tuf_root_expiry_days: float = 365
    tuf_targets_expiry_days: float = 90
    tuf_snapshot_expiry_days: float = 7
    tuf_timestamp_expiry_days: float = 1
    #: how often the registry re-signs metadata that has used half its lifetime
    index_refresh_seconds: float = 300

    @property
    def keys_dir(self) -> Path:
        return self.tuf_keys_dir or self.data_dir / "tuf-keys"

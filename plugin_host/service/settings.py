"""What the host's and the registry's settings share: where data lives, the database,
the listening address, and the bootstrap admin token (the last two may name a secret in
AWS Secrets Manager, Google Secret Manager or a file: service/secrets.py)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from .secrets import resolve


class ServiceSettings(BaseSettings):
    #: file name of the default SQLite database in data_dir
    db_file: ClassVar[str] = "service.db"
    #: prefix of generated admin tokens
    token_prefix: ClassVar[str] = ""

    data_dir: Path
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite in data_dir. May name a "
                                  "secret: aws-sm://…, gcp-sm://…, file://… (#KEY of JSON)")
    host: str = "127.0.0.1"
    port: int
    admin_token: str | None = Field(default=None, description="Generated if not set; may "
                                    "name a secret like database_url")

    @field_validator("database_url", "admin_token")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        """A reference to a secret store is read now, once (service/secrets.py)."""
        return resolve(v) if v else v

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        # Workers and other processes see paths from other working directories.
        return v.expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / self.db_file}"

    def resolve_admin_token(self) -> str:
        """The configured token, or one kept in ``data_dir/admin-token`` (mode 0600)."""
        return self.admin_token or self.kept_secret("admin-token", self.token_prefix)

    def kept_secret(self, name: str, prefix: str = "") -> str:
        """A random secret kept in ``data_dir/NAME`` (mode 0600), made the first time."""
        path = self.data_dir / name
        if path.exists():
            return path.read_text().strip()
        token = prefix + secrets.token_urlsafe(32)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token

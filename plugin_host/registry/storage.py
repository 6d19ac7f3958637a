"""Where the registry keeps package files and its TUF index: a local folder, S3 or GCS.

Everything the hosts read (``metadata/``, ``targets/``) is written here as plain objects,
so any static file server or bucket can serve the index while the registry itself is
stopped. Keys are ``/``-separated paths below an optional prefix.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from ..errors import PluginHostError


class StorageError(PluginHostError):
    def __init__(self, message: str):
        super().__init__(message, code="storage_unavailable", status=503)


class Storage(Protocol):
    #: where a reader finds the stored objects (for messages and `GET /api/v1/index`)
    description: str

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream"
            ) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Every stored key under ``prefix`` (a folder, ending in /) with when it was last
        written (epoch seconds)."""
        ...

    def check(self) -> None:
        """Raise StorageError if the storage cannot be used (run at start-up)."""


def _checked_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad storage key {key!r}")
    return key


class LocalStorage:
    """A folder; writes go to a temporary file renamed into place (readers never see
    half a file)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.description = f"folder {self.root}"

    def _path(self, key: str) -> Path:
        return self.root / _checked_key(key)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream"
            ) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[tuple[str, float]]:
        base = self.root / _checked_key(prefix.rstrip("/"))
        for path in sorted(base.rglob("*")) if base.is_dir() else []:
            with contextlib.suppress(FileNotFoundError):
                if path.is_file():
                    yield path.relative_to(self.root).as_posix(), path.stat().st_mtime

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"storage folder {self.root} cannot be created: {e}") from e
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"storage folder {self.root} is not writable")


class _BucketStorage:
    """What S3 and GCS share: keys live below an optional prefix in a bucket."""

    prefix = ""

    def _key(self, key: str) -> str:
        key = _checked_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key


class S3Storage(_BucketStorage):
    """An S3 (or S3-compatible) bucket through boto3. Credentials come from boto3's usual
    places (environment, profile, instance role)."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 region: str | None = None):
        try:
            import boto3
        except ImportError as e:  # pragma: no cover - depends on the extras installed
            raise StorageError("S3 storage needs boto3: pip install "
                               "'koha-plugin-host[s3]'") from e
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        self.description = f"s3://{bucket}/{self.prefix}"

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream"
            ) -> None:
        name = self._key(key)  # a bad key is the caller's error, not the store's
        try:
            self.client.put_object(Bucket=self.bucket, Key=name, Body=data,
                                   ContentType=content_type)
        except Exception as e:
            raise StorageError(f"writing {key} to {self.description} failed: {e}") from e

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        name = self._key(key)
        try:
            return self.client.get_object(Bucket=self.bucket, Key=name)["Body"].read()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise StorageError(f"reading {key} from {self.description} failed: {e}") from e
        except Exception as e:
            raise StorageError(f"reading {key} from {self.description} failed: {e}") from e

    def delete(self, key: str) -> None:
        name = self._key(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=name)
        except Exception as e:
            raise StorageError(f"deleting {key} from {self.description} failed: {e}") from e

    def list(self, prefix: str) -> Iterator[tuple[str, float]]:
        strip = len(self._key("x")) - 1
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix.rstrip("/")) + "/")
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"][strip:], item["LastModified"].timestamp()
        except Exception as e:
            raise StorageError(f"listing {prefix} in {self.description} failed: {e}") from e

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as e:
            raise StorageError(f"bucket {self.bucket!r} cannot be used: {e}") from e


class GCSStorage(_BucketStorage):
    """A Google Cloud Storage bucket through google-cloud-storage. With ``endpoint`` (an
    emulator) the client is anonymous; otherwise Application Default Credentials."""

    def __init__(self, bucket: str, prefix: str = "", endpoint: str | None = None,
                 project: str | None = None):
        try:
            from google.cloud import storage
        except ImportError as e:  # pragma: no cover - depends on the extras installed
            raise StorageError("GCS storage needs google-cloud-storage: pip install "
                               "'koha-plugin-host[gcs]'") from e
        if endpoint:
            from google.auth.credentials import AnonymousCredentials

            client = storage.Client(project=project or "local", credentials=AnonymousCredentials(),
                                    client_options={"api_endpoint": endpoint})
        else:
            client = storage.Client(project=project)
        self.bucket_name, self.prefix = bucket, prefix.strip("/")
        self.bucket = client.bucket(bucket)
        self.description = f"gs://{bucket}/{self.prefix}"

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream"
            ) -> None:
        name = self._key(key)  # a bad key is the caller's error, not the store's
        try:
            self.bucket.blob(name).upload_from_string(data, content_type=content_type)
        except Exception as e:
            raise StorageError(f"writing {key} to {self.description} failed: {e}") from e

    def get(self, key: str) -> bytes | None:
        from google.api_core.exceptions import NotFound as GcsNotFound

        name = self._key(key)
        try:
            return self.bucket.blob(name).download_as_bytes()
        except GcsNotFound:
            return None
        except Exception as e:
            raise StorageError(f"reading {key} from {self.description} failed: {e}") from e

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound as GcsNotFound

        name = self._key(key)
        try:
            self.bucket.blob(name).delete()
        except GcsNotFound:
            pass
        except Exception as e:
            raise StorageError(f"deleting {key} from {self.description} failed: {e}") from e

    def list(self, prefix: str) -> Iterator[tuple[str, float]]:
        strip = len(self._key("x")) - 1
        try:
            for blob in self.bucket.client.list_blobs(
                    self.bucket, prefix=self._key(prefix.rstrip("/")) + "/"):
                yield blob.name[strip:], blob.updated.timestamp() if blob.updated else 0.0
        except Exception as e:
            raise StorageError(f"listing {prefix} in {self.description} failed: {e}") from e

    def check(self) -> None:
        try:
            exists = self.bucket.exists()
        except Exception as e:
            raise StorageError(f"bucket {self.bucket_name!r} cannot be used: {e}") from e
        if not exists:
            raise StorageError(f"bucket {self.bucket_name!r} does not exist")


def open_storage(settings, bucket: str | None = None) -> Storage:
    """The backend ``settings.storage`` names (local, s3, gcs), on ``bucket`` (default
    ``storage_bucket``)."""
    kind = settings.storage
    if kind == "local":
        return LocalStorage(settings.storage_path or settings.data_dir / "storage")
    bucket = bucket or settings.storage_bucket
    if not bucket:
        raise PluginHostError(f"storage_bucket: {kind} storage needs a bucket name "
                              "(PLUGIN_REGISTRY_STORAGE_BUCKET)", code="invalid_settings",
                              status=500)
    if kind == "s3":
        return S3Storage(bucket, settings.storage_prefix,
                         settings.storage_endpoint, settings.storage_region)
    if kind == "gcs":
        return GCSStorage(bucket, settings.storage_prefix,
                          settings.storage_endpoint, settings.storage_project)
    raise PluginHostError(f"storage: {kind!r} is not one of local, s3, gcs",
                          code="invalid_settings", status=500)


def open_index_storage(settings, packages: Storage) -> Storage:
    """Where the signed index and approved packages go: ``index_bucket`` if set (hosts,
    through a CDN, then never see a package before it is approved), else ``packages``."""
    if settings.storage == "local" or not settings.index_bucket or \
            settings.index_bucket == settings.storage_bucket:
        return packages
    return open_storage(settings, settings.index_bucket)

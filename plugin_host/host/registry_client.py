"""Reading the registry's signed index with TUF's ngclient.

The host trusts one root.json (given by the operator, `registry_root`) and reads
everything else from `registry_url` — any static file server or bucket holding the
registry's `metadata/` and `targets/`. The registry process itself need not run.
Opening a session refreshes timestamp (and, when it changed, snapshot and top-level
targets); a plugin's document (and the bin listing it) is downloaded only when the
resolver first asks for that plugin, and only when its signed hash differs from the copy
this host has; a package is checked against the length and hash in its document.
ngclient refuses: files whose hash or length differ from the signed metadata (tampering),
metadata older than what this host has seen (rollback), expired metadata (freeze),
targets metadata that is not the one the snapshot names (mix-and-match), and metadata
not signed by the keys root delegates to (unknown keys). Each refusal becomes a
PluginHostError naming what was wrong; nothing is installed.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tuf.api import exceptions as tuf_errors
from tuf.ngclient import Updater, Urllib3Fetcher

from ..errors import PluginHostError
from ..package.index import (
    FORMAT,
    INDEX_TARGET,
    IndexRelease,
    PluginDocument,
    plugin_target,
    target_key,
)
from ..resolver import Candidate


class IndexRefused(PluginHostError):
    code = "index_verification_failed"
    status = 502


def _explain(e: Exception, what: str) -> PluginHostError:
    """A person's sentence for each way TUF refuses."""
    text = str(e)
    if isinstance(e, tuf_errors.DownloadHTTPError) and e.status_code == 404:
        reason = f"{what} is missing from the registry index ({text})"
        return IndexRefused(reason)
    if isinstance(e, tuf_errors.DownloadError | OSError) and not isinstance(
            e, tuf_errors.DownloadLengthMismatchError):
        return PluginHostError(f"the registry index could not be read ({what}): {text}",
                               code="registry_unavailable", status=503)
    if isinstance(e, tuf_errors.SlowRetrievalError):
        return PluginHostError(f"the registry index could not be read ({what}): {text}",
                               code="registry_unavailable", status=503)
    if isinstance(e, tuf_errors.LengthOrHashMismatchError
                  | tuf_errors.DownloadLengthMismatchError):
        reason = f"{what} does not match the signed index (tampered or corrupted): {text}"
    elif isinstance(e, tuf_errors.ExpiredMetadataError):
        reason = (f"the registry index has expired ({text}): the registry has stopped "
                  "re-signing it, or someone is replaying old metadata (freeze attack)")
    elif isinstance(e, tuf_errors.BadVersionNumberError):
        reason = (f"the registry index went back in time ({text}): a rollback or "
                  "mix-and-match attack, or a broken mirror")
    elif isinstance(e, tuf_errors.UnsignedMetadataError):
        reason = (f"the registry index is not signed by the keys this host trusts "
                  f"({text})")
    else:
        reason = f"the registry index was refused: {type(e).__name__}: {text}"
    return IndexRefused(reason)


@dataclass
class RegistryIndex:
    """The verified index as the resolver sees it: a plugin's releases, read (and
    verified) the first time they are asked for, with installed plugins kept at their
    version."""

    load: Callable[[str], PluginDocument | None]
    installed: dict[str, str] = field(default_factory=dict)
    documents: dict[str, PluginDocument | None] = field(default_factory=dict)

    def document(self, name: str) -> PluginDocument | None:
        if name not in self.documents:
            self.documents[name] = self.load(name)
        return self.documents[name]

    def keys_for(self, name: str) -> dict[str, str]:
        """The publisher keys (PEM by key id) the index gives for ``name``'s releases."""
        doc = self.document(name)
        return doc.keys if doc else {}

    def releases(self, name: str) -> list[Candidate]:
        doc = self.document(name)
        releases = doc.releases if doc else {}
        if name in self.installed:  # keep what runs: only the installed version fits
            version = self.installed[name]
            info = releases.get(version)
            return [Candidate(name, version, info.dependencies if info else {},
                              info.host_api if info else "*")]
        return [Candidate(name, v, r.dependencies, r.host_api, r.yanked)
                for v, r in releases.items()]

    def release(self, name: str, version: str) -> IndexRelease:
        doc = self.document(name)
        if doc is None or version not in doc.releases:
            raise KeyError(f"{name} {version}")
        return doc.releases[version]


class DeadlineFetcher(Urllib3Fetcher):
    """TUF's fetcher with an overall deadline per file, sized from the most it may be
    (the length the signed metadata declares): a mirror trickling one byte a second
    cannot hold an install open without end. The socket timeout bounds only the gap
    between two reads."""

    #: every file may take this long, plus its length at MIN_RATE
    BASE_SECONDS = 20.0
    MIN_RATE = 64 * 1024  # bytes a second

    def __init__(self, base_seconds: float = BASE_SECONDS) -> None:
        super().__init__(socket_timeout=15)
        self.base_seconds = base_seconds
        self._deadline = float("inf")

    def download_file(self, url: str, max_length: int):  # type: ignore[override]
        self._deadline = time.monotonic() + self.base_seconds + max_length / self.MIN_RATE
        return super().download_file(url, max_length)

    def download_bytes(self, url: str, max_length: int) -> bytes:
        self._deadline = time.monotonic() + self.base_seconds + max_length / self.MIN_RATE
        return super().download_bytes(url, max_length)

    def _fetch(self, url: str) -> Iterator[bytes]:
        deadline = self._deadline
        for chunk in super()._fetch(url):
            if time.monotonic() > deadline:
                raise tuf_errors.SlowRetrievalError(
                    f"{url} was not downloaded within its deadline")
            yield chunk


class RegistryClient:
    def __init__(self, url: str, root: Path, cache_dir: Path,
                 timeout: float = DeadlineFetcher.BASE_SECONDS):
        self.url = url.rstrip("/")
        self.root = Path(root)
        self.cache_dir = Path(cache_dir)
        self.timeout = timeout

    def _updater(self) -> Updater:
        try:
            bootstrap = self.root.read_bytes()
        except OSError as e:
            raise PluginHostError(f"registry_root: cannot read {self.root}: {e.strerror}",
                                  code="registry_not_configured", status=501) from e
        metadata = self.cache_dir / "metadata"
        targets = self.cache_dir / "targets"
        metadata.mkdir(parents=True, exist_ok=True)
        targets.mkdir(parents=True, exist_ok=True)
        try:
            updater = Updater(str(metadata), f"{self.url}/metadata/", str(targets),
                              f"{self.url}/targets/", fetcher=DeadlineFetcher(self.timeout),
                              bootstrap=bootstrap)
            updater.refresh()
        except Exception as e:
            raise _explain(e, "metadata") from e
        return updater

    def _fetch(self, updater: Updater, target: str) -> bytes:
        try:
            info = updater.get_targetinfo(target)
            if info is None:
                raise IndexRefused(f"{target} is not in the signed index")
            path = updater.find_cached_target(info) or updater.download_target(info)
            return Path(path).read_bytes()
        except PluginHostError:
            raise
        except Exception as e:
            raise _explain(e, target) from e

    def _check_format(self, updater: Updater) -> None:
        """A registry of the previous release publishes one index.json (format 1) and no
        plugin documents: refused in words rather than read as an empty catalogue."""
        import json

        try:
            marker = json.loads(self._fetch(updater, INDEX_TARGET))
        except IndexRefused:
            return  # no marker: nothing to say about its format
        except ValueError:
            raise IndexRefused(f"{INDEX_TARGET} is not JSON") from None
        version = marker.get("format") if isinstance(marker, dict) else None
        if version != FORMAT:
            raise IndexRefused(
                f"the registry publishes index format {version} (one {INDEX_TARGET} with "
                f"every plugin); this host reads format {FORMAT} (a document per plugin): "
                "upgrade the registry")

    def open(self) -> Session:
        """Refresh the metadata once; read plugin documents and packages of that view."""
        updater = self._updater()
        self._check_format(updater)
        return Session(self, updater)

    def listing(self, updater: Updater) -> list[str]:
        """Every plugin name in the bins (each bin downloaded only when it changed since
        this host last read it): for browsing, not for installing."""
        trusted = updater._trusted_set  # ngclient has no public walk of the delegations
        delegations = trusted.targets.delegations
        if delegations is None or delegations.succinct_roles is None:
            return []
        names = []
        try:
            for role in delegations.succinct_roles.get_roles():
                for path in updater._load_targets(role, "targets").targets:
                    if path.startswith("plugins/") and path.endswith(".json"):
                        names.append(path[len("plugins/"):-len(".json")])
        except Exception as e:
            raise _explain(e, "the plugin listing") from e
        return sorted(names)


@dataclass
class Session:
    client: RegistryClient
    updater: Updater
    index: RegistryIndex = field(init=False)

    def __post_init__(self) -> None:
        self.index = RegistryIndex(self.document)

    def document(self, name: str) -> PluginDocument | None:
        """``name``'s verified document (None: the registry has no such plugin)."""
        target = plugin_target(name)
        try:
            info = self.updater.get_targetinfo(target)
        except Exception as e:
            raise _explain(e, target) from e
        if info is None:
            return None
        return PluginDocument.from_json(self.client._fetch(self.updater, target), name)

    def package(self, name: str, version: str) -> bytes:
        """The package of ``name`` ``version``, as long as and with the hash its verified
        document gives (kept by hash, so a second host install downloads nothing)."""
        release = self.index.release(name, version)
        cached = self.client.cache_dir / "packages" / release.sha256
        if cached.is_file():
            data = cached.read_bytes()
            if hashlib.sha256(data).hexdigest() == release.sha256:
                return data
        key = target_key(release.target, release.sha256)
        try:
            data = DeadlineFetcher(self.client.timeout).download_bytes(
                f"{self.client.url}/{key}", release.size)
        except Exception as e:
            raise _explain(e, release.target) from e
        if len(data) != release.size or hashlib.sha256(data).hexdigest() != release.sha256:
            raise IndexRefused(f"{release.target} does not match the signed index (tampered "
                               f"or corrupted): {len(data)} bytes, sha256 "
                               f"{hashlib.sha256(data).hexdigest()}; the index says "
                               f"{release.size} bytes, sha256 {release.sha256}")
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, cached)
        return data

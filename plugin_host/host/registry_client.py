"""Reading the registry's signed index with TUF's ngclient.

The host trusts one root.json (given by the operator, `registry_root`) and reads
everything else from `registry_url` — any static file server or bucket holding the
registry's `metadata/` and `targets/`. The registry process itself need not run.
ngclient refuses: files whose hash or length differ from the signed metadata (tampering),
metadata older than what this host has seen (rollback), expired metadata (freeze),
targets metadata that is not the one the snapshot names (mix-and-match), and metadata
not signed by the keys root delegates to (unknown keys). Each refusal becomes a
PluginHostError naming what was wrong; nothing is installed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tuf.api import exceptions as tuf_errors
from tuf.ngclient import Updater, Urllib3Fetcher

from ..errors import PluginHostError
from ..package.index import INDEX_TARGET, IndexDocument, IndexRelease
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
    """A verified index document: the releases a host may resolve over (the resolver's
    view of it, with installed plugins kept at their version)."""

    document: IndexDocument
    installed: dict[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> dict[str, str]:
        return self.document.keys

    def releases(self, name: str) -> list[Candidate]:
        plugin = self.document.plugins.get(name)
        releases = plugin.releases if plugin else {}
        if name in self.installed:  # keep what runs: only the installed version fits
            version = self.installed[name]
            info = releases.get(version)
            return [Candidate(name, version, info.dependencies if info else {},
                              info.host_api if info else "*")]
        return [Candidate(name, v, r.dependencies, r.host_api, r.yanked)
                for v, r in releases.items()]

    def names(self) -> list[str]:
        return sorted(self.document.plugins)

    def release(self, name: str, version: str) -> IndexRelease:
        return self.document.release(name, version)


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

    def open(self) -> Session:
        """Refresh the metadata once; read the index and packages of that one view."""
        updater = self._updater()
        raw = self._fetch(updater, INDEX_TARGET)
        return Session(self, updater, RegistryIndex(IndexDocument.from_json(raw)))


@dataclass
class Session:
    client: RegistryClient
    updater: Updater
    index: RegistryIndex

    def package(self, name: str, version: str) -> bytes:
        return self.client._fetch(self.updater, self.index.release(name, version).target)

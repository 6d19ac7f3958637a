"""Reading a registry's signed index as a host would: TUF's own client (ngclient) over
the storage folder, from a trusted root, verifying every signature, version and hash."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import Updater
from tuf.ngclient.fetcher import FetcherInterface

BASE = "http://index.invalid/"


class FolderFetcher(FetcherInterface):
    def __init__(self, root: Path):
        self.root = root

    def _fetch(self, url: str) -> Iterator[bytes]:
        path = self.root / url.removeprefix(BASE)
        if not path.is_file():
            raise DownloadHTTPError(f"{url}: not found", 404)
        return iter([path.read_bytes()])


def read_index(storage: Path, trusted_root: bytes) -> dict:
    """The catalogue as the signed metadata in ``storage`` vouches for it, shaped as
    ``{"plugins": {name: its document}}``: every bin walked, every plugin document
    downloaded and checked (raises a TUF error if anything does not verify)."""
    work = Path(tempfile.mkdtemp(prefix="tuf-reader-"))
    try:
        updater = Updater(str(work), f"{BASE}metadata/", str(work), f"{BASE}targets/",
                          fetcher=FolderFetcher(storage), bootstrap=trusted_root)
        updater.refresh()
        marker = updater.get_targetinfo("index.json")
        assert marker is not None, "the targets metadata lists no index.json marker"
        succinct = updater._trusted_set.targets.delegations.succinct_roles
        plugins = {}
        for role in succinct.get_roles():
            for path in updater._load_targets(role, "targets").targets:
                info = updater.get_targetinfo(path)
                doc = json.loads(Path(updater.download_target(info)).read_bytes())
                plugins[doc["name"]] = doc
        return {"plugins": plugins}
    finally:
        shutil.rmtree(work, ignore_errors=True)

"""The host refuses a compromised or stale index: a tampered package or plugin document,
rollback of the timestamp or the snapshot, expired metadata (freeze), a bin from another
snapshot (mix-and-match), metadata signed by a key root does not trust, a bin signed by
other than the key targets delegates the bins to (stolen snapshot and timestamp keys
cannot add a plugin), and an index of the format before (in words).

Each attack is made on the real storage folder a static file server hands to a real
host; the attacker's metadata is made with TUF's own Metadata API (and, where the attack
assumes a stolen online key, the registry's real timestamp key). After each one, nothing
is installed, and once the storage is restored the same host installs normally.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata
from tuf.api.serialization.json import JSONSerializer

from ..support.plugins import variant
from ..support.servers import publish_and_approve


class Index:
    """The registry's storage folder, with what an attacker would do to it."""

    def __init__(self, storage: Path, keys: Path):
        self.storage = storage
        self.meta = storage / "metadata"
        self.keys = keys
        self.saved: dict[Path, bytes] = {}

    def save(self) -> None:
        self.saved = {p: p.read_bytes() for p in self.storage.rglob("*") if p.is_file()}

    def restore(self) -> None:
        for p in self.storage.rglob("*"):
            if p.is_file() and p not in self.saved:
                p.unlink()
        for p, data in self.saved.items():
            p.write_bytes(data)

    def load(self, name: str) -> Metadata:
        return Metadata.from_file(str(self.meta / name))

    def signer(self, role: str) -> CryptoSigner:
        key = serialization.load_pem_private_key((self.keys / f"{role}.pem").read_bytes(), None)
        return CryptoSigner(key)

    def write(self, name: str, md: Metadata, signer: CryptoSigner) -> None:
        md.signatures.clear()
        md.sign(signer)
        (self.meta / name).write_bytes(md.to_bytes(JSONSerializer(compact=False)))

    def snapshot(self) -> Metadata:
        return self.load(f"{self.load('timestamp.json').signed.snapshot_meta.version}"
                         ".snapshot.json")

    def bin_of(self, plugin: str) -> tuple[str, Metadata]:
        """The bin listing ``plugin``'s document, as published now."""
        path = f"plugins/{plugin}.json"
        for name, meta in self.snapshot().signed.meta.items():
            if name.startswith("bins-"):
                md = self.load(f"{meta.version}.{name}")
                if path in md.signed.targets:
                    return name.removesuffix(".json"), md
        raise AssertionError(f"no bin lists {path}")

    def document(self, plugin: str) -> dict:
        _, md = self.bin_of(plugin)
        info = md.signed.targets[f"plugins/{plugin}.json"]
        return json.loads((self.storage / "targets" / "plugins" /
                           f"{info.hashes['sha256']}.{plugin}.json").read_bytes())

    def republish(self, plugin: str, doc: dict, bin_signer: CryptoSigner | None = None
                  ) -> None:
        """What an attacker with the online keys does: a new document for ``plugin``,
        its bin, snapshot and timestamp signed again (the bin with ``bin_signer``)."""
        from tuf.api.metadata import MetaFile, TargetFile

        body = json.dumps(doc).encode()
        path = f"plugins/{plugin}.json"
        info = TargetFile.from_data(path, body)
        (self.storage / "targets" / "plugins" /
         f"{info.hashes['sha256']}.{plugin}.json").write_bytes(body)
        role, md = self.bin_of(plugin)
        md.signed.targets[path] = info
        md.signed.version += 1
        self.write(f"{md.signed.version}.{role}.json", md, bin_signer or self.signer("targets"))
        snapshot = self.snapshot()
        snapshot.signed.version += 1
        snapshot.signed.meta[f"{role}.json"] = MetaFile(md.signed.version)
        self.write(f"{snapshot.signed.version}.snapshot.json", snapshot,
                   self.signer("snapshot"))
        ts = self.load("timestamp.json")
        ts.signed.version += 1
        ts.signed.snapshot_meta = MetaFile(snapshot.signed.version)
        self.write("timestamp.json", ts, self.signer("timestamp"))


@pytest.fixture
def setup(registry, host_factory, static_server, keys, tmp_path):
    """hello-world 1.0.0 and 1.1.0 approved (two index generations); a host trusting the
    registry's root, reading through a static mirror of its storage."""
    publish_and_approve(registry, variant(tmp_path, "hello-world", "1.0.0", key=keys["key"]))
    old = {p.name: p.read_bytes() for p in (registry.storage / "metadata").iterdir()}
    publish_and_approve(registry, variant(tmp_path, "greeter", "1.0.0", key=keys["key"]))
    registry.stop()
    index = Index(registry.storage, registry.data / "tuf-keys")
    index.save()
    shutil.copy(index.meta / "root.json", tmp_path / "root.json")
    mirror = static_server(registry.storage)

    def new_host():
        return host_factory(extra_args=["--registry-url", mirror.url,
                                        "--registry-root", str(tmp_path / "root.json")])

    def host_on(port: int):
        return host_factory(extra_args=["--registry-url", f"http://127.0.0.1:{port}",
                                        "--registry-root", str(tmp_path / "root.json")],
                            env={"PLUGIN_HOST_REGISTRY_TIMEOUT": "2"})

    return index, old, new_host, host_on


def install(host, name: str = "hello-world"):
    return host.admin.post("/admin/plugins", json={"name": name, "range": "^1"})


def refused(host, r, words: str) -> None:
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert error["code"] == "index_verification_failed", error
    assert words in error["message"], error["message"]
    assert host.installed() == []
    assert not any((host.data_dir / "plugins").glob("*/*"))


def seen_and_uninstalled(host, name: str = "greeter") -> None:
    """The host has read the newest index (installing once) and has no plugin now."""
    assert install(host, name).status_code == 201
    assert host.admin.delete(f"/admin/plugins/{name}").status_code == 200


def test_tampered_package_is_refused(setup):
    index, _, new_host, _ = setup
    host = new_host()
    pkg = next((index.storage / "targets" / "packages" / "hello-world").iterdir())
    data = bytearray(pkg.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same length, one byte changed
    pkg.write_bytes(bytes(data))
    refused(host, install(host), "does not match the signed index (tampered")
    index.restore()
    assert install(host).status_code == 201


def test_rolled_back_timestamp_is_refused(setup):
    index, old, new_host, _ = setup
    host = new_host()
    seen_and_uninstalled(host)
    (index.meta / "timestamp.json").write_bytes(old["timestamp.json"])
    refused(host, install(host), "went back in time")
    index.restore()
    assert install(host).status_code == 201


def test_rolled_back_snapshot_is_refused(setup):
    """A stolen timestamp key signs a fresh timestamp naming the older snapshot."""
    index, old, new_host, _ = setup
    host = new_host()
    seen_and_uninstalled(host)
    current = index.load("timestamp.json")
    older = Metadata.from_bytes(old["timestamp.json"])
    current.signed.version += 1
    current.signed.snapshot_meta = older.signed.snapshot_meta
    index.write("timestamp.json", current, index.signer("timestamp"))
    refused(host, install(host), "went back in time")
    index.restore()
    assert install(host).status_code == 201


def test_expired_metadata_is_refused(setup):
    """A freeze: the attacker (or a stalled registry) serves metadata past its expiry."""
    index, _, new_host, _ = setup
    host = new_host()
    ts = index.load("timestamp.json")
    ts.signed.version += 1
    ts.signed.expires = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    index.write("timestamp.json", ts, index.signer("timestamp"))
    refused(host, install(host), "has expired")
    index.restore()
    assert install(host).status_code == 201


def test_tampered_plugin_document_is_refused(setup):
    """A mirror edits hello-world's document (a dependency dropped, say): same length."""
    index, _, new_host, _ = setup
    host = new_host()
    _, md = index.bin_of("hello-world")
    sha = md.signed.targets["plugins/hello-world.json"].hashes["sha256"]
    doc = index.storage / "targets" / "plugins" / f"{sha}.hello-world.json"
    doc.write_bytes(doc.read_bytes().replace(b'"yanked":false', b'"yanked":true '))
    refused(host, install(host), "does not match the signed index (tampered")
    index.restore()
    assert install(host).status_code == 201


def test_a_bin_from_another_snapshot_is_refused(setup):
    """Mix-and-match: the bin the snapshot names is swapped for an older version of it
    (one that still lists an older document)."""
    index, _, new_host, _ = setup
    host = new_host()
    index.republish("hello-world", {**index.document("hello-world"), "summary": "v2"})
    role, md = index.bin_of("hello-world")
    shutil.copy(index.meta / f"{md.signed.version - 1}.{role}.json",
                index.meta / f"{md.signed.version}.{role}.json")
    refused(host, install(host), "went back in time")
    index.restore()  # the host has seen the attacker's (validly signed) newer timestamp
    assert install(new_host()).status_code == 201


def test_stolen_snapshot_and_timestamp_keys_cannot_add_a_release(setup):
    """The attacker holds the snapshot and timestamp keys, not the targets key that the
    bins are delegated to: a bin they sign is refused, and so nothing from it is read."""
    index, _, new_host, _ = setup
    host = new_host()
    doc = index.document("hello-world")
    doc["releases"]["1.9.0"] = {**doc["releases"]["1.0.0"], "host_api": "*"}
    index.republish("hello-world", doc, bin_signer=CryptoSigner.generate_ed25519())
    refused(host, install(host), "not signed by the keys this host trusts")
    index.restore()  # the host has seen the attacker's (validly signed) newer timestamp
    assert install(new_host()).status_code == 201


def test_an_index_of_the_format_before_is_refused_in_words(setup):
    """A host reading a registry of the previous release (one index.json of format 1,
    no bins) says so, rather than finding nothing to install."""
    from tuf.api.metadata import MetaFile, TargetFile, Targets

    index, _, new_host, _ = setup
    host = new_host()
    body = json.dumps({"format": 1, "plugins": {}, "keys": {}}).encode()
    info = TargetFile.from_data("index.json", body)
    (index.storage / "targets" / f"{info.hashes['sha256']}.index.json").write_bytes(body)
    old = index.load(f"{index.snapshot().signed.meta['targets.json'].version}.targets.json")
    targets = Metadata(Targets(version=old.signed.version + 1, expires=old.signed.expires,
                               targets={"index.json": info}))
    index.write(f"{targets.signed.version}.targets.json", targets, index.signer("targets"))
    snapshot = index.snapshot()
    snapshot.signed.version += 1
    snapshot.signed.meta = {"targets.json": MetaFile(targets.signed.version)}
    index.write(f"{snapshot.signed.version}.snapshot.json", snapshot, index.signer("snapshot"))
    ts = index.load("timestamp.json")
    ts.signed.version += 1
    ts.signed.snapshot_meta = MetaFile(snapshot.signed.version)
    index.write("timestamp.json", ts, index.signer("timestamp"))
    refused(host, install(host), "the registry publishes index format 1 (one index.json")
    assert "upgrade the registry" in install(host).json()["error"]["message"]


def test_metadata_signed_by_an_unknown_key_is_refused(setup):
    index, _, new_host, _ = setup
    host = new_host()
    ts = index.load("timestamp.json")
    ts.signed.version += 1
    index.write("timestamp.json", ts, CryptoSigner.generate_ed25519())
    refused(host, install(host), "not signed by the keys this host trusts")
    index.restore()
    assert install(host).status_code == 201


def test_a_package_signed_by_a_locally_trusted_key_is_not_the_publishers(setup, keys,
                                                                         tmp_path):
    """With the registry's online keys stolen, the attacker swaps a package for one signed
    by a key the host trusts for uploads: the index names the publisher's key, and only
    that key counts for a package from the index."""
    index, _, new_host, _ = setup
    host = new_host()  # trusts keys["pub"] (the publisher's) for uploads
    evil = variant(tmp_path / "evil", "hello-world", "1.0.0", key=keys["other_key"])
    host2_key = keys["other_pub"]
    host.stop()
    host.extra_args += ["--trusted-key", str(host2_key)]  # trusted locally, not publisher
    host.start()
    import hashlib

    doc = index.document("hello-world")
    release = doc["releases"]["1.0.0"]
    sha = hashlib.sha256(evil).hexdigest()
    (index.storage / "targets" / "packages" / "hello-world" /
     f"{sha}.{release['target'].rsplit('/', 1)[1]}").write_bytes(evil)
    release.update(sha256=sha, size=len(evil))
    index.republish("hello-world", doc)
    r = install(host)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "untrusted_package"
    assert "not a trusted key" in r.json()["error"]["message"]
    assert host.installed() == []


def test_a_slow_mirror_cannot_hold_an_install_or_the_host(setup, tmp_path):
    """A mirror trickling bytes: the install gives up at its deadline with 503, and other
    admin operations go on meanwhile."""
    import threading
    import time
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    index, _, _, _ = setup

    class Trickle(SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(index.storage), **kw)

        def copyfile(self, source, outputfile):
            while chunk := source.read(16):
                outputfile.write(chunk)
                outputfile.flush()
                time.sleep(0.5)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = setup[3](server.server_address[1])
        result = {}
        t = threading.Thread(target=lambda: result.update(r=install(host)))
        started = time.monotonic()
        t.start()
        time.sleep(0.5)
        # an operation that takes the host's lock is not held behind the download
        other = host.admin.post("/admin/plugins/nothing/disable")
        assert other.status_code == 404 and time.monotonic() - started < 3
        t.join(60)
        r = result["r"]
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "registry_unavailable"
        assert time.monotonic() - started < 30
    finally:
        server.shutdown()

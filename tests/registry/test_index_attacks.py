"""The host refuses a compromised or stale index: a tampered package, rollback of the
timestamp or the snapshot, expired metadata (freeze), targets metadata from another
snapshot (mix-and-match), and metadata signed by a key root does not trust.

Each attack is made on the real storage folder a static file server hands to a real
host; the attacker's metadata is made with TUF's own Metadata API (and, where the attack
assumes a stolen online key, the registry's real timestamp key). After each one, nothing
is installed, and once the storage is restored the same host installs normally.
"""

from __future__ import annotations

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


def test_targets_from_another_snapshot_are_refused(setup):
    """Mix-and-match: the targets file the snapshot names is swapped for an older one."""
    index, _, new_host, _ = setup
    host = new_host()
    snapshot = index.load("timestamp.json").signed.snapshot_meta.version
    version = index.load(f"{snapshot}.snapshot.json").signed.meta["targets.json"].version
    shutil.copy(index.meta / f"{version - 1}.targets.json", index.meta / f"{version}.targets.json")
    refused(host, install(host), "does not match the signed index")
    index.restore()
    assert install(host).status_code == 201


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
    from tuf.api.metadata import TargetFile

    index, _, new_host, _ = setup
    host = new_host()  # trusts keys["pub"] (the publisher's) for uploads
    evil = variant(tmp_path / "evil", "hello-world", "1.0.0", key=keys["other_key"])
    host2_key = keys["other_pub"]
    host.stop()
    host.extra_args += ["--trusted-key", str(host2_key)]  # trusted locally, not publisher
    host.start()
    snapshot_v = index.load("timestamp.json").signed.snapshot_meta.version
    targets_v = index.load(f"{snapshot_v}.snapshot.json").signed.meta["targets.json"].version
    targets = index.load(f"{targets_v}.targets.json")
    path = next(p for p in targets.signed.targets if p.startswith("packages/hello-world/"))
    new = TargetFile.from_data(path, evil)
    (index.storage / "targets" / "packages" / "hello-world" /
     f"{new.hashes['sha256']}.{path.rsplit('/', 1)[1]}").write_bytes(evil)
    targets.signed.targets[path] = new
    targets.signed.version += 1
    index.write(f"{targets.signed.version}.targets.json", targets, index.signer("targets"))
    snapshot = index.load(f"{snapshot_v}.snapshot.json")
    snapshot.signed.version += 1
    snapshot.signed.meta["targets.json"].version = targets.signed.version
    snapshot.signed.meta["targets.json"].length = None
    snapshot.signed.meta["targets.json"].hashes = None
    index.write(f"{snapshot.signed.version}.snapshot.json", snapshot, index.signer("snapshot"))
    ts = index.load("timestamp.json")
    ts.signed.version += 1
    ts.signed.snapshot_meta.version = snapshot.signed.version
    ts.signed.snapshot_meta.length = None
    ts.signed.snapshot_meta.hashes = None
    index.write("timestamp.json", ts, index.signer("timestamp"))
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

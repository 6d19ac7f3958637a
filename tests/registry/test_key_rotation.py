"""Rotating the index keys (``plugin-host registry rotate-keys``): hosts that trust the
old root follow to the new one without being touched, a host given only the first root
installs what is published after the rotation, and the old keys (as an attacker who
stole them would use them) sign nothing a host accepts. The root key can be kept
offline: the registry runs on the online keys, and rotating asks for the root key."""

from __future__ import annotations

import contextlib
import subprocess
import sys

from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata
from tuf.api.serialization.json import JSONSerializer

from ..support.plugins import variant
from ..support.servers import publish_and_approve


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plugin_host.cli", "registry", *args],
                          capture_output=True, text=True, timeout=120)


def signer(pem_file) -> CryptoSigner:
    return CryptoSigner(serialization.load_pem_private_key(pem_file.read_bytes(), None))


def test_rotated_keys_are_followed_and_the_old_ones_are_worthless(
        registry, host_factory, static_server, keys, tmp_path):
    publish_and_approve(registry, variant(tmp_path, "hello-world", "1.0.0", key=keys["key"]))
    first_root = tmp_path / "root.json"
    first_root.write_bytes((registry.storage / "metadata" / "1.root.json").read_bytes())
    mirror = static_server(registry.storage)
    host = host_factory(extra_args=["--registry-url", mirror.url,
                                    "--registry-root", str(first_root)])
    assert host.admin.post("/admin/plugins", json={"name": "hello-world", "range": "^1"}
                           ).status_code == 201
    tuf_keys = registry.data / "tuf-keys"
    old = {role: (tuf_keys / f"{role}.pem").read_bytes()
           for role in ("root", "targets", "snapshot", "timestamp")}

    registry.stop()
    done = cli("rotate-keys", "--data-dir", str(registry.data))
    assert done.returncode == 0, done.stderr
    assert "root version 2" in done.stdout and "timestamp" in done.stdout
    for role, pem in old.items():
        assert (tuf_keys / f"{role}.pem").read_bytes() != pem, role
        assert (tuf_keys / f"{role}.pem.old").read_bytes() == pem, role
    root2 = Metadata.from_file(str(registry.storage / "metadata" / "2.root.json"))
    assert len(root2.signatures) == 2  # the old root key and the new one

    registry.restart()
    publish_and_approve(registry, variant(tmp_path, "greeter", "1.0.0", key=keys["key"]))
    # the host that trusted root 1 follows the chain: it installs what is new
    assert host.admin.post("/admin/plugins", json={"name": "greeter", "range": "^1"}
                           ).status_code == 201
    # so does a new host given only the first root
    fresh = host_factory(extra_args=["--registry-url", mirror.url,
                                     "--registry-root", str(first_root)])
    assert fresh.admin.post("/admin/plugins", json={"name": "greeter", "range": "^1"}
                            ).status_code == 201

    # the old timestamp key, stolen: a newer timestamp it signs is refused
    registry.stop()
    stamp_file = registry.storage / "metadata" / "timestamp.json"
    genuine = stamp_file.read_bytes()
    forged = Metadata.from_bytes(genuine)
    forged.signed.version += 1
    forged.signatures.clear()
    forged.sign(signer(tuf_keys / "timestamp.pem.old"))
    stamp_file.write_bytes(forged.to_bytes(JSONSerializer(compact=False)))
    third = host_factory(extra_args=["--registry-url", mirror.url,
                                     "--registry-root", str(first_root)])
    r = third.admin.post("/admin/plugins", json={"name": "greeter", "range": "^1"})
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "index_verification_failed"
    assert third.installed() == []
    stamp_file.write_bytes(genuine)
    assert third.admin.post("/admin/plugins", json={"name": "greeter", "range": "^1"}
                            ).status_code == 201


def test_the_root_key_can_stay_offline(registry, keys, tmp_path):
    tuf_keys = registry.data / "tuf-keys"
    registry.stop()
    offline = tmp_path / "offline-root.pem"
    (tuf_keys / "root.pem").rename(offline)
    registry.restart()  # runs on the online keys alone
    publish_and_approve(registry, variant(tmp_path, "hello-world", "1.0.0", key=keys["key"]))
    assert not (tuf_keys / "root.pem").exists()  # and made no new one
    registry.stop()
    refused = cli("rotate-keys", "timestamp", "--data-dir", str(registry.data))
    assert refused.returncode == 2
    assert "rotating keys needs the root key" in refused.stderr
    assert "Traceback" not in refused.stderr
    offline.rename(tuf_keys / "root.pem")
    assert cli("rotate-keys", "timestamp", "--data-dir", str(registry.data)).returncode == 0
    bad = cli("rotate-keys", "everything", "--data-dir", str(registry.data))
    assert bad.returncode == 2 and "unknown role(s) everything" in bad.stderr
    registry.restart()


def test_a_rotation_cut_short_is_finished_at_start(registry, keys, tmp_path, monkeypatch):
    """The new root is stored but the process dies before the new keys replace the old
    ones: the registry adopts the staged keys when it starts."""
    from plugin_host.registry.index import IndexKeys, TufIndex
    from plugin_host.registry.settings import RegistrySettings
    from plugin_host.registry.storage import open_storage

    registry.stop()
    settings = RegistrySettings(data_dir=registry.data)
    index = TufIndex.from_settings(open_storage(settings), settings)
    index.keys.load(generate=False)

    def die(self, role):
        raise SystemExit("killed after storing the new root")

    monkeypatch.setattr(IndexKeys, "adopt", die)
    with contextlib.suppress(SystemExit):
        index.rotate(["targets", "snapshot", "timestamp"])
    monkeypatch.undo()
    assert (registry.data / "tuf-keys" / "timestamp.pem.new").exists()
    registry.restart()
    publish_and_approve(registry, variant(tmp_path, "hello-world", "1.0.0", key=keys["key"]))
    assert not (registry.data / "tuf-keys" / "timestamp.pem.new").exists()

"""The registry's signed, static index: a TUF repository written into storage.

Layout (consistent snapshots, so a reader never mixes files of two publications)::

    metadata/1.root.json  metadata/root.json      root: the four roles' keys
    metadata/N.targets.json                       every approved package + index.json
    metadata/N.snapshot.json                      pins the targets version (and hash)
    metadata/timestamp.json                       pins the snapshot version (and hash)
    targets/<sha256>.index.json                   the catalogue hosts resolve over
    targets/packages/<name>/<sha256>.<file>       the packages

Written in that order (targets files, targets, snapshot, timestamp last), so a host
reading during a publication sees either the old index or the new one. Hosts read it
with TUF's ngclient (plugin_host/host/registry_client.py), which refuses tampered files,
rollbacks, expired metadata, mix-and-match and signatures by unknown keys.
"""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from ..errors import PluginHostError
from ..package.index import INDEX_TARGET, IndexDocument
from .metrics import INDEX_EXPIRY
from .storage import Storage

ROLES = ("root", "targets", "snapshot", "timestamp")
_SERIALIZER = JSONSerializer(compact=False)


def target_key(target: str, sha256: str) -> str:
    """Where a target's bytes are stored (hash-prefixed, as ngclient asks for them)."""
    folder, _, base = target.rpartition("/")
    return f"targets/{folder + '/' if folder else ''}{sha256}.{base}"


class IndexKeys:
    """One Ed25519 key per role, as PEM files (mode 0600) in a folder. Missing keys are
    generated: right for development; in production create them once, keep the root
    key offline, and give the registry only the online ones (docs/registry/operating.md)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.signers: dict[str, CryptoSigner] = {}

    def load(self, generate: bool = True, need_root: bool = True) -> IndexKeys:
        """Read the role keys; ``generate`` the missing ones (a new index), or, with
        ``need_root`` False, let ``root.pem`` be absent (kept offline: only creating the
        index and rotating keys sign with it)."""
        for role in ROLES:
            path = self.folder / f"{role}.pem"
            if not path.exists():
                if role == "root" and not need_root and not generate:
                    continue
                if not generate:
                    raise PluginHostError(f"tuf_keys_dir: {path} is missing",
                                          code="invalid_settings", status=500)
                self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                pem = Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption())
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(pem)
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), None)
                self.signers[role] = CryptoSigner(key)
            except (ValueError, TypeError) as e:
                raise PluginHostError(f"tuf_keys_dir: {path} is not a usable private key: {e}",
                                      code="invalid_settings", status=500) from e
        return self

    def load_secret(self, reference: str) -> IndexKeys:
        """The online keys from a secret holding ``{"targets": PEM, "snapshot": PEM,
        "timestamp": PEM}`` (and ``root`` only where the index is first made): read into
        memory, never written to disk."""
        import json

        from ..service.secrets import SecretError, resolve

        try:
            try:
                pems = json.loads(resolve(reference))
            except json.JSONDecodeError:
                raise ValueError("the secret is not JSON (a JSON object of role → PEM)") \
                    from None
            if not isinstance(pems, dict):
                raise ValueError("not a JSON object (role → PEM)")
            for role in ROLES:
                if role in pems:
                    try:
                        key = serialization.load_pem_private_key(pems[role].encode(), None)
                    except (ValueError, TypeError, AttributeError) as e:
                        raise ValueError(f"{role}: not a usable private key: {e}") from None
                    self.signers[role] = CryptoSigner(key)
        except (SecretError, ValueError, TypeError, AttributeError) as e:
            raise PluginHostError(f"tuf_keys_secret: {e}", code="invalid_settings",
                                  status=500) from None
        missing = [r for r in ROLES[1:] if r not in self.signers]
        if missing:
            raise PluginHostError(f"tuf_keys_secret: no key for {', '.join(missing)} (a JSON "
                                  "object of role → PEM)", code="invalid_settings", status=500)
        return self

    def keyid(self, role: str) -> str | None:
        return self.signers[role].public_key.keyid if role in self.signers else None

    def stage(self, roles: list[str]) -> dict[str, CryptoSigner]:
        """New keys for ``roles``, written beside the current ones as ``ROLE.pem.new``
        (0600) and not used until :meth:`adopt` (after the new root is stored)."""
        staged = {}
        for role in roles:
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption())
            path = self.folder / f"{role}.pem.new"
            path.unlink(missing_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            staged[role] = CryptoSigner(serialization.load_pem_private_key(pem, None))
        return staged

    def staged_keyid(self, role: str) -> str | None:
        path = self.folder / f"{role}.pem.new"
        if not path.exists():
            return None
        return CryptoSigner(serialization.load_pem_private_key(path.read_bytes(), None)) \
            .public_key.keyid

    def adopt(self, role: str) -> None:
        """The staged key becomes the role's key; the old one is kept as ROLE.pem.old
        (delete it once no one needs it)."""
        current, staged = self.folder / f"{role}.pem", self.folder / f"{role}.pem.new"
        if current.exists():
            os.replace(current, self.folder / f"{role}.pem.old")
        os.replace(staged, current)
        key = serialization.load_pem_private_key(current.read_bytes(), None)
        self.signers[role] = CryptoSigner(key)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class TufIndex:
    def __init__(self, storage: Storage, keys: IndexKeys, expiry_days: dict[str, float]):
        self.storage = storage
        self.keys = keys
        self.expiry_days = expiry_days
        self.lock = threading.Lock()

    @classmethod
    def from_settings(cls, storage: Storage, settings) -> TufIndex:
        """The index of a registry's settings (keys not loaded yet)."""
        return cls(storage, IndexKeys(settings.keys_dir),
                   {role: getattr(settings, f"tuf_{role}_expiry_days") for role in ROLES})

    def _expires(self, role: str) -> datetime:
        return (datetime.now(UTC).replace(microsecond=0)
                + timedelta(days=self.expiry_days[role]))

    def _put(self, key: str, md: Metadata) -> bytes:
        md.signatures.clear()
        md.sign(self.keys.signers[md.signed.type])
        data = md.to_bytes(_SERIALIZER)
        self.storage.put(key, data, "application/json")
        return data

    def _load(self, key: str) -> Metadata | None:
        data = self.storage.get(key)
        return Metadata.from_bytes(data) if data is not None else None

    # ---- reading what is published --------------------------------------------------

    def root(self) -> Metadata | None:
        return self._load("metadata/root.json")

    def current(self) -> dict[str, Metadata]:
        """The published metadata of every role (empty before the first publication)."""
        out: dict[str, Metadata] = {}
        root = self.root()
        if root is not None:
            out["root"] = root
        timestamp = self._load("metadata/timestamp.json")
        if timestamp is None:
            return out
        out["timestamp"] = timestamp
        snap_version = timestamp.signed.snapshot_meta.version
        snapshot = self._load(f"metadata/{snap_version}.snapshot.json")
        if snapshot is not None:
            out["snapshot"] = snapshot
            targets = self._load(f"metadata/{snapshot.signed.meta['targets.json'].version}"
                                 ".targets.json")
            if targets is not None:
                out["targets"] = targets
        return out

    def update_expiry_metric(self) -> dict[str, float]:
        expiries = {role: md.signed.expires.timestamp() for role, md in self.current().items()}
        for role, when in expiries.items():
            INDEX_EXPIRY.labels(role).set(when)
        return expiries

    # ---- writing -------------------------------------------------------------------

    def ensure_root(self) -> Metadata:
        """Root metadata v1 for these keys, written if storage has none. Refuses to go on
        when the stored root trusts other keys (a different registry's storage, or lost
        keys): hosts trusting that root would refuse everything signed now."""
        root = self.root()
        if root is None and "root" not in self.keys.signers:
            raise PluginHostError(
                f"the index in {self.storage.description} has no root yet, and making one "
                "needs the root key: start the registry once with every key in tuf_keys_dir "
                "(or root in tuf_keys_secret)", code="invalid_settings", status=500)
        if root is None:
            signed = Root(expires=self._expires("root"), consistent_snapshot=True)
            for role in ROLES:
                signed.add_key(self.keys.signers[role].public_key, role)
            root = Metadata(signed)
            data = self._put("metadata/1.root.json", root)
            self.storage.put("metadata/root.json", data, "application/json")
            return root
        for role in ROLES:
            trusted = root.signed.roles[role].keyids
            if role not in self.keys.signers and role == "root":
                continue  # kept offline
            if self.keys.keyid(role) not in trusted and self.keys.staged_keyid(role) in trusted:
                self.keys.adopt(role)  # a rotation stopped after storing its new root
            if self.keys.keyid(role) not in trusted:
                raise PluginHostError(
                    f"the index in storage trusts other {role} keys than those in "
                    f"tuf_keys_dir ({self.keys.folder}); use the keys it was created with",
                    code="invalid_settings", status=500)
        return root

    def publish(self, catalogue: IndexDocument, packages: dict[str, tuple[int, str]]) -> int:
        """Publish ``catalogue`` (index.json) and ``packages`` (target path → (length,
        sha256), already stored under target_key) as a new targets/snapshot/timestamp.
        Returns the new snapshot version."""
        with self.lock:
            self.ensure_root()
            current = self.current()
            body = catalogue.to_json()
            index_sha = _sha256(body)
            self.storage.put(target_key(INDEX_TARGET, index_sha), body, "application/json")
            targets = Targets(version=_next(current, "targets"), expires=self._expires("targets"))
            for path, (length, sha) in sorted(packages.items()):
                targets.targets[path] = TargetFile(length, {"sha256": sha}, path)
            targets.targets[INDEX_TARGET] = TargetFile(len(body), {"sha256": index_sha},
                                                       INDEX_TARGET)
            return self._publish_targets(current, Metadata(targets))

    def _publish_targets(self, current: dict[str, Metadata], targets: Metadata) -> int:
        targets.signed.expires = self._expires("targets")
        data = self._put(f"metadata/{targets.signed.version}.targets.json", targets)
        snapshot = Snapshot(version=_next(current, "snapshot"), expires=self._expires("snapshot"))
        snapshot.meta["targets.json"] = MetaFile(targets.signed.version, len(data),
                                                 {"sha256": _sha256(data)})
        return self._publish_snapshot(current, Metadata(snapshot))

    def _publish_snapshot(self, current: dict[str, Metadata], snapshot: Metadata) -> int:
        snapshot.signed.expires = self._expires("snapshot")
        data = self._put(f"metadata/{snapshot.signed.version}.snapshot.json", snapshot)
        timestamp = Timestamp(version=_next(current, "timestamp"),
                              expires=self._expires("timestamp"),
                              snapshot_meta=MetaFile(snapshot.signed.version, len(data),
                                                     {"sha256": _sha256(data)}))
        self._put("metadata/timestamp.json", Metadata(timestamp))
        return snapshot.signed.version

    def rotate(self, roles: list[str]) -> dict[str, Any]:
        """Replace the keys of ``roles`` (and renew root's expiry): root version N+1,
        signed by the old root key and by the new one (so hosts that trust version N
        follow), then targets, snapshot and timestamp signed again with the keys now
        trusted. Run with the registry stopped: a running one still holds the old keys.

        Crash-safe: the new keys are written first (``ROLE.pem.new``), then the new root,
        then the keys are swapped; a registry that finds the new root with the keys still
        staged adopts them at start (``ensure_root``)."""
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise PluginHostError(f"unknown role(s) {', '.join(unknown)}; roles: "
                                  f"{', '.join(ROLES)}", code="invalid_request", status=422)
        with self.lock:
            root_md = self.ensure_root()
            old_root = self.keys.signers.get("root")
            if old_root is None:
                raise PluginHostError(
                    f"rotating keys needs the root key: put the offline root.pem in "
                    f"{self.keys.folder} for the rotation, then take it away again",
                    code="invalid_settings", status=500)
            staged = self.keys.stage(roles)
            root = root_md.signed
            for role in roles:
                for keyid in list(root.roles[role].keyids):
                    root.revoke_key(keyid, role)
                root.add_key(staged[role].public_key, role)
            root.version += 1
            root.expires = self._expires("root")
            root_md.signatures.clear()
            root_md.sign(old_root, append=True)  # hosts that trust version N check this
            if "root" in staged:
                root_md.sign(staged["root"], append=True)  # ... and this, as N+1 says
            data = root_md.to_bytes(_SERIALIZER)
            self.storage.put(f"metadata/{root.version}.root.json", data, "application/json")
            self.storage.put("metadata/root.json", data, "application/json")
            for role in roles:
                self.keys.adopt(role)
            current = self.current()
            if "targets" in current:  # everything below root signed again, versions up
                targets = current["targets"]
                targets.signed.version += 1
                self._publish_targets(current, targets)
            return {"root_version": root.version, "root_sha256": _sha256(data),
                    "rotated": list(roles), "expires": root.expires.isoformat()}

    def refresh(self) -> list[str]:
        """Re-sign every role that has used half its lifetime (and the roles above it).
        Run periodically by the registry, or by `plugin-host registry refresh-index`."""
        with self.lock:
            current = self.current()
            if "timestamp" not in current:
                return []
            now = datetime.now(UTC)

            def stale(role: str) -> bool:
                left = current[role].signed.expires - now
                return left < timedelta(days=self.expiry_days[role]) / 2

            if stale("targets"):
                targets = current["targets"]
                targets.signed.version += 1
                self._publish_targets(current, targets)
                return ["targets", "snapshot", "timestamp"]
            if stale("snapshot"):
                snapshot = current["snapshot"]
                snapshot.signed.version += 1
                self._publish_snapshot(current, snapshot)
                return ["snapshot", "timestamp"]
            if stale("timestamp"):
                self._publish_snapshot_meta_only(current)
                return ["timestamp"]
            return []

    def _publish_snapshot_meta_only(self, current: dict[str, Metadata]) -> None:
        timestamp = current["timestamp"]
        timestamp.signed.version += 1
        timestamp.signed.expires = self._expires("timestamp")
        self._put("metadata/timestamp.json", timestamp)

    def status(self) -> dict[str, Any]:
        current = self.current()
        root = self.storage.get("metadata/root.json")
        return {
            "storage": self.storage.description,
            "root_sha256": _sha256(root) if root is not None else None,
            "roles": {role: {"version": md.signed.version,
                             "expires": md.signed.expires.isoformat()}
                      for role, md in current.items()},
        }


def _next(current: dict[str, Metadata], role: str) -> int:
    md = current.get(role)
    return md.signed.version + 1 if md else 1

"""The registry's signed, static index: a TUF repository written into storage.

Layout (consistent snapshots, so a reader never mixes files of two publications)::

    metadata/N.root.json  metadata/root.json      root: the four roles' keys
    metadata/N.targets.json                       delegates plugins/* to 256 hashed bins
    metadata/N.bins-XX.json                       each lists the plugin documents in it
    metadata/N.snapshot.json                      pins targets and every bin's version
    metadata/timestamp.json                       pins the snapshot version (and hash)
    targets/plugins/<sha256>.<name>.json          one plugin's releases and keys
    targets/packages/<name>/<sha256>.<file>       the packages (by the hash in the above)
    targets/<sha256>.index.json                   a marker for hosts that read format 1

Each plugin's document is a TUF target, listed in the bin its name hashes to (TUF's
succinct hash-bin delegation, as PEP 458 proposes for PyPI). A publication writes the
changed documents, re-signs only their bins, then snapshot and timestamp (timestamp
last), so a host reading meanwhile sees the old index or the new one, and a host
refreshing downloads only what changed: timestamp.json when nothing did; snapshot, one
bin and one document for one new release. Hosts read it with TUF's ngclient
(plugin_host/host/registry_client.py), which refuses tampered files, rollbacks, expired
metadata, mix-and-match and signatures by unknown keys; a package is checked against the
length and hash its plugin's (verified) document gives.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from tuf.api.metadata import (
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    SuccinctRoles,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from ..errors import PluginHostError
from ..package.index import INDEX_TARGET, LEGACY_MARKER, plugin_target, target_key
from .index_keys import ROLES, IndexKeys
from .metrics import INDEX_EXPIRY
from .storage import Storage

__all__ = ["BIN_BITS", "ROLES", "IndexKeys", "TufIndex", "target_key"]

#: 2**8 = 256 bins: about 200 plugins (~29 KiB) a bin at 50,000 plugins
BIN_BITS = 8
BIN_PREFIX = "bins"
_SERIALIZER = JSONSerializer(compact=True)
_MARKER_SHA256 = hashlib.sha256(LEGACY_MARKER).hexdigest()


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

    # ---- the bins ----------------------------------------------------------------

    def succinct(self) -> SuccinctRoles:
        """The hashed bins, delegated to the current targets key."""
        return SuccinctRoles([self.keys.keyid("targets")], 1, BIN_BITS, BIN_PREFIX)

    def bin(self, current: dict[str, Metadata], role: str) -> Metadata | None:
        """The published metadata of bin ``role`` (None: not published yet)."""
        snapshot = current.get("snapshot")
        meta = snapshot.signed.meta.get(f"{role}.json") if snapshot else None
        return self._load(f"metadata/{meta.version}.{role}.json") if meta else None

    def _top(self, version: int) -> Metadata:
        """Top-level targets: the marker for format-1 hosts, and the bins delegated."""
        sha = _MARKER_SHA256
        self.storage.put(target_key(INDEX_TARGET, sha), LEGACY_MARKER, "application/json")
        key = self.keys.signers["targets"].public_key
        targets = Targets(version=version, expires=self._expires("targets"))
        targets.targets[INDEX_TARGET] = TargetFile(len(LEGACY_MARKER), {"sha256": sha},
                                                   INDEX_TARGET)
        targets.delegations = Delegations(keys={key.keyid: key},
                                          succinct_roles=self.succinct())
        return Metadata(targets)

    def _current_format(self, top: Metadata | None) -> tuple[bool, bool]:
        """(the published targets delegate to bins, and exactly as this registry would:
        marker and key as now)."""
        delegations = top.signed.delegations if top else None
        succinct = delegations.succinct_roles if delegations else None
        if succinct is None:
            return False, False
        marker = top.signed.targets.get(INDEX_TARGET)
        same = (succinct.keyids == [self.keys.keyid("targets")]
                and succinct.bit_length == BIN_BITS
                and marker is not None and marker.hashes.get("sha256") == _MARKER_SHA256)
        return True, same

    def publish(self, documents: dict[str, bytes | None], everything: bool = False
                ) -> int | None:
        """Publish plugin documents (name → its bytes; None: no longer listed). With
        ``everything``, ``documents`` is the whole catalogue and any bin listing
        otherwise is rewritten (start-up reconciliation). Only the bins that change are
        signed again, then snapshot and timestamp. Returns the new snapshot version, or
        None when the published index already said exactly this."""
        with self.lock:
            self.ensure_root()
            changes = {plugin_target(name): body for name, body in documents.items()}
            return self._write(self.current(), changes, everything=everything)

    def _write(self, current: dict[str, Metadata], changes: dict[str, bytes | None],
               everything: bool = False, resign: bool = False) -> int | None:
        has_bins, same = self._current_format(current.get("targets"))
        resign = resign or not same
        succinct = self.succinct()
        by_bin: dict[str, dict[str, bytes | None]] = {}
        for path, body in changes.items():
            by_bin.setdefault(succinct.get_role_for_target(path), {})[path] = body
        meta = dict(current["snapshot"].signed.meta) if has_bins else {}
        if resign:
            top = self._top(_next(current, "targets"))
            data = self._put(f"metadata/{top.signed.version}.targets.json", top)
            meta["targets.json"] = MetaFile(top.signed.version, len(data),
                                            {"sha256": _sha256(data)})
        roles = list(succinct.get_roles()) if resign or everything else sorted(by_bin)
        wrote = resign
        for role in roles:
            old = self.bin(current, role) if has_bins else None
            before = dict(old.signed.targets) if old else {}
            entries = {} if everything else dict(before)
            for path, body in by_bin.get(role, {}).items():
                if body is None:
                    entries.pop(path, None)
                    continue
                sha = _sha256(body)
                listed = before.get(path)
                if listed is None or listed.hashes.get("sha256") != sha:
                    self.storage.put(target_key(path, sha), body, "application/json")
                entries[path] = TargetFile(len(body), {"sha256": sha}, path)
            if not resign and old is not None and _hashes(entries) == _hashes(before):
                continue
            md = Metadata(Targets(version=old.signed.version + 1 if old else 1,
                                  expires=self._expires("targets"), targets=entries))
            self._put(f"metadata/{md.signed.version}.{role}.json", md)
            meta[f"{role}.json"] = MetaFile(md.signed.version)
            wrote = True
        if not wrote:
            return None
        snapshot = Snapshot(version=_next(current, "snapshot"),
                            expires=self._expires("snapshot"), meta=meta)
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
                self._write(current, {}, resign=True)
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

            if stale("targets"):  # the bins too: none expires before it
                self._write(current, {}, resign=True)
                return ["targets", "bins", "snapshot", "timestamp"]
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


def _hashes(targets: dict[str, TargetFile]) -> dict[str, str | None]:
    return {path: t.hashes.get("sha256") for path, t in targets.items()}


def _next(current: dict[str, Metadata], role: str) -> int:
    md = current.get(role)
    return md.signed.version + 1 if md else 1

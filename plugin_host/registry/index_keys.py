"""The registry index's signing keys: one Ed25519 key per TUF role, as PEM files in a
folder (``tuf_keys_dir``) or in a secret (``tuf_keys_secret``), with staged rotation."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner

from ..errors import PluginHostError

ROLES = ("root", "targets", "snapshot", "timestamp")


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

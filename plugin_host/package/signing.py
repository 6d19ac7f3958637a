"""Ed25519 signing of packages: keys, SIGNATURE files, verification against trusted keys.

The signature covers MANIFEST.json, which holds the SHA-256 of every file, so one
signature vouches for the whole package. SIGNATURE is JSON:
``{"algorithm": "ed25519", "keyid": "...", "signature": "<base64>"}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import SignatureError
from .archive import SIGNATURE, Package, add_entry, read_package


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class TrustedKey:
    keyid: str
    key: Ed25519PublicKey
    source: str


def generate_keypair(out: Path) -> tuple[Path, Path, str]:
    """Write ``OUT.key`` (private, mode 0600) and ``OUT.pub``; returns paths and key id."""
    out = Path(out)
    private_path, public_path = out.with_suffix(".key"), out.with_suffix(".pub")
    for p in (private_path, public_path):
        if p.exists():
            raise SignatureError(f"{p}: already exists; refusing to overwrite a key",
                                 code="key_exists", status=409)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public = private.public_key()
    public_path.write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path, key_id(public)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise SignatureError(f"{path}: cannot read the private key ({e})", code="bad_key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path}: not an Ed25519 private key", code="bad_key")
    return key


def load_public_key(path: Path) -> TrustedKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as e:
        raise SignatureError(f"{path}: cannot read the public key ({e})", code="bad_key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{path}: not an Ed25519 public key", code="bad_key")
    return TrustedKey(keyid=key_id(key), key=key, source=str(path))


def load_trusted_keys(paths: list[Path]) -> dict[str, TrustedKey]:
    """Public keys from files and folders (every ``*.pub`` in a folder)."""
    keys: dict[str, TrustedKey] = {}
    for p in map(Path, paths):
        files = sorted(p.glob("*.pub")) if p.is_dir() else [p]
        for f in files:
            k = load_public_key(f)
            keys[k.keyid] = k
    return keys


def signature_document(private: Ed25519PrivateKey, manifest_json: bytes) -> bytes:
    doc = {
        "algorithm": "ed25519",
        "keyid": key_id(private.public_key()),
        "signature": base64.b64encode(private.sign(manifest_json)).decode(),
    }
    return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"


def signed_by(pkg: Package) -> str | None:
    """The key id an existing SIGNATURE names (None: unsigned or unreadable)."""
    try:
        keyid = json.loads(pkg.signature)["keyid"] if pkg.signature else None
    except (ValueError, KeyError, TypeError):
        return None
    return keyid if isinstance(keyid, str) else None


def sign_package(path: Path, key_path: Path, replace: bool = False) -> str:
    """Add SIGNATURE to a package file, in place; returns the key id. A package already
    signed by another key is refused unless ``replace`` (signing again with the same
    key is harmless)."""
    path = Path(path)
    data = path.read_bytes()
    pkg = read_package(data)  # never sign something that would not verify
    private = load_private_key(key_path)
    existing = signed_by(pkg) if pkg.signature else None
    if pkg.signature and not replace and existing != key_id(private.public_key()):
        raise SignatureError(f"{path.name} is already signed by key {existing or '(unreadable)'}: "
                             "pass --replace to sign it with this key instead")
    signed = add_entry(data, SIGNATURE, signature_document(private, pkg.manifest_json))
    tmp = path.with_name(f".{path.name}.signing")
    tmp.write_bytes(signed)
    os.replace(tmp, path)
    return key_id(private.public_key())


def verify_signature(pkg: Package, trusted: dict[str, TrustedKey],
                     how_to_trust: str = "") -> TrustedKey:
    """The trusted key that signed this package, or SignatureError saying why not."""
    if pkg.signature is None:
        raise SignatureError(
            f"{pkg.filename} is not signed: sign it with `plugin-host plugin sign`")
    try:
        doc = json.loads(pkg.signature)
        keyid, sig = doc["keyid"], base64.b64decode(doc["signature"], validate=True)
        if not isinstance(keyid, str):
            raise TypeError
        if doc.get("algorithm") != "ed25519":
            algorithm = str(doc.get("algorithm"))[:40]
            raise SignatureError(f"unsupported signature algorithm {algorithm!r}")
    except SignatureError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise SignatureError("SIGNATURE is malformed") from None
    key = trusted.get(keyid)
    if key is None:
        raise SignatureError(f"signed by key {keyid}, which is not a trusted key"
                             + (f": {how_to_trust}" if how_to_trust else ""))
    try:
        key.key.verify(sig, pkg.manifest_json)
    except InvalidSignature:
        raise SignatureError(f"the signature by key {keyid} does not match the package") from None
    return key

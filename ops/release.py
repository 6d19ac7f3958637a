"""`invoke release`: bump the version, add a changelog section, commit, tag, build and
sign the artifacts. It shows its plan first; `--dry` stops there.

The version lives in one place, ``plugin_host/__init__.py`` (pyproject.toml reads it).
The signature is Ed25519 over ``dist/SHA256SUMS``, in ``dist/SHA256SUMS.sig`` (JSON, the
same form as a plugin package's SIGNATURE), so one key vouches for every artifact.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from plugin_host.errors import PluginHostError
from plugin_host.package.signing import key_id, load_private_key, signature_document

VERSION_FILE = Path("plugin_host") / "__init__.py"
VERSION_RE = re.compile(r'^__version__ = "([^"]+)"$', re.M)


class ReleaseError(PluginHostError):
    code = "release_refused"


@dataclass
class Plan:
    current: str
    version: str
    tag: str
    changes: list[str]
    steps: list[str]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def bump(version: str, part: str) -> str:
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    if not m:
        raise ReleaseError(f"current version {version!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = map(int, m.groups())
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    if re.fullmatch(r"\d+\.\d+\.\d+", part):
        return part
    raise ReleaseError(f"--part {part!r}: use major, minor, patch or an explicit X.Y.Z")


def plan(root: Path, part: str) -> Plan:
    if _git(root, "status", "--porcelain"):
        raise ReleaseError("the working tree has uncommitted changes: commit or stash first")
    current = VERSION_RE.search((root / VERSION_FILE).read_text()).group(1)
    version = bump(current, part)
    tag = f"v{version}"
    if tag in _git(root, "tag", "--list").split():
        raise ReleaseError(f"tag {tag} already exists")
    last = _git(root, "describe", "--tags", "--abbrev=0") if _git(root, "tag", "--list") else ""
    log_range = [f"{last}..HEAD"] if last else []
    changes = [line for line in _git(root, "log", "--format=%s", *log_range).splitlines()
               if line and not line.startswith("Release ")]
    steps = [f"set __version__ = {version!r} in {VERSION_FILE}",
             f"add a '{version}' section to CHANGELOG.md ({len(changes)} changes)",
             f"commit 'Release {version}' and tag {tag}",
             "build dist/ (wheel, sdist, wheelhouse, plugins, SBOM, SHA256SUMS)",
             "sign dist/SHA256SUMS → dist/SHA256SUMS.sig"]
    return Plan(current, version, tag, changes, steps)


def apply(root: Path, p: Plan, key: Path, deps: bool = True) -> Path:
    """Carry out a plan; returns the signature file."""
    from .build import build

    private = load_private_key(key)  # refuse before changing anything
    vf = root / VERSION_FILE
    vf.write_text(VERSION_RE.sub(f'__version__ = "{p.version}"', vf.read_text(), count=1))
    changelog = root / "CHANGELOG.md"
    old = changelog.read_text() if changelog.exists() else "# Changelog\n"
    head, _, rest = old.partition("\n")
    section = (f"\n## {p.version} ({dt.date.today().isoformat()})\n\n"
               + "".join(f"- {c}\n" for c in p.changes))
    changelog.write_text(head + "\n" + section + rest)
    _git(root, "add", str(vf), str(changelog))
    _git(root, "commit", "-q", "-m", f"Release {p.version}")
    _git(root, "tag", "-a", p.tag, "-m", f"Release {p.version}")
    result = build(root / "dist", key, deps, root=root)
    sig = result.out / "SHA256SUMS.sig"
    sig.write_bytes(signature_document(private, (result.out / "SHA256SUMS").read_bytes()))
    return sig


def verify(dist: Path, public: Path) -> str:
    """Check dist/SHA256SUMS.sig and every digest in SHA256SUMS; returns the key id."""
    import base64
    import hashlib
    import json

    from cryptography.exceptions import InvalidSignature

    from plugin_host.package.signing import load_public_key

    key = load_public_key(public)
    sums = (dist / "SHA256SUMS").read_bytes()
    doc = json.loads((dist / "SHA256SUMS.sig").read_text())
    try:
        key.key.verify(base64.b64decode(doc["signature"]), sums)
    except InvalidSignature:
        raise ReleaseError("SHA256SUMS.sig does not match SHA256SUMS") from None
    for line in sums.decode().splitlines():
        digest, name = line.split("  ", 1)
        if hashlib.sha256((dist / name).read_bytes()).hexdigest() != digest:
            raise ReleaseError(f"{name}: does not match SHA256SUMS")
    return key_id(key.key)

"""The ``.kplugin`` package: a deterministic zip of a plugin folder plus MANIFEST.json.

Reading is defensive: every entry is checked (absolute paths, ``..``, links,
duplicates, counts, sizes, compression ratio) before a single byte is extracted, and
every file's SHA-256 is checked against MANIFEST.json, which must cover exactly the
archive's files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import PackageError
from ..koha import check_names
from ..manifest import MANIFEST_FILE, Manifest, parse_manifest

PACKAGE_MANIFEST = "MANIFEST.json"
SIGNATURE = "SIGNATURE"
SUFFIX = ".kplugin"
FORMAT = 1
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

#: Never packed: the author's tests, caches, VCS and editor files, earlier builds.
EXCLUDED_DIRS = {"tests", "__pycache__", ".git", ".hg", ".svn", ".venv", "venv",
                 "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".idea",
                 ".vscode", ".dev"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo", SUFFIX}
EXCLUDED_NAMES = {".DS_Store", PACKAGE_MANIFEST, SIGNATURE}


@dataclass(frozen=True)
class ArchiveLimits:
    """What a package may hold; anything beyond is refused before extraction."""

    max_package_bytes: int = 16 * 1024**2
    max_files: int = 1000
    max_total_bytes: int = 64 * 1024**2
    max_file_bytes: int = 32 * 1024**2
    max_ratio: float = 100.0
    #: Tiny entries compress oddly; the ratio applies from this size up.
    ratio_floor_bytes: int = 16 * 1024


@dataclass
class Package:
    """A package read and checked in memory; nothing is on disk yet."""

    manifest: Manifest
    files: dict[str, bytes]  # plugin files (not MANIFEST.json or SIGNATURE)
    manifest_json: bytes
    signature: bytes | None
    sha256: str
    size: int
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.manifest.name}-{self.manifest.version}{SUFFIX}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_files(src: Path) -> list[str]:
    out: list[str] = []
    for root, dirs, files in os.walk(src, followlinks=False):
        rel_root = Path(root).relative_to(src)
        keep = []
        for d in sorted(dirs):
            if d in EXCLUDED_DIRS or d.endswith(".egg-info"):
                continue
            if (Path(root) / d).is_symlink():
                raise PackageError(f"{rel_root / d}: symbolic links cannot be packed")
            keep.append(d)
        dirs[:] = keep
        for f in files:
            p = Path(root) / f
            rel = (rel_root / f).as_posix()
            if f in EXCLUDED_NAMES or p.suffix in EXCLUDED_SUFFIXES:
                continue
            if p.is_symlink():
                raise PackageError(f"{rel}: symbolic links cannot be packed")
            out.append(rel)
    return sorted(out)


def build_manifest_json(hashes: dict[str, str]) -> bytes:
    doc = {"format": FORMAT, "files": dict(sorted(hashes.items()))}
    return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"


def write_zip(entries: dict[str, bytes]) -> bytes:
    """A deterministic zip: sorted names, fixed timestamps and modes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, entries[name])
    return buf.getvalue()


def pack(src: Path, out_dir: Path | None = None, build: str | None = None) -> Path:
    """Pack a plugin folder into ``NAME-VERSION.kplugin``; returns its path. ``build``
    adds semver build metadata to the version in the package (``1.0.0+dev.3``: the dev
    loop's reloads), leaving the folder's plugin.toml as it is."""
    src = Path(src)
    manifest_path = src / MANIFEST_FILE
    if not manifest_path.is_file():
        raise PackageError(f"{src}: no {MANIFEST_FILE} in this folder")
    text = manifest_path.read_bytes()
    manifest = parse_manifest(text)
    if build:
        base = manifest.version.split("+", 1)[0]
        text, _ = re.subn(rb'(?m)^(version\s*=\s*)"[^"]*"',
                          b'\\1"' + f"{base}+{build}".encode() + b'"', text, count=1)
        manifest = parse_manifest(text)
    check_names(manifest)  # events and slots Koha has
    names = _source_files(src)
    manifest.check_files(names)
    files = {n: (src / n).read_bytes() for n in names}
    files[MANIFEST_FILE] = text
    hashes = {n: _sha256(b) for n, b in files.items()}
    data = write_zip({**files, PACKAGE_MANIFEST: build_manifest_json(hashes)})
    out_dir = Path(out_dir) if out_dir else src / "dist"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{manifest.name}-{manifest.version}{SUFFIX}"
    _atomic_write(out, data)
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_entry_name(name: str) -> None:
    if not name or "\\" in name or "\x00" in name:
        raise PackageError(f"{name!r}: unsafe entry name")
    p = PurePosixPath(name)
    if p.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise PackageError(f"{name!r}: absolute paths are not allowed")
    if ".." in p.parts or "." in name.split("/"):
        raise PackageError(f"{name!r}: '..' and '.' path parts are not allowed")
    if name.endswith("/"):
        raise PackageError(f"{name!r}: directory entries are not allowed")


def check_archive(zf: zipfile.ZipFile, limits: ArchiveLimits) -> list[zipfile.ZipInfo]:
    """Refuse an unsafe archive from its directory alone, before reading any entry."""
    infos = zf.infolist()
    if len(infos) > limits.max_files:
        raise PackageError(f"too many files: {len(infos)} (limit {limits.max_files})")
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        _check_entry_name(name)
        if name in seen:
            raise PackageError(f"{name!r}: duplicate entry name")
        seen.add(name)
        # the file type bits, when the zip records any (many tools record only the
        # permission bits, or nothing): only a regular file may be in a package
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind and kind != stat.S_IFREG:
            what = "a symbolic link" if kind == stat.S_IFLNK else \
                "a directory entry" if kind == stat.S_IFDIR else "a special file"
            raise PackageError(f"{name!r} is {what}: a package holds regular files only")
        if info.flag_bits & 0x1:
            raise PackageError(f"{name!r}: encrypted entries are not allowed")
        if info.file_size > limits.max_file_bytes:
            raise PackageError(
                f"{name!r}: too large ({info.file_size} bytes, limit {limits.max_file_bytes})")
        if info.file_size >= limits.ratio_floor_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise PackageError(
                    f"{name!r}: compression ratio {ratio:.0f}:1 is above {limits.max_ratio:.0f}:1")
        total += info.file_size
        if total > limits.max_total_bytes:
            raise PackageError(f"too large when extracted (limit {limits.max_total_bytes} bytes)")
    return infos


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    # Read no more than the declared size, whatever the compressed stream holds.
    with zf.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise PackageError(f"{info.filename!r}: size does not match the archive directory")
    return data


def read_package(data: bytes, limits: ArchiveLimits | None = None) -> Package:
    """Check a package in memory: archive safety, hashes, manifest. Nothing is extracted."""
    limits = limits or ArchiveLimits()
    if len(data) > limits.max_package_bytes:
        raise PackageError(
            f"package too large: {len(data)} bytes (limit {limits.max_package_bytes})")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # BadZipFile, and struct/value errors from crafted headers
        raise PackageError("not a plugin package (not a zip archive)") from None
    with zf:
        infos = check_archive(zf, limits)
        try:
            entries = {i.filename: _read_entry(zf, i) for i in infos}
        except PackageError:
            raise
        except Exception as e:  # bad offsets, corrupt deflate data, unknown methods…
            raise PackageError(f"corrupt archive: {type(e).__name__}: {str(e)[:200]}") from None
    if PACKAGE_MANIFEST not in entries:
        raise PackageError(f"{PACKAGE_MANIFEST} is missing: pack it with `plugin-host plugin pack`")
    manifest_json = entries.pop(PACKAGE_MANIFEST)
    signature = entries.pop(SIGNATURE, None)
    try:
        doc = json.loads(manifest_json)
        listed = doc["files"]
        if doc.get("format") != FORMAT or not isinstance(listed, dict):
            raise ValueError
    except (ValueError, KeyError, TypeError, RecursionError):
        raise PackageError(f"{PACKAGE_MANIFEST} is not a valid package manifest") from None
    if not all(isinstance(v, str) for v in listed.values()):
        raise PackageError(f"{PACKAGE_MANIFEST} is not a valid package manifest")
    missing = sorted(set(listed) - set(entries))
    extra = sorted(set(entries) - set(listed))
    if missing:
        raise PackageError(f"{PACKAGE_MANIFEST} lists files the archive lacks: {missing}")
    if extra:
        raise PackageError(f"archive holds files {PACKAGE_MANIFEST} does not list: {extra}")
    for name, content in entries.items():
        if _sha256(content) != listed[name]:
            raise PackageError(
                f"{name!r}: content does not match its SHA-256 in {PACKAGE_MANIFEST}")
    if MANIFEST_FILE not in entries:
        raise PackageError(f"{MANIFEST_FILE} is missing from the package")
    manifest = parse_manifest(entries[MANIFEST_FILE])
    manifest.check_files(entries)
    return Package(manifest=manifest, files=entries, manifest_json=manifest_json,
                   signature=signature, sha256=_sha256(data), size=len(data), hashes=listed)


def extract(pkg: Package, dest: Path) -> None:
    """Write a checked package's files into a new folder, atomically (all or nothing)."""
    dest = Path(dest)
    if dest.exists():
        raise PackageError(f"{dest}: already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial-"))
    try:
        for name, content in pkg.files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            target.chmod(0o644)
        # read-only for everyone but its owner (workers may run as another uid, and must
        # read it; nobody but the host writes it)
        for d in (tmp, *(p for p in tmp.rglob("*") if p.is_dir())):
            d.chmod(0o755)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def add_entry(data: bytes, name: str, content: bytes) -> bytes:
    """Rewrite a package with one entry added or replaced (used to attach a SIGNATURE)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist() if i.filename != name}
    entries[name] = content
    return write_zip(entries)

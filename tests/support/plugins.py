"""Packing and signing plugins for tests, and variants of the examples."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

from plugin_host.package.archive import pack
from plugin_host.package.signing import sign_package

from .paths import EXAMPLES

ZIP = {"Content-Type": "application/zip"}


def signed(folder: Path, key: Path, out: Path) -> bytes:
    """``folder`` packed into ``out`` and signed with ``key``: the package's bytes."""
    path = pack(folder, out)
    sign_package(path, key)
    return path.read_bytes()


def variant(tmp: Path, name: str, version: str, deps: dict[str, str] | None = None,
            key: Path | None = None) -> bytes:
    """hello-world renamed to ``name`` ``version`` with ``deps``, packed and signed."""
    src = tmp / "src" / f"{name}-{version}"
    shutil.copytree(EXAMPLES / "hello-world", src)
    toml = (src / "plugin.toml").read_text()
    toml = toml.replace('name = "hello-world"', f'name = "{name}"').replace(
        'version = "1.0.0"', f'version = "{version}"')
    if deps:
        lines = "".join(f'"{d}" = "{r}"\n' for d, r in deps.items())
        toml = toml.replace("[backend]", f"[dependencies]\n{lines}\n[backend]")
    (src / "plugin.toml").write_text(toml)
    return signed(src, key, tmp / "out" / f"{name}-{version}")


def raw_zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    """A zip with exactly these (name, content, unix mode) entries, unchecked."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


def crafted(good: bytes, name: str) -> bytes:
    """A hostile variant of the package ``good``: "corrupt deflate data", "bad header
    offset" or "nested MANIFEST.json"."""
    if name == "nested MANIFEST.json":
        return raw_zip([("MANIFEST.json", b"[" * 100000 + b"]" * 100000, 0o100644)])
    if name == "bad header offset":
        data = bytearray(good)
        end = data.rfind(b"PK\x05\x06")
        data[end + 16:end + 20] = (len(data) + 1000).to_bytes(4, "little")
        return bytes(data)
    # corrupt deflate: flip bytes inside the first deflated member's data
    data = bytearray(good)
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        info = next(i for i in zf.infolist() if i.compress_type == zipfile.ZIP_DEFLATED
                    and i.compress_size > 8)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start, start + min(info.compress_size, 16)):
        data[i] ^= 0xFF
    return bytes(data)

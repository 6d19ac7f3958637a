"""The Koha bridge (koha-bridge/) as the ``.kpz`` Koha installs (Administration >
Plugins > Upload): a zip of its ``Koha/`` tree, made reproducibly (sorted entries,
one timestamp: SOURCE_DATE_EPOCH, fixed modes) so a release's SHA256SUMS can name it.
Its tests (``prove``) stay out of it."""

from __future__ import annotations

import re
import time
import zipfile
from pathlib import Path

from .paths import KOHA_BRIDGE

MAIN = Path("Koha/Plugin/Org/KohaShadcn/Bridge.pm")


def bridge_version(source: Path = KOHA_BRIDGE) -> str:
    m = re.search(r"our \$VERSION = '([0-9]+\.[0-9]+\.[0-9]+)'", (source / MAIN).read_text())
    if m is None:
        raise ValueError(f"{source / MAIN}: no our $VERSION = 'X.Y.Z'")
    return m.group(1)


def build_kpz(out: Path, epoch: int, source: Path = KOHA_BRIDGE) -> Path:
    """``out/koha-shadcn-bridge-VERSION.kpz``."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"koha-shadcn-bridge-{bridge_version(source)}.kpz"
    stamp = time.gmtime(max(epoch, 315532800))[:6]  # zip cannot hold dates before 1980
    files = sorted((p for p in (source / "Koha").rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts),
                   key=lambda p: p.relative_to(source).as_posix())
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as kpz:
        for path in files:
            info = zipfile.ZipInfo(str(path.relative_to(source)), date_time=stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            kpz.writestr(info, path.read_bytes())
    return target

"""The web UI (web/: React + TypeScript + Vite + Tailwind, components in the shadcn way)
built into plugin_host/webui/dist/, which the wheel ships: ``ensure_built()`` runs
``npm ci`` when the lockfile changed and ``vite build`` when a source did, then checks the
budgets (gzipped JavaScript per page). ``./dev up``, ``./dev test`` and ``./dev build``
call it, so a checkout never serves a stale UI."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .paths import ROOT

WEB = ROOT / "web"
DIST = ROOT / "plugin_host" / "webui" / "dist"
#: gzipped JavaScript one page may load
JS_BUDGET = 150 * 1024


class BudgetExceeded(RuntimeError):
    pass


@dataclass
class PageFigures:
    page: str
    js_gzip: int
    css_gzip: int


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(WEB)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def sources(web: Path = WEB) -> list[Path]:
    return [p for p in web.rglob("*") if p.is_file() and "node_modules" not in p.parts]


def ensure_built(web: Path = WEB, dist: Path = DIST, force: bool = False) -> list[PageFigures]:
    """Build if anything changed; returns each page's figures (budgets checked)."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to build the web UI (apt-get install nodejs npm)")
    lock = (web / "package-lock.json").read_bytes()
    lock_stamp = web / "node_modules" / ".koha-lock-sha256"
    lock_hash = hashlib.sha256(lock).hexdigest()
    if not lock_stamp.exists() or lock_stamp.read_text() != lock_hash:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=web,
                       check=True, capture_output=True, text=True)
        lock_stamp.write_text(lock_hash)
    stamp = dist / ".source-sha256"
    digest = _digest(sources(web))
    if force or not stamp.exists() or stamp.read_text() != digest:
        r = subprocess.run([npm, "run", "build"], cwd=web, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"the web UI did not build:\n{r.stdout[-3000:]}{r.stderr[-2000:]}")
        stamp.write_text(digest)
    return check_budgets(dist)


def check_budgets(dist: Path = DIST) -> list[PageFigures]:
    """Each page's gzipped JS and CSS (what its HTML loads, and what that imports)."""
    figures = []
    for html in sorted(dist.glob("*/index.html")):
        text = html.read_text()
        assets = set(re.findall(r'(?:src|href)="/web/assets/([^"]+)"', text))
        js = css = 0
        for name in assets:
            data = (dist / "assets" / name).read_bytes()
            size = len(gzip.compress(data, 9))
            if name.endswith(".js"):
                js += size
            elif name.endswith(".css"):
                css += size
        figures.append(PageFigures(html.parent.name, js, css))
        if js > JS_BUDGET:
            raise BudgetExceeded(f"{html.parent.name}: {js / 1024:.1f} KiB of gzipped "
                                 f"JavaScript, over the {JS_BUDGET // 1024} KiB budget")
    return figures

"""Real browsers for the web UI tests: Debian's Chromium and Firefox ESR driven by
Playwright, one of each for the whole session (launched on first use); a page per test
with its console errors collected, axe-core checks and screenshots kept as artefacts
(``artifacts/screenshots/``, looked at by people)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.paths import ROOT
from ..support.system import require

AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "artifacts" / "screenshots"
ENGINES = {"chromium": "/usr/bin/chromium", "firefox": "/usr/bin/firefox-esr"}
WIDTHS = {"phone": (390, 844), "desktop": (1280, 800)}


#: Playwright's video recorder looks for its own ffmpeg build (revision 1013, in
#: browsers.json) under PLAYWRIGHT_BROWSERS_PATH: Debian's ffmpeg is linked there
BROWSERS_PATH = ROOT / ".dev" / "playwright"
FFMPEG_REVISION = "1013"


def link_ffmpeg() -> bool:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return False
    link = BROWSERS_PATH / f"ffmpeg-{FFMPEG_REVISION}" / "ffmpeg-linux"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink() or os.readlink(link) != ffmpeg:
        link.unlink(missing_ok=True)
        link.symlink_to(ffmpeg)
    os.environ["PLAYWRIGHT_BROWSERS_PATH"] = str(BROWSERS_PATH)
    return True


@pytest.fixture(scope="session")
def playwright_session() -> Iterator:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright is not installed (pip install -e '.[test]')")
    link_ffmpeg()  # before the driver starts: it reads the variable once
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browsers(playwright_session) -> Iterator[dict]:
    launched: dict = {}

    def get(engine: str):
        if engine not in launched:
            path = ENGINES[engine]
            require(shutil.which(path) is not None,
                    f"{path} is not installed (apt-get install chromium firefox-esr)")
            if engine == "chromium":
                launched[engine] = playwright_session.chromium.launch(executable_path=path)
            else:
                launched[engine] = playwright_session.firefox.launch(
                    channel="moz-firefox", executable_path=path)
        return launched[engine]

    yield get
    for b in launched.values():
        b.close()


class Page:
    """A browser page with what the tests check on it."""

    def __init__(self, page, engine: str):
        self.page, self.engine, self.errors = page, engine, []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        #: the answers of 400 and above the page received, as "STATUS METHOD URL"
        self.refused: list[str] = []
        page.on("response", lambda r: self.refused.append(
            f"{r.status} {r.request.method} {r.url}") if r.status >= 400 else None)

    def unexpected_errors(self, *statuses: int) -> list[str]:
        """The console errors, less the browser's note of each refusal the test asked
        for (``Failed to load resource: … status of 422``)."""
        return [e for e in self.errors if not ("Failed to load resource" in e and any(
            f"status of {s} " in e for s in statuses))]

    def axe(self, state: str) -> list[dict]:
        """axe-core over the page as it is: the serious and critical violations."""
        result = self.page.evaluate("async () => await axe.run(document)")
        bad = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                "nodes": [n["target"] for n in v["nodes"]][:5]}
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert bad == [], f"{self.engine}, {state}: {json.dumps(bad, indent=1)}"
        return bad

    def shots(self, name: str) -> list[Path]:
        """The page at a phone's and a desktop's width, kept under artifacts/."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        saved, before = [], len(self.errors)
        for label, (w, h) in WIDTHS.items():
            self.page.set_viewport_size({"width": w, "height": h})
            path = SHOTS / f"{name}-{self.engine}-{label}.png"
            self.page.screenshot(path=str(path), full_page=True)
            saved.append(path)
        self.page.set_viewport_size({"width": 1280, "height": 800})
        # Playwright's Firefox screenshots add a <style> of their own, which the page's
        # CSP refuses (and reports): that report is about the tool, not the page
        self.errors[before:] = [e for e in self.errors[before:]
                                if "blocked an inline style" not in e]
        return saved


def _page(browsers, engine: str) -> Iterator[Page]:
    context = browsers(engine).new_context(viewport={"width": 1280, "height": 800})
    # axe-core goes in before each document's own scripts, as the browser's, not the
    # page's: the pages' Content-Security-Policy (own scripts only) stays as it is
    require(AXE.exists(), "web/node_modules is missing (./dev web installs it)")
    context.add_init_script(path=str(AXE))
    page = Page(context.new_page(), engine)
    yield page
    context.close()


@pytest.fixture(params=list(ENGINES))
def browser_page(request, browsers) -> Iterator[Page]:
    """A page in each engine: the flows that must hold in both (every page drawn, the
    keyboard-only flows, the dialogs)."""
    engine = request.param
    if os.environ.get("KOHA_WEB_ENGINES") and engine not in os.environ["KOHA_WEB_ENGINES"]:
        pytest.skip(f"KOHA_WEB_ENGINES leaves out {engine}")
    yield from _page(browsers, engine)


@pytest.fixture
def chromium_page(browsers) -> Iterator[Page]:
    """A page in Chromium only: for flows whose pages and controls another test already
    drives in both engines (the suite's time goes where a second engine can differ)."""
    yield from _page(browsers, "chromium")

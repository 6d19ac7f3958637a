"""The tutorials, recorded: each main flow of the web UI played in Chromium against real
services at a pace a person can follow, with a caption saying what happens, and kept as
a video (``artifacts/tutorials/NAME.webm``; ``./dev tutorials`` copies them beside
their text in docs/web/tutorials.md). Regenerated from these tests, the tutorials
stay true: a flow that no longer works fails here. Firefox records no video over
WebDriver BiDi, so these run in Chromium only."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.paths import FIRST_PARTY, ROOT
from ..support.plugins import signed
from ..support.servers import ADMIN_TOKEN, Host, publish_and_approve
from ..support.system import require
from .flows import DEMO, changed_hello, market_sign_in, registry_with_mirror

OUT = ROOT / "artifacts" / "tutorials"
SIZE = {"width": 1280, "height": 800}
PACE_MS = 500  # a pause after each step, so a person can follow

CAPTION = """(text) => {
  let el = document.getElementById('tutorial-caption');
  if (!el) {
    el = document.createElement('div');
    el.id = 'tutorial-caption';
    el.setAttribute('aria-hidden', 'true');
    Object.assign(el.style, {position: 'fixed', left: '0', right: '0', bottom: '0',
      padding: '14px 24px', background: 'rgba(15,15,15,0.88)', color: 'white',
      font: '600 20px system-ui, sans-serif', zIndex: '2147483647', pointerEvents: 'none'});
    document.body.append(el);
  }
  el.textContent = text;
}"""


class Recording:
    """A Chromium page whose every frame is recorded; ``say`` captions the next step."""

    def __init__(self, browser, name: str, tmp: Path):
        require(shutil.which("ffmpeg") is not None, "ffmpeg is not installed (apt-get "
                "install ffmpeg): Playwright records video with it")
        self.name = name
        self.context = browser.new_context(viewport=SIZE, record_video_dir=str(tmp),
                                           record_video_size=SIZE)
        self.page = self.context.new_page()
        self.caption = ""

    def say(self, text: str) -> None:
        self.caption = text
        self.page.evaluate(CAPTION, text)
        self.page.wait_for_timeout(PACE_MS * 2)

    def goto(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_load_state("networkidle")
        if self.caption:
            self.page.evaluate(CAPTION, self.caption)

    def pause(self) -> None:
        self.page.wait_for_timeout(PACE_MS)

    def save(self) -> Path:
        video = self.page.video
        self.page.close()
        OUT.mkdir(parents=True, exist_ok=True)
        target = OUT / f"{self.name}.webm"
        video.save_as(str(target))
        self.context.close()
        return target


def seconds(video: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                          "-of", "json", str(video)], capture_output=True, text=True,
                         check=True).stdout
    return float(json.loads(out)["format"]["duration"])


@pytest.fixture
def chromium(browsers, playwright_session):
    return browsers("chromium")


@pytest.fixture(scope="module")
def services(tmp_path_factory, keys) -> Iterator[tuple]:
    """A registry (console-demo 1.0.0 and 1.1.0, alma) on a mirror, and a host of it."""
    tmp = tmp_path_factory.mktemp("tutorials")
    with registry_with_mirror(tmp, keys) as (reg, url, root):
        publish_and_approve(reg, signed(FIRST_PARTY / "alma", keys["key"], tmp / "pkg"))
        # the mirror serves the registry's folder: the new release is on it already
        host = Host(tmp / "host", keys["pub"],
                    extra_args=["--registry-url", url, "--registry-root", str(root)]).start()
        try:
            yield reg, host
        finally:
            host.stop()


def test_tutorial_find_and_install_a_plugin(chromium, services, tmp_path):
    reg, host = services
    t = Recording(chromium, "find-and-install", tmp_path)
    p = t.page
    t.goto(f"{reg.url}/")
    t.say("1. In the marketplace, search for what you need: “alma”")
    p.get_by_label("Search").fill("alma")
    t.pause()
    p.get_by_role("button", name="Search").click()
    p.get_by_role("link", name="alma").wait_for()
    t.say("2. Open the plugin's page: what it asks of your host, in plain words")
    p.get_by_role("link", name="alma").click()
    p.get_by_role("heading", name="What it asks for (version 1.0.0)").wait_for()
    t.say("2. Open the plugin's page: what it asks of your host, in plain words")
    p.mouse.wheel(0, 400)
    t.pause()
    t.goto(f"{host.url}/console")
    t.say("3. In your host's console, sign in (here with the admin token)")
    p.get_by_label("Token", exact=True).fill(ADMIN_TOKEN)
    p.get_by_role("button", name="Sign in with the token").click()
    p.get_by_role("heading", name="Plugins on this host").wait_for()
    t.say("4. Install it by name: the host verifies the registry's signatures")
    p.get_by_label("Plugin", exact=True).fill("alma")
    t.pause()
    p.get_by_role("button", name="Install").click()
    p.get_by_text("Installed alma 1.0.0.").wait_for()
    t.say("5. It runs, sandboxed: its state, layers and calls are in the table")
    assert "alma" in host.installed()
    video = t.save()
    assert seconds(video) > 5, video


def test_tutorial_publish_and_review(chromium, services, keys, tmp_path):
    reg, _host = services
    t = Recording(chromium, "publish-and-review", tmp_path)
    p = t.page
    package = changed_hello(tmp_path, keys["key"], "1.0.0")
    market_sign_in(_Bp(p), reg, "publisher", "/publish")
    t.say("1. A publisher uploads a signed package; the automated checks run at once")
    p.get_by_label("Package (.kplugin)").set_input_files(str(package))
    t.pause()
    p.get_by_role("button", name="Publish").click()
    p.get_by_text("passed the automated checks and waits for a reviewer").wait_for()
    t.say("2. Every check passed: the release waits for a reviewer")
    p.get_by_role("button", name="Sign out").click()
    market_sign_in(_Bp(p), reg, "reviewer", "/review")
    t.say("3. A reviewer opens the queue")
    p.get_by_role("link", name="hello-world 1.0.0").click()
    p.get_by_role("heading", name="Every file (a first version)").wait_for()
    t.say("4. …reads what it asks for, the checks' report and the code")
    p.mouse.wheel(0, 700)
    t.pause()
    t.say("5. …and approves it with a comment: hosts can install it now")
    p.get_by_label("Comment").fill("Read the code; asks for nothing unusual.")
    t.pause()
    p.get_by_role("button", name="Approve").click()
    p.get_by_text("hello-world 1.0.0 is approved").wait_for()
    t.pause()
    video = t.save()
    assert seconds(video) > 5, video


def test_tutorial_configure_and_roll_back(chromium, services, tmp_path):
    _reg, host = services
    r = host.admin.post("/admin/plugins", json={"name": DEMO, "range": "1.0.0"})
    assert r.status_code in (200, 201), r.text
    t = Recording(chromium, "configure-and-roll-back", tmp_path)
    p = t.page
    t.goto(f"{host.url}/console")
    p.get_by_label("Token", exact=True).fill(ADMIN_TOKEN)
    p.get_by_role("button", name="Sign in with the token").click()
    p.get_by_role("link", name=DEMO).click()
    p.get_by_role("heading", name="Settings").wait_for()
    t.say("1. A plugin's settings are a form made from its schema")
    p.get_by_role("heading", name="Settings").scroll_into_view_if_needed()
    p.get_by_label("limit").fill("25")
    p.get_by_label("greeting").fill("Welcome")
    t.pause()
    p.get_by_role("button", name="Save settings").click()
    p.get_by_text(f"Settings of {DEMO} saved").wait_for()
    t.say("2. Saved: new workers took over with them, no request failed")
    p.get_by_role("heading", name="Version").scroll_into_view_if_needed()
    t.say("3. Switch to a newer version, after confirming")
    p.get_by_role("button", name="Switch…").click()
    t.pause()
    p.get_by_role("dialog").get_by_role("button", name="Switch").click()
    p.get_by_text(f"{DEMO} now runs 1.1.0 (was 1.0.0).").wait_for()
    t.say("4. Something wrong? Roll back to the version before, the same safe way")
    p.get_by_role("button", name="Roll back to 1.0.0…").click()
    t.pause()
    p.get_by_role("dialog").get_by_role("button", name="Roll back").click()
    p.get_by_text(f"{DEMO} now runs 1.0.0 (was 1.1.0).").wait_for()
    t.say("5. Back on 1.0.0, with its settings kept")
    assert host.client.get(f"/plugins/{DEMO}/api/state").json()["config"]["greeting"] == \
        "Welcome"
    video = t.save()
    assert seconds(video) > 5, video


class _Bp:
    """market_sign_in takes a browser page wrapper: the bare page is enough here."""

    def __init__(self, page):
        self.page = page

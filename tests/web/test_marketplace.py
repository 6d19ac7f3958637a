"""The marketplace in real browsers (Chromium and Firefox) against a real registry:
browse, search, filter and sort with the keyboard only, open a plugin's page; axe-core
finds no serious or critical violation in any state; no console errors (the page runs
under a strict Content-Security-Policy); screenshots at a phone's and a desktop's width."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..support.paths import EXAMPLES, FIRST_PARTY
from ..support.plugins import signed
from ..support.servers import publish_and_approve, start_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory, keys) -> Iterator:
    tmp = tmp_path_factory.mktemp("marketplace")
    reg = start_registry(tmp / "registry", tmp / "registry.log", keys["pub"].read_text())
    try:
        for folder in sorted([*EXAMPLES.iterdir(), *FIRST_PARTY.iterdir()]):
            if (folder / "plugin.toml").exists():
                publish_and_approve(reg, signed(folder, keys["key"], tmp / "packages"))
        r = reg.client("user").put("/api/v1/plugins/alma/rating",
                                   json={"stars": 4, "text": "Item look-ups work well."})
        assert r.status_code in (200, 201), r.text
        yield reg
    finally:
        reg.stop()


def test_browse_search_and_open_a_plugin_with_the_keyboard(browser_page, registry):
    p = browser_page.page
    p.goto(f"{registry.url}/")
    p.get_by_text("5 plugins").wait_for()
    assert p.get_by_role("heading", level=1).inner_text() == "Plugins for Koha"
    browser_page.axe("browse")
    browser_page.shots("marketplace-browse")

    # keyboard only: into the search box, type, Enter
    p.keyboard.press("Tab")  # the skip link first, then the home link and Sign in
    p.keyboard.press("Tab")
    p.keyboard.press("Tab")
    p.keyboard.press("Tab")
    assert p.evaluate("document.activeElement.name") == "q"
    p.keyboard.type("circulation")
    p.keyboard.press("Enter")
    p.get_by_text("2 plugins").wait_for()
    names = p.locator("main li h2 a").all_inner_texts()
    assert names == ["alma", "koha-rest"]
    assert "q=circulation" in p.url

    # sort by rating, by the select, without a mouse
    p.goto(f"{registry.url}/?sort=rating")
    p.get_by_text("5 plugins").wait_for()
    assert p.locator("main li h2 a").first.inner_text() == "alma"
    assert p.get_by_label("Sort by").input_value() == "rating"

    # open a plugin by keyboard: focus its link, Enter
    p.locator("main li h2 a", has_text="alma").focus()
    p.keyboard.press("Enter")
    p.get_by_role("heading", level=1, name="alma").wait_for()
    assert p.url.endswith("/plugins/alma")
    assert "1.0.0" in p.locator("table").inner_text()
    assert "Item look-ups work well." in p.locator("main").inner_text()
    asks = p.get_by_role("heading", name="What it asks for (version 1.0.0)")
    assert asks.is_visible()
    assert ("Calls the library service alma at api-na.hosted.exlibrisgroup.com through the "
            "host, with credentials the host holds (the plugin never sees them)"
            in p.locator("main").inner_text())
    browser_page.axe("plugin page")
    browser_page.shots("marketplace-plugin")
    assert browser_page.errors == [], browser_page.errors


def test_a_missing_plugin_says_so(browser_page, registry):
    p = browser_page.page
    p.goto(f"{registry.url}/plugins/no-such-plugin")
    alert = p.get_by_role("alert")
    alert.wait_for()
    assert "no plugin 'no-such-plugin'" in alert.inner_text()
    browser_page.axe("missing plugin")
    browser_page.shots("marketplace-missing")


def test_filter_by_tag_and_host_api(chromium_page, registry):
    p = chromium_page.page
    p.goto(f"{registry.url}/?tag=integration")
    p.get_by_text("3 plugins").wait_for()
    assert p.get_by_label("Tag").input_value() == "integration"
    p.goto(f"{registry.url}/?host_api=9.0.0")
    p.get_by_text("0 plugins").wait_for()
    chromium_page.axe("no results")


def test_pages_carry_a_strict_content_security_policy(registry):
    import httpx

    r = httpx.get(f"{registry.url}/")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    asset = httpx.get(registry.url + r.text.split('src="')[1].split('"')[0])
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]

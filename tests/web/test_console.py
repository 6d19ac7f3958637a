"""The host console in real browsers (Chromium and Firefox) against a real host that
installs from a real registry (its signed index served by a static mirror): sign in,
install by name with the keyboard only, switch versions and roll back through a
confirmation dialog, settings from the config schema with each error at its field,
write-only secrets, the live log, the fleet view. axe-core finds no serious or critical
violation in any state (dialogs open, errors shown); screenshots at phone and desktop
widths; no console errors under the page's strict Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..support.servers import ADMIN_TOKEN, Host
from .flows import DEMO, console_sign_in, registry_with_mirror


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, keys) -> Iterator[tuple[str, Path]]:
    with registry_with_mirror(tmp_path_factory.mktemp("console-registry"), keys) as (
            _reg, url, root):
        yield url, root


@pytest.fixture(scope="module")
def shared_host(tmp_path_factory, keys, mirror) -> Iterator[Host]:
    url, root = mirror
    h = Host(tmp_path_factory.mktemp("console") / "host", keys["pub"],
             extra_args=["--registry-url", url, "--registry-root", str(root)]).start()
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture
def host(shared_host) -> Iterator[Host]:
    """One host for the module, given back empty after each test: no plugin, no
    stored secret (starting one takes seconds)."""
    yield shared_host
    shared_host.admin.delete(f"/admin/plugins/{DEMO}/secrets/DEMO_TOKEN")
    for name in shared_host.installed():
        r = shared_host.admin.delete(f"/admin/plugins/{name}", params={"purge": "true"})
        assert r.status_code == 200, r.text


def installed(host: Host, version: str) -> None:
    r = host.admin.post("/admin/plugins", json={"name": DEMO, "range": version})
    assert r.status_code == 201, r.text


def test_sign_in_and_install_by_name_with_the_keyboard_only(browser_page, host):
    bp, p = browser_page, browser_page.page
    p.goto(f"{host.url}/console")
    p.get_by_role("heading", name="Sign in").wait_for()
    bp.axe("sign-in")
    bp.shots("console-sign-in")
    # a wrong token is refused, said in words, and nothing else happens
    p.get_by_label("Token", exact=True).fill("not-the-token")
    p.get_by_role("button", name="Sign in with the token").click()
    assert "unknown or revoked" in p.get_by_role("alert").inner_text()
    bp.axe("sign-in refused")
    p.get_by_label("Token", exact=True).fill("")

    # keyboard only from here: to the token field, type it, Enter
    p.get_by_label("Token", exact=True).focus()
    p.keyboard.type(ADMIN_TOKEN)
    p.keyboard.press("Enter")
    p.get_by_role("heading", level=1, name="Plugins on this host").wait_for()
    p.get_by_text("No plugin is installed yet.").wait_for()
    # the names offered follow what is typed (the host asks the index for matches)
    offered = p.locator("#registry-names option")
    offered.first.wait_for(state="attached")
    assert offered.count() == 1
    p.get_by_label("Plugin", exact=True).press_sequentially("zzz")
    offered.first.wait_for(state="detached")  # no name contains zzz
    for _ in "zzz":
        p.keyboard.press("Backspace")
    offered.first.wait_for(state="attached")
    p.get_by_label("Plugin", exact=True).focus()
    p.keyboard.type(DEMO)
    p.keyboard.press("Tab")
    assert p.evaluate("document.activeElement.name") == "range"
    p.keyboard.press("Control+a")
    p.keyboard.type("1.0.0")
    p.keyboard.press("Enter")
    p.get_by_text(f"Installed {DEMO} 1.0.0.").wait_for()
    row = p.locator("tbody tr", has_text=DEMO)
    assert "1.0.0" in row.inner_text()
    assert host.installed() == [DEMO]
    bp.axe("plugins")
    bp.shots("console-plugins")

    # a name the registry does not have: the error, at the form
    p.get_by_label("Plugin", exact=True).fill("no-such-plugin")
    p.get_by_label("Version range").fill("*")
    p.get_by_role("button", name="Install").click()
    assert "no-such-plugin" in p.get_by_role("alert").inner_text()
    bp.axe("install refused")
    assert host.installed() == [DEMO]
    # the browser logs the two refusals the test asked for; nothing else went wrong
    assert bp.unexpected_errors(401, 409) == [], bp.errors


def test_switch_versions_and_roll_back_after_confirming(browser_page, host):
    bp, p = browser_page, browser_page.page
    installed(host, "1.0.0")
    console_sign_in(bp, host)
    p.get_by_role("link", name=DEMO).click()
    p.get_by_role("heading", level=1, name=DEMO).wait_for()
    assert p.get_by_label("Switch to").input_value() == "1.1.0"

    # cancelled: nothing changes
    p.get_by_role("button", name="Switch…").click()
    dialog = p.get_by_role("dialog", name=f"Switch {DEMO} to 1.1.0?")
    dialog.wait_for()
    assert "no request fails" in dialog.inner_text()
    bp.axe("upgrade dialog")
    bp.shots("console-upgrade-dialog")
    p.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert host.client.get(f"/plugins/{DEMO}/api/state").json()["version"] == "1.0.0"

    # confirmed with the keyboard: the host switches
    p.get_by_role("button", name="Switch…").click()
    dialog.wait_for()
    dialog.get_by_role("button", name="Switch").focus()
    p.keyboard.press("Enter")
    p.get_by_text(f"{DEMO} now runs 1.1.0 (was 1.0.0).").wait_for()
    assert host.client.get(f"/plugins/{DEMO}/api/state").json()["version"] == "1.1.0"

    p.get_by_role("button", name="Roll back to 1.0.0…").click()
    back = p.get_by_role("dialog", name=f"Roll {DEMO} back to 1.0.0?")
    back.wait_for()
    bp.axe("rollback dialog")
    back.get_by_role("button", name="Roll back").click()
    p.get_by_text(f"{DEMO} now runs 1.0.0 (was 1.1.0).").wait_for()
    assert host.client.get(f"/plugins/{DEMO}/api/state").json()["version"] == "1.0.0"
    assert bp.errors == [], bp.errors


def test_settings_form_shows_each_error_at_its_field(chromium_page, host):
    bp, p = chromium_page, chromium_page.page
    installed(host, "1.1.0")
    console_sign_in(bp, host)
    p.goto(f"{host.url}/console/plugins/{DEMO}")
    p.get_by_role("heading", name="Settings").wait_for()
    assert "config: limit: required" in p.get_by_role("list", name="Warnings").inner_text()
    limit = p.get_by_label("limit")
    form = p.get_by_role("form", name=f"Settings of {DEMO}")

    # a number that is not one: caught before sending, shown at the field
    limit.fill("ten")
    p.get_by_label("branches").fill("[not json")
    p.get_by_role("button", name="Save settings").click()
    assert "must be a whole number" in form.inner_text()
    assert limit.get_attribute("aria-invalid") == "true"
    assert "must be JSON (an array)" in form.inner_text()
    bp.axe("settings with errors")
    bp.shots("console-settings-errors")

    # left empty: the host's check names the key, and the form shows it there
    limit.fill("")
    p.get_by_label("branches").fill('["CPL", "MPL"]')
    p.get_by_role("button", name="Save settings").click()
    p.get_by_text("Nothing was saved").wait_for()
    described = limit.get_attribute("aria-describedby")
    assert "required" in p.locator(f"[id='{described.split()[-1]}']").inner_text()
    assert host.client.get(f"/plugins/{DEMO}/api/state").json()["config"].get("limit") is None

    limit.fill("25")
    p.get_by_label("greeting").fill("Hej")
    p.get_by_label("loud").check()
    p.get_by_label("colour").select_option("red")
    p.get_by_role("button", name="Save settings").click()
    p.get_by_text(f"Settings of {DEMO} saved").wait_for()
    config = host.client.get(f"/plugins/{DEMO}/api/state").json()["config"]
    assert config == {"greeting": "Hej", "limit": 25, "loud": True, "colour": "red",
                      "branches": ["CPL", "MPL"]}
    assert bp.unexpected_errors(422) == [], bp.errors


def test_secrets_are_set_and_removed_never_shown(chromium_page, host):
    bp, p = chromium_page, chromium_page.page
    installed(host, "1.1.0")
    console_sign_in(bp, host)
    p.goto(f"{host.url}/console/plugins/{DEMO}")
    field = p.get_by_label("DEMO_TOKEN (unset)")
    field.fill("s3cret-value-42")
    p.get_by_role("button", name="Set DEMO_TOKEN").click()
    p.get_by_text("DEMO_TOKEN is set.").wait_for()
    assert p.get_by_label("DEMO_TOKEN (set (admin API))").input_value() == ""
    assert "s3cret-value-42" not in p.content()
    assert "s3cret-value-42" not in host.admin.get(f"/admin/plugins/{DEMO}").text
    assert host.client.get(f"/plugins/{DEMO}/api/state").json()["token"] == "s3cret-value-42"
    bp.axe("secret set")
    p.get_by_role("button", name="Remove").click()
    p.get_by_text("The stored value of DEMO_TOKEN is removed.").wait_for()
    assert host.client.get(f"/plugins/{DEMO}/api/state").json()["token"] is None
    assert bp.errors == [], bp.errors


def test_the_log_shows_lines_as_they_are_written_and_the_fleet(chromium_page, host):
    bp, p = chromium_page, chromium_page.page
    installed(host, "1.0.0")
    console_sign_in(bp, host)
    p.goto(f"{host.url}/console/plugins/{DEMO}")
    log = p.get_by_role("log", name=f"Log of {DEMO}")
    log.wait_for()
    p.get_by_text("following").wait_for()
    for _ in range(3):
        assert httpx.get(f"{host.url}/plugins/{DEMO}/api/state").status_code == 200
    p.wait_for_function(
        "() => document.querySelector('[role=log]').innerText.split('state.read').length > 3")
    bp.shots("console-plugin")
    p.get_by_role("button", name="Pause").click()
    p.get_by_text("paused").wait_for()
    bp.axe("plugin page, log paused")

    p.goto(f"{host.url}/console")
    p.get_by_role("heading", name="Fleet").wait_for()
    assert "(this host)" in p.locator("section", has_text="Fleet").inner_text()
    assert bp.errors == [], bp.errors


def test_the_console_needs_the_admin_role(host):
    """The page is public (it holds no data); everything it shows comes from the admin
    API, which refuses a caller without the host-admin role."""
    r = httpx.get(f"{host.url}/console")
    assert r.status_code == 200 and "script-src 'self'" in r.headers["content-security-policy"]
    assert httpx.get(f"{host.url}/admin/plugins").status_code == 401
    assert httpx.get(f"{host.url}/admin/registry").status_code == 401

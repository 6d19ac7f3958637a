"""Signing in to the host console through the library's single sign-on, in real
browsers: the console's button goes to a real OpenID provider (node's oidc-provider),
the person signs in there, and comes back to the console signed in (a one-time hand-off
code in the address, traded for the session and then cleared)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ops.processes import free_port
from tests.identity.conftest import USERS, identity_env
from tests.support.oidc import Idp, start_idp
from tests.support.servers import Host
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def sso(tmp_path_factory, keys) -> Iterator[tuple[Idp, Host]]:
    d = tmp_path_factory.mktemp("console-sso")
    port = free_port()
    idp = start_idp(d / "idp", [f"http://127.0.0.1:{port}/auth/oidc/callback"], USERS)
    host = None
    try:
        host = Host(d / "host", keys["pub"], port=port,
                    env=identity_env("PLUGIN_HOST_", idp, f"http://127.0.0.1:{port}")).start()
        yield idp, host
    finally:
        for s in (host, idp):
            if s is not None:
                s.stop()


def test_single_sign_on_brings_the_person_back_to_the_console(browser_page, sso):
    bp, p = browser_page, browser_page.page
    _idp, host = sso
    p.goto(f"{host.url}/console")
    p.get_by_role("link", name="Sign in with single sign-on (OpenID Connect)").click()
    p.locator("input[name=login]").wait_for()  # the provider's own page
    p.locator("input[name=login]").fill("hal")
    p.locator("input[name=password]").fill("any password")
    p.locator("button[type=submit]").click()
    consent = p.locator("button[type=submit]", has_text="Continue")
    consent.or_(p.get_by_role("heading", name="Plugins on this host")).first.wait_for()
    if consent.is_visible():
        consent.click()
    p.get_by_role("heading", level=1, name="Plugins on this host").wait_for()
    assert "Signed in as hal" in p.locator("header").inner_text()
    assert "#handoff" not in p.url and p.url.endswith("/console")
    p.get_by_text("this host has no registry").wait_for()
    bp.axe("signed in by single sign-on")

    token = p.evaluate("JSON.parse(sessionStorage.getItem('koha-session')).access_token")
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{host.url}/admin/plugins", headers=auth).status_code == 200

    # signing out forgets the session in the tab and ends it at the host
    p.get_by_role("button", name="Sign out").click()
    p.get_by_role("heading", name="Sign in").wait_for()
    assert p.evaluate("sessionStorage.length") == 0
    wait_until(lambda: httpx.get(f"{host.url}/admin/plugins", headers=auth).status_code == 401)
    # no script error, no request of ours refused (this host has no registry: the
    # console says so). The provider's pages reach for web fonts and an icon this
    # machine cannot load: those are not ours.
    assert [e for e in bp.errors if "Failed to load resource" not in e] == [], bp.errors
    assert [r for r in bp.refused if host.url in r] == [], bp.refused

"""Publishing, review and a publisher's own tools in the marketplace, in real browsers
(Chromium and Firefox) against a real registry: a publisher uploads a package and reads
the automated checks' report (failing, then passing); a reviewer finds it in the queue,
reads the checks and the diff against the version before, and approves it with the
keyboard only, after a rejection without a comment is refused at its field; the
publisher yanks and un-yanks a version and deprecates the plugin, each after a
confirmation dialog; the plugin's README and CHANGELOG, and the publisher's page.
axe-core on every page and state; screenshots at phone and desktop widths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..support.paths import EXAMPLES, FIRST_PARTY
from ..support.plugins import signed, variant
from ..support.servers import RegistryProc, publish_and_approve, start_registry
from .flows import changed_hello, market_sign_in


@pytest.fixture
def registry(tmp_path, keys) -> Iterator[RegistryProc]:
    reg = start_registry(tmp_path / "registry", tmp_path / "registry.log",
                         keys["pub"].read_text())
    try:
        for folder in (EXAMPLES / "hello-world", FIRST_PARTY / "alma"):
            publish_and_approve(reg, signed(folder, keys["key"], tmp_path / "packages"))
        yield reg
    finally:
        reg.stop()


def test_publish_then_review_with_the_keyboard(browser_page, registry, keys, tmp_path):
    bp, p = browser_page, browser_page.page
    market_sign_in(bp, registry, "publisher", "/publish")
    bp.axe("publish")

    # a package whose dependency the registry does not have: the report, nothing kept
    broken = tmp_path / "broken.kplugin"
    broken.write_bytes(variant(tmp_path, "hello-world", "1.2.0", {"no-such-plugin": "^1"},
                               key=keys["key"]))
    p.get_by_label("Package (.kplugin)").set_input_files(str(broken))
    p.get_by_role("button", name="Publish").click()
    alert = p.get_by_role("alert")
    alert.wait_for()
    assert "failed the automated checks (dependencies)" in alert.inner_text()
    report = p.get_by_role("table", name="The automated checks")
    assert "no-such-plugin" in report.inner_text() and "failed" in report.inner_text()
    bp.axe("publish, checks failed")
    bp.shots("marketplace-publish-failed")

    good = changed_hello(tmp_path, keys["key"], "1.1.0")
    p.get_by_label("Package (.kplugin)").set_input_files(str(good))
    p.get_by_role("button", name="Publish").click()
    p.get_by_text("hello-world 1.1.0 passed the automated checks and waits for a "
                  "reviewer.").wait_for()
    assert "smoke-load" in p.get_by_role("table", name="The automated checks").inner_text()
    bp.axe("publish, in review")
    p.get_by_role("button", name="Sign out").click()

    # the reviewer, keyboard only: the queue, the release, its diff, the decision
    market_sign_in(bp, registry, "reviewer", "/review")
    link = p.get_by_role("link", name="hello-world 1.1.0")
    link.wait_for()
    bp.axe("review queue")
    bp.shots("marketplace-review-queue")
    link.focus()
    p.keyboard.press("Enter")
    p.get_by_role("heading", level=1, name="Review hello-world 1.1.0").wait_for()
    p.get_by_role("heading", name="What changed since 1.0.0").wait_for()
    code = p.get_by_label("Changes to hello_world/__init__.py")
    assert '+    return {"greeting": f"Hello there, {' in code.inner_text()
    bp.axe("review")
    bp.shots("marketplace-review")

    p.get_by_role("button", name="Reject").focus()
    p.keyboard.press("Enter")
    comment = p.get_by_label("Comment")
    p.get_by_role("alert").wait_for()
    assert comment.get_attribute("aria-invalid") == "true"
    assert "say why it is rejected" in p.get_by_role("alert").inner_text()
    bp.axe("review, rejection refused")
    comment.focus()
    p.keyboard.type("Greets a little more warmly; checked the diff.")
    p.keyboard.press("Tab")
    p.keyboard.press("Enter")  # Approve
    p.get_by_text("hello-world 1.1.0 is approved: hosts can install it now.").wait_for()
    page = registry.client().get("/api/v1/plugins/hello-world").json()
    assert [v["version"] for v in page["versions"]] == ["1.1.0", "1.0.0"]
    r = registry.client("reviewer").get("/api/v1/review/queue").json()
    assert r["queue"] == []
    assert bp.unexpected_errors(422) == [], bp.errors


def test_a_publisher_yanks_and_deprecates_after_confirming(browser_page, registry):
    bp, p = browser_page, browser_page.page
    market_sign_in(bp, registry, "publisher", "/plugins/hello-world")
    manage = p.get_by_role("heading", name="Manage (you publish it)")
    manage.wait_for()
    p.get_by_role("button", name="Yank 1.0.0…").click()
    dialog = p.get_by_role("dialog", name="Yank hello-world 1.0.0?")
    dialog.wait_for()
    bp.axe("yank dialog")
    bp.shots("marketplace-yank-dialog")
    dialog.get_by_role("button", name="Yank").click()
    p.get_by_text("hello-world 1.0.0 is yanked.").wait_for()
    public = registry.client().get("/api/v1/plugins/hello-world").json()
    assert public["versions"][0]["yanked"] is True
    p.get_by_role("button", name="Un-yank 1.0.0…").click()
    p.get_by_role("dialog", name="Un-yank hello-world 1.0.0?").get_by_role(
        "button", name="Un-yank").click()
    p.get_by_text("hello-world 1.0.0 is back in resolution.").wait_for()
    assert registry.client().get("/api/v1/plugins/hello-world").json()[
        "versions"][0]["yanked"] is False

    p.get_by_role("button", name="Yank 1.0.0…").wait_for()
    p.get_by_label("Deprecation message").fill("Use book-notes instead")
    p.get_by_role("button", name="Save deprecation…").click()
    confirm = p.get_by_role("dialog", name="Deprecate hello-world?")
    assert "Use book-notes instead" in confirm.inner_text()
    # Escape cancels: nothing changes
    p.keyboard.press("Escape")
    confirm.wait_for(state="hidden")
    assert registry.client().get("/api/v1/plugins/hello-world").json()["deprecated"] is None
    p.get_by_role("button", name="Save deprecation…").click()
    confirm.get_by_role("button", name="Deprecate").click()
    p.get_by_text("Deprecated: Use book-notes instead").wait_for()
    assert registry.client().get("/api/v1/plugins/hello-world").json()[
        "deprecated"] == "Use book-notes instead"
    bp.axe("deprecated")
    assert bp.errors == [], bp.errors


def test_readme_changelog_and_the_publishers_page(chromium_page, registry):
    bp, p = chromium_page, chromium_page.page
    p.goto(f"{registry.url}/plugins/alma")
    p.get_by_role("heading", name="Read me (version 1.0.0)").wait_for()
    readme = p.locator("section", has=p.get_by_role("heading", name="Read me (version 1.0.0)"))
    assert "A first-party plugin for the Koha SHAD CN plugin host." in readme.inner_text()
    # a link inside the author's repository keeps its words, not a broken address
    assert "docs/integrations/alma.md" in readme.inner_text() and "](" not in readme.inner_text()
    changes = p.locator("section", has=p.get_by_role("heading", name="Changes"))
    assert "First release: Ex Libris Alma" in changes.inner_text()
    # no Manage section for someone who did not publish it
    assert p.get_by_role("heading", name="Manage (you publish it)").count() == 0
    bp.shots("marketplace-plugin-readme")

    p.get_by_role("link", name="publisher", exact=True).click()
    p.get_by_role("heading", level=1, name="publisher").wait_for()
    body = p.locator("main").inner_text()
    assert "alma" in body and "hello-world" in body and "Signing keys" in body
    bp.axe("publisher page")
    bp.shots("marketplace-publisher")
    assert bp.errors == [], bp.errors


HOSTILE_README = """# Evil plugin

<img src=x onerror="window.pwned = 1"> <script>window.pwned = 2</script>

[Click me](javascript:window.pwned=3) and [the docs](https://example.org/docs).
"""


def test_a_readme_cannot_put_markup_or_script_in_the_page(chromium_page, registry, keys,
                                                         tmp_path):
    """A publisher's README is text: HTML in it is shown as written, a javascript: link
    is not a link; only http(s) links are."""
    bp, p = chromium_page, chromium_page.page
    pkg = changed_hello(tmp_path, keys["key"], "1.0.1", readme=HOSTILE_README)
    publish_and_approve(registry, pkg.read_bytes())
    p.goto(f"{registry.url}/plugins/hello-world")
    section = p.locator("section", has=p.get_by_role("heading", name="Read me (version 1.0.1)"))
    section.wait_for()
    assert '<img src=x onerror="window.pwned = 1">' in section.inner_text()
    assert p.evaluate("window.pwned") is None
    assert section.locator("img, script").count() == 0
    hrefs = section.get_by_role("link").evaluate_all("ls => ls.map(l => l.href)")
    assert hrefs == ["https://example.org/docs"]
    assert bp.errors == [], bp.errors

"""The slot loader on a page shaped like Koha's staff start page (the host's /ui/demo,
the loader included as the Koha bridge includes it, with its SRI hash), in Chromium and
Firefox: a working component is mounted; one that throws, one that never starts and one
whose bytes no longer match their hash each leave a note naming the plugin and why, and
the rest of the page works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.plugins import signed
from ..support.servers import Host

BROKEN = {
    "ui-throws": 'export function mount() { throw new Error("boom"); }\n',
    "ui-never": "await new Promise(() => {});\nexport function mount() {}\n",
    "ui-tampered": 'export function mount(el) { el.textContent = "original"; }\n',
}


def ui_plugin(root: Path, name: str, code: str) -> Path:
    src = root / name
    (src / "ui").mkdir(parents=True)
    (src / "plugin.toml").write_text(f'''[plugin]
name = "{name}"
version = "1.0.0"
summary = "A staff dashboard component that fails in its own way"
authors = ["Tests <tests@example.org>"]
license = "MIT"
host_api = "^1.0"

[[ui.components]]
slot = "staff.dashboard"
module = "ui/c.js"
export = "mount"
''')
    (src / "ui" / "c.js").write_text(code)
    return src


@pytest.fixture(scope="module")
def host(tmp_path_factory, keys, packages) -> Iterator[Host]:
    tmp = tmp_path_factory.mktemp("slots")
    h = Host(tmp / "host", keys["pub"]).start()
    try:
        assert h.install(packages["hook-recorder"]).status_code == 201
        for name, code in BROKEN.items():
            r = h.install(signed(ui_plugin(tmp / "src", name, code), keys["key"], tmp / "pkg"))
            assert r.status_code == 201, r.text
        # the installed bundle changed on disk after its hash was recorded
        tampered = h.data_dir / "plugins" / "ui-tampered" / "1.0.0" / "ui" / "c.js"
        tampered.write_text(tampered.read_text().replace("original", "tampered"))
        yield h
    finally:
        h.stop()


def test_one_broken_component_never_breaks_the_page(browser_page, host):
    p = browser_page.page
    p.goto(f"{host.url}/ui/demo?timeout_ms=2500")
    p.wait_for_selector("html[data-koha-slots-loaded=true]", timeout=20000)
    slot = p.locator('[data-koha-slot="staff.dashboard"]')
    assert slot.locator('[data-koha-plugin="hook-recorder"]').inner_text() == \
        "hook-recorder is here"
    notes = {n.split(":")[0]: n for n in slot.locator(".koha-slot-error").all_inner_texts()}
    assert set(notes) == {"ui-throws", "ui-never", "ui-tampered"}, notes
    assert "staff.dashboard" in notes["ui-throws"] and "boom" in notes["ui-throws"]
    assert "did not start in time" in notes["ui-never"]
    assert "do not match their hash" in notes["ui-tampered"]
    assert "tampered" not in slot.inner_text().replace("ui-tampered", "")
    # the page around them still works
    assert p.get_by_role("heading", level=1).inner_text() == "Koha staff interface"
    p.get_by_role("link", name="Patrons").first.focus()
    browser_page.axe("staff page with failed components")
    browser_page.shots("slot-loader-staff-page")

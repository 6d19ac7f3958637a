"""The Koha events and UI slots a plugin may name: a made-up or misspelt one is refused
at pack, publish and install with a did-you-mean; the hook route refuses an unknown
event and a payload of the wrong shape naming the field; the docs page is generated
from the same catalogue."""

from __future__ import annotations

import subprocess
import sys

import pytest

from plugin_host import koha
from plugin_host.errors import PluginHostError
from plugin_host.package.archive import pack
from plugin_host.package.signing import sign_package

from .support.paths import EXAMPLES, ROOT


def test_the_docs_page_is_generated_from_the_catalogue():
    page = (ROOT / "docs" / "plugins" / "koha-events.md").read_text()
    assert page == koha.markdown(), "run `./dev schema`"
    for event in koha.EVENTS:
        assert f"### `{event}`" in page
    for slot in koha.SLOTS:
        assert f"| `{slot}` |" in page


@pytest.mark.parametrize("event", list(koha.EVENTS))
def test_every_event_has_a_valid_example_and_names_a_missing_field(event):
    payload = koha.example(event)
    assert koha.validate_payload(event, payload) == payload
    required = [f for f, info in koha.EVENTS[event][1].model_fields.items() if info.is_required()]
    for field in required:
        with pytest.raises(PluginHostError) as e:
            koha.validate_payload(event, {k: v for k, v in payload.items() if k != field})
        assert e.value.status == 422 and f"{field}: Field required" in e.value.message
    with pytest.raises(PluginHostError) as e:
        koha.validate_payload(event, ["not", "an", "object"])
    assert e.value.status == 422 and e.value.code == "invalid_payload"


def _with(src, old: str, new: str):
    toml = src / "plugin.toml"
    toml.write_text(toml.read_text().replace(old, new))
    return src


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('hooks = ["biblio.after_save"]', 'hooks = ["biblio.aftersave"]',
     "permissions.hooks: 'biblio.aftersave' is not a Koha event: did you mean "
     "'biblio.after_save'?"),
    ('slot = "opac.biblio.sidebar"', 'slot = "opac.biblio.sidebarr"',
     "ui.components.0.slot: 'opac.biblio.sidebarr' is not a UI slot: did you mean "
     "'opac.biblio.sidebar'?"),
    ('slot = "opac.biblio.sidebar"', 'slot = "my.made.up"',
     "ui.components.0.slot: 'my.made.up' is not a UI slot (the slots:"),
])
def test_pack_refuses_an_event_or_slot_koha_does_not_have(plugin_copy, old, new, expected):
    src = _with(plugin_copy(EXAMPLES / "hello-world"), old, new)
    r = subprocess.run([sys.executable, "-m", "plugin_host.cli", "plugin", "pack", str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and expected in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.fixture
def made_up_slot(plugin_copy, keys, tmp_path, monkeypatch) -> bytes:
    """A package naming a slot Koha does not have, packed by a packer that does not
    check (an old or hostile one), and signed by a trusted key."""
    src = _with(plugin_copy(EXAMPLES / "hello-world"), 'slot = "opac.biblio.sidebar"',
                'slot = "opac.biblio.sidebarr"')
    monkeypatch.setattr("plugin_host.package.archive.check_names", lambda m: None)
    path = pack(src, tmp_path)
    sign_package(path, keys["key"])
    return path.read_bytes()


def test_the_host_and_the_registry_refuse_it_too(host, registry, made_up_slot):
    r = host.install(made_up_slot)
    assert r.status_code == 422, r.text
    assert "'opac.biblio.sidebarr' is not a UI slot: did you mean 'opac.biblio.sidebar'?" in \
        r.json()["error"]["message"]
    assert host.installed() == []
    r = registry.client("publisher").post("/api/v1/packages", content=made_up_slot,
                                          headers={"Content-Type": "application/zip"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "checks_failed", r.text
    manifest = next(c for c in r.json()["error"]["checks"] if c["name"] == "manifest")
    assert manifest["status"] == "fail" and "did you mean 'opac.biblio.sidebar'" in \
        manifest["detail"]


def test_the_hook_route_refuses_an_unknown_event_and_a_bad_payload(host, packages):
    assert host.install(packages["hello-world"]).status_code == 201
    r = host.hook("biblio.aftersave", {"biblionumber": 42})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_event"
    assert "did you mean 'biblio.after_save'?" in r.json()["error"]["message"]
    r = host.hook("biblio.after_save", {"biblionumber": "forty-two"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_payload"
    assert "biblionumber: Input should be a valid integer" in r.json()["error"]["message"]
    r = host.hook("biblio.after_save", {"biblionumber": 42, "extra": 1})
    assert r.status_code == 200, r.text
    assert [x["plugin"] for x in r.json()["results"]] == ["hello-world"]


def test_the_test_client_delivers_events_as_the_host_does():
    """Authors' tests: a valid example of the event with the fields they care about, and
    the same refusal as the host for a payload of the wrong shape."""
    from plugin_host.sdk.testing import PluginTestClient

    client = PluginTestClient.from_folder(EXAMPLES / "hello-world")
    assert client.hook("biblio.after_save", biblionumber=7) == {"greeted_record": 7}
    with pytest.raises(PluginHostError) as e:
        client.hook("biblio.after_save", {"biblionumber": -1})
    assert "biblionumber: Input should be greater than 0" in e.value.message

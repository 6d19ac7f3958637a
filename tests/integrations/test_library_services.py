"""The first-party integration plugins (plugins/), published to a real registry,
installed by name on a real host from its signed index, calling faithful fakes of
OCLC WorldCat, Ex Libris Alma and Koha's REST API over HTTP with the credentials the host
holds: the reads a library does, then each upstream's faults (429 with Retry-After, 503
until the circuit opens, half-open and closed again, an expired OAuth token, a slow
answer cut at its timeout), each seen in the metrics.

The operator's override (PLUGIN_HOST_UPSTREAMS) points the plugins at the fakes and
tightens the policies so the faults show in seconds."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator

import pytest

from ..support.paths import FIRST_PARTY
from ..support.plugins import signed
from ..support.servers import Host, publish_and_approve, start_registry, static_files
from ..support.services.alma import Alma
from ..support.services.base import Fault, serving
from ..support.services.koha_rest import KohaRest
from ..support.services.worldcat import WorldCat
from .test_upstreams import metric

FAST = {"retries": 1, "backoff_ms": 20, "timeout_ms": 1000,
        "breaker": {"failures": 2, "reset_seconds": 1}}


@pytest.fixture(scope="module")
def services() -> Iterator[dict]:
    with serving(WorldCat()) as wc, serving(Alma()) as alma, serving(KohaRest()) as koha:
        yield {"worldcat": wc, "alma": alma, "koha": koha}


def overrides(s: dict) -> dict:
    wc, alma, koha = s["worldcat"].url, s["alma"].url, s["koha"].url
    return {
        "oclc-worldcat": {
            "search": {"url": f"{wc}/worldcat/search/v2", "auth": {"token_url": f"{wc}/token"},
                       **FAST},
            "metadata": {"url": f"{wc}/worldcat", "auth": {"token_url": f"{wc}/token"},
                         **FAST}},
        "alma": {"alma": {"url": f"{alma}/almaws/v1", **FAST}},
        "koha-rest": {"koha": {"url": f"{koha}/api/v1",
                               "auth": {"token_url": f"{koha}/api/v1/oauth/token"}, **FAST}}}


@pytest.fixture(scope="module")
def host(tmp_path_factory, keys, services) -> Iterator[Host]:
    tmp = tmp_path_factory.mktemp("library-services")
    reg = start_registry(tmp / "registry", tmp / "registry.log", keys["pub"].read_text())
    mirror = h = None
    try:
        for folder in sorted(FIRST_PARTY.iterdir()):
            publish_and_approve(reg, signed(folder, keys["key"], tmp / "packages"))
        root = tmp / "root.json"
        shutil.copy(reg.storage / "metadata" / "root.json", root)
        mirror = static_files(reg.storage, tmp / "mirror.log")
        h = Host(tmp / "host", keys["pub"],
                 env={"PLUGIN_HOST_UPSTREAMS": json.dumps(overrides(services))},
                 extra_args=["--registry-url", mirror.url, "--registry-root", str(root)]).start()
        for name in ("oclc-worldcat", "alma", "koha-rest"):
            r = h.admin.post("/admin/plugins", json={"name": name, "range": "^1"})
            assert r.status_code == 201, r.text
        wc, alma, koha = services["worldcat"], services["alma"], services["koha"]
        for plugin, name, value in (
                ("oclc-worldcat", "OCLC_WSKEY", wc.client_id),
                ("oclc-worldcat", "OCLC_SECRET", wc.client_secret),
                ("alma", "ALMA_API_KEY", alma.api_key),
                ("koha-rest", "KOHA_CLIENT_ID", koha.client_id),
                ("koha-rest", "KOHA_CLIENT_SECRET", koha.client_secret)):
            r = h.admin.put(f"/admin/plugins/{plugin}/secrets/{name}", json={"value": value})
            assert r.status_code == 200, r.text
        yield h
    finally:
        for stop in (h, mirror, reg):
            if stop is not None:
                stop.stop()


def get(host: Host, path: str, status: int = 200) -> dict:
    r = host.client.get(path)
    assert r.status_code == status, (path, r.status_code, r.text)
    return r.json()


def test_a_worldcat_search_holdings_and_metadata_fetch(host, services):
    found = get(host, "/plugins/oclc-worldcat/api/search?isbn=9780441013593")
    assert [(r["source"], r["id"], r["title"]) for r in found["records"]] == [
        ("worldcat", "57483598", "Dune")]
    record = get(host, "/plugins/oclc-worldcat/api/records/57483598")
    assert record["publisher"] == "Ace Books" and record["isbns"] == ["9780441013593"]
    held = get(host, "/plugins/oclc-worldcat/api/holdings/57483598?symbol=HLT")
    assert [i["name"] for i in held["institutions"]] == ["Horowhenua Libraries"]
    # one token per upstream, each with its own scope, fetched with the WSKey in Basic
    assert {"wcapi", "WorldCatMetadataAPI"} <= set(services["worldcat"].token_scopes)
    get(host, "/plugins/oclc-worldcat/api/records/12345", 404)


def test_an_alma_item_by_barcode_through_almas_redirect(host, services):
    item = get(host, "/plugins/alma/api/items/39000000002")
    assert (item["barcode"], item["status"], item["record"]["title"]) == (
        "39000000002", "Item in place", "Koha")
    calls = [c for c in services["alma"].calls if "39000000002" in str(c.query)
             or c.path.endswith("/items/231234570001021")]
    assert [c.path for c in calls] == [
        "/almaws/v1/items",
        "/almaws/v1/bibs/991234570001021/holdings/221234570001021/items/231234570001021"]
    assert all(c.headers["authorization"].startswith("apikey ") for c in calls)
    assert get(host, "/plugins/alma/api/users/alan.turing")["group"] == "Staff"
    get(host, "/plugins/alma/api/items/39000009999", 404)


def test_koha_biblio_and_patron_reads(host, services):
    biblio = get(host, "/plugins/koha-rest/api/biblios/42")
    assert (biblio["source"], biblio["title"], biblio["authors"]) == (
        "koha", "Dune", ["Herbert, Frank"])
    assert get(host, "/plugins/koha-rest/api/patrons/7")["cardnumber"] == "23529000001"
    found = get(host, "/plugins/koha-rest/api/patrons?cardnumber=23529000002")
    assert [p["surname"] for p in found["patrons"]] == ["Turing"]
    holds = get(host, "/plugins/koha-rest/api/patrons/7/holds")
    assert holds["total"] == 2
    assert get(host, "/plugins/koha-rest/api/patrons/7/checkouts")["checkouts"][0][
        "item_id"] == 1001


# (service, its plugin, the upstream a call goes to, a call that succeeds)
CASES = [("worldcat", "oclc-worldcat", "search", "/plugins/oclc-worldcat/api/search?q=dune"),
         ("alma", "alma", "alma", "/plugins/alma/api/bibs/991234560001021"),
         ("koha", "koha-rest", "koha", "/plugins/koha-rest/api/patrons/7")]


def wait_closed(host: Host, plugin: str, upstream: str, path: str) -> None:
    """The circuit from a fault test before is closed again (reset is 1 s)."""
    deadline = time.monotonic() + 5
    while host.client.get(path).status_code != 200:
        assert time.monotonic() < deadline, "the circuit never closed again"
        time.sleep(0.3)


@pytest.mark.parametrize("service,plugin,upstream,path", CASES, ids=[c[0] for c in CASES])
def test_faults_per_upstream(host, services, service, plugin, upstream, path):
    fake = services[service]
    labels = {"plugin": plugin, "upstream": upstream}
    wait_closed(host, plugin, upstream, path)

    # 429 with Retry-After: the host waits as told, then gets the answer
    before = metric(host, "plugin_host_upstream_throttled_total", source="upstream", **labels)
    fake.plan(Fault(429, retry_after="1"))
    start = time.monotonic()
    get(host, path)
    assert time.monotonic() - start >= 0.9
    assert metric(host, "plugin_host_upstream_throttled_total", source="upstream",
                  **labels) == before + 1

    # 503 retried (twice, then the last answer is the plugin's 502), again: circuit open
    fake.plan(*[Fault(503)] * 4)
    calls = len(fake.calls)
    assert host.client.get(path).status_code == 502
    assert host.client.get(path).status_code == 502
    assert len(fake.calls) == calls + 4
    assert metric(host, "plugin_host_upstream_circuit_state", **labels) == 1
    r = host.client.get(path)
    assert r.status_code == 503 and "circuit open" in r.json()["error"], r.text
    assert len(fake.calls) == calls + 4  # failed fast: the upstream never saw it
    view = host.admin.get(f"/admin/plugins/{plugin}").json()["upstreams"][upstream]
    assert view["breaker"] == "open" and "503" in view["last_error"]
    # half-open after reset_seconds: one trial call, which succeeds and closes it
    time.sleep(1.1)
    get(host, path)
    assert metric(host, "plugin_host_upstream_circuit_state", **labels) == 0

    # a slow upstream is cut at its timeout (1 s per attempt, two attempts)
    fake.plan(Fault(delay=1.5), Fault(delay=1.5))
    before = metric(host, "plugin_host_upstream_requests_total", outcome="timeout", **labels)
    r = host.client.get(path)
    assert r.status_code == 503 and "no answer within" in r.json()["error"], r.text
    assert metric(host, "plugin_host_upstream_requests_total", outcome="timeout",
                  **labels) == before + 2
    time.sleep(1.6)  # the fake's sleeping threads finish; the circuit may reset
    wait_closed(host, plugin, upstream, path)

    if fake.token_path is not None:  # an expired OAuth token: refreshed once
        tokens = fake.token_requests
        fetched = metric(host, "plugin_host_upstream_token_requests_total", outcome="ok",
                         **labels)
        fake.revoke_tokens()
        get(host, path)
        assert fake.token_requests == tokens + 1
        assert metric(host, "plugin_host_upstream_token_requests_total", outcome="ok",
                      **labels) == fetched + 1

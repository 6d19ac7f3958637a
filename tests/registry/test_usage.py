"""Opt-in usage reports from real hosts to a real registry, shown as active installs in
the catalogue: counted once per host and plugin, only from hosts whose operator turned
it on, only for plugins the registry lists; what a report may hold is fixed, and one
address cannot inflate the counts past a limit."""

from __future__ import annotations

import time
import uuid

from ..support.servers import publish_and_approve


def installs(registry, name: str) -> int:
    return registry.client().get(f"/api/v1/plugins/{name}").json()["active_installs"]


def wait_for(registry, name: str, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while installs(registry, name) != count:
        assert time.monotonic() < deadline, f"{name}: {installs(registry, name)} != {count}"
        time.sleep(0.3)


def test_hosts_that_opt_in_are_counted_as_active_installs(registry, host_factory, packages):
    publish_and_approve(registry, packages["hello-world"])
    assert installs(registry, "hello-world") == 0
    reporting = {"PLUGIN_HOST_USAGE_REPORTING": "true",
                 "PLUGIN_HOST_USAGE_REPORT_INTERVAL": "1",
                 "PLUGIN_HOST_REGISTRY_API_URL": registry.url}
    first = host_factory(env=reporting)
    for name in ("hello-world", "book-notes"):  # book-notes is not in this registry
        assert first.install(packages[name]).status_code == 201
    wait_for(registry, "hello-world", 1)
    second = host_factory(env=reporting)
    assert second.install(packages["hello-world"]).status_code == 201
    wait_for(registry, "hello-world", 2)
    silent = host_factory()  # usage_reporting is off by default
    assert silent.install(packages["hello-world"]).status_code == 201
    time.sleep(3)  # several more reports from the first two
    assert installs(registry, "hello-world") == 2
    listing = registry.client().get("/api/v1/plugins", params={"sort": "installs"}).json()
    assert listing["plugins"][0]["name"] == "hello-world"
    assert listing["plugins"][0]["active_installs"] == 2
    assert (first.data_dir / "installation-id").read_text().strip() != (
        second.data_dir / "installation-id").read_text().strip()
    assert "host.usage_reported" in first.log_text()


def test_a_report_holds_what_the_docs_say_and_nothing_else(registry, packages):
    publish_and_approve(registry, packages["hello-world"])
    c = registry.client()
    ok = {"installation": uuid.uuid4().hex, "host_version": "1.0.0",
          "plugins": [{"name": "hello-world", "version": "1.0.0"},
                      {"name": "not-listed-here", "version": "1.0.0"}]}
    r = c.post("/api/v1/usage", json=ok)
    assert r.status_code == 202, r.text
    assert r.json()["counted"] == ["hello-world"] and r.json()["ignored"] == ["not-listed-here"]
    assert c.post("/api/v1/usage", json=ok).status_code == 202  # the same day: once
    assert installs(registry, "hello-world") == 1
    refused = {
        "an installation id that is not ours": {**ok, "installation": "host-1.library.org"},
        "more than the report holds": {**ok, "hostname": "host-1.library.org"},
        "a plugin with extra fields": {**ok, "plugins": [{"name": "hello-world",
                                                          "version": "1", "config": {}}]},
        "a name that is no plugin name": {**ok, "plugins": [{"name": "../x", "version": "1"}]},
    }
    for what, body in refused.items():
        r = c.post("/api/v1/usage", json=body)
        assert r.status_code == 422, (what, r.text)
        assert "Traceback" not in r.text
    r = c.post("/api/v1/usage", json={**ok, "installation": "Z" * 32})
    assert "installation" in r.json()["error"]["message"]
    assert installs(registry, "hello-world") == 1


def test_one_address_cannot_inflate_the_counts(registry, packages):
    publish_and_approve(registry, packages["hello-world"])
    c = registry.client()
    report = {"plugins": [{"name": "hello-world", "version": "1.0.0"}]}
    statuses = [c.post("/api/v1/usage", json={**report, "installation": uuid.uuid4().hex}
                       ).status_code for _ in range(55)]
    assert statuses[:50] == [202] * 50 and set(statuses[50:]) == {429}
    assert installs(registry, "hello-world") == 50
    metrics = c.get("/metrics").text
    assert 'registry_usage_reports_total{outcome="refused"} 5.0' in metrics


def test_usage_reporting_with_no_registry_or_one_that_refuses_harms_nothing(
        host_factory, packages, static_server, tmp_path):
    """Opted in but no registry API named: said once at start. A registry that is not
    there or answers something else: each failed report is logged and the host serves
    on, trying again at the next interval."""
    from ops.processes import free_port

    from ..support.waiting import wait_until

    reporting = {"PLUGIN_HOST_USAGE_REPORTING": "true", "PLUGIN_HOST_USAGE_REPORT_INTERVAL": "1"}
    alone = host_factory(env=reporting)
    assert wait_until(lambda: "host.usage_reporting_without_registry" in alone.log_text(),
                      timeout=10)
    site = tmp_path / "site"
    site.mkdir()
    for url in (f"http://127.0.0.1:{free_port()}", static_server(site).url):
        host = host_factory(env={**reporting, "PLUGIN_HOST_REGISTRY_API_URL": url})
        assert host.install(packages["hello-world"]).status_code == 201
        assert wait_until(lambda h=host: h.log_text().count("host.usage_report_failed") >= 2,
                          timeout=15), host.log_text()[-2000:]
        assert host.client.get("/plugins/hello-world/api/greet/x").status_code == 200

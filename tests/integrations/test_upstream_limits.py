"""``ctx.upstream``'s limits on a real host against a real (programmable) library
service: a daily quota used up and a rate limit with no room left are refused at once
without reaching the service; a Retry-After given as an HTTP date is honoured; a redirect
that would leave the upstream is handed to the plugin, not followed (the credentials do
not travel); an answer over the host's size limit, a service that is not there and a
credential the operator has not set each fail with a reason the plugin can read."""

from __future__ import annotations

import json
import time
from email.utils import formatdate

import pytest

from ops.processes import free_port
from tests.support.servers import OpenLibrary, serve_in_thread
from tests.support.upstream_fake import Plan, upstream_fake

from .test_upstreams import PLUGIN, call, metric, upstream_host


@pytest.fixture
def fake():
    with upstream_fake() as f:
        yield f


def test_quota_and_rate_limit_refuse_without_reaching_the_service(host_factory, packages,
                                                                  fake):
    host = upstream_host(host_factory, packages, fake,
                        lib={"rate": {"per_day": 2}},
                        keyed={"rate": {"per_second": 0.01, "burst": 1}})
    for _ in range(2):
        assert call(host, path="/books")["status"] == 200
    before = fake.api_calls()
    r = call(host, path="/books")
    assert r["error"] == "UpstreamUnavailable", r
    assert r["message"] == "upstream lib: throttled: its daily quota is used up"
    assert call(host, upstream="keyed", path="/echo")["status"] == 200
    start = time.monotonic()
    r = call(host, upstream="keyed", path="/echo")
    assert r["message"] == "upstream keyed: throttled: its rate limit (0.01/s) leaves no room"
    assert time.monotonic() - start < 1
    assert fake.api_calls() - before == 1  # only the keyed call that was allowed
    assert metric(host, "plugin_host_upstream_throttled_total", upstream="lib",
                  source="local") == 1
    assert host.admin.get(f"/admin/plugins/{PLUGIN}").json()["upstreams"]["lib"][
        "used_today"] == 2


def test_what_the_service_answers_and_the_host_will_not_pass_on(host_factory, packages, fake):
    host = upstream_host(host_factory, packages, fake, lib={}, keyed={}, secrets=False,
                        PLUGIN_HOST_HTTP_RESPONSE_LIMIT="2048")
    call(host, path="/echo")  # a token first

    # Retry-After as an HTTP date (a second or two ahead): waited for, then retried
    fake.plan(Plan(429, retry_after=formatdate(time.time() + 2, usegmt=True)))
    start = time.monotonic()
    assert call(host, path="/books")["status"] == 200
    assert time.monotonic() - start >= 0.9

    # redirects leaving the upstream (another server, or outside its base path) come
    # back to the plugin as they are: nothing follows them with the credentials
    with serve_in_thread(OpenLibrary) as port:
        for location in (f"http://127.0.0.1:{port}/steal", f"{fake.url}/oauth/token",
                         "/elsewhere/x"):
            fake.plan(Plan(302, headers={"Location": location}))
            before = len(fake.requests)
            r = call(host, path="/item")
            assert r["status"] == 302 and r["headers"]["location"] == location, r
            assert len(fake.requests) == before + 1
    # an answer larger than the host passes on
    fake.plan(Plan(body={"big": "x" * 4096}))
    r = call(host, path="/books")
    assert r["error"] == "CapabilityError", r
    assert r["message"] == "upstream lib: the answer is larger than 2048 bytes"
    # a credential the operator has not set: the plugin is told who must set it
    r = call(host, upstream="keyed", path="/echo")
    assert r["code"] == "secret_not_set", r
    assert r["message"] == ("upstream keyed: the operator has not set KEYED_API_KEY "
                            f"(plugin-host secrets set {PLUGIN} KEYED_API_KEY)")


def test_a_service_that_is_not_there(host_factory, packages, fake):
    gone = f"http://127.0.0.1:{free_port()}"
    host = upstream_host(host_factory, packages, fake, lib={}, keyed={"url": gone})
    r = call(host, upstream="keyed", path="/echo")
    assert r["error"] == "UpstreamUnavailable", r
    assert "ConnectError" in r["message"], r
    assert metric(host, "plugin_host_upstream_requests_total", upstream="keyed",
                  outcome="error") == 1


def test_an_override_that_cannot_work_refuses_the_plugin_naming_it(host_factory, packages):
    """The operator's PLUGIN_HOST_UPSTREAMS is checked against the plugin's upstreams as
    the manifest's are: a value out of bounds refuses the install, naming the plugin,
    the upstream and the key; nothing is kept."""
    host = host_factory(env={"PLUGIN_HOST_UPSTREAMS": json.dumps(
        {PLUGIN: {"lib": {"timeout_ms": 1}}})})
    r = host.install(packages[PLUGIN])
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert message.startswith(f"upstreams: the override of {PLUGIN}'s lib: "), message
    assert message.endswith("timeout_ms: Input should be greater than or equal to 10"), message
    assert host.installed() == []

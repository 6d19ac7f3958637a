"""OpenTelemetry over OTLP from a real host: one request to a plugin that calls a
library service makes one trace, joined from the caller's ``traceparent``, through the
host's route, the plugin's worker call and its capability request to each attempt at
the service, which receives the trace in its own ``traceparent``. Spans carry no
credentials, bodies or query strings."""

from __future__ import annotations

import json
import secrets

import pytest

from ..support.otlp import otlp_receiver
from ..support.services.alma import Alma
from ..support.services.base import Fault, serving


@pytest.fixture
def traced(host_factory, packages):
    with otlp_receiver() as receiver, serving(Alma()) as alma:
        host = host_factory(env={
            "PLUGIN_HOST_OTLP_ENDPOINT": receiver.url,
            "PLUGIN_HOST_UPSTREAMS": json.dumps({"alma": {"alma": {
                "url": f"{alma.url}/almaws/v1", "retries": 1, "backoff_ms": 10}}})})
        assert host.install(packages["alma"]).status_code == 201
        r = host.admin.put("/admin/plugins/alma/secrets/ALMA_API_KEY",
                           json={"value": alma.api_key})
        assert r.status_code == 200, r.text
        yield host, receiver, alma


def test_one_trace_from_the_caller_to_the_library_service(traced):
    host, receiver, alma = traced
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    alma.plan(Fault(503))  # the first attempt fails: two attempts, two client spans
    r = host.client.get("/plugins/alma/api/bibs/991234560001021",
                        headers={"traceparent": f"00-{trace_id}-{caller_span}-01"})
    assert r.status_code == 200, r.text

    spans = receiver.trace(trace_id, at_least=5)
    by_name: dict[str, list[dict]] = {}
    for s in spans:
        by_name.setdefault(s["name"], []).append(s)
    server = by_name["GET /plugins/{name}/api/{path:path}"][0]
    call = by_name["plugin alma GET /bibs/{mms_id}"][0]
    capability = by_name["capability upstream.request"][0]
    attempts = by_name["upstream alma GET"]
    assert {s["trace_id"] for s in spans} == {trace_id}
    assert server["parent_span_id"] == caller_span  # joined the caller's trace
    assert call["parent_span_id"] == server["span_id"]
    assert capability["parent_span_id"] == call["span_id"]
    assert [a["parent_span_id"] for a in attempts] == [capability["span_id"]] * 2
    assert [a["attributes"]["http.response.status_code"] for a in attempts] == [503, 200]
    assert server["attributes"]["http.response.status_code"] == 200
    assert server["service"] == "koha-plugin-host"
    assert call["attributes"]["koha.correlation_id"] == r.headers["x-correlation-id"]

    # the service got the trace, each attempt as its own parent
    sent = [c.headers["traceparent"] for c in alma.calls]
    assert sent == [f"00-{trace_id}-{a['span_id']}-01" for a in attempts]

    # nothing secret in any span
    dumped = json.dumps(spans)
    assert alma.api_key not in dumped and "apikey" not in dumped.lower()


def test_a_request_without_a_caller_trace_starts_one(traced):
    host, receiver, alma = traced
    r = host.client.get("/plugins/alma/api/users/ada.lovelace")
    assert r.status_code == 200, r.text
    traceparent = alma.calls[-1].headers["traceparent"]
    trace_id = traceparent.split("-")[1]
    spans = receiver.trace(trace_id, at_least=4)
    names = sorted(s["name"] for s in spans)
    assert names == ["GET /plugins/{name}/api/{path:path}", "capability upstream.request",
                     "plugin alma GET /users/{user_id}", "upstream alma GET"], names

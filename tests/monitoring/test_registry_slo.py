"""The registry's availability SLO on a real registry made to fail: its PostgreSQL
stops, its API answers 503 `database_unavailable` (the registry's fault, `fault="host"`),
and KohaRegistryAvailabilityBudgetBurnFast reaches production's pager through a real
Prometheus (the shipped rules, `for:` shortened) and the shipped Alertmanager routing.
Health probes failing meanwhile spend none of the budget."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from ..support.alerting import Receiver, delivered, prometheus, query, receiver
from ..support.alerting import alertmanager as start_alertmanager
from ..support.servers import throwaway_postgres
from ..support.waiting import wait_until


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own (it will be stopped)."""
    with throwaway_postgres("koha-pg-registry-slo-") as new_database:
        yield new_database


def test_a_failing_registry_burns_its_budget_and_pages(tmp_path, own_postgres,
                                                        registry_factory):
    registry = registry_factory({"PLUGIN_REGISTRY_DATABASE_URL": own_postgres()})
    target = registry.url.removeprefix("http://")
    stop = threading.Event()
    answers: list[int] = []

    def users() -> None:  # the marketplace's readers, 20 requests a second
        with httpx.Client(base_url=registry.url, timeout=5) as c:
            while not stop.is_set():
                answers.append(c.get("/api/v1/plugins").status_code)
                c.get("/readyz")
                time.sleep(0.05)

    with receiver() as port, start_alertmanager(tmp_path / "am", port) as am, \
            prometheus(tmp_path / "prom", "prod", {"registry": [target]}, am) as prom:
        traffic = threading.Thread(target=users, daemon=True)
        traffic.start()
        try:
            assert wait_until(lambda: query(
                prom, 'job:registry_http_request_errors:ratio_rate5m{job="registry"}'),
                timeout=30)
            time.sleep(8)  # healthy: within budget, nothing fires
            assert delivered("KohaRegistryAvailabilityBudgetBurnFast") == []
            assert set(answers) == {200}

            own_postgres.stop()
            assert wait_until(lambda: 503 in answers[-20:], timeout=15)
            assert wait_until(lambda: delivered("KohaRegistryAvailabilityBudgetBurnFast"),
                              timeout=60), "the registry's fast burn never paged"
        finally:
            stop.set()
            traffic.join(10)
        assert delivered("KohaRegistryAvailabilityBudgetBurnFast",
                         environment="prod", job="registry") == ["/alerts/prod/pager"]
        alert = next(a for _, a in Receiver.received
                     if a["labels"]["alertname"] == "KohaRegistryAvailabilityBudgetBurnFast")
        assert alert["labels"]["slo"] == "registry-availability-99.5"
        # only the API's 503s count: /readyz answered 200 degraded, and is left out anyway
        errors = query(prom, 'sum by (route) (registry_http_requests_total{status=~"5.."})')
        assert {e["metric"]["route"] for e in errors} == {"/api/v1/plugins"}, errors

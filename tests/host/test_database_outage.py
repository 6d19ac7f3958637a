"""The host's PostgreSQL stops: plugins already running keep serving (their calls need
no database), `/readyz` answers 200 `degraded` (a load balancer keeps the host), the
metrics say so, what needs the database answers 503 `database_unavailable` (not a 500);
when PostgreSQL returns, the host catches up by itself (pooled connections are tested
before use). Real PostgreSQL, stopped and started with pg_ctl."""

from __future__ import annotations

import time

import pytest

from ..support.servers import Host, throwaway_postgres
from ..support.waiting import Prober, wait_until

OUTAGE = 10  # seconds; the production-chain issue's 30 s is the fleet test's


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own (it will be stopped and started)."""
    with throwaway_postgres("koha-pg-outage-") as new_database:
        yield new_database


def test_plugins_keep_serving_through_a_database_outage(own_postgres, keys, packages,
                                                         tmp_path):
    host = Host(tmp_path / "host", keys["pub"],
                env={"PLUGIN_HOST_DATABASE_URL": own_postgres()}).start()
    try:
        for name in ("hello-world", "book-notes"):
            assert host.install(packages[name]).status_code == 201
        assert host.client.post("/plugins/book-notes/api/notes",
                                json={"id": "1", "text": "before"}).status_code in (200, 201)
        prober = Prober(host.url)
        prober.start()
        assert wait_until(lambda: prober.ok >= 5)

        own_postgres.stop()
        started = time.monotonic()
        ready = host.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "degraded"
        assert ready.json()["database"].startswith("unreachable: ")
        metrics = host.client.get("/metrics")
        assert metrics.status_code == 200
        assert "plugin_host_database_up 0.0" in metrics.text
        refused = host.admin.post("/admin/plugins/book-notes/disable")
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "database_unavailable"
        assert refused.headers["retry-after"] == "5"
        seen = prober.ok
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - started)))
        assert prober.ok > seen + 10  # hello-world answered all along

        own_postgres.start()
        assert wait_until(lambda: host.client.get("/readyz").json()["status"] == "ready",
                          timeout=30)
        note = host.client.get("/plugins/book-notes/api/notes/1")
        assert note.status_code == 200 and note.json()["text"] == "before", note.text
        assert "plugin_host_database_up 1.0" in host.client.get("/metrics").text
        assert host.admin.post("/admin/plugins/book-notes/disable").status_code == 200
        prober.finish()
        assert prober.failures == [], prober.failures[:5]
    finally:
        host.stop()

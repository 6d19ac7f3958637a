"""The Alembic migrations build exactly the schema the models describe (host and registry)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from plugin_host.host import db as host_db
from plugin_host.registry import db as registry_db
from plugin_host.service import db as service_db


@pytest.mark.parametrize("module", [host_db, registry_db], ids=["host", "registry"])
def test_migrations_match_the_models(tmp_path, module):
    engine = service_db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    service_db.migrate(engine, module.MIGRATIONS)
    service_db.migrate(engine, module.MIGRATIONS)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), module.Base.metadata)
    assert diff == []

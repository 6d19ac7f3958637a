"""The Alembic migrations build exactly the schema the models describe (host and registry)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from plugin_host.errors import PluginHostError
from plugin_host.host import db as host_db
from plugin_host.registry import db as registry_db
from plugin_host.service import db as service_db


def _differences(engine, module) -> list:
    """What the database's schema lacks or has beyond the service's models and the
    identity tables both services keep."""
    from sqlalchemy import MetaData

    from plugin_host.identity.store import IdentityBase

    models = MetaData()
    for source in (module.Base.metadata, IdentityBase.metadata):
        for table in source.tables.values():
            table.to_metadata(models)
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), models)


@pytest.mark.parametrize("module", [host_db, registry_db], ids=["host", "registry"])
def test_migrations_match_the_models(tmp_path, module):
    engine = service_db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    service_db.migrate(engine, module.MIGRATIONS)
    service_db.migrate(engine, module.MIGRATIONS)  # idempotent
    assert _differences(engine, module) == []


def test_one_database_cannot_serve_both_services(tmp_path):
    """Both have a ``plugins`` table: a host pointed at the registry's database (or the
    reverse) is refused before it serves, with the setting named."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    service_db.migrate(service_db.make_engine(url), registry_db.MIGRATIONS, "registry")
    r = subprocess.run([sys.executable, "-m", "plugin_host.cli", "serve", "--data-dir",
                        str(tmp_path / "h"), "--database-url", url, "--port", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "database_url: this database holds the registry's tables" in r.stderr
    assert "Traceback" not in r.stderr
    other = f"sqlite:///{tmp_path / 'host.db'}"
    service_db.migrate(service_db.make_engine(other), host_db.MIGRATIONS, "host")
    with pytest.raises(PluginHostError, match="holds the host's tables"):
        service_db.migrate(service_db.make_engine(other), registry_db.MIGRATIONS, "registry")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("module", [host_db, registry_db], ids=["host", "registry"])
def test_every_migration_goes_down_and_up_again(tmp_path, postgres, module, backend):
    """Each revision's downgrade undoes its upgrade, on both databases: from the newest
    schema one revision at a time down to nothing (each step leaves the tables the
    revision before made), then up again to the models' schema. An operator going back
    to an older release downgrades with the newer one's revisions."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    url = f"sqlite:///{tmp_path / 'x.db'}" if backend == "sqlite" else postgres()
    engine = service_db.make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(module.MIGRATIONS))
    revisions = [r.revision for r in ScriptDirectory.from_config(cfg).walk_revisions()]
    assert len(revisions) >= 4  # newest first

    def tables() -> set[str]:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}

    def run(step, target: str) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, target)

    made: dict[str, set[str]] = {}
    for rev in reversed(revisions):  # oldest first: what each revision leaves
        run(command.upgrade, rev)
        made[rev] = tables()
    for older, newer in zip(revisions[1:], revisions, strict=False):
        run(command.downgrade, older)
        assert tables() == made[older], f"downgrading {newer} to {older}"
    run(command.downgrade, "base")
    assert tables() == set()
    service_db.migrate(engine, module.MIGRATIONS)
    assert tables() == made[revisions[0]]
    assert _differences(engine, module) == []
    engine.dispose()


@pytest.mark.parametrize("module", [host_db, registry_db], ids=["host", "registry"])
def test_a_schema_a_newer_release_migrated_is_refused_in_one_line(tmp_path, module):
    """Going back to an older release after a newer one migrated the database: the older
    one does not start on a schema it cannot know, and says which revisions and what to
    do, before serving and without a traceback."""
    import subprocess
    import sys

    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = service_db.make_engine(url)
    service_db.migrate(engine, module.MIGRATIONS)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    command = ["serve", "--data-dir", str(tmp_path / "h")] if module is host_db else \
        ["registry", "serve", "--data-dir", str(tmp_path / "r")]
    r = subprocess.run([sys.executable, "-m", "plugin_host.cli", *command,
                        "--database-url", url, "--port", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: database_url: the schema is at revision 0099_from_the_future, newer than "
        "this release knows (its newest is 0004): a newer release migrated it. Run that "
        "release, or restore the backup taken before it (docs/operations/backups.md)"]
    with pytest.raises(PluginHostError, match="0099_from_the_future"):
        service_db.migrate(engine, module.MIGRATIONS)

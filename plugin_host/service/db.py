"""The database plumbing both services use: an engine for any SQLAlchemy URL (SQLite with
WAL by default, PostgreSQL in production), sessions, and Alembic migrations run at
start-up. Each service keeps its own models and migrations folder."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import sessionmaker

from ..errors import PluginHostError


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a bad URL or a missing driver is a ``bad_setting`` error
    naming ``database_url``."""
    kwargs: dict = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:  # a server that went away and came back: test pooled connections before use,
        # and give up connecting quickly rather than hang a request or a probe
        kwargs["pool_pre_ping"] = True
        if url.startswith("postgresql"):
            kwargs["connect_args"] = {"connect_timeout": 5}
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, ImportError) as e:
        raise PluginHostError(f"database_url: {e}", code="bad_setting") from None
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    return engine


def database_status(engine: Engine) -> str | None:
    """None if the database answers ``SELECT 1`` now, else why not (one line)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()
        return reason[0][:200] if reason else type(e).__name__
    return None


#: a table only each service has: a database holding the other's is refused
MARKERS = {"host": "fleet_desired", "registry": "releases"}


def refuse_foreign_tables(engine: Engine, service: str) -> None:
    """A ``bad_setting`` error if the database holds the other service's tables (an
    unreachable database is left to the start-up that follows)."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError

    try:
        tables = set(inspect(engine).get_table_names())
    except OperationalError:
        return
    others = [s for s, marker in MARKERS.items() if s != service and marker in tables]
    if others:
        raise PluginHostError(
            f"database_url: this database holds the {others[0]}'s tables; give the "
            f"{service} a database of its own (one server may hold both)", code="bad_setting")


def check_database(url: str, service: str, script_location: Path) -> None:
    """What the service checks before it serves: the database is its own and no newer
    release migrated it (one is not reachable now: left to the start-up that follows)."""
    from sqlalchemy.exc import OperationalError

    engine = make_engine(url)
    try:
        refuse_foreign_tables(engine, service)
        with engine.connect() as conn:
            refuse_newer_schema(conn, _alembic(script_location))
    except OperationalError:
        pass
    finally:
        engine.dispose()


def migrate(engine: Engine, script_location: Path, service: str | None = None) -> None:
    """Bring the schema to the newest Alembic revision of ``script_location``. With
    ``service`` (host or registry), a database that holds the other service's tables is
    refused: both have a ``plugins`` table and their own revisions, so one database
    cannot serve both."""
    if service is not None:
        refuse_foreign_tables(engine, service)
    cfg = _alembic(script_location)
    with engine.begin() as conn:
        refuse_newer_schema(conn, cfg)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _alembic(script_location: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    return cfg


def refuse_newer_schema(conn, cfg: Config) -> None:
    """A ``bad_setting`` error naming both revisions if a newer release migrated the
    database (going back to an older release after its migrations ran): the older one
    cannot know what the schema now means, so it does not start on it."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(cfg)
    known = {r.revision for r in script.walk_revisions()}
    quiet = logging.getLogger("alembic.runtime.migration")
    level, quiet.level = quiet.level, logging.WARNING  # not its "Context impl" line
    try:
        current = MigrationContext.configure(conn).get_current_heads()
    finally:
        quiet.level = level
    unknown = [r for r in current if r not in known]
    if unknown:
        raise PluginHostError(
            f"database_url: the schema is at revision {unknown[0]}, newer than this "
            f"release knows (its newest is {script.get_current_head()}): a newer release "
            "migrated it. Run that release, or restore the backup taken before it "
            "(docs/operations/backups.md)", code="bad_setting")


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)

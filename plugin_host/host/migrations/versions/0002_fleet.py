"""Fleet: each host's rows carry its instance name (hosts may share one database), and
the environment's desired plugin set and every host's report live beside them.

Rows written before this revision get the instance '' and are adopted by the first
host that starts (one host, or a fleet that never shared a database).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _plugins(name: str, instance: bool) -> list:
    cols = [sa.Column("instance", sa.String(128), primary_key=True)] if instance else []
    return [*cols,
            sa.Column("name", sa.String(63), primary_key=True),
            sa.Column("version", sa.String(64), nullable=False),
            sa.Column("previous_version", sa.String(64), nullable=True),
            sa.Column("enabled", sa.Boolean, nullable=False),
            sa.Column("config", sa.JSON, nullable=False),
            sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)]


def _versions(instance: bool) -> list:
    cols = [sa.Column("instance", sa.String(128), primary_key=True)] if instance else []
    return [*cols,
            sa.Column("plugin", sa.String(63), primary_key=True),
            sa.Column("version", sa.String(64), primary_key=True),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("signer", sa.String(64), nullable=True),
            sa.Column("path", sa.String(1024), nullable=False),
            sa.Column("manifest", sa.Text, nullable=False),
            sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False)]


def _rebuild(table: str, columns: list, select_instance: bool | None) -> None:
    """Replace ``table`` by one with ``columns``, copying its rows (portable: the same
    steps on SQLite and PostgreSQL). ``select_instance``: True copies the instance
    column, False drops it, None adds it as ''."""
    new = f"{table}_new"
    op.create_table(new, *columns)
    names = [c.name for c in columns if c.name != "instance"]
    listed = ", ".join(names)
    if select_instance is None:
        op.execute(f"INSERT INTO {new} (instance, {listed}) SELECT '', {listed} FROM {table}")
    else:
        op.execute(f"INSERT INTO {new} ({listed}) SELECT {listed} FROM {table}")
    op.drop_table(table)
    op.rename_table(new, table)


def upgrade() -> None:
    _rebuild("plugins", _plugins("plugins", True), None)
    _rebuild("plugin_versions", _versions(True), None)
    op.create_table(
        "fleet_desired",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("plugins", sa.JSON, nullable=False),
        sa.Column("previous", sa.JSON, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fleet_hosts",
        sa.Column("instance", sa.String(128), primary_key=True),
        sa.Column("release", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("plugins", sa.JSON, nullable=False),
        sa.Column("drift", sa.JSON, nullable=False),
        sa.Column("converged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Back to one host per database: refused while several hosts have rows."""
    hosts = op.get_bind().execute(sa.text("SELECT COUNT(DISTINCT instance) FROM plugins")
                                  ).scalar()
    if hosts and hosts > 1:
        raise RuntimeError(f"{hosts} hosts share this database: a revision before 0002 "
                           "cannot tell their plugins apart")
    op.drop_table("fleet_hosts")
    op.drop_table("fleet_desired")
    _rebuild("plugins", _plugins("plugins", False), False)
    _rebuild("plugin_versions", _versions(False), False)

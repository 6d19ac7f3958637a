"""Initial schema: plugins, plugin_versions, kv.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plugins",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("previous_version", sa.String(64), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "plugin_versions",
        sa.Column("plugin", sa.String(63), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("signer", sa.String(64), nullable=True),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "kv",
        sa.Column("plugin", sa.String(63), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("kv", "plugin_versions", "plugins"):
        op.drop_table(table)

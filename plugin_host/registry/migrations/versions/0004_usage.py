"""Usage reports: which plugins each (anonymous) installation ran, per day.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_reports",
        sa.Column("installation", sa.String(length=32), nullable=False),
        sa.Column("plugin", sa.String(length=63), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["plugin"], ["plugins.name"]),
        sa.PrimaryKeyConstraint("installation", "plugin", "day"),
    )
    op.create_index("ix_usage_reports_day", "usage_reports", ["day"])


def downgrade() -> None:
    op.drop_index("ix_usage_reports_day", table_name="usage_reports")
    op.drop_table("usage_reports")

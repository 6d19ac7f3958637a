"""Ratings: one per user per plugin.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("plugin", sa.String(length=63), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["plugin"], ["plugins.name"]),
        sa.PrimaryKeyConstraint("plugin", "account_id"),
    )


def downgrade() -> None:
    op.drop_table("ratings")

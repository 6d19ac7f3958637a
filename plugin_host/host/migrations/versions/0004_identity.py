"""Identity: sessions of people signed in to the admin API, one-time sign-in values and
the audit log (plugin_host/identity/migration.py).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from plugin_host.identity.migration import create_identity_tables, drop_identity_tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_identity_tables(op)


def downgrade() -> None:
    drop_identity_tables(op)

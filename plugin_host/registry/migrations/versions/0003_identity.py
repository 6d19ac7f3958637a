"""Identity: accounts linked to a provider's subject with the roles its groups give;
sessions, one-time sign-in values and the audit log (plugin_host/identity/migration.py);
API tokens that expire.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from plugin_host.identity.migration import create_identity_tables, drop_identity_tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("provider", sa.String(16), nullable=False,
                                   server_default="local"))
        batch.add_column(sa.Column("subject", sa.String(255), nullable=True))
        batch.add_column(sa.Column("roles", sa.JSON, nullable=True))
        batch.create_unique_constraint("uq_accounts_provider_subject", ["provider", "subject"])
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("label", sa.String(128), nullable=False,
                                   server_default=""))
    create_identity_tables(op)


def downgrade() -> None:
    drop_identity_tables(op)
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("label")
        batch.drop_column("expires_at")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint("uq_accounts_provider_subject", type_="unique")
        batch.drop_column("roles")
        batch.drop_column("subject")
        batch.drop_column("provider")

"""Alembic environment: runs on the connection the host passes in ``attributes``."""

from alembic import context

from plugin_host.host.db import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # `alembic` run by hand: use sqlalchemy.url from the ini
    from plugin_host.host.db import make_engine

    connection = make_engine(config.get_main_option("sqlalchemy.url")).connect()

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

"""The body of every Alembic env.py here: run on the connection the caller passes in
``config.attributes["connection"]`` (or on ``sqlalchemy.url`` when run by hand)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData


def run(metadata: MetaData) -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        from .db import make_engine

        connection = make_engine(config.get_main_option("sqlalchemy.url")).connect()
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()

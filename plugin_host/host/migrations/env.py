"""Alembic environment of the host's database."""

from plugin_host.host.alembic_env import run
from plugin_host.host.db import Base

run(Base.metadata)

"""Alembic environment of the registry's database."""

from plugin_host.host.alembic_env import run
from plugin_host.registry.db import Base

run(Base.metadata)

"""Alembic environment of the registry's database."""

from plugin_host.registry.db import Base
from plugin_host.service.alembic_env import run

run(Base.metadata)

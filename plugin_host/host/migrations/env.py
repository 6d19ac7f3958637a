"""Alembic environment of the host's database."""

from plugin_host.host.db import Base
from plugin_host.service.alembic_env import run

run(Base.metadata)

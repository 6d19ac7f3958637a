"""The registry's services, composed once per process: accounts, publishing and review,
the catalogue, the marketplace, and the signed index they publish to. The HTTP routers
(registry/api/) reach them through ``app.state.services``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker

from .accounts import Accounts
from .catalogue import Catalogue
from .marketplace import Marketplace
from .publication import IndexPublisher
from .publishing import Publishing
from .settings import RegistrySettings


@dataclass
class RegistryServices:
    settings: RegistrySettings
    accounts: Accounts
    index: IndexPublisher
    publishing: Publishing
    catalogue: Catalogue
    marketplace: Marketplace

    @classmethod
    def create(cls, settings: RegistrySettings, sessions: sessionmaker) -> RegistryServices:
        accounts = Accounts(sessions)
        index = IndexPublisher(settings, sessions)
        catalogue = Catalogue(sessions, index.storage)
        return cls(settings, accounts, index, Publishing(settings, sessions, accounts, index),
                   catalogue, Marketplace(sessions, index, catalogue))

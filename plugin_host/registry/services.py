"""The registry's services, composed once per process: accounts, publishing and review,
the catalogue, the marketplace, and the signed index they publish to. The HTTP routers
(registry/api/) reach them through ``app.state.services``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker

from ..identity.service import Identity
from ..identity.store import Principal
from .accounts import Accounts
from .catalogue import Catalogue
from .db import ROLES
from .marketplace import Marketplace
from .publication import IndexPublisher
from .publishing import Publishing
from .settings import RegistrySettings
from .usage import Usage


@dataclass
class RegistryServices:
    settings: RegistrySettings
    accounts: Accounts
    index: IndexPublisher
    publishing: Publishing
    catalogue: Catalogue
    marketplace: Marketplace
    identity: Identity
    usage: Usage

    @classmethod
    def create(cls, settings: RegistrySettings, sessions: sessionmaker) -> RegistryServices:
        accounts = Accounts(sessions)
        index = IndexPublisher(settings, sessions)
        catalogue = Catalogue(sessions, index.storage)
        identity = Identity(settings, sessions, service="registry", data_dir=settings.data_dir,
                            known=ROLES, base=("user",), link=accounts.link)
        return cls(settings, accounts, index, Publishing(settings, sessions, accounts, index),
                   catalogue, Marketplace(sessions, index, catalogue), identity,
                   Usage(sessions))

    async def authenticate(self, token: str, address: str) -> Principal:
        """Who a bearer token is for: a session or OIDC access token (identity), else an
        API token of an account (refused if unknown, revoked or expired)."""
        who = await self.identity.bearer(token, address)
        if who is not None:
            return who
        caller = await asyncio.to_thread(self.accounts.authenticate, token)
        assert caller is not None
        return caller.principal()

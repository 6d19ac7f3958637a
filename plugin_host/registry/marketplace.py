"""What publishers and users do to a listed plugin: yank and unyank releases, deprecate
the plugin, rate and review it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ..errors import NotFound, PluginHostError
from .accounts import Caller
from .catalogue import Catalogue
from .db import PluginRecord, Rating, Release
from .publication import IndexPublisher
from .records import release_view


class Marketplace:
    def __init__(self, sessions: sessionmaker, publisher: IndexPublisher, catalogue: Catalogue):
        self.sessions = sessions
        self.publisher = publisher
        self.catalogue = catalogue

    @staticmethod
    def _owned(s: Session, caller: Caller, name: str) -> PluginRecord:
        p = s.get(PluginRecord, name)
        if p is None:
            raise NotFound(f"no plugin {name!r}")
        if p.owner_id != caller.account_id:
            caller.require("admin")
        return p

    def yank(self, caller: Caller, name: str, version: str, yanked: bool) -> dict[str, Any]:
        """Hide a release from resolution (pinned installs still work), or show it again."""
        with self.sessions.begin() as s:
            self._owned(s, caller, name)
            r = s.get(Release, (name, version))
            if r is None:
                raise NotFound(f"no release {name} {version}")
            r.yanked = yanked
            if r.state == "approved":
                self.publisher.publish(s, [name])
            return release_view(r)

    def deprecate(self, caller: Caller, name: str, message: str | None) -> dict[str, Any]:
        with self.sessions.begin() as s:
            p = self._owned(s, caller, name)
            p.deprecated = message or None
            self.publisher.publish(s, [name])
            return {"name": name, "deprecated": p.deprecated}

    def rate(self, caller: Caller, name: str, stars: int, text: str) -> dict[str, Any]:
        if not 1 <= stars <= 5:
            raise PluginHostError("stars: must be 1 to 5", code="invalid_request", status=422)
        with self.sessions.begin() as s:
            if s.get(PluginRecord, name) is None:
                raise NotFound(f"no plugin {name!r}")
            row = s.get(Rating, (name, caller.account_id))
            if row is None:
                s.add(Rating(plugin=name, account_id=caller.account_id, stars=stars, text=text))
            else:
                row.stars, row.text = stars, text
        return {"plugin": name, "stars": stars, **self.catalogue.rating(name)}

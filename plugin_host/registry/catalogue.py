"""The catalogue as people and hosts read it: search, plugin and publisher pages,
dependency resolution over approved releases, downloads."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ..errors import NotFound, PluginHostError
from ..manifest import NAME_RE
from ..package.archive import read_package
from ..resolver import Candidate, resolve
from ..versions import parse_version, satisfies
from .accounts import Caller, roles_of
from .db import Account, PluginRecord, PublisherKey, Rating, Release, Review
from .metrics import DOWNLOADS
from .records import aware, package_file, release_view, valid_range
from .storage import Storage
from .usage import active_installs

#: documents a plugin page shows from the package, by the names they may have
DOCUMENTS = {"readme": ("README.md", "README", "README.txt"),
             "changelog": ("CHANGELOG.md", "CHANGES.md", "CHANGELOG")}
DOCUMENT_LIMIT = 64 * 1024


def _document(files: dict[str, bytes], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in files:
            text = files[name][:DOCUMENT_LIMIT].decode("utf-8", errors="replace")
            return text + ("\n\n(cut at 64 KiB)" if len(files[name]) > DOCUMENT_LIMIT else "")
    return None


class Catalogue:
    def __init__(self, sessions: sessionmaker, storage: Storage):
        self.sessions = sessions
        self.storage = storage
        self._documents: dict[str, dict[str, str | None]] = {}

    # ---- ratings -------------------------------------------------------------------

    def rating(self, name: str) -> dict[str, Any]:
        with self.sessions() as s:
            avg, count = s.execute(select(func.avg(Rating.stars), func.count())
                                   .where(Rating.plugin == name)).one()
        return {"rating": round(float(avg), 2) if avg else None, "ratings": count}

    @staticmethod
    def _ratings(s: Session) -> dict[str, dict[str, Any]]:
        q = select(Rating.plugin, func.avg(Rating.stars), func.count()).group_by(Rating.plugin)
        return {plugin: {"rating": round(float(avg), 2) if avg else None, "ratings": count}
                for plugin, avg, count in s.execute(q)}

    # ---- search and pages ------------------------------------------------------------

    def search(self, q: str = "", tag: str | None = None, sort: str = "name",
               host_api: str | None = None, owner_id: int | None = None
               ) -> list[dict[str, Any]]:
        """Approved plugins matching ``q`` (name, summary or a tag), ``tag`` and
        ``host_api`` (a release that is not yanked supports that host API version).
        Three queries, whatever the size of the catalogue."""
        text = q.lower()
        with self.sessions() as s:
            stmt = select(PluginRecord).where(PluginRecord.summary != "")
            if owner_id is not None:
                stmt = stmt.where(PluginRecord.owner_id == owner_id)
            plugins = list(s.scalars(stmt))
            approved: dict[str, list[Release]] = defaultdict(list)
            for r in s.scalars(select(Release).where(Release.state == "approved")):
                approved[r.plugin].append(r)
            ratings = self._ratings(s)
            installs = active_installs(s)
        out = []
        for p in plugins:
            tags = p.tags or []
            if text and not (text in p.name or text in p.summary.lower()
                             or any(text in t.lower() for t in tags)):
                continue
            if tag and tag not in tags:
                continue
            releases = approved.get(p.name, [])
            usable = [r for r in releases if not r.yanked and (
                host_api is None or satisfies(host_api, r.host_api))]
            if host_api is not None and not usable:
                continue
            latest = max(usable, key=lambda r: parse_version(r.version), default=None)
            updated = max((aware(r.published_at) for r in releases), default=None)
            out.append({"name": p.name, "summary": p.summary, "tags": tags,
                        "latest": latest.version if latest else None,
                        "downloads": sum(r.downloads for r in releases),
                        "active_installs": installs.get(p.name, 0),
                        "updated": updated.isoformat() if updated else None,
                        "deprecated": p.deprecated,
                        **ratings.get(p.name, {"rating": None, "ratings": 0})})
        out.sort(key=lambda x: x["name"])
        key = {"downloads": lambda x: -x["downloads"],
               "installs": lambda x: -x["active_installs"],
               "rating": lambda x: -(x["rating"] or 0),
               "updated": lambda x: x["updated"] or ""}.get(sort)
        if key:
            out.sort(key=key, reverse=sort == "updated")
        return out

    def publisher(self, name: str) -> dict[str, Any]:
        """A publisher's public profile."""
        with self.sessions() as s:
            account = s.scalar(select(Account).where(Account.name == name))
            if account is None or not {"publisher", "admin"} & set(roles_of(account)):
                raise NotFound(f"no publisher {name!r}")
            keys = [{"keyid": k.keyid, "added": aware(k.created_at).isoformat(),
                     "revoked": k.revoked}
                    for k in s.scalars(select(PublisherKey).where(
                        PublisherKey.account_id == account.id))]
            since = aware(account.created_at).isoformat()
        return {"name": name, "since": since, "keys": keys,
                "plugins": self.search(owner_id=account.id)}

    def plugin(self, name: str, caller: Caller | None) -> dict[str, Any]:
        """A plugin's page: approved versions (all, with checks and reviews, for its
        publisher and reviewers)."""
        with self.sessions() as s:
            p = s.get(PluginRecord, name)
            if p is None:
                raise NotFound(f"no plugin {name!r}" + self._did_you_mean(s, name))
            mine = caller is not None and (caller.account_id == p.owner_id
                                           or caller.has("reviewer"))
            releases = [r for r in s.scalars(select(Release).where(Release.plugin == name))
                        if mine or r.state == "approved"]
            reviews = s.scalars(select(Review).where(Review.plugin == name)) if mine else []
            ratings = [{"stars": r.stars, "text": r.text} for r in
                       s.scalars(select(Rating).where(Rating.plugin == name))]
            owner = s.get(Account, p.owner_id) if p.owner_id is not None else None
            shown = [r for r in releases if r.state == "approved" and not r.yanked] or releases
            newest = max(shown, key=lambda r: parse_version(r.version), default=None)
            return {"name": name, "summary": p.summary, "tags": p.tags,
                    "publisher": owner.name if owner else None,
                    **self.documents(newest),
                    "deprecated": p.deprecated, **self.rating(name),
                    "active_installs": active_installs(s, name).get(name, 0),
                    "reviews_by_users": ratings,
                    "versions": sorted((release_view(r) for r in releases),
                                       key=lambda r: parse_version(r["version"]), reverse=True),
                    "reviews": [{"version": r.version, "decision": r.decision,
                                 "comment": r.comment} for r in reviews]}

    def documents(self, release: Release | None) -> dict[str, Any]:
        """The README and CHANGELOG (Markdown, as text) in ``release``'s package, kept
        in memory by the package's hash; None where the package has none."""
        if release is None:
            return {"readme": None, "changelog": None, "documents_of": None}
        found = self._documents.get(release.sha256)
        if found is None:
            files: dict[str, bytes] = {}
            data = self.storage.get(release.path)
            if data is not None:
                files = read_package(data).files
            found = {key: _document(files, names) for key, names in DOCUMENTS.items()}
            self._documents[release.sha256] = found
            while len(self._documents) > 256:
                self._documents.pop(next(iter(self._documents)))
        return {**found, "documents_of": release.version}

    @staticmethod
    def _did_you_mean(s: Session, name: str) -> str:
        """Plugin names are lower case with '-': point at the one a variant meant."""
        wanted = name.lower().replace("_", "-")
        if wanted != name and s.get(PluginRecord, wanted) is not None:
            return f" (plugin names are lower case with '-': did you mean {wanted!r}?)"
        return ""

    # ---- resolution ------------------------------------------------------------------

    def releases(self, name: str) -> list[Candidate]:
        """The resolver's view: approved releases of ``name``."""
        with self.sessions() as s:
            rows = s.scalars(select(Release).where(Release.plugin == name,
                                                   Release.state == "approved"))
            return [Candidate(r.plugin, r.version, r.dependencies, r.host_api, r.yanked)
                    for r in rows]

    def names(self) -> list[str]:
        """Plugins with an approved release (the resolver's did-you-mean)."""
        with self.sessions() as s:
            return sorted(set(s.scalars(select(Release.plugin).where(
                Release.state == "approved"))))

    def resolve(self, requirements: dict[str, str], host_api: str) -> list[dict[str, Any]]:
        """A consistent set of approved releases, dependencies first, or a Conflict
        explaining why there is none."""
        bad = [f"requirements.{n}: {r!r}" for n, r in requirements.items()
               if not re.match(NAME_RE, n) or not valid_range(r)]
        if bad or not requirements:
            raise PluginHostError("invalid requirements: " + ("; ".join(bad) or "none given"),
                                  code="invalid_request", status=422)
        with self.sessions() as s:
            sha = {(r.plugin, r.version): r.sha256 for r in s.scalars(select(Release))}
        return [{"name": c.name, "version": c.version, "sha256": sha[(c.name, c.version)],
                 "download": f"/api/v1/plugins/{c.name}/{c.version}/download"}
                for c in resolve(self, requirements, host_api)]

    # ---- downloads -------------------------------------------------------------------

    def download(self, name: str, version: str) -> tuple[str, bytes]:
        """An approved release's file name and bytes (yanked ones too: pinned installs
        need them)."""
        with self.sessions.begin() as s:
            r = s.get(Release, (name, version))
            if r is None or r.state != "approved":
                raise NotFound(f"no approved release {name} {version}")
            data = self.storage.get(r.path)
            if data is None:
                raise PluginHostError(f"the package of {name} {version} is missing from "
                                      f"{self.storage.description}", code="storage_unavailable",
                                      status=503)
            r.downloads += 1
        DOWNLOADS.labels(name).inc()
        return package_file(r), data

    def count_download(self, name: str, version: str) -> None:
        """Hosts read packages from the static index; they report installs here
        (best effort) so download counts stay meaningful."""
        with self.sessions.begin() as s:
            r = s.get(Release, (name, version))
            if r is None or r.state != "approved":
                raise NotFound(f"no approved release {name} {version}")
            r.downloads += 1
        DOWNLOADS.labels(name).inc()

"""Publishing and review: a publisher uploads a signed package, the automated checks run
(registry/checks.py), a passing release waits for a reviewer, and an approved release
is published in the signed index."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from ..errors import Conflict, Forbidden, NotFound, PluginHostError
from ..package.archive import read_package
from ..package.index import package_target
from ..package.signing import verify_signature
from ..versions import satisfies
from .accounts import Accounts, Caller
from .checks import run_checks
from .db import PluginRecord, Release, Review
from .index import target_key
from .metrics import PUBLISHES, QUEUE_AGE, QUEUE_SIZE, REVIEWS
from .publication import IndexPublisher
from .records import aware, manifest_of, release_view
from .settings import RegistrySettings


class Publishing:
    def __init__(self, settings: RegistrySettings, sessions: sessionmaker,
                 accounts: Accounts, publisher: IndexPublisher):
        self.settings = settings
        self.sessions = sessions
        self.accounts = accounts
        self.publisher = publisher
        self.storage = publisher.storage

    async def publish(self, caller: Caller, data: bytes) -> dict[str, Any]:
        caller.require("publisher")
        try:
            result = await self._publish(caller, data)
        except Exception:
            PUBLISHES.labels("failed").inc()
            raise
        PUBLISHES.labels("published" if result["state"] == "in_review" else "rejected").inc()
        return result

    async def _publish(self, caller: Caller, data: bytes) -> dict[str, Any]:
        pkg = await asyncio.to_thread(read_package, data)
        signer = verify_signature(pkg, self.accounts.keys_of(caller.account_id))
        m = pkg.manifest
        with self.sessions() as s:
            plugin = s.get(PluginRecord, m.name)
            if plugin and plugin.owner_id != caller.account_id and caller.role != "admin":
                raise Forbidden(f"{m.name} belongs to another publisher")
            if s.get(Release, (m.name, m.version)):
                raise Conflict(f"{m.name} {m.version} has already been published; "
                               "publish a new version")
        checks = await run_checks(pkg, self.settings.licenses, self.available)
        state = "rejected" if any(c.status == "fail" for c in checks) else "in_review"
        key = target_key(package_target(m.name, pkg.filename), pkg.sha256)
        if state == "in_review":
            await asyncio.to_thread(self.storage.put, key, data, "application/zip")
        try:
            with self.sessions.begin() as s:
                if s.get(PluginRecord, m.name) is None:
                    s.add(PluginRecord(name=m.name, owner_id=caller.account_id))
                s.add(Release(plugin=m.name, version=m.version, state=state,
                              sha256=pkg.sha256, size=len(data), signer=signer.keyid,
                              manifest=pkg.files["plugin.toml"].decode(),
                              host_api=m.plugin.host_api, dependencies=dict(m.dependencies),
                              checks=[c.to_dict() for c in checks], path=key))
        except IntegrityError:  # the same version published concurrently
            raise Conflict(f"{m.name} {m.version} has already been published; "
                           "publish a new version") from None
        except BaseException:
            if state == "in_review":
                await asyncio.to_thread(self.storage.delete, key)
            raise
        return {"plugin": m.name, "version": m.version, "state": state,
                "checks": [c.to_dict() for c in checks]}

    def available(self, name: str, range_: str) -> bool:
        """An approved, not yanked release of ``name`` satisfies ``range_``."""
        with self.sessions() as s:
            versions = s.scalars(select(Release.version).where(
                Release.plugin == name, Release.state == "approved",
                Release.yanked.is_(False)))
            return any(satisfies(v, range_) for v in versions)

    def queue(self, caller: Caller) -> list[dict[str, Any]]:
        caller.require("reviewer")
        with self.sessions() as s:
            rows = s.scalars(select(Release).where(Release.state == "in_review")
                             .order_by(Release.published_at))
            return [release_view(r) for r in rows]

    def review(self, caller: Caller, name: str, version: str, decision: str,
               comment: str) -> dict[str, Any]:
        caller.require("reviewer")
        if decision not in ("approve", "reject"):
            raise PluginHostError("decision: use approve or reject", code="invalid_request",
                                  status=422)
        if decision == "reject" and not comment.strip():
            raise PluginHostError("comment: say why it is rejected", code="invalid_request",
                                  status=422)
        with self.sessions.begin() as s:
            release = s.get(Release, (name, version))
            if release is None:
                raise NotFound(f"no release {name} {version}")
            if release.state != "in_review":
                raise Conflict(f"{name} {version} is {release.state}, not in review")
            release.state = "approved" if decision == "approve" else "rejected"
            s.add(Review(plugin=name, version=version, reviewer_id=caller.account_id,
                         decision=release.state, comment=comment))
            if release.state == "approved":
                plugin = s.get(PluginRecord, name)
                m = manifest_of(release)
                plugin.summary, plugin.tags = m.plugin.summary, list(m.plugin.tags)
                self.publisher.release_package(release.path)
                self.publisher.publish(s)
            REVIEWS.labels(release.state).inc()
            return release_view(release)

    def update_gauges(self) -> None:
        with self.sessions() as s:
            waiting = list(s.scalars(select(Release.published_at).where(
                Release.state == "in_review")))
        QUEUE_SIZE.set(len(waiting))
        now = datetime.now(UTC)
        QUEUE_AGE.set(max(((now - aware(t)).total_seconds() for t in waiting), default=0))

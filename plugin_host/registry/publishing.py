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
from ..versions import parse_version, satisfies
from .accounts import Accounts, Caller
from .checks import run_checks
from .db import PluginRecord, Release, Review
from .index import target_key
from .metrics import PUBLISHES, QUEUE_AGE, QUEUE_SIZE, REVIEWS
from .publication import IndexPublisher
from .records import aware, manifest_of, package_file, release_view
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
        except ChecksFailed:
            PUBLISHES.labels("rejected").inc()
            raise
        except Exception:
            PUBLISHES.labels("failed").inc()
            raise
        PUBLISHES.labels("published").inc()
        return result

    async def _publish(self, caller: Caller, data: bytes) -> dict[str, Any]:
        pkg = await asyncio.to_thread(read_package, data)
        signer = verify_signature(pkg, self.accounts.keys_of(caller.account_id),
                                  "register its public key first (POST /api/v1/keys "
                                  '{"public_key": "<the .pub file>"}')
        m = pkg.manifest
        with self.sessions() as s:
            plugin = s.get(PluginRecord, m.name)
            if plugin and plugin.owner_id != caller.account_id and not caller.has("admin"):
                raise Forbidden(f"{m.name} belongs to another publisher")
            existing = s.get(Release, (m.name, m.version))
            if existing and existing.state != "rejected":
                raise Conflict(f"{m.name} {m.version} has already been published "
                               f"({existing.state.replace('_', ' ')}); publish a new version")
        checks = await run_checks(pkg, self.settings.licenses, self.unavailable)
        failed = [c for c in checks if c.status == "fail"]
        if failed:  # nothing is kept: fix it and publish the same version again
            raise ChecksFailed(m.name, m.version, checks)
        state = "in_review"
        key = target_key(package_target(m.name, pkg.filename), pkg.sha256)
        await asyncio.to_thread(self.storage.put, key, data, "application/zip")
        replaced = None
        try:
            with self.sessions.begin() as s:
                if s.get(PluginRecord, m.name) is None:
                    s.add(PluginRecord(name=m.name, owner_id=caller.account_id))
                old = s.get(Release, (m.name, m.version))
                if old is not None:
                    if old.state != "rejected":  # submitted meanwhile by another call
                        raise Conflict(f"{m.name} {m.version} has already been published; "
                                       "publish a new version")
                    replaced = old.path if old.path != key else None
                    s.delete(old)  # its reviews stay, as the history of the version
                    s.flush()
                s.add(Release(plugin=m.name, version=m.version, state=state,
                              sha256=pkg.sha256, size=len(data), signer=signer.keyid,
                              manifest=pkg.files["plugin.toml"].decode(),
                              host_api=m.plugin.host_api, dependencies=dict(m.dependencies),
                              checks=[c.to_dict() for c in checks], path=key))
        except IntegrityError:  # the same version published concurrently
            raise Conflict(f"{m.name} {m.version} has already been published; "
                           "publish a new version") from None
        except BaseException:
            await asyncio.to_thread(self.storage.delete, key)
            raise
        if replaced:
            await asyncio.to_thread(self.storage.delete, replaced)
        return {"plugin": m.name, "version": m.version, "state": state,
                "checks": [c.to_dict() for c in checks]}

    def unavailable(self, name: str, range_: str) -> str | None:
        """Why no approved, not yanked release of ``name`` satisfies ``range_`` (what
        the registry has instead), or None when one does."""
        with self.sessions() as s:
            rows = list(s.execute(select(Release.version, Release.state, Release.yanked)
                                  .where(Release.plugin == name)))
        approved = [v for v, state, yanked in rows if state == "approved" and not yanked]
        if any(satisfies(v, range_) for v in approved):
            return None
        if not rows:
            return f"{name} {range_}: there is no plugin {name!r} in this registry"
        ordered = sorted(approved, key=parse_version, reverse=True)
        waiting = sorted((v for v, state, _ in rows if state == "in_review"),
                         key=parse_version, reverse=True)
        return (f"{name} {range_}: no approved release satisfies it (approved: "
                f"{', '.join(ordered[:8]) or 'none'}"
                + (f"; in review: {', '.join(waiting[:8])}" if waiting else "") + ")")

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
                self.publisher.publish(s, [name])
            REVIEWS.labels(release.state).inc()
            return release_view(release)

    def _reviewable(self, caller: Caller, name: str, version: str) -> Release:
        """A release a reviewer (or its own publisher) may read: any state."""
        with self.sessions() as s:
            release = s.get(Release, (name, version))
            if release is None:
                raise NotFound(f"no release {name} {version}")
            plugin = s.get(PluginRecord, name)
            if not caller.has("reviewer") and (
                    plugin is None or plugin.owner_id != caller.account_id):
                raise Forbidden(f"{caller.name} ({caller.role}) may not read {name} "
                                f"{version}: it needs the reviewer role, or to be its "
                                "publisher")
            s.expunge(release)
            return release

    def _package(self, release: Release) -> bytes:
        data = self.storage.get(release.path)
        if data is None:
            raise PluginHostError(f"the package of {release.plugin} {release.version} is "
                                  f"missing from {self.storage.description}",
                                  code="storage_unavailable", status=503)
        return data

    def review_package(self, caller: Caller, name: str, version: str) -> tuple[str, bytes]:
        """The package of a release in review (or any state), for its reviewers."""
        release = self._reviewable(caller, name, version)
        return package_file(release), self._package(release)

    def review_diff(self, caller: Caller, name: str, version: str) -> dict[str, Any]:
        """What changed since the newest approved version before this one: each file
        added, removed or modified, with a unified diff of text files."""
        release = self._reviewable(caller, name, version)
        new = read_package(self._package(release)).files
        with self.sessions() as s:
            approved = [r for r in s.scalars(select(Release).where(
                Release.plugin == name, Release.state == "approved"))
                if parse_version(r.version) < parse_version(version)]
            previous = max(approved, key=lambda r: parse_version(r.version), default=None)
            if previous is not None:
                s.expunge(previous)
        old = read_package(self._package(previous)).files if previous else {}
        return {"plugin": name, "version": version,
                "against": previous.version if previous else None,
                "files": file_changes(old, new)}

    def update_gauges(self) -> None:
        with self.sessions() as s:
            waiting = list(s.scalars(select(Release.published_at).where(
                Release.state == "in_review")))
        QUEUE_SIZE.set(len(waiting))
        now = datetime.now(UTC)
        QUEUE_AGE.set(max(((now - aware(t)).total_seconds() for t in waiting), default=0))


class ChecksFailed(PluginHostError):
    """The automated checks failed: nothing is kept, the version stays free."""

    def __init__(self, name: str, version: str, checks: list) -> None:
        failed = [c for c in checks if c.status == "fail"]
        super().__init__(
            f"{name} {version} failed the automated checks "
            f"({', '.join(c.name for c in failed)}): nothing was kept; fix it and publish "
            "the same version again", code="checks_failed", status=422)
        self.details = {"plugin": name, "version": version,
                        "checks": [c.to_dict() for c in checks]}


#: a file's diff longer than this is summarised, not shown
DIFF_LIMIT = 200_000


def file_changes(old: dict[str, bytes], new: dict[str, bytes]) -> list[dict[str, Any]]:
    import difflib

    out = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        change = "added" if a is None else "removed" if b is None else "modified"
        entry: dict[str, Any] = {"path": path, "change": change, "diff": None}
        texts = [_text(x) for x in (a or b"", b or b"")]
        if None in texts:
            entry["binary"] = True
        else:
            diff = "".join(difflib.unified_diff(
                texts[0].splitlines(keepends=True), texts[1].splitlines(keepends=True),
                f"a/{path}", f"b/{path}"))
            entry["diff"] = diff if len(diff) <= DIFF_LIMIT else None
            if entry["diff"] is None:
                entry["too_large"] = True
        out.append(entry)
    return out


def _text(data: bytes) -> str | None:
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None

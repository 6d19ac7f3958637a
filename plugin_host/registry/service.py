"""The registry's domain logic: accounts and tokens, publisher keys, publishing with
automated checks, review, and the catalogue. The HTTP layer (app.py) only maps to it."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .. import __version__
from ..errors import Conflict, Forbidden, NotFound, PluginHostError, Unauthorized
from ..package.archive import read_package
from ..package.signing import TrustedKey, load_public_key, verify_signature
from ..resolver import Candidate, resolve
from ..versions import parse_range, parse_version, satisfies
from .checks import run_checks
from .db import ROLES, Account, ApiToken, PluginRecord, PublisherKey, Rating, Release, Review
from .index import TufIndex, package_target, target_key
from .settings import RegistrySettings
from .storage import open_storage

PUBLISHES = Counter("registry_publishes_total", "Publish attempts", ["outcome"])
REVIEWS = Counter("registry_reviews_total", "Review decisions", ["decision"])
DOWNLOADS = Counter("registry_downloads_total", "Package downloads", ["plugin"])
QUEUE_SIZE = Gauge("registry_review_queue_size", "Releases waiting for review")
QUEUE_AGE = Gauge("registry_review_queue_oldest_age_seconds",
                  "How long the oldest release in the queue has waited")
BUILD_INFO = Gauge("registry_build_info", "Version of this registry", ["version"])
BUILD_INFO.labels(__version__).set(1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "kr_" + secrets.token_urlsafe(32)


@dataclass
class Caller:
    account_id: int
    name: str
    role: str

    def require(self, *roles: str) -> None:
        if self.role not in roles and self.role != "admin":
            raise Forbidden(f"{self.name} ({self.role}) may not do this: it needs the "
                            f"{' or '.join(roles)} role")


class Registry:
    def __init__(self, settings: RegistrySettings, sessions):
        self.settings = settings
        self.sessions = sessions
        self.storage = open_storage(settings)
        self.index = TufIndex.from_settings(self.storage, settings)

    def check_storage(self) -> None:
        """Before serving: storage is usable and the index keys match its root (a clear
        error otherwise, before the registry accepts anything)."""
        self.storage.check()
        self.index.keys.load()
        self.index.ensure_root()

    def start(self) -> None:
        """Move packages kept by older versions (files in data_dir/packages) into
        storage, and make sure a signed index exists (an empty one on first start) so
        hosts can read it from the beginning."""
        moved = self._adopt_old_package_files()
        if moved or "timestamp" not in self.index.current():
            with self.sessions() as s:
                self._publish_index(s)
        self.index.update_expiry_metric()

    def _adopt_old_package_files(self) -> int:
        moved = 0
        with self.sessions.begin() as s:
            for r in s.scalars(select(Release).where(Release.path.like("/%"))):
                old = Path(r.path)
                if not old.is_file():
                    continue
                key = target_key(package_target(r.plugin, old.name), r.sha256)
                self.storage.put(key, old.read_bytes(), "application/zip")
                r.path = key
                moved += 1
        return moved

    def refresh_index(self) -> list[str]:
        roles = self.index.refresh()
        self.index.update_expiry_metric()
        return roles

    def index_status(self) -> dict[str, Any]:
        return {**self.index.status(), "url": self.settings.index_url}

    # ---- the signed index ----------------------------------------------------------

    def _catalogue(self, s) -> tuple[dict[str, Any], dict[str, tuple[int, str]]]:
        """index.json (what hosts resolve over) and the package targets, from the
        approved releases visible in session ``s``."""
        owners = {a.id: a.name for a in s.scalars(select(Account))}
        plugins: dict[str, Any] = {}
        packages: dict[str, tuple[int, str]] = {}
        signers: set[str] = set()
        records = {p.name: p for p in s.scalars(select(PluginRecord))}
        for r in s.scalars(select(Release).where(Release.state == "approved")
                           .order_by(Release.plugin, Release.version)):
            p = records[r.plugin]
            entry = plugins.setdefault(r.plugin, {
                "summary": p.summary, "tags": p.tags or [], "deprecated": p.deprecated,
                "publisher": owners.get(p.owner_id), "releases": {}})
            target = package_target(r.plugin, _package_file(r))
            entry["releases"][r.version] = {
                "host_api": r.host_api, "dependencies": r.dependencies, "yanked": r.yanked,
                "sha256": r.sha256, "size": r.size, "signer": r.signer, "target": target}
            packages[target] = (r.size, r.sha256)
            signers.add(r.signer)
        keys = {k.keyid: k.public_pem for k in s.scalars(
            select(PublisherKey).where(PublisherKey.keyid.in_(signers)))}
        return {"format": 1, "plugins": plugins, "keys": keys}, packages

    def _publish_index(self, s) -> None:
        """Publish the index from session ``s`` (inside its transaction: if storage
        fails, the change that asked for it is rolled back too)."""
        if s.bind.dialect.name == "postgresql":  # one publisher at a time across replicas
            from sqlalchemy import text

            s.execute(text("SELECT pg_advisory_xact_lock(7243)"))
        s.flush()
        catalogue, packages = self._catalogue(s)
        self.index.publish(catalogue, packages)
        self.index.update_expiry_metric()

    # ---- accounts and tokens ---------------------------------------------------

    def bootstrap_admin(self, token: str) -> None:
        """Make sure the configured admin token belongs to an `admin` account."""
        with self.sessions.begin() as s:
            if s.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token))):
                return
            admin = s.scalar(select(Account).where(Account.name == "admin"))
            if admin is None:
                admin = Account(name="admin", role="admin")
                s.add(admin)
                s.flush()
            s.add(ApiToken(account_id=admin.id, token_hash=token_hash(token), scopes=["*"]))

    def authenticate(self, token: str | None) -> Caller | None:
        if not token:
            return None
        with self.sessions() as s:
            row = s.execute(select(ApiToken, Account).join(Account).where(
                ApiToken.token_hash == token_hash(token))).first()
        if row is None or row[0].revoked_at is not None:
            raise Unauthorized("the API token is unknown or revoked")
        return Caller(row[1].id, row[1].name, row[1].role)

    def create_account(self, caller: Caller, name: str, role: str) -> dict[str, Any]:
        caller.require("admin")
        if role not in ROLES:
            raise PluginHostError(f"role: {role!r} is not one of {', '.join(ROLES)}",
                                  code="invalid_request", status=422)
        try:
            with self.sessions.begin() as s:
                account = Account(name=name, role=role)
                s.add(account)
                s.flush()
                return {"id": account.id, "name": name, "role": role}
        except IntegrityError:
            raise Conflict(f"account {name!r} already exists") from None

    def create_token(self, caller: Caller, account_name: str) -> dict[str, Any]:
        with self.sessions.begin() as s:
            account = s.scalar(select(Account).where(Account.name == account_name))
            if account is None:
                raise NotFound(f"no account {account_name!r}")
            if account.id != caller.account_id:
                caller.require("admin")
            token = new_token()
            row = ApiToken(account_id=account.id, token_hash=token_hash(token), scopes=["*"])
            s.add(row)
            s.flush()
            return {"id": row.id, "account": account.name, "token": token,
                    "note": "shown once: the registry keeps only its hash"}

    def revoke_token(self, caller: Caller, token_id: int) -> None:
        with self.sessions.begin() as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFound(f"no token {token_id}")
            if row.account_id != caller.account_id:
                caller.require("admin")
            row.revoked_at = datetime.now(UTC)

    def add_key(self, caller: Caller, public_pem: str) -> dict[str, Any]:
        caller.require("publisher")
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".pub") as f:
            f.write(public_pem)
            f.flush()
            key = load_public_key(Path(f.name))
        with self.sessions.begin() as s:
            existing = s.get(PublisherKey, key.keyid)
            if existing and existing.account_id != caller.account_id:
                raise Conflict(f"key {key.keyid} belongs to another publisher")
            if not existing:
                s.add(PublisherKey(keyid=key.keyid, account_id=caller.account_id,
                                   public_pem=public_pem))
        return {"keyid": key.keyid}

    def _keys_of(self, account_id: int) -> dict[str, TrustedKey]:
        from cryptography.hazmat.primitives import serialization

        with self.sessions() as s:
            rows = s.scalars(select(PublisherKey).where(PublisherKey.account_id == account_id,
                                                        PublisherKey.revoked.is_(False)))
            return {r.keyid: TrustedKey(r.keyid, serialization.load_pem_public_key(
                r.public_pem.encode()), f"publisher key {r.keyid}") for r in rows}

    # ---- publishing --------------------------------------------------------------

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
        signer = verify_signature(pkg, self._keys_of(caller.account_id))
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

    def releases(self, name: str) -> list[Candidate]:
        """The resolver's view: approved releases of ``name``."""
        with self.sessions() as s:
            rows = s.scalars(select(Release).where(Release.plugin == name,
                                                   Release.state == "approved"))
            return [Candidate(r.plugin, r.version, r.dependencies, r.host_api, r.yanked)
                    for r in rows]

    def resolve(self, requirements: dict[str, str], host_api: str) -> list[dict[str, Any]]:
        """A consistent set of approved releases, dependencies first, or a Conflict
        explaining why there is none."""
        from ..manifest import NAME_RE

        bad = [f"requirements.{n}: {r!r}" for n, r in requirements.items()
               if not re.match(NAME_RE, n) or not _valid_range(r)]
        if bad or not requirements:
            raise PluginHostError("invalid requirements: " + ("; ".join(bad) or "none given"),
                                  code="invalid_request", status=422)
        with self.sessions() as s:
            sha = {(r.plugin, r.version): r.sha256 for r in s.scalars(select(Release))}
        return [{"name": c.name, "version": c.version, "sha256": sha[(c.name, c.version)],
                 "download": f"/api/v1/plugins/{c.name}/{c.version}/download"}
                for c in resolve(self, requirements, host_api)]

    def available(self, name: str, range_: str) -> bool:
        """An approved, not yanked release of ``name`` satisfies ``range_``."""
        with self.sessions() as s:
            versions = s.scalars(select(Release.version).where(
                Release.plugin == name, Release.state == "approved",
                Release.yanked.is_(False)))
            return any(satisfies(v, range_) for v in versions)

    # ---- review --------------------------------------------------------------------

    def queue(self, caller: Caller) -> list[dict[str, Any]]:
        caller.require("reviewer")
        with self.sessions() as s:
            rows = s.scalars(select(Release).where(Release.state == "in_review")
                             .order_by(Release.published_at))
            return [_release(r) for r in rows]

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
                m = _manifest(release)
                plugin.summary, plugin.tags = m.plugin.summary, list(m.plugin.tags)
                self._publish_index(s)
            REVIEWS.labels(release.state).inc()
            return _release(release)

    # ---- marketplace: downloads, ratings, yanks, deprecation ----------------------

    def _owned(self, s, caller: Caller, name: str) -> PluginRecord:
        p = s.get(PluginRecord, name)
        if p is None:
            raise NotFound(f"no plugin {name!r}")
        if p.owner_id != caller.account_id:
            caller.require("admin")
        return p

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
        return _package_file(r), data

    def count_download(self, name: str, version: str) -> None:
        """Hosts read packages from the static index; they report installs here
        (best effort) so download counts stay meaningful."""
        with self.sessions.begin() as s:
            r = s.get(Release, (name, version))
            if r is None or r.state != "approved":
                raise NotFound(f"no approved release {name} {version}")
            r.downloads += 1
        DOWNLOADS.labels(name).inc()

    def yank(self, caller: Caller, name: str, version: str, yanked: bool) -> dict[str, Any]:
        with self.sessions.begin() as s:
            self._owned(s, caller, name)
            r = s.get(Release, (name, version))
            if r is None:
                raise NotFound(f"no release {name} {version}")
            r.yanked = yanked
            if r.state == "approved":
                self._publish_index(s)
            return _release(r)

    def deprecate(self, caller: Caller, name: str, message: str | None) -> dict[str, Any]:
        with self.sessions.begin() as s:
            p = self._owned(s, caller, name)
            p.deprecated = message or None
            self._publish_index(s)
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
        return {"plugin": name, "stars": stars, **self._rating(name)}

    def _rating(self, name: str) -> dict[str, Any]:
        with self.sessions() as s:
            avg, count = s.execute(select(func.avg(Rating.stars), func.count())
                                   .where(Rating.plugin == name)).one()
        return {"rating": round(float(avg), 2) if avg else None, "ratings": count}

    # ---- catalogue -----------------------------------------------------------------

    def search(self, q: str = "", tag: str | None = None, sort: str = "name",
               host_api: str | None = None, owner_id: int | None = None
               ) -> list[dict[str, Any]]:
        """Approved plugins matching ``q`` (name, summary or a tag), ``tag`` and
        ``host_api`` (a release that is not yanked supports that host API version)."""
        with self.sessions() as s:
            stmt = select(PluginRecord).where(PluginRecord.summary != "")
            if owner_id is not None:
                stmt = stmt.where(PluginRecord.owner_id == owner_id)
            plugins = list(s.scalars(stmt))
            out = []
            for p in plugins:
                tags = p.tags or []
                text = q.lower()
                if text and not (text in p.name or text in p.summary.lower()
                                 or any(text in t.lower() for t in tags)):
                    continue
                if tag and tag not in tags:
                    continue
                approved = [r for r in s.scalars(select(Release).where(
                    Release.plugin == p.name, Release.state == "approved"))]
                usable = [r for r in approved if not r.yanked and (
                    host_api is None or satisfies(host_api, r.host_api))]
                if host_api is not None and not usable:
                    continue
                latest = max(usable, key=lambda r: parse_version(r.version), default=None)
                updated = max((_aware(r.published_at) for r in approved), default=None)
                out.append({"name": p.name, "summary": p.summary, "tags": tags,
                            "latest": latest.version if latest else None,
                            "downloads": sum(r.downloads for r in approved),
                            "updated": updated.isoformat() if updated else None,
                            "deprecated": p.deprecated, **self._rating(p.name)})
        out.sort(key=lambda x: x["name"])
        key = {"downloads": lambda x: -x["downloads"],
               "rating": lambda x: -(x["rating"] or 0),
               "updated": lambda x: x["updated"] or ""}.get(sort)
        if key:
            out.sort(key=key, reverse=sort == "updated")
        return out

    def publisher(self, name: str) -> dict[str, Any]:
        """A publisher's public profile."""
        with self.sessions() as s:
            account = s.scalar(select(Account).where(Account.name == name))
            if account is None or account.role not in ("publisher", "admin"):
                raise NotFound(f"no publisher {name!r}")
            keys = [{"keyid": k.keyid, "added": _aware(k.created_at).isoformat(),
                     "revoked": k.revoked}
                    for k in s.scalars(select(PublisherKey).where(
                        PublisherKey.account_id == account.id))]
            since = _aware(account.created_at).isoformat()
        return {"name": name, "since": since, "keys": keys,
                "plugins": self.search(owner_id=account.id)}

    def plugin(self, name: str, caller: Caller | None) -> dict[str, Any]:
        with self.sessions() as s:
            p = s.get(PluginRecord, name)
            if p is None:
                raise NotFound(f"no plugin {name!r}" + self._did_you_mean(s, name))
            mine = caller is not None and (caller.account_id == p.owner_id
                                           or caller.role in ("admin", "reviewer"))
            releases = [r for r in s.scalars(select(Release).where(Release.plugin == name))
                        if mine or r.state == "approved"]
            reviews = s.scalars(select(Review).where(Review.plugin == name)) if mine else []
            ratings = [{"stars": r.stars, "text": r.text} for r in
                       s.scalars(select(Rating).where(Rating.plugin == name))]
            return {"name": name, "summary": p.summary, "tags": p.tags,
                    "deprecated": p.deprecated, **self._rating(name), "reviews_by_users": ratings,
                    "versions": sorted((_release(r) for r in releases),
                                       key=lambda r: parse_version(r["version"]), reverse=True),
                    "reviews": [{"version": r.version, "decision": r.decision,
                                 "comment": r.comment} for r in reviews]}

    @staticmethod
    def _did_you_mean(s, name: str) -> str:
        """Plugin names are lower case with '-': point at the one a variant meant."""
        wanted = name.lower().replace("_", "-")
        if wanted != name and s.get(PluginRecord, wanted) is not None:
            return f" (plugin names are lower case with '-': did you mean {wanted!r}?)"
        return ""

    def update_gauges(self) -> None:
        with self.sessions() as s:
            waiting = list(s.scalars(select(Release.published_at).where(
                Release.state == "in_review")))
        QUEUE_SIZE.set(len(waiting))
        now = datetime.now(UTC)
        QUEUE_AGE.set(max(((now - _aware(t)).total_seconds() for t in waiting), default=0))


def _valid_range(text: str) -> bool:
    try:
        parse_range(text)
    except ValueError:
        return False
    return True


def _package_file(r: Release) -> str:
    """The package's file name (its storage key is ``…/<sha256>.<file name>``)."""
    return Path(r.path).name.split(".", 1)[1]


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _manifest(release: Release):
    from ..manifest import parse_manifest

    return parse_manifest(release.manifest)


def _release(r: Release) -> dict[str, Any]:
    return {"plugin": r.plugin, "version": r.version, "state": r.state, "yanked": r.yanked,
            "sha256": r.sha256, "size": r.size, "signer": r.signer, "host_api": r.host_api,
            "dependencies": r.dependencies, "checks": r.checks, "downloads": r.downloads,
            "published_at": _aware(r.published_at).isoformat()}

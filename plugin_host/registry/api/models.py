"""The registry's answers as its OpenAPI document describes them (typed clients are
generated from it). Routes return dicts (``registry/catalogue.py`` and friends); these
models document them and ``tests/test_openapi.py`` checks real answers against them.
Examples are real answers, trimmed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ...service.http import Answer, example

SHA = "211a95d1aea70fcd2c5613313921c09a9ee2c99fa9adb44341acff0c4f8fbc05"
CHECKS = [{"name": "archive", "status": "pass", "detail": "3 files, 1708 bytes, hashes match"},
          {"name": "static-scan", "status": "pass", "detail": "no risky imports or calls"},
          {"name": "smoke-load", "status": "pass",
           "detail": "loaded in a sandboxed worker: 1 routes, 1 hooks"}]
RELEASE = {"plugin": "hello-world", "version": "1.0.0", "state": "approved", "yanked": False,
           "sha256": SHA, "size": 1708, "signer": "cffcd78675ebb1c5", "host_api": "^1.0",
           "dependencies": {}, "checks": CHECKS, "downloads": 12,
           "published_at": "2026-12-03T11:11:30+00:00",
           "asks_for": ["Is told when a bibliographic record was created or modified"]}
CARD = {"name": "hello-world", "summary": "Greets patrons and notes saved records",
        "tags": ["opac", "demo"], "latest": "1.0.0", "downloads": 12, "active_installs": 3,
        "updated": "2026-12-03T11:11:30+00:00", "deprecated": None, "rating": 4.5,
        "ratings": 2}


class Whoami(Answer):
    """The account the token belongs to."""

    model_config = example({"name": "ada", "role": "publisher", "roles": ["publisher"],
                            "provider": "token"})
    name: str
    role: str = Field(description="the highest role it holds")
    roles: list[str]
    provider: str = Field(description="token, oidc, ldap or saml")


class Account(Answer):
    """The account created."""

    model_config = example({"id": 5, "name": "zed", "role": "publisher"})
    id: int
    name: str
    role: str


class NewToken(Answer):
    """A new API token, shown once: the registry keeps only its hash."""

    model_config = example({"id": 5, "account": "zed",
                            "token": "kr_USF7186QI_ZCeBOReDc34cdqNRUdOuaIhV8MjIWluhc",
                            "scopes": ["*"], "expires_at": "2027-03-03T11:11:14+00:00",
                            "note": "shown once: the registry keeps only its hash"})
    id: int
    account: str
    token: str
    scopes: list[str]
    expires_at: str | None
    note: str | None = None


class Revoked(Answer):
    """The token that no longer works."""

    model_config = example({"revoked": 5})
    revoked: int


class KeyAdded(Answer):
    """The key id of the public key registered."""

    model_config = example({"keyid": "cffcd78675ebb1c5"})
    keyid: str


class Check(BaseModel):
    name: str
    status: str = Field(description="pass, warn or fail")
    detail: str


class Published(Answer):
    """The release received, its state, and the automated checks' report."""

    model_config = example({"plugin": "hello-world", "version": "1.0.0",
                            "state": "in_review", "checks": CHECKS})
    plugin: str
    version: str
    state: str = Field(description="in_review, approved, rejected")
    checks: list[Check]


class Release(Answer):
    """One release: its state, hash, signer, what it asks for, and its checks."""

    model_config = example(RELEASE)
    plugin: str
    version: str
    state: str
    yanked: bool
    sha256: str
    size: int
    signer: str | None
    host_api: str
    dependencies: dict[str, str]
    checks: list[Check]
    downloads: int
    published_at: str | None
    asks_for: list[str] = Field(description="its permissions in plain words")


class ReviewQueue(Answer):
    """Releases waiting for a reviewer, oldest first."""

    model_config = example({"queue": [{**RELEASE, "state": "in_review"}]})
    queue: list[Release]


class Diff(Answer):
    """A release's files against the version before it (``against``)."""

    model_config = example({"plugin": "hello-world", "version": "1.1.0", "against": "1.0.0",
                            "files": [{"path": "hello_world/__init__.py",
                                       "change": "modified",
                                       "diff": "--- a/hello_world/__init__.py\n+++ b/…"}]})
    plugin: str
    version: str
    against: str | None
    files: list[dict[str, Any]] = Field(description="path, change and unified diff")


class PluginCard(BaseModel):
    name: str
    summary: str
    tags: list[str]
    latest: str | None
    downloads: int
    active_installs: int
    updated: str | None
    deprecated: str | None
    rating: float | None
    ratings: int


class Search(Answer):
    """Plugins that match, in the order asked for."""

    model_config = example({"plugins": [CARD]})
    plugins: list[PluginCard]


class PluginPage(Answer):
    """A plugin: its releases newest first, README and CHANGELOG, ratings and reviews."""

    model_config = example({**{k: CARD[k] for k in ("name", "summary", "tags", "deprecated",
                                                   "rating", "ratings", "active_installs")},
                            "publisher": "ada", "readme": "# hello-world\n…",
                            "changelog": None, "documents_of": "1.0.0",
                            "reviews_by_users": [], "versions": [RELEASE],
                            "reviews": [{"version": "1.0.0", "decision": "approved",
                                         "comment": "ok"}]})
    name: str
    summary: str
    tags: list[str]
    publisher: str | None
    readme: str | None
    changelog: str | None
    documents_of: str | None = Field(description="the version the README is from")
    deprecated: str | None
    rating: float | None
    ratings: int
    active_installs: int
    reviews_by_users: list[dict[str, Any]]
    versions: list[Release]
    reviews: list[dict[str, Any]] = Field(description="reviewers' decisions (for its "
                                                      "publisher and reviewers)")


class Publisher(Answer):
    """A publisher: since when, its keys, its plugins."""

    model_config = example({"name": "ada", "since": "2026-12-03T11:11:13+00:00",
                            "keys": [{"keyid": "cffcd78675ebb1c5",
                                      "added": "2026-12-03T11:11:13+00:00",
                                      "revoked": False}], "plugins": [CARD]})
    name: str
    since: str
    keys: list[dict[str, Any]]
    plugins: list[PluginCard]


class IndexStatus(Answer):
    """The signed index: where it is kept, its root's hash, each role's version and
    expiry."""

    model_config = example({"storage": "s3 koha-registry", "root_sha256": SHA,
                            "roles": {"root": {"version": 1,
                                               "expires": "2027-12-03T11:11:29+00:00"},
                                      "timestamp": {"version": 2,
                                                    "expires": "2026-12-04T11:11:30+00:00"}},
                            "url": "https://registry.example.org/index/"})
    storage: str
    root_sha256: str
    roles: dict[str, dict[str, Any]]
    url: str | None


class Resolution(Answer):
    """What to install, dependencies first: exact versions, hashes and where to get them."""

    model_config = example({"install": [{"name": "hello-world", "version": "1.0.0",
                                         "sha256": SHA, "download": "/api/v1/plugins/"
                                                                    "hello-world/1.0.0/download"}]})
    install: list[dict[str, str]]


class UsageCounted(Answer):
    """Which plugins of the report were counted for the day."""

    model_config = example({"counted": ["hello-world"], "ignored": [], "day": "2026-12-03"})
    counted: list[str]
    ignored: list[str] = Field(description="not in the catalogue")
    day: str


class Deprecated(Answer):
    """The plugin's deprecation message (null: cleared)."""

    model_config = example({"name": "hello-world", "deprecated": "use hello-world-2"})
    name: str
    deprecated: str | None


class Rated(Answer):
    """The caller's rating and the plugin's average."""

    model_config = example({"plugin": "hello-world", "stars": 5, "rating": 4.5, "ratings": 2})
    plugin: str
    stars: int
    rating: float | None
    ratings: int

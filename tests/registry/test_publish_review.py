"""Publish → automated checks → review → approve → catalogue, on a real registry."""

from __future__ import annotations

import time

from ..support.paths import EXAMPLES
from ..support.plugins import signed
from ..support.rbac import run_matrix, unlisted_routes
from ..support.servers import publish_and_approve

ZIP = {"Content-Type": "application/zip"}


def publish(reg, data: bytes, role: str = "publisher"):
    return reg.client(role).post("/api/v1/packages", content=data, headers=ZIP)


def test_publish_checks_review_and_catalogue(registry, packages):
    r = publish(registry, packages["hello-world"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["state"] == "in_review"
    checks = {c["name"]: c for c in body["checks"]}
    assert set(checks) == {"archive", "manifest", "licence", "static-scan", "dependencies",
                           "smoke-load"}
    assert all(c["status"] == "pass" for c in checks.values()), checks
    assert "loaded in a sandboxed worker: 1 routes, 1 hooks" in checks["smoke-load"]["detail"]

    # not in the public catalogue until approved; the publisher sees it in review
    assert registry.client().get("/api/v1/plugins").json()["plugins"] == []
    mine = registry.client("publisher").get("/api/v1/plugins/hello-world").json()
    assert [v["state"] for v in mine["versions"]] == ["in_review"]

    queue = registry.client("reviewer").get("/api/v1/review/queue").json()["queue"]
    assert [(q["plugin"], q["version"]) for q in queue] == [("hello-world", "1.0.0")]
    r = registry.client("reviewer").post("/api/v1/review/hello-world/1.0.0",
                                         json={"decision": "approve", "comment": "fine"})
    assert r.status_code == 200 and r.json()["state"] == "approved"

    found = registry.client().get("/api/v1/plugins", params={"q": "greet"}).json()["plugins"]
    assert [(p["name"], p["latest"]) for p in found] == [("hello-world", "1.0.0")]
    assert registry.client().get("/api/v1/plugins", params={"tag": "staff"}).json()[
        "plugins"] == []
    page = registry.client().get("/api/v1/plugins/hello-world").json()
    assert page["versions"][0]["checks"][0]["name"] == "archive"
    publisher_view = registry.client("publisher").get("/api/v1/plugins/hello-world").json()
    assert publisher_view["reviews"] == [{"version": "1.0.0", "decision": "approved",
                                          "comment": "fine"}]
    again = publish(registry, packages["hello-world"])
    assert again.status_code == 409 and "already been published" in again.text
    metrics = registry.client().get("/metrics").text
    assert 'registry_publishes_total{outcome="published"} 1.0' in metrics
    assert 'registry_reviews_total{decision="approved"} 1.0' in metrics
    assert "registry_review_queue_size 0.0" in metrics


def test_rejections_flags_and_refusals(registry, keys, plugin_copy, tmp_path):
    src = plugin_copy(EXAMPLES / "hello-world")
    toml = (src / "plugin.toml").read_text()
    (src / "plugin.toml").write_text(toml.replace('license = "GPL-3.0-or-later"',
                                                  'license = "LicenseRef-Proprietary"'))
    r = publish(registry, signed(src, keys["key"], tmp_path / "a"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "checks_failed", r.text
    assert "failed the automated checks (licence)" in r.json()["error"]["message"]
    licence = next(c for c in r.json()["error"]["checks"] if c["name"] == "licence")
    assert licence["status"] == "fail" and "LicenseRef-Proprietary is not an accepted" in \
        licence["detail"]
    # nothing was kept: the same version, fixed, is published
    (src / "plugin.toml").write_text(toml)
    r = publish(registry, signed(src, keys["key"], tmp_path / "a2"))
    assert r.status_code == 201 and r.json()["state"] == "in_review", r.text

    risky = plugin_copy(EXAMPLES / "book-notes")
    code = risky / "book_notes" / "__init__.py"
    code.write_text("import subprocess\n" + code.read_text() + "\nx = eval('1')\n")
    r = publish(registry, signed(risky, keys["key"], tmp_path / "b"))
    assert r.status_code == 201 and r.json()["state"] == "in_review"
    scan = next(c for c in r.json()["checks"] if c["name"] == "static-scan")
    assert scan["status"] == "flag"
    assert "book_notes/__init__.py:1: imports subprocess" in scan["detail"]
    assert "calls eval" in scan["detail"]

    r = publish(registry, signed(EXAMPLES / "hello-world", keys["other_key"], tmp_path / "c"))
    assert r.status_code == 422 and "not a trusted key" in r.json()["error"]["message"]

    r = registry.client("reviewer").post("/api/v1/review/book-notes/1.0.0",
                                         json={"decision": "reject"})
    assert r.status_code == 422 and "comment" in r.json()["error"]["message"]


def test_roles_are_enforced_on_every_route(registry, packages):
    """Table-driven (tests/support/rbac.py): each route, each role (and no token at all):
    refused with 401/403 exactly where the table says, and a route missing from the
    table fails the test."""
    assert unlisted_routes(registry.url) == set()
    assert publish(registry, packages["hello-world"]).status_code == 201
    registry.client("reviewer").post("/api/v1/review/hello-world/1.0.0",
                                     json={"decision": "approve"})
    run_matrix(registry.url, {None: None, **registry.tokens})


def test_tokens_are_hashed_and_revocable(registry, tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "registry0" / "registry.db")
    hashes = [h for (h,) in db.execute("select token_hash from api_tokens")]
    assert registry.tokens["user"] not in hashes and len(hashes) == 4
    user = registry.client("user")
    token_id = user.post("/api/v1/accounts/user/tokens").json()["id"]
    assert registry.client("user").delete(f"/api/v1/tokens/{token_id}").status_code == 200
    r = registry.client("user").delete("/api/v1/tokens/1")  # the admin's: not theirs
    assert r.status_code == 403


def test_downloads_ratings_yanks_and_deprecation(registry, packages):
    assert publish(registry, packages["hello-world"]).status_code == 201
    registry.client("reviewer").post("/api/v1/review/hello-world/1.0.0",
                                     json={"decision": "approve"})
    anon = registry.client()
    r = anon.get("/api/v1/plugins/hello-world/1.0.0/download")
    assert r.status_code == 200 and r.content == packages["hello-world"]
    anon.get("/api/v1/plugins/hello-world/1.0.0/download")
    assert anon.get("/api/v1/plugins/nope/1.0.0/download").status_code == 404
    listed = anon.get("/api/v1/plugins").json()["plugins"][0]
    assert listed["downloads"] == 2
    assert 'registry_downloads_total{plugin="hello-world"} 2.0' in anon.get("/metrics").text

    # one rating per user, editable; anonymous users cannot rate
    assert anon.put("/api/v1/plugins/hello-world/rating", json={"stars": 5}).status_code == 401
    user, reviewer = registry.client("user"), registry.client("reviewer")
    assert user.put("/api/v1/plugins/hello-world/rating",
                    json={"stars": 2, "text": "too chatty"}).json()["ratings"] == 1
    assert user.put("/api/v1/plugins/hello-world/rating",
                    json={"stars": 4, "text": "better"}).json() == {
        "plugin": "hello-world", "stars": 4, "rating": 4.0, "ratings": 1}
    assert reviewer.put("/api/v1/plugins/hello-world/rating", json={"stars": 5}).json()[
        "rating"] == 4.5
    r = user.put("/api/v1/plugins/hello-world/rating", json={"stars": 9})
    assert r.status_code == 422 and "stars: must be 1 to 5" in r.text
    page = anon.get("/api/v1/plugins/hello-world").json()
    assert page["rating"] == 4.5 and {"stars": 4, "text": "better"} in page["reviews_by_users"]

    # only the publisher (or an admin) yanks and deprecates
    assert user.post("/api/v1/plugins/hello-world/1.0.0/yank").status_code == 403
    pub = registry.client("publisher")
    assert pub.post("/api/v1/plugins/hello-world/1.0.0/yank").json()["yanked"] is True
    assert anon.get("/api/v1/plugins").json()["plugins"][0]["latest"] is None
    # a yanked release can still be fetched by a pinned install
    assert anon.get("/api/v1/plugins/hello-world/1.0.0/download").status_code == 200
    assert pub.post("/api/v1/plugins/hello-world/1.0.0/unyank").json()["yanked"] is False
    r = pub.post("/api/v1/plugins/hello-world/deprecate", json={"message": "use greeter"})
    assert r.json() == {"name": "hello-world", "deprecated": "use greeter"}
    assert anon.get("/api/v1/plugins").json()["plugins"][0]["deprecated"] == "use greeter"


DEPENDS_ON_MARC = '[dependencies]\n"marc-utils" = "^2.1"\n\n[backend]'


def test_resolve_over_approved_releases(registry, keys, plugin_copy, tmp_path):
    """marc-utils 2.1.0 approved; hello-world 1.1.0 needs it; resolution returns both in
    install order; a conflicting request is explained."""
    from ..support.paths import EXAMPLES as EX

    marc = plugin_copy(EX / "hello-world")
    (marc / "plugin.toml").write_text((marc / "plugin.toml").read_text()
                                      .replace('name = "hello-world"', 'name = "marc-utils"')
                                      .replace('version = "1.0.0"', 'version = "2.1.0"'))
    hello = tmp_path / "hello"
    import shutil
    shutil.copytree(EX / "hello-world", hello)
    (hello / "plugin.toml").write_text((hello / "plugin.toml").read_text()
                                       .replace('version = "1.0.0"', 'version = "1.1.0"')
                                       .replace("[backend]", DEPENDS_ON_MARC))
    reviewer = registry.client("reviewer")
    # publishing hello-world first fails its dependency check
    r = publish(registry, signed(hello, keys["key"], tmp_path / "h0"))
    deps = next(c for c in r.json()["error"]["checks"] if c["name"] == "dependencies")
    assert r.status_code == 422
    assert deps["detail"] == "marc-utils ^2.1: there is no plugin 'marc-utils' in this registry"
    assert publish(registry, signed(marc, keys["key"], tmp_path / "m")).status_code == 201
    # while marc-utils waits for review, the check says so
    r = publish(registry, signed(hello, keys["key"], tmp_path / "h0b"))
    deps = next(c for c in r.json()["error"]["checks"] if c["name"] == "dependencies")
    assert deps["detail"] == ("marc-utils ^2.1: no approved release satisfies it (approved: "
                              "none; in review: 2.1.0)")
    reviewer.post("/api/v1/review/marc-utils/2.1.0", json={"decision": "approve"})
    (hello / "plugin.toml").write_text((hello / "plugin.toml").read_text().replace(
        'version = "1.1.0"', 'version = "1.1.1"'))
    r = publish(registry, signed(hello, keys["key"], tmp_path / "h1"))
    assert r.json()["state"] == "in_review", r.json()
    reviewer.post("/api/v1/review/hello-world/1.1.1", json={"decision": "approve"})

    anon = registry.client()
    r = anon.post("/api/v1/resolve", json={"requirements": {"hello-world": "^1"}})
    assert r.status_code == 200, r.text
    assert [(i["name"], i["version"]) for i in r.json()["install"]] == [
        ("marc-utils", "2.1.0"), ("hello-world", "1.1.1")]
    assert r.json()["install"][0]["download"] == "/api/v1/plugins/marc-utils/2.1.0/download"
    r = anon.post("/api/v1/resolve", json={"requirements": {"hello-world": "^1",
                                                            "marc-utils": "^3"}})
    assert r.status_code == 409
    assert r.json()["error"]["message"] == ("you ask for marc-utils ^3, and no release "
                                            "satisfies it: marc-utils has 2.1.0")
    r = anon.post("/api/v1/resolve", json={"requirements": {"Bad Name": "^1"}})
    assert r.status_code == 422 and "requirements.Bad Name" in r.text


def test_the_same_flow_on_postgresql(registry_factory, postgres, packages):
    reg = registry_factory({"PLUGIN_REGISTRY_DATABASE_URL": postgres()})
    assert publish(reg, packages["hello-world"]).json()["state"] == "in_review"
    reg.client("reviewer").post("/api/v1/review/hello-world/1.0.0", json={"decision": "approve"})
    r = reg.client().post("/api/v1/resolve", json={"requirements": {"hello-world": "^1"}})
    assert [(i["name"], i["version"]) for i in r.json()["install"]] == [("hello-world", "1.0.0")]
    reg.client("user").put("/api/v1/plugins/hello-world/rating", json={"stars": 5})
    assert reg.client().get("/api/v1/plugins").json()["plugins"][0]["rating"] == 5.0


def test_search_filters_sorts_and_publisher_profiles(registry, keys, tmp_path):
    from ..support.plugins import variant
    from ..support.servers import publish_and_approve

    publish_and_approve(registry, variant(tmp_path, "hello-world", "1.0.0", key=keys["key"]))
    time.sleep(1.1)  # published_at has second resolution on some databases
    publish_and_approve(registry, variant(tmp_path, "marc-tools", "1.0.0", key=keys["key"]))
    anon = registry.client()

    def names(**params):
        r = anon.get("/api/v1/plugins", params=params)
        assert r.status_code == 200, r.text
        return [p["name"] for p in r.json()["plugins"]]

    assert names() == ["hello-world", "marc-tools"]
    assert names(sort="updated") == ["marc-tools", "hello-world"]
    assert names(q="OPAC") == ["hello-world", "marc-tools"]  # a tag both carry
    assert names(q="marc") == ["marc-tools"]
    assert names(host_api="1.0.0") == ["hello-world", "marc-tools"]  # host_api ^1.0
    assert names(host_api="2.0.0") == []
    r = anon.get("/api/v1/plugins", params={"host_api": "two"})
    assert r.status_code == 422
    profile = anon.get("/api/v1/publishers/publisher").json()
    assert [p["name"] for p in profile["plugins"]] == ["hello-world", "marc-tools"]
    assert profile["keys"][0]["keyid"] and profile["keys"][0]["revoked"] is False
    assert anon.get("/api/v1/publishers/user").status_code == 404


def test_reviewers_read_the_code_and_the_diff_and_a_rejected_version_comes_back(
        registry, keys, plugin_copy, tmp_path):
    src = plugin_copy(EXAMPLES / "hello-world")
    v1 = signed(src, keys["key"], tmp_path / "v1")
    assert publish(registry, v1).status_code == 201
    reviewer, user = registry.client("reviewer"), registry.client("user")
    # the package under review, for reviewers and its publisher only
    r = reviewer.get("/api/v1/review/hello-world/1.0.0/download")
    assert r.status_code == 200 and r.content == v1
    assert r.headers["content-disposition"].endswith('.kplugin"')
    assert registry.client("publisher").get(
        "/api/v1/review/hello-world/1.0.0/download").status_code == 200
    r = user.get("/api/v1/review/hello-world/1.0.0/download")
    assert r.status_code == 403 and "needs the reviewer role, or to be its publisher" in \
        r.json()["error"]["message"]
    assert registry.client().get("/api/v1/review/hello-world/1.0.0/download").status_code == 401
    first = reviewer.get("/api/v1/review/hello-world/1.0.0/diff").json()
    assert first["against"] is None and {f["change"] for f in first["files"]} == {"added"}
    assert reviewer.post("/api/v1/review/hello-world/1.0.0",
                         json={"decision": "approve"}).status_code == 200

    # 1.1.0 changes the code: the reviewer sees exactly that against 1.0.0
    toml = src / "plugin.toml"
    toml.write_text(toml.read_text().replace('version = "1.0.0"', 'version = "1.1.0"'))
    code = src / "hello_world" / "__init__.py"
    code.write_text(code.read_text().replace("Hello", "Good morning"))
    assert publish(registry, signed(src, keys["key"], tmp_path / "v11")).status_code == 201
    diff = reviewer.get("/api/v1/review/hello-world/1.1.0/diff").json()
    assert diff["against"] == "1.0.0"
    changed = {f["path"]: f for f in diff["files"]}
    assert set(changed) == {"plugin.toml", "hello_world/__init__.py"}, changed
    assert "+version = \"1.1.0\"" in changed["plugin.toml"]["diff"]
    assert "+" in changed["hello_world/__init__.py"]["diff"] and \
        "Good morning" in changed["hello_world/__init__.py"]["diff"]

    # rejected by the reviewer, fixed, published again as the same version
    assert reviewer.post("/api/v1/review/hello-world/1.1.0", json={
        "decision": "reject", "comment": "say hello"}).status_code == 200
    code.write_text(code.read_text().replace("Good morning", "Hello again"))
    r = publish(registry, signed(src, keys["key"], tmp_path / "v11b"))
    assert r.status_code == 201 and r.json()["state"] == "in_review", r.text
    assert [q["version"] for q in reviewer.get("/api/v1/review/queue").json()["queue"]] == \
        ["1.1.0"]
    history = registry.client("publisher").get("/api/v1/plugins/hello-world").json()["reviews"]
    assert {"version": "1.1.0", "decision": "rejected", "comment": "say hello"} in history
    # an approved version is never replaced
    assert publish(registry, v1).status_code == 409


def test_a_package_lost_from_storage_is_named_not_served_empty(registry, packages):
    """The storage lost an approved release's file (a bucket lifecycle rule, a restore
    that missed it): downloading it and reviewing it say which file is missing from
    which store (503), the catalogue still lists the release, nothing is served empty."""
    publish_and_approve(registry, packages["hello-world"])
    for f in (registry.storage / "targets").rglob("*hello-world-1.0.0.kplugin"):
        f.unlink()
    r = registry.client().get("/api/v1/plugins/hello-world/1.0.0/download")
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "storage_unavailable"
    assert r.json()["error"]["message"].startswith(
        "the package of hello-world 1.0.0 is missing from folder "), r.json()
    r = registry.client("reviewer").get("/api/v1/review/hello-world/1.0.0/download")
    assert r.status_code == 503 and "is missing from" in r.json()["error"]["message"], r.text
    page = registry.client().get("/api/v1/plugins/hello-world").json()
    assert [v["version"] for v in page["versions"]] == ["1.0.0"]
    assert page["readme"] is None

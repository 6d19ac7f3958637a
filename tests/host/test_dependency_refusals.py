"""What the host refuses to keep its installed set consistent, each with the plugins
and versions named and nothing changed: a dependency at a version outside the range, a
second version of an installed plugin by install (upgrade is the way), an upgrade that
would break a dependent, an uninstall of something others need; dependents gone, the
same acts go through."""

from __future__ import annotations

from ..support.plugins import ZIP, variant


def test_the_installed_set_stays_consistent(host, keys, tmp_path):
    made: dict[tuple[str, str], bytes] = {}

    def pkg(name: str, version: str, deps: dict[str, str] | None = None) -> bytes:
        if (name, version) not in made:
            made[name, version] = variant(tmp_path, name, version, deps, keys["key"])
        return made[name, version]

    def error(r) -> tuple[int, str, str]:
        body = r.json()["error"]
        return r.status_code, body["code"], body["message"]

    assert host.install(pkg("base-lib", "1.0.0")).status_code == 201
    status, _, message = error(host.install(pkg("marc-utils", "2.1.0", {"base-lib": "^2"})))
    assert status == 409 and message == (
        "dependencies.base-lib: needs base-lib ^2, but 1.0.0 is installed"), message

    status, _, message = error(host.install(pkg("base-lib", "2.0.0")))
    assert status == 409 and message == (
        "base-lib 1.0.0 is installed; upgrade it with POST /admin/plugins/base-lib/upgrade")
    up = host.admin.post("/admin/plugins/base-lib/upgrade", content=pkg("base-lib", "2.0.0"),
                         headers=ZIP)
    assert up.status_code == 200, up.text
    assert host.install(pkg("marc-utils", "2.1.0", {"base-lib": "^2"})).status_code == 201

    status, code, message = error(host.admin.post(
        "/admin/plugins/base-lib/upgrade", content=pkg("base-lib", "3.0.0"), headers=ZIP))
    assert (status, code) == (409, "breaks_dependents"), message
    assert message.startswith("base-lib 3.0.0 would break its dependents: marc-utils")
    status, code, message = error(host.admin.delete("/admin/plugins/base-lib"))
    assert (status, code) == (409, "has_dependents")
    assert message == "base-lib is needed by marc-utils; uninstall those first"
    versions = {p["name"]: p["version"]
                for p in host.admin.get("/admin/plugins").json()["plugins"]}
    assert versions == {"base-lib": "2.0.0", "marc-utils": "2.1.0"}

    assert host.admin.delete("/admin/plugins/marc-utils").status_code == 200
    assert host.admin.post("/admin/plugins/base-lib/upgrade", content=pkg("base-lib", "3.0.0"),
                           headers=ZIP).status_code == 200
    assert host.admin.delete("/admin/plugins/base-lib").status_code == 200
    assert host.installed() == []

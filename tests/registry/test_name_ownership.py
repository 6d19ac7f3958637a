"""A plugin's name belongs to the publisher who first published it: another publisher
cannot publish a version of it, with their own key or with a copy of the owner's signed
package (a signature counts only by a key of the account publishing, and a key belongs
to one account); the owner goes on publishing."""

from __future__ import annotations

from ..support.plugins import ZIP, variant
from ..support.servers import publish_and_approve


def test_another_publisher_cannot_publish_under_a_taken_name(registry, keys, tmp_path):
    publish_and_approve(registry, variant(tmp_path, "hello-world", "1.0.0", key=keys["key"]))
    admin = registry.client("admin")
    assert admin.post("/api/v1/accounts", json={"name": "mallory", "role": "publisher"}
                      ).status_code == 201
    token = admin.post("/api/v1/accounts/mallory/tokens").json()["token"]
    mallory = registry.client()
    mallory.headers["Authorization"] = f"Bearer {token}"
    assert mallory.post("/api/v1/keys", json={
        "public_key": keys["other_pub"].read_text()}).status_code == 201
    # the owner's public key cannot be claimed as hers (it would let his packages count
    # as her uploads)
    r = mallory.post("/api/v1/keys", json={"public_key": keys["pub"].read_text()})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["message"].endswith("belongs to another publisher")

    own_key = variant(tmp_path / "m", "hello-world", "1.0.1", key=keys["other_key"])
    r = mallory.post("/api/v1/packages", content=own_key, headers=ZIP)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["message"] == "hello-world belongs to another publisher"
    owners_copy = variant(tmp_path / "c", "hello-world", "1.0.2", key=keys["key"])
    r = mallory.post("/api/v1/packages", content=owners_copy, headers=ZIP)
    assert r.status_code == 422, r.text
    assert "register its public key first" in r.json()["error"]["message"]
    versions = [v["version"] for v in registry.client().get(
        "/api/v1/plugins/hello-world").json()["versions"]]
    assert versions == ["1.0.0"]

    # her own name is hers; the owner goes on publishing his
    r = mallory.post("/api/v1/packages", headers=ZIP,
                     content=variant(tmp_path / "n", "mallory-tools", "1.0.0",
                                     key=keys["other_key"]))
    assert r.status_code == 201, r.text
    publish_and_approve(registry, variant(tmp_path / "o", "hello-world", "1.1.0",
                                          key=keys["key"]))

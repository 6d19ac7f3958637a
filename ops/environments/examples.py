"""The example plugins in an environment: signed with the development key, published and
approved on its registry, installed on its host from the signed index."""

from __future__ import annotations

from pathlib import Path

import httpx

from plugin_host.package.archive import pack
from plugin_host.package.signing import generate_keypair, sign_package

from ..paths import published_plugins


def dev_key(state: Path) -> tuple[Path, Path]:
    """The development signing key (made once in ``.dev/keys/``), trusted by every local
    host."""
    keys = state / "keys"
    private, public = keys / "dev.key", keys / "dev.pub"
    if not private.exists():
        generate_keypair(keys / "dev")
    return private, public


def pack_examples(key: Path, out: Path) -> dict[str, bytes]:
    """Every example and first-party plugin, packed and signed with the development key."""
    packages = {}
    for folder in published_plugins():
        pkg = pack(folder, out)
        sign_package(pkg, key)
        packages[folder.name] = pkg.read_bytes()
    return packages


def publish_examples(url: str, token: str, public: Path, packages: dict[str, bytes]) -> None:
    """Publish and approve the examples on the local registry (as its admin), so
    `plugin-host install NAME@RANGE` has something to install."""
    admin = httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"})
    r = admin.post("/api/v1/keys", json={"public_key": public.read_text()})
    if r.status_code != 201:
        raise RuntimeError(f"registering the development key: {r.status_code} {r.text}")
    for name, data in packages.items():
        r = admin.post("/api/v1/packages", content=data,
                       headers={"Content-Type": "application/zip"})
        if r.status_code == 409:  # published by an earlier `up`
            continue
        if r.status_code != 201 or r.json()["state"] != "in_review":
            raise RuntimeError(f"publishing {name}: {r.status_code} {r.text}")
        body = r.json()
        r = admin.post(f"/api/v1/review/{name}/{body['version']}",
                       json={"decision": "approve", "comment": "development environment"})
        if r.status_code != 200:
            raise RuntimeError(f"approving {name}: {r.status_code} {r.text}")


def install_examples(url: str, token: str, packages: dict[str, bytes]) -> list[str]:
    """Install the examples on the host the way operators do: by name, from the
    registry's signed index (one installed already is upgraded to the newest, or left
    as it is: 200)."""
    headers = {"Authorization": f"Bearer {token}"}
    for name in packages:
        r = httpx.post(f"{url}/admin/plugins", json={"name": name, "range": "*"},
                       headers=headers, timeout=60)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"installing {name}: {r.status_code} {r.text}")
    return list(packages)


def trust_key(data_dir: Path, registry_url: str, registry_token: str, public: Path) -> str:
    """Trust an author's public key in an environment: the host accepts packages it
    signed (the key goes into the host's trusted-keys folder, which the host reads again
    when it meets a key it does not know) and the registry accepts publications signed
    by it (registered to the environment's registry account). Returns its key id."""
    from plugin_host.errors import PluginHostError
    from plugin_host.package.signing import load_trusted_keys

    try:
        keys = load_trusted_keys([public])
    except PluginHostError as e:
        raise PluginHostError(f"--trust: {e.message}") from None
    if len(keys) != 1:
        raise PluginHostError(f"--trust: {public} holds {len(keys)} keys; give one .pub file")
    (keyid,) = keys
    folder = data_dir / "trusted-keys"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{keyid}.pub").write_bytes(public.read_bytes())
    r = httpx.post(f"{registry_url}/api/v1/keys", json={"public_key": public.read_text()},
                   headers={"Authorization": f"Bearer {registry_token}"}, timeout=30)
    if r.status_code not in (201, 409):
        raise PluginHostError(f"--trust: the registry refused {public}: {r.status_code} "
                              f"{r.text[:200]}")
    return keyid

"""A real OpenID provider for the identity tests: node's oidc-provider (8.x, pinned by
tests/support/oidc_idp/package-lock.json) run by tests/support/oidc_idp/server.mjs, and a
"browser" that signs a person in through its login and consent pages with httpx alone.

Its clients are the ones the Pulumi stacks make: ``marketplace`` (confidential, code +
PKCE, for the registry and the host's web sign-in), ``plugin-host-cli`` (public, PKCE on a
loopback port) and ``ci-publisher`` (client credentials)."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from joserfc.jwk import RSAKey

from ops.processes import Server, free_port, start_server
from tests.support.system import require_tool

IDP_DIR = Path(__file__).parent / "oidc_idp"
WEB_SECRET = "marketplace-secret-0123456789abcdef"
CI_SECRET = "ci-publisher-secret-0123456789abcdef"
RESOURCE = "https://plugins.koha.test"


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"},
                               private=True)


def node_modules() -> None:
    npm = require_tool("npm", "apt-get install nodejs npm (./dev does this as root)")
    if not (IDP_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=IDP_DIR, check=True,
                       capture_output=True, timeout=300)


@dataclass
class Idp:
    """A running provider; ``users`` (login → groups) is read at every token."""

    folder: Path
    port: int
    redirect_uris: list[str]
    keys: list[RSAKey] = field(default_factory=list)
    server: Server | None = None
    address: str = "127.0.0.1"

    @property
    def issuer(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def users_file(self) -> Path:
        return self.folder / "users.json"

    def set_users(self, users: dict[str, list[str]]) -> None:
        self.users_file.write_text(json.dumps(
            {u: {"groups": g, "email": f"{u}@library.test"} for u, g in users.items()}))

    def set_groups(self, user: str, groups: list[str]) -> None:
        users = json.loads(self.users_file.read_text())
        users[user]["groups"] = groups
        self.users_file.write_text(json.dumps(users))

    def start(self, keys: list[RSAKey] | None = None) -> Idp:
        """Start (or restart with ``keys``: the first signs; a rotation)."""
        if keys is not None:
            self.keys = keys
        self.stop()
        config = {
            "issuer": self.issuer, "port": self.port, "address": self.address,
            "resource": RESOURCE,
            "users_file": str(self.users_file),
            "jwks": {"keys": [k.as_dict(private=True) for k in self.keys]},
            "clients": [
                {"client_id": "marketplace", "client_secret": WEB_SECRET,
                 "redirect_uris": self.redirect_uris, "response_types": ["code"],
                 "grant_types": ["authorization_code", "refresh_token"]},
                {"client_id": "plugin-host-cli", "token_endpoint_auth_method": "none",
                 "application_type": "native", "redirect_uris": ["http://127.0.0.1/callback"],
                 "response_types": ["code"],
                 "grant_types": ["authorization_code", "refresh_token"]},
                {"client_id": "ci-publisher", "client_secret": CI_SECRET,
                 "grant_types": ["client_credentials"], "response_types": [],
                 "redirect_uris": [], "scope": "koha:publish"},
            ]}
        path = self.folder / "config.json"
        path.write_text(json.dumps(config))
        self.server = start_server(["node", str(IDP_DIR / "server.mjs"), str(path)],
                                   self.folder / "idp.log", port=self.port,
                                   ready_path="/.well-known/openid-configuration",
                                   address=self.address)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client_credentials(self, client_id: str = "ci-publisher",
                           secret: str = CI_SECRET) -> str:
        r = httpx.post(f"{self.issuer}/token", auth=(client_id, secret),
                       data={"grant_type": "client_credentials", "scope": "koha:publish"})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]


def start_idp(folder: Path, redirect_uris: list[str], users: dict[str, list[str]],
              address: str = "127.0.0.1") -> Idp:
    node_modules()
    folder.mkdir(parents=True, exist_ok=True)
    idp = Idp(folder, free_port(), redirect_uris, [rsa_key("k1")], address=address)
    idp.set_users(users)
    return idp.start()


def browser_sign_in(start_url: str, login: str, stop_at: str) -> str:
    """What a person's browser does: open ``start_url`` (a service's /auth/oidc/login or
    the provider's authorize URL), follow redirects, fill in the provider's login (any
    password) and consent forms, and stop at the first redirect to a URL starting with
    ``stop_at``; return that URL (with ``code`` and ``state``)."""
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        r = browser.get(start_url)
        for _ in range(20):
            if r.status_code in (301, 302, 303, 307):
                target = str(r.url.join(r.headers["location"]))
                if target.startswith(stop_at):
                    return target
                r = browser.get(target)
                continue
            assert r.status_code == 200, (r.status_code, r.text[:500])
            action = re.search(r'action="([^"]+)"', r.text)
            assert action, r.text[:500]
            fields = dict(re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', r.text))
            if 'name="login"' in r.text:
                fields.update(login=login, password="any password")
            r = browser.post(str(r.url.join(action.group(1))), data=fields)
    raise AssertionError("the sign-in did not come back to " + stop_at)

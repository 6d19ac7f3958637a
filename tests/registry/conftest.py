"""A real `plugin-host registry serve` process with accounts for every role."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field

import httpx
import pytest

from plugin_host.devenv import free_port, wait_ready

ADMIN = "registry-admin-token-0123456789"


@dataclass
class RegistryProc:
    url: str
    proc: subprocess.Popen
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture
def registry(tmp_path, keys):
    port = free_port()
    log = (tmp_path / "registry.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "plugin_host.cli", "registry", "serve",
                             "--port", str(port), "--data-dir", str(tmp_path / "registry"),
                             "--admin-token", ADMIN], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc=proc)
        reg = RegistryProc(url, proc, {"admin": ADMIN})
        admin = reg.client("admin")
        for role in ("publisher", "reviewer", "user"):
            assert admin.post("/api/v1/accounts", json={"name": role, "role": role}
                              ).status_code == 201
            reg.tokens[role] = admin.post(f"/api/v1/accounts/{role}/tokens").json()["token"]
        pem = keys["pub"].read_text()
        assert reg.client("publisher").post("/api/v1/keys", json={"public_key": pem}
                                            ).status_code == 201
        yield reg
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)

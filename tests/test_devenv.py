"""`./dev up` / `./dev down`: a real local environment, idempotent, leaving nothing behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx

from plugin_host.devenv import down, up


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_up_is_idempotent_and_down_leaves_nothing(tmp_path):
    info = up(tmp_path, "t1")
    try:
        assert info.plugins == ["book-notes", "hello-world"]
        r = httpx.get(f"{info.url}/plugins/hello-world/api/greet/Ada")
        assert r.json() == {"greeting": "Hello Ada"}
        listed = httpx.get(f"{info.url}/admin/plugins",
                           headers={"Authorization": f"Bearer {info.admin_token}"}).json()
        assert {p["name"]: p["state"] for p in listed["plugins"]} == {
            "book-notes": "enabled", "hello-world": "enabled"}
        again = up(tmp_path, "t1")
        assert (again.pid, again.url, again.admin_token) == (info.pid, info.url,
                                                             info.admin_token)
    finally:
        assert down(tmp_path, "t1") is True
    port = int(info.url.rsplit(":", 1)[1])
    assert port_free(port)
    out = subprocess.run(["pgrep", "-f", str(info.data_dir)], capture_output=True, text=True)
    assert out.stdout.strip() == "", "host or worker processes were left running"
    assert down(tmp_path, "t1") is False


def test_serve_reports_bad_settings_without_a_traceback(tmp_path):
    def serve(*args, **env):
        return subprocess.run([sys.executable, "-m", "plugin_host.cli", "serve",
                               "--data-dir", str(tmp_path), *args],
                              capture_output=True, text=True, timeout=30,
                              env={**os.environ, **env})

    r = serve("--trusted-key", str(tmp_path / "missing.pub"))
    assert r.returncode == 2 and "missing.pub: cannot read the public key" in r.stderr
    r = serve(PLUGIN_HOST_PORT="eighty")
    assert r.returncode == 2 and "bad setting: port:" in r.stderr
    r = serve("--database-url", "nosuch://db")
    assert r.returncode == 2 and "database_url:" in r.stderr
    for res in (r,):
        assert "Traceback" not in res.stderr

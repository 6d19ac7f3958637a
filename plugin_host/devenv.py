"""Local development environments: a running host with the signed example plugins.

``./dev up`` starts one (idempotently) and ``./dev down`` stops it. State lives in
``.dev/<name>/``: the data dir, the log, the pid and port files. A development
signing key is made once in ``.dev/keys/`` and trusted by the local host.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .package.archive import pack
from .package.signing import generate_keypair, sign_package

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@dataclass
class EnvInfo:
    name: str
    url: str
    admin_token: str
    pid: int
    data_dir: Path
    log: Path
    plugins: list[str]

    def to_json(self) -> str:
        return json.dumps({**self.__dict__, "data_dir": str(self.data_dir),
                           "log": str(self.log)})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def dev_key(state: Path) -> tuple[Path, Path]:
    keys = state / "keys"
    private, public = keys / "dev.key", keys / "dev.pub"
    if not private.exists():
        generate_keypair(keys / "dev")
    return private, public


def wait_ready(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the host exited with status {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} was not ready within {timeout:.0f}s")


def up(state: Path, name: str = "default", port: int = 0) -> EnvInfo:
    env_dir = state / name
    env_dir.mkdir(parents=True, exist_ok=True)
    private, public = dev_key(state)
    pid_file, port_file, log = env_dir / "host.pid", env_dir / "host.port", env_dir / "host.log"
    data_dir = env_dir / "data"
    token_file = data_dir / "admin-token"
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        port = int(port_file.read_text())
        proc = None
    else:
        port = port or free_port()
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "plugin_host.cli", "serve", "--port", str(port),
                 "--data-dir", str(data_dir), "--trusted-key", str(public)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        pid_file.write_text(str(proc.pid))
        port_file.write_text(str(port))
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc=proc)
    token = token_file.read_text().strip()
    installed = install_examples(url, token, private, env_dir / "packages")
    return EnvInfo(name=name, url=url, admin_token=token, pid=int(pid_file.read_text()),
                   data_dir=data_dir, log=log, plugins=installed)


def install_examples(url: str, token: str, key: Path, out: Path) -> list[str]:
    names = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/zip"}
    for folder in sorted(p for p in EXAMPLES.iterdir() if (p / "plugin.toml").exists()):
        pkg = pack(folder, out)
        sign_package(pkg, key)
        r = httpx.post(f"{url}/admin/plugins", content=pkg.read_bytes(), headers=headers,
                       timeout=60)
        if r.status_code not in (201, 409):
            raise RuntimeError(f"installing {pkg.name}: {r.status_code} {r.text}")
        names.append(folder.name)
    return names


def down(state: Path, name: str = "default") -> bool:
    """Stop an environment's host; True if one was running."""
    pid_file = state / name / "host.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    running = _alive(pid)
    if running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return running

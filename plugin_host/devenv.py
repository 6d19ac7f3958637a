"""Ephemeral environments on this machine: a registry with the example plugins published
and approved, a plugin host installing from the registry's signed index (with the signed
examples installed), Prometheus running the platform's rules, and Alertmanager, on free
localhost ports.

``./dev up`` (``invoke env.up``) starts one, idempotently, and returns when every
service answers its readiness check; ``env.down`` stops it, leaving no process or port.
Several named environments run side by side. State lives in ``.dev/<name>/``:
``services.json`` (pid, port, url of each service), logs, data. A development signing
key is made once in ``.dev/keys/`` and trusted by every local host.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from .package.archive import pack
from .package.signing import generate_keypair, sign_package

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MONITORING = ROOT / "monitoring"
INSTALL_HINT = {"prometheus": "apt-get install prometheus",
                "alertmanager": "apt-get install prometheus-alertmanager"}


@dataclass
class Service:
    name: str
    pid: int
    port: int
    url: str
    log: str
    ready_path: str
    #: set for services of `env.up --backend docker`: the container's name
    container: str = ""

    def alive(self) -> bool:
        if self.container:
            from .devenv_docker import container_running

            return container_running(self.container)
        return _alive(self.pid)

    def ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.url + self.ready_path, timeout=1.0).status_code == 200
        return False


@dataclass
class EnvInfo:
    name: str
    url: str
    admin_token: str
    pid: int
    registry_url: str
    registry_token: str
    data_dir: Path
    log: Path
    plugins: list[str]
    services: dict[str, Service] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # service → how to get it
    seconds: float = 0.0

    def to_json(self) -> str:
        doc = {**asdict(self), "data_dir": str(self.data_dir), "log": str(self.log)}
        return json.dumps(doc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # a zombie (exited, not yet reaped) is not alive
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def dev_key(state: Path) -> tuple[Path, Path]:
    keys = state / "keys"
    private, public = keys / "dev.key", keys / "dev.pub"
    if not private.exists():
        generate_keypair(keys / "dev")
    return private, public


def wait_ready(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None,
               path: str = "/readyz") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with status {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}{path}", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} was not ready within {timeout:.0f}s")


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _load(env_dir: Path) -> dict[str, Service]:
    path = env_dir / "services.json"
    if not path.exists():
        return {}
    return {k: Service(**v) for k, v in json.loads(path.read_text()).items()}


def _save(env_dir: Path, services: dict[str, Service]) -> None:
    (env_dir / "services.json").write_text(
        json.dumps({k: asdict(v) for k, v in services.items()}, indent=2))


def _ensure(env_dir: Path, services: dict[str, Service], name: str, ready_path: str,
            command: Callable[[int], list[str]], port: int = 0) -> Service:
    """Start a service unless it already runs; return it once it answers ready."""
    svc = services.get(name)
    if svc is None or not svc.alive():
        port = port or free_port()
        log = env_dir / f"{name}.log"
        proc = _spawn(command(port), log)
        svc = Service(name, proc.pid, port, f"http://127.0.0.1:{port}", str(log), ready_path)
        services[name] = svc
        _save(env_dir, services)
        try:
            wait_ready(svc.url, proc=proc, path=ready_path)
        except BaseException:
            _stop(proc.pid)  # never leave a half-started service behind
            raise
    else:
        wait_ready(svc.url, path=ready_path)
    return svc


def _binary(*names: str) -> str | None:
    for n in names:
        if shutil.which(n):
            return shutil.which(n)
    return None


def up(state: Path, name: str = "default", port: int = 0, monitoring: bool = True,
       backend: str = "local") -> EnvInfo:
    """Start (or find running) an environment; returns when every service is ready.
    ``backend``: ``local`` (processes on this machine) or ``docker`` (containers built
    from this tree, plugin_host/devenv_docker.py)."""
    if backend == "docker":
        from .devenv_docker import up_docker

        return up_docker(state, name, port, monitoring)
    if backend != "local":
        raise ValueError(f"backend: {backend!r} is not one of local, docker")
    started = time.monotonic()
    env_dir = state / name
    env_dir.mkdir(parents=True, exist_ok=True)
    private, public = dev_key(state)
    data_dir = env_dir / "data"
    services = _load(env_dir)
    registry_dir = env_dir / "registry"
    registry = _ensure(env_dir, services, "registry", "/readyz", lambda p: [
        sys.executable, "-m", "plugin_host.cli", "registry", "serve", "--port", str(p),
        "--data-dir", str(registry_dir)])
    registry_token = (registry_dir / "admin-token").read_text().strip()
    packages = pack_examples(private, env_dir / "packages")
    publish_examples(registry.url, registry_token, public, packages)
    host = _ensure(env_dir, services, "host", "/readyz", lambda p: [
        sys.executable, "-m", "plugin_host.cli", "serve", "--port", str(p),
        "--data-dir", str(data_dir), "--trusted-key", str(public),
        "--registry-url", f"{registry.url}/index", "--registry-api-url", registry.url,
        "--registry-root", str(registry_dir / "storage" / "metadata" / "root.json")], port)
    token = (data_dir / "admin-token").read_text().strip()
    installed = install_examples(host.url, token, packages)
    skipped: dict[str, str] = {}
    if monitoring:
        alertmanager = _binary("prometheus-alertmanager", "alertmanager")
        prometheus = _binary("prometheus")
        if alertmanager:
            (env_dir / "alertmanager.yml").write_text((MONITORING / "alertmanager.yml").read_text())
            _ensure(env_dir, services, "alertmanager", "/-/ready", lambda p: [
                alertmanager, f"--config.file={env_dir / 'alertmanager.yml'}",
                f"--storage.path={env_dir / 'alertmanager'}",
                f"--web.listen-address=127.0.0.1:{p}", "--cluster.listen-address="])
        else:
            skipped["alertmanager"] = INSTALL_HINT["alertmanager"]
        if prometheus:
            _write_prometheus_config(env_dir, name, host, registry,
                                     services.get("alertmanager"))
            _ensure(env_dir, services, "prometheus", "/-/ready", lambda p: [
                prometheus, f"--config.file={env_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={env_dir / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{p}"])
        else:
            skipped["prometheus"] = INSTALL_HINT["prometheus"]
    return EnvInfo(name=name, url=host.url, admin_token=token, pid=host.pid,
                   registry_url=registry.url, registry_token=registry_token,
                   data_dir=data_dir, log=Path(host.log), plugins=installed,
                   services=services, skipped=skipped,
                   seconds=round(time.monotonic() - started, 2))


def _write_prometheus_config(env_dir: Path, name: str, host: Service, registry: Service,
                             alertmanager: Service | None) -> None:
    import yaml

    sys.path.insert(0, str(MONITORING))
    import scrape_config

    cfg = scrape_config.render(
        name, {"plugin_host": [f"127.0.0.1:{host.port}"],
               "registry": [f"127.0.0.1:{registry.port}"]},
        [f"127.0.0.1:{alertmanager.port}"] if alertmanager else [],
        [str(p) for p in sorted((MONITORING / "rules").glob("*.rules.yml"))], "5s", "5s")
    (env_dir / "prometheus.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def pack_examples(key: Path, out: Path) -> dict[str, bytes]:
    """Every example plugin, packed and signed with the development key."""
    packages = {}
    for folder in sorted(p for p in EXAMPLES.iterdir() if (p / "plugin.toml").exists()):
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
    registry's signed index."""
    headers = {"Authorization": f"Bearer {token}"}
    for name in packages:
        r = httpx.post(f"{url}/admin/plugins", json={"name": name, "range": "*"},
                       headers=headers, timeout=60)
        if r.status_code not in (201, 409):
            raise RuntimeError(f"installing {name}: {r.status_code} {r.text}")
    return list(packages)


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def down(state: Path, name: str = "default") -> list[str]:
    """Stop every service of an environment; the names of those that were running."""
    env_dir = state / name
    services = _load(env_dir)
    running = [s.name for s in services.values() if s.alive()]
    # monitoring first, so it does not alert on the host going away
    for svc in sorted(services.values(), key=lambda s: s.name == "host"):
        if svc.container:
            from .devenv_docker import remove_container

            remove_container(svc.container)
        else:
            _stop(svc.pid)
    if any(s.container for s in services.values()):
        from .devenv_docker import remove_network

        remove_network(name)
    if services:
        (env_dir / "services.json").unlink(missing_ok=True)
    return running


def status(state: Path, name: str = "default") -> dict[str, dict]:
    """Each service: pid, url, running, ready."""
    return {s.name: {"pid": s.pid, "url": s.url, "running": s.alive(),
                     "ready": s.alive() and s.ready(), "log": s.log}
            for s in _load(state / name).values()}


def environments(state: Path) -> dict[str, dict[str, dict]]:
    """Every environment under the state dir with its services' status."""
    if not state.is_dir():
        return {}
    return {d.name: status(state, d.name) for d in sorted(state.iterdir())
            if (d / "services.json").exists()}


def logs(state: Path, name: str, service: str, lines: int = 50) -> str:
    svc = _load(state / name).get(service)
    if svc is None:
        raise KeyError(f"{name} has no service {service!r}")
    if svc.container:
        from .devenv_docker import container_logs

        return container_logs(svc.container, lines)
    text = Path(svc.log).read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])

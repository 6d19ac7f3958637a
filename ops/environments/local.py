"""The local backend of an environment: each service is a process on this machine, on a
free localhost port, in its own session; logs and data in ``.dev/<name>/``."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from plugin_host.errors import PluginHostError

from ..paths import MONITORING
from ..processes import free_port, start_server, stop_group, wait_ready
from .examples import dev_key, install_examples, pack_examples, publish_examples
from .state import EnvInfo, Service, load_services, save_services

INSTALL_HINT = {"prometheus": "apt-get install prometheus",
                "alertmanager": "apt-get install prometheus-alertmanager"}


def _ensure(env_dir: Path, services: dict[str, Service], name: str, ready_path: str,
            command: Callable[[int], list[str]], port: int = 0) -> Service:
    """Start a service unless it already runs; return it once it answers ready."""
    svc = services.get(name)
    if svc is not None and svc.alive():
        wait_ready(svc.url, path=ready_path)
        return svc
    port = port or free_port()
    log = env_dir / f"{name}.log"
    server = start_server(command(port), log, port=port, ready_path=ready_path)
    svc = Service(name, server.pid, port, server.url, str(log), ready_path)
    services[name] = svc
    save_services(env_dir, services)
    return svc


def _binary(*names: str) -> str | None:
    for n in names:
        if shutil.which(n):
            return shutil.which(n)
    return None


def _check_workers_can_reach(env_dir: Path) -> None:
    """As root, the host runs plugin workers as uid 65534: say at once, with the fix, if
    they could not reach the environment's folder (a checkout under /root, say)."""
    import os

    from plugin_host.runtime.sandbox import DEFAULT_WORKER_GID, DEFAULT_WORKER_UID, unreachable

    if os.geteuid() != 0:
        return
    why = unreachable(str(env_dir), DEFAULT_WORKER_UID, DEFAULT_WORKER_GID)
    if why:
        raise PluginHostError(
            f"run as root, the host starts plugin workers as uid {DEFAULT_WORKER_UID}, which "
            f"cannot reach {env_dir}: {why}. Let other users traverse the checkout "
            "(chmod o+x on its folders), or run ./dev up as a plain user",
            code="environment_unusable")


def up_local(state: Path, name: str = "default", port: int = 0,
             monitoring: bool = True) -> EnvInfo:
    """Start (or find running) the local processes of an environment."""
    started = time.monotonic()
    env_dir = state / name
    env_dir.mkdir(parents=True, exist_ok=True)
    _check_workers_can_reach(env_dir)
    private, public = dev_key(state)
    data_dir = env_dir / "data"
    services = load_services(env_dir)
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

    from monitoring import scrape_config

    cfg = scrape_config.render(
        name, {"plugin_host": [f"127.0.0.1:{host.port}"],
               "registry": [f"127.0.0.1:{registry.port}"]},
        [f"127.0.0.1:{alertmanager.port}"] if alertmanager else [],
        [str(p) for p in sorted((MONITORING / "rules").glob("*.rules.yml"))], "5s", "5s")
    (env_dir / "prometheus.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def stop_local(svc: Service) -> None:
    stop_group(svc.pid)

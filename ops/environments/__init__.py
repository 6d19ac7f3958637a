"""Ephemeral environments: a registry with the example plugins published and approved, a
plugin host installing from the registry's signed index (with the signed examples
installed), Prometheus running the platform's rules, and Alertmanager, on free localhost
ports.

``./dev up`` (``invoke env.up``) starts one, idempotently, and returns when every
service answers its readiness check; ``env.down`` stops it, leaving no process or port.
Several named environments run side by side. State lives in ``.dev/<name>/``:
``services.json`` (pid, port, url of each service), logs, data. A development signing
key is made once in ``.dev/keys/`` and trusted by every local host.

Two backends: ``local`` (processes here, :mod:`.local`) and ``docker`` (containers built
from this tree, :mod:`.docker`).
"""

from __future__ import annotations

from pathlib import Path

from .state import EnvInfo, Service, load_services

__all__ = ["EnvInfo", "Service", "down", "environments", "logs", "status", "up"]


def up(state: Path, name: str = "default", port: int = 0, monitoring: bool = True,
       backend: str = "local") -> EnvInfo:
    """Start (or find running) an environment; returns when every service is ready."""
    if backend == "docker":
        from .docker import up_docker

        return up_docker(state, name, port, monitoring)
    if backend != "local":
        raise ValueError(f"backend: {backend!r} is not one of local, docker")
    from .local import up_local

    return up_local(state, name, port, monitoring)


def down(state: Path, name: str = "default") -> list[str]:
    """Stop every service of an environment; the names of those that were running."""
    env_dir = state / name
    services = load_services(env_dir)
    running = [s.name for s in services.values() if s.alive()]
    # monitoring first, so it does not alert on the host going away
    for svc in sorted(services.values(), key=lambda s: s.name == "host"):
        if svc.container:
            from ..docker_engine import remove_container

            remove_container(svc.container)
        else:
            from .local import stop_local

            stop_local(svc)
    if any(s.container for s in services.values()):
        from .docker import remove_network

        remove_network(name)
    if services:
        (env_dir / "services.json").unlink(missing_ok=True)
    return running


def status(state: Path, name: str = "default") -> dict[str, dict]:
    """Each service: pid, url, running, ready."""
    return {s.name: {"pid": s.pid, "url": s.url, "running": s.alive(),
                     "ready": s.alive() and s.ready(), "log": s.log}
            for s in load_services(state / name).values()}


def environments(state: Path) -> dict[str, dict[str, dict]]:
    """Every environment under the state dir with its services' status."""
    if not state.is_dir():
        return {}
    return {d.name: status(state, d.name) for d in sorted(state.iterdir())
            if (d / "services.json").exists()}


def logs(state: Path, name: str, service: str, lines: int = 50) -> str:
    svc = load_services(state / name).get(service)
    if svc is None:
        raise KeyError(f"{name} has no service {service!r}")
    if svc.container:
        from ..docker_engine import container_logs

        return container_logs(svc.container, lines)
    text = Path(svc.log).read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])

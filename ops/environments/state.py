"""What an environment remembers between commands: its services, in
``.dev/<name>/services.json`` (pid or container, port, URL, log of each)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from ..processes import alive


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
            from ..docker_engine import container_running

            return container_running(self.container)
        return alive(self.pid)

    def ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.url + self.ready_path, timeout=1.0).status_code == 200
        return False


@dataclass
class EnvInfo:
    """What `env.up` reports: URLs, tokens, installed plugins, timings."""

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


def load_services(env_dir: Path) -> dict[str, Service]:
    path = env_dir / "services.json"
    if not path.exists():
        return {}
    return {k: Service(**v) for k, v in json.loads(path.read_text()).items()}


def save_services(env_dir: Path, services: dict[str, Service]) -> None:
    (env_dir / "services.json").write_text(
        json.dumps({k: asdict(v) for k, v in services.items()}, indent=2))

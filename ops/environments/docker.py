"""`./dev env.up --backend docker`: the same environment as the local backend — registry
with the examples published, host installing them from the signed index, Prometheus,
Alertmanager — each in its own container, through the Docker SDK (ops/docker_engine.py).

Images are built here, from this tree: the Debian base of ops/containers.py
(debootstrap, cached) plus a venv installed from the wheelhouse of `invoke build`
(containers cannot reach PyPI). The image tag carries a hash of the sources, so a
change in the tree builds a new image and an unchanged tree reuses it. Containers join
the network ``koha-env-<name>`` and reach each other by service name; each service's
port is published on 127.0.0.1. Data lives in ``.dev/<name>/docker/``.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from plugin_host.errors import PluginHostError

from .. import docker_engine as engine
from ..containers import ensure_base_image
from ..paths import MONITORING, ROOT, published_plugins
from ..processes import free_port, wait_ready
from .examples import dev_key, install_examples, pack_examples, publish_examples
from .state import EnvInfo, Service, load_services, save_services

APP_IMAGE = "koha-platform"
LABEL = "org.koha.env"
DOCKERFILE = """\
FROM {base}
COPY wheelhouse /opt/koha/wheelhouse
RUN python3 -m venv /opt/koha/venv \\
 && /opt/koha/venv/bin/pip install --no-index --disable-pip-version-check \\
      --find-links /opt/koha/wheelhouse koha-plugin-host=={version} \\
 && rm -rf /opt/koha/wheelhouse
ENV PATH=/opt/koha/venv/bin:$PATH
CMD ["plugin-host", "--help"]
"""
def remove_network(env: str) -> None:
    engine.remove_network(f"koha-env-{env}")


def _tree_hash() -> str:
    h = hashlib.sha256()
    for p in sorted([ROOT / "pyproject.toml", *(ROOT / "plugin_host").rglob("*")]):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(ROOT)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def ensure_app_image(state: Path, log=print) -> str:
    """The platform image for this tree, built once per change of the sources."""
    from plugin_host import __version__

    from ..build import build

    base = ensure_base_image(log)
    tag = f"{APP_IMAGE}:{__version__}-{_tree_hash()}"
    if engine.image_exists(tag):
        return tag
    log(f"building {tag} (wheelhouse, then the image; once per change of the sources)")
    with tempfile.TemporaryDirectory(dir=state) as tmp:
        out = Path(tmp) / "dist"
        build(out)
        engine.build_image(tag, DOCKERFILE.format(base=base, version=__version__),
                           {"wheelhouse": out / "wheelhouse"}, labels={LABEL: "image"})
    return tag


def _run(env: str, service: str, image: str, command: list[str], port: int,
         volumes: dict[str, dict], sandbox: bool = False) -> Service:
    """Start ``service`` of environment ``env``; the others reach it by its name."""
    name = f"koha-env-{env}-{service}"
    host_port = free_port()
    engine.run_container(image, command, name=name, hostname=service,
                         network=f"koha-env-{env}", aliases=[service], labels={LABEL: env},
                         ports={port: host_port}, binds=volumes, sandbox=sandbox)
    return Service(service, 0, host_port, f"http://127.0.0.1:{host_port}", f"docker:{name}",
                   "/-/ready" if service in ("prometheus", "alertmanager") else "/readyz",
                   container=name)


def up_docker(state: Path, name: str = "default", port: int = 0, monitoring: bool = True,
              log=print) -> EnvInfo:
    started = time.monotonic()
    env_dir = state / name
    env_dir.mkdir(parents=True, exist_ok=True)
    services = load_services(env_dir)
    if services and all(s.container for s in services.values()) and all(
            s.alive() for s in services.values()):
        return _info(name, env_dir, services, started)
    if services and not all(s.container for s in services.values()):
        raise PluginHostError(f"environment {name!r} runs with the local backend: "
                              f"./dev env.down --name {name} first", code="conflict",
                              status=409)
    image = ensure_app_image(state, log)
    engine.ensure_network(f"koha-env-{name}", labels={LABEL: name})
    data = (env_dir / "docker").resolve()
    for d in ("registry", "host", "prometheus", "alertmanager", "keys"):
        (data / d).mkdir(parents=True, exist_ok=True)
    private, public = dev_key(state)
    shutil.copy(public, data / "keys" / "dev.pub")
    tokens_file = data / "tokens"
    if not tokens_file.exists():
        tokens_file.write_text(f"{secrets.token_urlsafe(24)}\nkr_{secrets.token_urlsafe(24)}\n")
    host_token, registry_token = tokens_file.read_text().split()
    services = {}
    try:
        services["registry"] = _run(
            name, "registry", image,
            ["plugin-host", "registry", "serve", "--host", "0.0.0.0", "--port", "8090",
             "--data-dir", "/data", "--admin-token", registry_token], 8090,
            {str(data / "registry"): {"bind": "/data", "mode": "rw"}})
        save_services(env_dir, services)
        wait_ready(services["registry"].url, timeout=60)
        packages = pack_examples(private, env_dir / "packages")
        publish_examples(services["registry"].url, registry_token, public, packages)
        services["host"] = _run(
            name, "host", image,
            ["plugin-host", "serve", "--host", "0.0.0.0", "--port", "8080", "--data-dir",
             "/data", "--admin-token", host_token, "--trusted-key", "/keys/dev.pub",
             "--registry-url", "http://registry:8090/index",
             "--registry-api-url", "http://registry:8090",
             "--registry-root", "/registry/storage/metadata/root.json"], 8080,
            {str(data / "host"): {"bind": "/data", "mode": "rw"},
             str(data / "keys"): {"bind": "/keys", "mode": "ro"},
             str(data / "registry"): {"bind": "/registry", "mode": "ro"}},
            sandbox=True)
        save_services(env_dir, services)
        wait_ready(services["host"].url, timeout=60)
        installed = install_examples(services["host"].url, host_token, packages)
        if monitoring:
            _monitoring(name, image, data, services)
            save_services(env_dir, services)
            for svc in services.values():
                wait_ready(svc.url, timeout=60, path=svc.ready_path)
    except BaseException:
        for svc in services.values():
            engine.remove_container(svc.container)
        remove_network(name)
        (env_dir / "services.json").unlink(missing_ok=True)
        raise
    save_services(env_dir, services)
    return _info(name, env_dir, services, started, installed)


def _monitoring(name: str, image: str, data: Path, services: dict) -> None:
    import yaml

    from monitoring import scrape_config

    rules = sorted((MONITORING / "rules").glob("*.rules.yml"))
    cfg = scrape_config.render(name, {"plugin_host": ["host:8080"], "registry": ["registry:8090"]},
                               ["alertmanager:9093"],
                               [f"/etc/koha-rules/{p.name}" for p in rules], "5s", "5s")
    (data / "prometheus" / "prometheus.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (data / "alertmanager" / "alertmanager.yml").write_text(
        (MONITORING / "alertmanager.yml").read_text())
    services["alertmanager"] = _run(
        name, "alertmanager", image,
        ["/usr/bin/prometheus-alertmanager", "--config.file=/etc/koha/alertmanager.yml",
         "--storage.path=/tmp/alertmanager", "--web.listen-address=0.0.0.0:9093",
         "--cluster.listen-address="], 9093,
        {str(data / "alertmanager"): {"bind": "/etc/koha", "mode": "ro"}})
    services["prometheus"] = _run(
        name, "prometheus", image,
        ["/usr/bin/prometheus", "--config.file=/etc/koha/prometheus.yml",
         "--storage.tsdb.path=/tmp/prometheus", "--web.listen-address=0.0.0.0:9090"], 9090,
        {str(data / "prometheus"): {"bind": "/etc/koha", "mode": "ro"},
         str(MONITORING / "rules"): {"bind": "/etc/koha-rules", "mode": "ro"}})


def _info(name: str, env_dir: Path, services: dict[str, Service], started: float,
          installed: list[str] | None = None) -> EnvInfo:
    host_token, registry_token = (env_dir / "docker" / "tokens").read_text().split()
    host = services["host"]
    return EnvInfo(name=name, url=host.url, admin_token=host_token, pid=0,
                   registry_url=services["registry"].url, registry_token=registry_token,
                   data_dir=env_dir / "docker" / "host", log=Path(host.log),
                   plugins=installed or [p.name for p in published_plugins()],
                   services=services, seconds=round(time.monotonic() - started, 2))

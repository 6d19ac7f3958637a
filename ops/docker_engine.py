"""The Docker engine, through the Docker SDK: one place that starts dockerd, builds and
imports images, and runs containers, for the test hosts (ops/containers.py) and the
docker backend of environments (ops/environments/docker.py).

No image can be pulled here: images are imported from a debootstrap root file system
or built from those with ``--network none``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from plugin_host.errors import PluginHostError

DOCKERD_LOG = Path("/var/log/koha-dockerd.log")
#: what bubblewrap inside a container needs: it makes its own namespaces and mounts a
#: fresh /proc, which Docker's default seccomp profile, AppArmor and masked /proc paths
#: forbid (``docker run --security-opt systempaths=unconfined`` unmasks them)
SANDBOX_CAPS = ["SYS_ADMIN"]
SANDBOX_SECURITY_OPT = ["seccomp=unconfined", "apparmor=unconfined"]


class ContainerError(PluginHostError):
    code = "containers_unavailable"
    status = 500


def _sdk():
    import docker

    return docker


def docker_ready() -> bool:
    """A Docker daemon answers."""
    if shutil.which("docker") is None and shutil.which("dockerd") is None:
        return False
    docker = _sdk()
    try:
        return bool(docker.from_env(timeout=5).ping())
    except docker.errors.DockerException:
        return False


def ensure_dockerd(timeout: float = 60) -> None:
    """Start dockerd (as root) unless a daemon already answers."""
    if docker_ready():
        return
    if shutil.which("dockerd") is None:
        raise ContainerError("Docker is not installed: apt-get install docker.io")
    if os.geteuid() != 0:
        raise ContainerError("dockerd is not running, and starting it needs root")
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if docker_ready():
            return
        time.sleep(0.5)
    raise ContainerError(f"dockerd did not start within {timeout:.0f}s; see {DOCKERD_LOG}")


def client():
    """A Docker SDK client, dockerd started first if needed."""
    ensure_dockerd()
    return _sdk().from_env()


def image_exists(tag: str) -> bool:
    docker = _sdk()
    try:
        client().images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def build_image(tag: str, dockerfile: str, context: Mapping[str, Path] | None = None,
                labels: Mapping[str, str] | None = None) -> str:
    """Build ``dockerfile`` (with ``context``: name in the build context → a file or
    folder to copy there) without network access."""
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Path(tmp)
        (ctx / "Dockerfile").write_text(dockerfile)
        for name, src in (context or {}).items():
            if src.is_dir():
                shutil.copytree(src, ctx / name)
            else:
                shutil.copy(src, ctx / name)
        try:
            client().images.build(path=str(ctx), tag=tag, network_mode="none", rm=True,
                                  labels=dict(labels or {}))
        except Exception as e:
            raise ContainerError(f"building {tag} failed: {e}") from e
    return tag


def import_rootfs(root: Path, tag: str, cmd: str = '["/bin/bash"]') -> str:
    """A root file system folder → an image (``docker import``)."""
    repository, _, version = tag.partition(":")
    with tempfile.NamedTemporaryFile(suffix=".tar") as tar:
        subprocess.run(["tar", "-C", str(root), "-c", "-f", tar.name, "."], check=True)
        try:
            client().api.import_image(src=tar.name, repository=repository, tag=version,
                                      changes=[f"CMD {cmd}"])
        except Exception as e:
            raise ContainerError(f"importing {tag} failed: {e}") from e
    if not image_exists(tag):
        raise ContainerError(f"importing {tag} failed: the image is not there afterwards")
    return tag


def ensure_network(name: str, labels: Mapping[str, str] | None = None) -> None:
    docker = _sdk()
    c = client()
    try:
        c.networks.get(name)
    except docker.errors.NotFound:
        c.networks.create(name, driver="bridge", labels=dict(labels or {}))


def network_gateway(name: str) -> tuple[str, str]:
    """The network's gateway address (this machine, as its containers reach it) and
    subnet."""
    config = client().networks.get(name).attrs["IPAM"]["Config"][0]
    return config["Gateway"], config["Subnet"]


def remove_network(name: str) -> None:
    docker = _sdk()
    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        _sdk().from_env().networks.get(name).remove()


def run_container(image: str, command: Sequence[str] | None, *, name: str, network: str,
                  hostname: str | None = None, aliases: Sequence[str] = (),
                  labels: Mapping[str, str] | None = None,
                  ports: Mapping[int, int | None] | None = None,
                  binds: Mapping[str, dict[str, str]] | None = None,
                  tmpfs: Sequence[str] = (), environment: Mapping[str, str] | None = None,
                  sandbox: bool = False) -> str:
    """Create and start a container; returns its name. ``ports``: container port → port
    on 127.0.0.1 (None: any free one). ``sandbox``: what bubblewrap needs inside it
    (SANDBOX_CAPS, SANDBOX_SECURITY_OPT, unmasked /proc)."""
    remove_container(name)
    api = client().api
    host_config = api.create_host_config(
        binds=dict(binds or {}),
        port_bindings={p: ("127.0.0.1", h) for p, h in (ports or {}).items()},
        network_mode=network, tmpfs=dict.fromkeys(tmpfs, ""),
        cap_add=SANDBOX_CAPS if sandbox else None,
        security_opt=SANDBOX_SECURITY_OPT if sandbox else None)
    if sandbox:  # what `docker run --security-opt systempaths=unconfined` sends
        host_config["MaskedPaths"] = []
        host_config["ReadonlyPaths"] = []
    created = api.create_container(
        image, list(command) if command else None, name=name, hostname=hostname or name,
        labels=dict(labels or {}), ports=list(ports or {}), host_config=host_config,
        environment=dict(environment or {}),
        networking_config=api.create_networking_config(
            {network: api.create_endpoint_config(aliases=list(aliases) or None)}))
    api.start(created["Id"])
    return name


def published_port(name: str, port: int) -> int | None:
    """The port on 127.0.0.1 that ``port`` of container ``name`` is published on."""
    c = client().containers.get(name)
    c.reload()
    bound = (c.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp")
    return int(bound[0]["HostPort"]) if bound else None


def address(name: str) -> str:
    """The container's address on its network."""
    c = client().containers.get(name)
    c.reload()
    return next(iter(n["IPAddress"] for n in c.attrs["NetworkSettings"]["Networks"].values()))


def exec_in(name: str, cmd: Sequence[str]) -> tuple[int, str]:
    code, out = client().containers.get(name).exec_run(list(cmd))
    return code, out.decode(errors="replace")


def kill(name: str, signal: str = "SIGKILL") -> None:
    """``docker kill``: the container's processes get ``signal`` (a crashed machine)."""
    client().containers.get(name).kill(signal=signal)


def container_running(name: str) -> bool:
    docker = _sdk()
    with contextlib.suppress(docker.errors.DockerException):
        return docker.from_env().containers.get(name).status == "running"
    return False


def container_logs(name: str, lines: int) -> str:
    docker = _sdk()
    try:
        return docker.from_env().containers.get(name).logs(tail=lines).decode(errors="replace")
    except docker.errors.NotFound:
        return f"(container {name} is gone)"


def remove_container(name: str) -> None:
    docker = _sdk()
    with contextlib.suppress(docker.errors.NotFound):
        docker.from_env().containers.get(name).remove(force=True)


def remove_labelled(label: str, value: str) -> list[str]:
    """Remove every container labelled ``label=value``; their names."""
    if not docker_ready():
        return []
    found = client().containers.list(all=True, filters={"label": f"{label}={value}"})
    for c in found:
        c.remove(force=True)
    return [c.name for c in found]



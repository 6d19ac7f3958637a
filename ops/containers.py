"""Real Debian 12 machines in Docker containers, for deploy tests and local rehearsals.

No image can be pulled here, so the base image is built from Debian's own packages with
debootstrap and `docker import`, once, and cached (tagged with a hash of its package list:
a changed list builds a new one). On top of it, ``koha-testhost`` runs sshd with a
``deploy`` user (sudo without password, key-only login): what `invoke deploy` expects of
a real host. Containers have no internet, so every Debian package the roles install is
already in the base image (the roles' `apt` tasks then find them present).

Containers join the ``koha-test`` network, so they reach each other by name; each one's
ssh port is published on 127.0.0.1 for Ansible. Docker is driven through the SDK
(ops/docker_engine.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import docker_engine as engine
from .docker_engine import ContainerError, docker_ready, ensure_dockerd

__all__ = ["ContainerError", "TestHost", "docker_ready", "ensure_base_image", "ensure_dockerd",
           "ensure_host_image", "start_hosts", "stop_hosts"]

SUITE = "bookworm"
MIRROR = os.environ.get("KOHA_DEBIAN_MIRROR", "http://deb.debian.org/debian")
#: what a target host has before the playbooks run (plus what they apt-install, since
#: containers cannot reach a mirror)
PACKAGES = ("python3", "python3-venv", "python3-apt", "openssh-server", "sudo",
            "ca-certificates", "curl", "procps", "iproute2", "prometheus",
            "prometheus-alertmanager", "prometheus-node-exporter",
            "prometheus-blackbox-exporter", "libseccomp2",
            "bubblewrap", "haproxy", "socat", "openssl", "xmlsec1", "systemd",
            "systemd-sysv", "dbus")
BASE = "koha-base"
HOST_IMAGE = "koha-testhost"
NETWORK = "koha-test"
LABEL = "org.koha.testhost"

HOST_DOCKERFILE = """\
FROM {base}
RUN useradd --create-home --shell /bin/bash deploy \\
 && echo 'deploy ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/deploy \\
 && chmod 0440 /etc/sudoers.d/deploy \\
 && mkdir -p /run/sshd /home/deploy/.ssh \\
 && ssh-keygen -A \\
 && printf 'PasswordAuthentication no\\nPermitRootLogin no\\nUseDNS no\\n' \\
      > /etc/ssh/sshd_config.d/10-test.conf
CMD ["/bin/sh", "-c", "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e"]
"""


def base_tag() -> str:
    digest = hashlib.sha256(" ".join((SUITE, *PACKAGES)).encode()).hexdigest()[:12]
    return f"{BASE}:{SUITE}-{digest}"


def ensure_base_image(log=print) -> str:
    """The Debian base image, built with debootstrap the first time (a few minutes)."""
    tag = base_tag()
    if engine.image_exists(tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise ContainerError("debootstrap is not installed: apt-get install debootstrap")
    with tempfile.TemporaryDirectory(prefix="koha-rootfs-") as tmp:
        root = Path(tmp) / "root"
        log(f"building {tag} with debootstrap from {MIRROR} (once; cached afterwards)")
        r = subprocess.run(["debootstrap", "--variant=minbase",
                            f"--include={','.join(PACKAGES)}", SUITE, str(root), MIRROR],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise ContainerError(f"debootstrap failed: {(r.stdout + r.stderr)[-2000:]}")
        # a smaller image: no apt lists or caches
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (root / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        engine.import_rootfs(root, tag)
    return tag


def ensure_host_image(log=print) -> str:
    base = ensure_base_image(log)
    recipe = hashlib.sha256(HOST_DOCKERFILE.encode()).hexdigest()[:8]
    tag = f"{HOST_IMAGE}:{base.split(':', 1)[1]}-{recipe}"
    if engine.image_exists(tag):
        return tag
    return engine.build_image(tag, HOST_DOCKERFILE.format(base=base))


@dataclass
class TestHost:
    name: str
    ssh_port: int
    address: str  # on the koha-test network

    def inventory(self) -> dict:
        return {"ansible_host": "127.0.0.1", "ansible_port": self.ssh_port,
                "koha_address": self.address}


def start_hosts(group: str, count: int, public_key: str, log=print,
                systemd: bool = False) -> list[TestHost]:
    """``count`` fresh containers named ``<group>-<i>``, ssh-able as ``deploy`` with
    ``public_key``; any earlier containers of the group are removed first. With
    ``systemd``, systemd is PID 1 (and starts sshd), as on a real host; otherwise sshd
    is PID 1 and services use the fallback supervisor. bubblewrap works inside them."""
    ensure_dockerd()
    image = ensure_host_image(log)
    stop_hosts(group)
    engine.ensure_network(NETWORK)
    hosts = []
    for i in range(count):
        name = f"{group}-{i}"
        tmpfs = ["/run", "/tmp"]
        binds: dict[str, dict[str, str]] = {}
        env: dict[str, str] = {}
        command = None
        if systemd:
            tmpfs.append("/run/lock")
            env["container"] = "docker"
            binds["/sys/fs/cgroup"] = {"bind": "/sys/fs/cgroup", "mode": "ro"}
            command = ["/sbin/init"]
        try:
            engine.run_container(image, command, name=name, network=NETWORK,
                                 labels={LABEL: group}, ports={22: None}, binds=binds,
                                 tmpfs=tmpfs, environment=env, sandbox=True)
        except Exception as e:
            stop_hosts(group)
            raise ContainerError(f"starting {name} failed: {e}") from e
        engine.exec_in(name, ["sh", "-c",
                              "install -d -m 700 -o deploy -g deploy /home/deploy/.ssh"
                              f" && echo '{public_key.strip()}' > /home/deploy/.ssh/authorized_keys"
                              " && chown deploy:deploy /home/deploy/.ssh/authorized_keys"
                              " && chmod 600 /home/deploy/.ssh/authorized_keys"])
        port = engine.published_port(name, 22)
        if port is None:
            logs = engine.container_logs(name, 20)
            stop_hosts(group)
            raise ContainerError(f"{name} did not start: {logs}")
        hosts.append(TestHost(name, port, engine.address(name)))
    for h in hosts:
        _wait_ssh(h.ssh_port)
    return hosts


def _wait_ssh(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            if s.recv(4).startswith(b"SSH"):
                return
        time.sleep(0.2)
    raise ContainerError(f"sshd on 127.0.0.1:{port} did not answer within {timeout:.0f}s")


def stop_hosts(group: str) -> list[str]:
    """Remove the containers of ``group``; their names."""
    return engine.remove_labelled(LABEL, group)

"""Real Debian 12 machines in Docker containers, for deploy tests and local rehearsals.

No image can be pulled here, so the base image is built from Debian's own packages with
debootstrap and `docker import`, once, and cached (tagged with a hash of its package list:
a changed list builds a new one). On top of it, ``koha-testhost`` runs sshd with a
``deploy`` user (sudo without password, key-only login): what `invoke deploy` expects of
a real host. Containers have no internet, so every Debian package the roles install is
already in the base image (the roles' `apt` tasks then find them present).

Containers join the ``koha-test`` network, so they reach each other by name; each one's
ssh port is published on 127.0.0.1 for Ansible.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from plugin_host.errors import PluginHostError

SUITE = "bookworm"
MIRROR = os.environ.get("KOHA_DEBIAN_MIRROR", "http://deb.debian.org/debian")
#: what a target host has before the playbooks run (plus what they apt-install, since
#: containers cannot reach a mirror)
PACKAGES = ("python3", "python3-venv", "python3-apt", "openssh-server", "sudo",
            "ca-certificates", "curl", "procps", "iproute2", "prometheus",
            "prometheus-alertmanager", "libseccomp2", "bubblewrap", "systemd",
            "systemd-sysv", "dbus")
BASE = "koha-base"
HOST_IMAGE = "koha-testhost"
NETWORK = "koha-test"
LABEL = "org.koha.testhost"
DOCKERD_LOG = Path("/var/log/koha-dockerd.log")

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


class ContainerError(PluginHostError):
    code = "containers_unavailable"
    status = 500


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def docker_ready() -> bool:
    return shutil.which("docker") is not None and _run(["docker", "info"]).returncode == 0


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


def _image_exists(tag: str) -> bool:
    return _run(["docker", "image", "inspect", tag]).returncode == 0


def base_tag() -> str:
    digest = hashlib.sha256(" ".join((SUITE, *PACKAGES)).encode()).hexdigest()[:12]
    return f"{BASE}:{SUITE}-{digest}"


def ensure_base_image(log=print) -> str:
    """The Debian base image, built with debootstrap the first time (a few minutes)."""
    tag = base_tag()
    if _image_exists(tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise ContainerError("debootstrap is not installed: apt-get install debootstrap")
    with tempfile.TemporaryDirectory(prefix="koha-rootfs-") as tmp:
        root = Path(tmp) / "root"
        log(f"building {tag} with debootstrap from {MIRROR} (once; cached afterwards)")
        r = _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                  SUITE, str(root), MIRROR])
        if r.returncode != 0:
            raise ContainerError(f"debootstrap failed: {(r.stdout + r.stderr)[-2000:]}")
        # a smaller image: no apt lists or caches
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (root / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        r = subprocess.run(["docker", "import", "--change", "CMD [\"/bin/bash\"]", "-", tag],
                           stdin=tar.stdout, capture_output=True, text=True)
        tar.wait()
        if r.returncode != 0:
            raise ContainerError(f"docker import failed: {r.stderr}")
    return tag


def ensure_host_image(log=print) -> str:
    base = ensure_base_image(log)
    recipe = hashlib.sha256(HOST_DOCKERFILE.encode()).hexdigest()[:8]
    tag = f"{HOST_IMAGE}:{base.split(':', 1)[1]}-{recipe}"
    if _image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "Dockerfile").write_text(HOST_DOCKERFILE.format(base=base))
        r = _run(["docker", "build", "--network", "none", "-t", tag, tmp])
        if r.returncode != 0:
            raise ContainerError(f"docker build failed: {r.stderr[-2000:]}")
    return tag


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
    is PID 1 and services use the fallback supervisor."""
    ensure_dockerd()
    image = ensure_host_image(log)
    stop_hosts(group)
    if _run(["docker", "network", "inspect", NETWORK]).returncode != 0:
        _run(["docker", "network", "create", NETWORK])
    hosts = []
    for i in range(count):
        name = f"{group}-{i}"
        common = ["docker", "run", "-d", "--name", name, "--hostname", name,
                  "--network", NETWORK, "--label", f"{LABEL}={group}",
                  "-p", "127.0.0.1::22", "--tmpfs", "/run", "--tmpfs", "/tmp"]
        # bubblewrap in the container makes its own namespaces and /proc; systemd mounts
        extra = ["--security-opt", "seccomp=unconfined", "--security-opt",
                 "apparmor=unconfined", "--security-opt", "systempaths=unconfined",
                 "--cap-add", "SYS_ADMIN"]
        if systemd:
            extra += ["--tmpfs", "/run/lock", "-e", "container=docker",
                      "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", image, "/sbin/init"]
        else:
            extra.append(image)
        r = _run(common + extra)
        if r.returncode != 0:
            stop_hosts(group)
            raise ContainerError(f"docker run {name} failed: {r.stderr}")
        _run(["docker", "exec", name, "sh", "-c",
              "install -d -m 700 -o deploy -g deploy /home/deploy/.ssh"
              f" && echo '{public_key.strip()}' > /home/deploy/.ssh/authorized_keys"
              " && chown deploy:deploy /home/deploy/.ssh/authorized_keys"
              " && chmod 600 /home/deploy/.ssh/authorized_keys"])
        mapped = _run(["docker", "port", name, "22/tcp"]).stdout.strip()
        if not mapped:
            logs = _run(["docker", "logs", name]).stdout[-1000:]
            stop_hosts(group)
            raise ContainerError(f"{name} did not start: {logs}")
        port = int(mapped.splitlines()[0].rsplit(":", 1)[1])
        address = _run(["docker", "inspect", "-f",
                        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name]
                       ).stdout.strip()
        hosts.append(TestHost(name, port, address))
    for h in hosts:
        _wait_ssh(h.ssh_port)
    return hosts


def _wait_ssh(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            if s.recv(4).startswith(b"SSH"):
                return
        time.sleep(0.2)
    raise ContainerError(f"sshd on 127.0.0.1:{port} did not answer within {timeout:.0f}s")


def stop_hosts(group: str) -> list[str]:
    if not docker_ready():
        return []
    names = _run(["docker", "ps", "-aq", "--filter", f"label={LABEL}={group}"]).stdout.split()
    if names:
        _run(["docker", "rm", "-f", *names])
    return names

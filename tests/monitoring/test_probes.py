"""The probes libraries' view depends on: a real prometheus-blackbox-exporter (the Debian
package the blackbox_exporter role installs) with the configuration the role renders,
probing a real TLS server. A probe succeeds only on 200 over a verified connection; it
reports the certificate's expiry for the certificate alerts; a certificate for another
name, one nobody trusts, an expired one and a 503 each fail it (KohaEndpointDown)."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.parser import text_string_to_metric_families

from monitoring.catalogue import PROBES
from ops.processes import free_port, start_server

from ..support.ansible import ROLES, render
from ..support.system import require_tool

NAME = "test.koha.invalid"


def certificate(folder: Path, name: str, days: float = 825) -> tuple[Path, dt.datetime]:
    """A self-signed certificate for ``name`` (as the balancer makes its own), valid
    until ``days`` from now (negative: expired); the PEM of certificate and key."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    until = now + dt.timedelta(days=days)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(min(now, until) - dt.timedelta(days=1)).not_valid_after(until)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = folder / f"{name}-{days}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return path, until


@contextmanager
def tls_server(pem: Path, status: int = 200) -> Iterator[int]:
    class Ready(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status if self.path == "/readyz" else 404)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def exporter(tmp_path_factory):
    """The role's configuration trusting the balancer's own certificate, for its name."""
    binary = require_tool("prometheus-blackbox-exporter",
                          "apt-get install prometheus-blackbox-exporter (./dev does this as root)")
    tmp = tmp_path_factory.mktemp("blackbox")
    trusted, until = certificate(tmp, NAME)
    expired, _ = certificate(tmp, NAME, days=-1)  # trusted too: it fails only by its date
    config = render(ROLES / "blackbox_exporter/templates/blackbox.yml.j2", tmp,
                    blackbox_ca_certs=trusted.read_text(), blackbox_server_name=NAME)
    # what the role installs as /etc/prometheus/koha-probe-ca.pem
    ca = tmp / "ca.pem"
    ca.write_text("".join(p.read_text().split("-----BEGIN PRIVATE KEY-----")[0]
                          for p in (trusted, expired)))
    (tmp / "blackbox.yml").write_text(config.replace("/etc/prometheus/koha-probe-ca.pem", str(ca)))
    port = free_port()
    server = start_server([binary, f"--config.file={tmp / 'blackbox.yml'}",
                           f"--web.listen-address=127.0.0.1:{port}"],
                          tmp / "blackbox.log", port=port, ready_path="/metrics")
    yield server.url, trusted, until, tmp, expired
    server.stop()


def probe(url: str, target: str) -> dict[str, float]:
    r = httpx.get(f"{url}/probe", params={"module": "koha_ready", "target": target}, timeout=30)
    assert r.status_code == 200, r.text
    return {s.name: s.value for f in text_string_to_metric_families(r.text) for s in f.samples}


def test_a_ready_endpoint_with_its_trusted_certificate_succeeds_and_shows_its_expiry(exporter):
    url, trusted, until, _, _ = exporter
    with tls_server(trusted) as port:
        got = probe(url, f"https://127.0.0.1:{port}/readyz")
    assert got["probe_success"] == 1
    assert got["probe_ssl_earliest_cert_expiry"] == until.timestamp()
    assert {m.name for m in PROBES} <= set(got)


@pytest.mark.parametrize("case", ["another name", "untrusted", "expired", "503"])
def test_what_libraries_could_not_use_fails_the_probe(exporter, case):
    url, trusted, _, tmp, expired = exporter
    pem = {"another name": lambda: certificate(tmp, "evil.example.org")[0],
           "untrusted": lambda: certificate(tmp, NAME, days=30)[0],  # same name, other key
           "expired": lambda: expired,
           "503": lambda: trusted}[case]()
    with tls_server(pem, status=503 if case == "503" else 200) as port:
        got = probe(url, f"https://127.0.0.1:{port}/readyz")
    assert got["probe_success"] == 0, case

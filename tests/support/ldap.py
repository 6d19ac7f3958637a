"""A real OpenLDAP server (Debian's slapd) for the identity tests, with TLS from a
throwaway CA: StartTLS on its ldap:// port and LDAPS on another. People ada (koha-admins),
rita (koha-reviewers), pat (koha-publishers) and uma (no group); a reader account the
services may use to find people and read groups again at refresh."""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ops.processes import Server, free_port, spawn
from tests.support.system import require_tool
from tests.support.waiting import wait_until

SUFFIX = "dc=library,dc=test"
ROOT_DN, ROOT_PW = f"cn=admin,{SUFFIX}", "root-secret"
READER_DN, READER_PW = f"cn=reader,{SUFFIX}", "reader-secret"
PASSWORDS = {"ada": "ada-pass", "rita": "rita-pass", "pat": "pat-pass", "uma": "uma-pass"}
GROUPS = {"koha-admins": ["ada"], "koha-reviewers": ["rita"], "koha-publishers": ["pat"]}


def person_dn(uid: str) -> str:
    return f"uid={uid},ou=people,{SUFFIX}"


def _cert(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Library test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    paths[2].chmod(0o600)
    return paths


def _hash(password: str) -> str:
    return subprocess.run(["slappasswd", "-s", password], capture_output=True, text=True,
                          check=True).stdout.strip()


@dataclass
class Slapd:
    folder: Path
    port: int
    tls_port: int
    ca: Path
    server: Server

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def stop(self) -> None:
        self.server.stop()

    def set_members(self, group: str, uids: list[str]) -> None:
        """Change a group's members as the directory's administrator (ldapmodify)."""
        members = "".join(f"member: {person_dn(u)}\n" for u in uids) or \
            f"member: {READER_DN}\n"  # groupOfNames needs one member
        change = f"dn: cn={group},ou=groups,{SUFFIX}\nchangetype: modify\nreplace: member\n" \
                 f"{members}"
        subprocess.run(["ldapmodify", "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PW],
                       input=change, text=True, check=True, capture_output=True)


def start_slapd(folder: Path) -> Slapd:
    slapd = require_tool("slapd", "apt-get install slapd ldap-utils (./dev does this as root)")
    require_tool("slapadd", "apt-get install slapd")
    require_tool("ldapmodify", "apt-get install ldap-utils")
    folder.mkdir(parents=True, exist_ok=True)
    ca, cert, key = _cert(folder)
    (folder / "db").mkdir(exist_ok=True)
    conf = folder / "slapd.conf"
    conf.write_text("\n".join([
        *(f"include /etc/ldap/schema/{s}.schema" for s in ("core", "cosine", "inetorgperson",
                                                            "nis")),
        f"pidfile {folder}/slapd.pid", "modulepath /usr/lib/ldap", "moduleload back_mdb",
        f"TLSCACertificateFile {ca}", f"TLSCertificateFile {cert}",
        f"TLSCertificateKeyFile {key}",
        "access to attrs=userPassword by self read by anonymous auth by * none",
        "access to * by * read",
        "database mdb", f'suffix "{SUFFIX}"', f'rootdn "{ROOT_DN}"',
        f"rootpw {_hash(ROOT_PW)}", f"directory {folder}/db", ""]))
    entries = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\n"
               f"o: Library\ndc: library",
               f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people",
               f"dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups",
               f"dn: {READER_DN}\nobjectClass: organizationalRole\n"
               f"objectClass: simpleSecurityObject\ncn: reader\n"
               f"userPassword: {_hash(READER_PW)}"]
    for uid, password in PASSWORDS.items():
        entries.append(f"dn: {person_dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
                       f"cn: {uid.title()}\nsn: {uid.title()}\nmail: {uid}@library.test\n"
                       f"userPassword: {_hash(password)}")
    for group, members in GROUPS.items():
        entries.append(f"dn: cn={group},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\n"
                       f"cn: {group}\n" + "\n".join(f"member: {person_dn(u)}" for u in members))
    (folder / "base.ldif").write_text("\n\n".join(entries) + "\n")
    subprocess.run(["slapadd", "-f", str(conf), "-l", str(folder / "base.ldif")], check=True,
                   capture_output=True)
    port, tls_port = free_port(), free_port()
    proc = spawn([slapd, "-f", str(conf), "-h",
                  f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/", "-d", "0"],
                 folder / "slapd.log", None, False)
    server = Server(f"ldap://127.0.0.1:{port}", proc, folder / "slapd.log")

    def answers() -> bool:
        return subprocess.run(["ldapsearch", "-x", "-H", f"ldap://127.0.0.1:{port}", "-b",
                               SUFFIX, "-s", "base"], capture_output=True).returncode == 0

    if not wait_until(answers, timeout=20, interval=0.2):
        server.stop()
        raise RuntimeError("slapd did not start: " + (folder / "slapd.log").read_text()[-2000:])
    return Slapd(folder, port, tls_port, ca, server)

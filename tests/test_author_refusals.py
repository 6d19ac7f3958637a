"""An author's tools refuse what cannot work, in one line: a plugin name that is not one,
a folder that exists already, a key file that is not a key or not an Ed25519 key; and a
host refuses a plugin document that is not one, of a format it does not read, or
about another plugin."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from plugin_host.errors import PluginHostError
from plugin_host.package.index import PluginDocument

from .support.paths import EXAMPLES
from .test_package import cli


def test_an_authors_tools_refuse_in_one_line(tmp_path):
    r = cli("plugin", "new", "Shelf Check", "--dir", str(tmp_path))
    assert r.returncode == 2 and r.stderr.startswith("error: NAME: "), r.stderr
    assert cli("plugin", "new", "shelf-check", "--dir", str(tmp_path)).returncode == 0
    r = cli("plugin", "new", "shelf-check", "--dir", str(tmp_path))
    assert r.returncode == 2 and "shelf-check already exists: choose another name" in r.stderr

    from plugin_host.package.archive import pack

    package = pack(EXAMPLES / "hello-world", tmp_path)
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key")
    r = cli("plugin", "sign", str(package), "--key", str(garbage))
    assert r.returncode == 2 and f"{garbage}: cannot read the private key" in r.stderr
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = tmp_path / "rsa.key"
    other.write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    r = cli("plugin", "sign", str(package), "--key", str(other))
    assert r.returncode == 2 and f"{other}: not an Ed25519 private key" in r.stderr
    rsa_pub = tmp_path / "rsa.pub"
    rsa_pub.write_bytes(rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    r = cli("plugin", "verify", str(package), "--trusted-key", str(rsa_pub))
    assert r.returncode == 2 and f"{rsa_pub}: not an Ed25519 public key" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(("raw", "says"), [
    (b'{"format": 2, "name": "x", "releases": 5}',
     "plugins/x.json is not a valid plugin document: releases"),
    (b"\xff not json", "plugins/x.json is not a valid plugin document: not JSON"),
    (json.dumps({"format": 3, "name": "x"}).encode(),
     "plugins/x.json has format 3; this host reads format 2"),
    (json.dumps({"format": 2, "name": "y"}).encode(),
     "plugins/x.json describes 'y', not 'x'"),
])
def test_a_plugin_document_that_is_not_one_is_refused(raw, says):
    with pytest.raises(PluginHostError) as e:
        PluginDocument.from_json(raw, "x")
    assert e.value.message.startswith(says), e.value.message
    assert e.value.code == "index_verification_failed"

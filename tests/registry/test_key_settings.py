"""The registry's signing keys set wrongly: it does not start, and says in one line which
setting and what is wrong with it (never a traceback, nothing written)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ops.processes import free_port


def _pem() -> str:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()


CASES = {
    "secret not JSON": ("secret", "just text",
                        "tuf_keys_secret: the secret is not JSON (a JSON object of role → PEM)"),
    "secret a list": ("secret", "[1, 2]", "tuf_keys_secret: not a JSON object (role → PEM)"),
    "secret with one role": ("secret", json.dumps({"targets": "PEM"}),
                             "tuf_keys_secret: targets: not a usable private key: "),
    "secret missing roles": ("secret", None,
                             "tuf_keys_secret: no key for snapshot, timestamp (a JSON object "
                             "of role → PEM)"),
    "key file not a key": ("dir", "garbage\n",
                           "tuf_keys_dir: {dir}/targets.pem is not a usable private key"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_signing_keys_stop_the_registry_in_one_line(tmp_path, case):
    kind, content, message = CASES[case]
    env = {**os.environ}
    if kind == "secret":
        secret = tmp_path / "keys.json"
        secret.write_text(content if content is not None else json.dumps({"targets": _pem()}))
        env["PLUGIN_REGISTRY_TUF_KEYS_SECRET"] = f"file://{secret}"
    else:
        keys = tmp_path / "keys"
        keys.mkdir()
        (keys / "targets.pem").write_text(content)
        env["PLUGIN_REGISTRY_TUF_KEYS_DIR"] = str(keys)
        message = message.format(dir=keys)
    data = tmp_path / "data"
    r = subprocess.run([sys.executable, "-m", "plugin_host.cli", "registry", "serve",
                        "--data-dir", str(data), "--port", str(free_port())],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), r.stderr
    assert not (data / "storage" / "metadata").exists()

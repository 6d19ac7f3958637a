"""The index format changed (format 1: one index.json with every plugin; format 2: a
signed document per plugin in hashed bins). Both directions are refused in words: this
host reading a format-1 registry (tests/registry/test_index_attacks.py), and here a host
of the previous release, its own code taken from git history, reading the new index."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ..support.paths import ROOT
from ..support.plugins import variant
from ..support.servers import publish_and_approve

#: the last commit whose hosts read format 1
FORMAT_1_HOST = "7217201"

OPEN = """
import json, sys
from pathlib import Path
from plugin_host.host.registry_client import RegistryClient
try:
    RegistryClient(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])).open()
    print(json.dumps({"opened": True}))
except Exception as e:
    print(json.dumps({"code": getattr(e, "code", None), "message": str(e)}))
"""


def test_a_host_of_the_previous_release_refuses_the_new_index_in_words(
        registry, keys, static_server, tmp_path):
    publish_and_approve(registry, variant(tmp_path, "hello-world", "1.0.0", key=keys["key"]))
    archive = subprocess.run(["git", "archive", FORMAT_1_HOST, "plugin_host"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    old = tmp_path / "previous-release"
    old.mkdir()
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    mirror = static_server(registry.storage)
    r = subprocess.run(
        [sys.executable, "-c", OPEN, mirror.url,
         str(registry.storage / "metadata" / "1.root.json"), str(tmp_path / "cache")],
        cwd=old, env={**os.environ, "PYTHONPATH": str(old)}, capture_output=True, text=True,
        timeout=60)
    assert r.returncode == 0, r.stderr
    said = json.loads(r.stdout.strip().splitlines()[-1])
    assert said["code"] == "index_verification_failed", said
    assert said["message"] == "index.json has format 2; this host reads format 1", said

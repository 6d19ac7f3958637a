"""Role templates rendered by Ansible itself (its Jinja, filters and ansible_managed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .paths import ROOT

ROLES = ROOT / "playbooks" / "roles"


def render(template: Path, tmp: Path, **extra) -> str:
    """Render a role template with `ansible localhost -m template`, the role's defaults
    loaded and ``extra`` as extra variables."""
    out = tmp / template.stem
    defaults = template.parents[1] / "defaults" / "main.yml"
    cmd = [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local",
           "-m", "ansible.builtin.template", "-a", f"src={template} dest={out}",
           "-e", f"@{defaults}", "-e", f"playbook_dir={ROOT / 'playbooks'}"]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                            "ANSIBLE_LOCALHOST_WARNING": "false",
                            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false"})
    assert r.returncode == 0, r.stdout + r.stderr
    return out.read_text()

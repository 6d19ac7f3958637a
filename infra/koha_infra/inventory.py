"""Stack outputs → an Ansible inventory for `invoke deploy`.

Takes the JSON of `pulumi stack output --json` (or a file holding it) and writes an
inventory in Ansible's YAML format: the hosts in group ``plugin_hosts`` (and
``registry`` on the first one), reached through the bastion, with the values a deploy
needs as group variables.
"""

from __future__ import annotations

from typing import Any

from .outputs import NAMES as REQUIRED


class InventoryError(Exception):
    pass


def to_inventory(outputs: dict[str, Any], ssh_user: str = "deploy",
                 bastion: str | None = None) -> dict[str, Any]:
    missing = [k for k in REQUIRED if k not in outputs]
    if missing:
        raise InventoryError(f"stack outputs lack {', '.join(missing)}: is this a "
                             "koha-platform stack, and has `pulumi up` finished?")
    ips = outputs["host_ips"]
    if not isinstance(ips, list) or not ips:
        raise InventoryError("host_ips: expected a non-empty list of addresses")
    env = outputs["environment"]
    hosts = {f"koha-{env}-host-{i}": {"ansible_host": ip} for i, ip in enumerate(ips)}
    common: dict[str, Any] = {"ansible_user": ssh_user}
    if bastion:
        common["ansible_ssh_common_args"] = f"-o ProxyJump={bastion}"
    first = next(iter(hosts))
    return {"all": {
        "vars": {**common, "koha_cloud": outputs["cloud"], "koha_environment": env,
                 "koha_database_host": outputs["database_host"],
                 "koha_database_port": int(outputs["database_port"]),
                 "koha_database_url_secret": outputs["database_url_secret"],
                 "koha_signing_key_secret": outputs["signing_key_secret"],
                 "koha_packages_bucket": outputs["packages_bucket"],
                 "koha_index_bucket": outputs["index_bucket"],
                 "koha_index_url": outputs["index_url"],
                 "koha_oidc_issuer": outputs["issuer_url"],
                 "koha_prometheus_remote_write": outputs["prometheus_endpoint"]},
        "children": {"plugin_hosts": {"hosts": hosts},
                     "registry": {"hosts": {first: {}}}}}}

"""Stack outputs → an Ansible inventory for `invoke deploy`.

Takes the JSON of `pulumi stack output --json` (or a file holding it) and writes an
inventory in Ansible's YAML format: the hosts in group ``plugin_hosts`` (``registry``
and ``monitoring`` on the first one), reached through the bastion, and each output
turned into the role variable that uses it (:data:`MAPPING`, the table in
docs/operations/production.md). Secrets are passed as references (``aws-sm://ARN``,
``gcp-sm://projects/…``) that the services read at start with their machine identity:
no secret value is ever written into the inventory.
"""

from __future__ import annotations

from typing import Any

from .outputs import NAMES as REQUIRED

#: environments deployed with the production checks (site.yml refuses to change
#: anything if a variable production needs is unset)
PRODUCTION = ("prod", "production")

#: outputs whose variable no role reads yet, and why (tests/infra/test_inventory.py)
NOT_YET_READ: dict[str, str] = {}
#: the stack's groups → the services' roles (Cognito groups / Cloud Identity groups)
ROLE_GROUPS = {"admin": ["admin"], "reviewer": ["reviewer"], "publisher": ["publisher"],
               "host-admin": ["host-admin"]}

#: stack output → the inventory variables made from it, and what uses them
MAPPING: dict[str, tuple[tuple[str, ...], str]] = {
    "cloud": (("koha_cloud", "registry_storage"),
              "which secret store and bucket client (s3 or gcs) the services use; the "
              "`cloud` label on every series"),
    "environment": (("koha_environment", "koha_production"),
                    "host names, Prometheus `environment` label; prod/production turn on "
                    "the production checks and require every sandbox layer"),
    "host_ips": (("plugin_hosts", "registry", "monitoring"),
                 "the hosts of each group (`ansible_host`)"),
    "database_host": (("koha_database_host",),
                      "the host and registry roles check it is reachable before switching"),
    "database_port": (("koha_database_port",), "idem"),
    "database_url_secret": (("plugin_host_database_url", "registry_database_url"),
                            "references to the two URLs the secret holds (JSON keys `host` "
                            "and `registry`: one database each), read at start "
                            "(docs/operations/secrets.md)"),
    "signing_key_secret": (("registry_tuf_keys_secret",),
                           "the registry's online index keys (JSON of PEMs), read at start"),
    "packages_bucket": (("registry_storage_bucket",),
                        "uploads and packages in review (never served to hosts)"),
    "index_bucket": (("registry_index_bucket",),
                     "the signed index and approved packages, behind the CDN"),
    "index_url": (("registry_index_url", "plugin_host_registry_url"),
                  "where hosts read the index (the CDN)"),
    "issuer_url": (("koha_identity",),
                   "`oidc_issuer` of both services: people and CI sign in with the "
                   "identity service (docs/operations/identity.md)"),
    "oidc_clients": (("koha_identity",),
                     "`oidc_client_id` (web sign-in), `oidc_cli_client_id`, and "
                     "`oidc_machine_roles` giving the CI client the publisher role"),
    "oidc_client_secret": (("koha_identity",),
                           "`oidc_client_secret`: a reference to the web client's secret, "
                           "read at start"),
    "oidc_token_settings": (("koha_identity",),
                            "`oidc_audiences`, `oidc_groups_claim`, `oidc_username_claims`, "
                            "`oidc_cli_redirect_uri`: how the service's tokens read"),
    "prometheus_endpoint": (("prometheus_remote_write_url",
                             "prometheus_remote_write_sigv4_region"),
                            "Prometheus ships every series there (SigV4 on AWS)"),
}


class InventoryError(Exception):
    pass


def _identity(cloud: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """The services' OIDC settings (plugin_host/identity/settings.py) from the stack."""
    clients = outputs.get("oidc_clients") or {}
    tokens = outputs.get("oidc_token_settings") or {}
    settings: dict[str, Any] = {
        "oidc_issuer": outputs["issuer_url"],
        "oidc_client_secret": _secret_ref(cloud, outputs["oidc_client_secret"]),
        "oidc_audiences": tokens.get("audiences", []),
        "oidc_groups_claim": tokens.get("groups_claim", "groups"),
        "oidc_username_claims": tokens.get("username_claims", ["email", "sub"]),
        "oidc_cli_redirect_uri": tokens.get("cli_redirect_uri", "http://127.0.0.1/callback"),
        "role_groups": ROLE_GROUPS}
    if clients.get("web"):
        settings["oidc_client_id"] = clients["web"]
    if clients.get("cli"):
        settings["oidc_cli_client_id"] = clients["cli"]
    if clients.get("ci"):
        settings["oidc_machine_roles"] = {clients["ci"]: ["publisher"]}
    return settings


def _secret_ref(cloud: str, secret: str) -> str:
    return f"{'aws-sm' if cloud == 'aws' else 'gcp-sm'}://{secret}"


def _region(endpoint: str) -> str:
    """The AWS region of a managed Prometheus endpoint (aps-workspaces.REGION.amazonaws…)."""
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    parts = host.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "aps-workspaces" else ""


def to_inventory(outputs: dict[str, Any], ssh_user: str = "deploy",
                 bastion: str | None = None) -> dict[str, Any]:
    missing = [k for k in REQUIRED if k not in outputs]
    if missing:
        raise InventoryError(f"stack outputs lack {', '.join(missing)}: is this a "
                             "koha-platform stack, and has `pulumi up` finished?")
    ips = outputs["host_ips"]
    if not isinstance(ips, list) or not ips:
        raise InventoryError("host_ips: expected a non-empty list of addresses")
    cloud, env = outputs["cloud"], outputs["environment"]
    if cloud not in ("aws", "gcp"):
        raise InventoryError(f"cloud: expected aws or gcp, got {cloud!r}")
    # koha_address: how the services, the balancer and Prometheus reach each other (the
    # host names are the inventory's own and resolve nowhere)
    hosts = {f"koha-{env}-host-{i}": {"ansible_host": ip, "koha_address": ip}
             for i, ip in enumerate(ips)}
    common: dict[str, Any] = {"ansible_user": ssh_user}
    if bastion:
        common["ansible_ssh_common_args"] = f"-o ProxyJump={bastion}"
    first = next(iter(hosts))
    database = _secret_ref(cloud, outputs["database_url_secret"])
    remote_write = outputs["prometheus_endpoint"]
    return {"all": {
        "vars": {
            **common,
            "koha_cloud": cloud, "koha_environment": env,
            "koha_production": env in PRODUCTION,
            **({"plugin_host_sandbox_require": ["bubblewrap", "seccomp", "cgroups"]}
               if env in PRODUCTION else {}),
            "koha_database_host": outputs["database_host"],
            "koha_database_port": int(outputs["database_port"]),
            # one database per service on the provisioned server (their tables clash)
            "plugin_host_database_url": f"{database}#host",
            "registry_database_url": f"{database}#registry",
            "registry_tuf_keys_secret": _secret_ref(cloud, outputs["signing_key_secret"]),
            "registry_storage": "s3" if cloud == "aws" else "gcs",
            "registry_storage_bucket": outputs["packages_bucket"],
            "registry_index_bucket": outputs["index_bucket"],
            "registry_index_url": outputs["index_url"],
            "plugin_host_registry_url": outputs["index_url"],
            "koha_identity": _identity(cloud, outputs),
            "prometheus_remote_write_url": remote_write,
            "prometheus_remote_write_sigv4_region":
                _region(remote_write) if cloud == "aws" else "",
        },
        "children": {"plugin_hosts": {"hosts": hosts},
                     "registry": {"hosts": {first: {}}},
                     "monitoring": {"hosts": {first: {}}}}}}

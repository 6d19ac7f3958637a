"""The stack outputs a deploy needs, defined once for both clouds: each cloud's ``build``
returns a :class:`StackOutputs`, ``__main__.py`` exports its fields, and
``invoke infra.inventory`` (koha_infra/inventory.py) reads them back by the same names."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import pulumi


@dataclass
class StackOutputs:
    cloud: Any  # "aws" or "gcp"
    environment: Any
    host_ips: Any  # private addresses of the hosts `invoke deploy` targets
    database_host: Any
    database_port: Any
    packages_bucket: Any
    index_bucket: Any
    index_url: Any  # the CDN in front of the index bucket
    issuer_url: Any  # the OIDC issuer of the identity service
    oidc_clients: Any  # {"web", "cli", "ci"}: its client ids ("" where not provisioned)
    oidc_client_secret: Any  # the secret (ARN or id) holding the web client's secret
    oidc_token_settings: Any  # {"audiences", "groups_claim", "username_claims",
    #                            "cli_redirect_uri"}: how its tokens read
    database_url_secret: Any  # the secret (ARN or id) holding the database URL
    signing_key_secret: Any
    prometheus_endpoint: Any  # the managed Prometheus (remote write, queries)

    def export(self) -> None:
        """``pulumi.export`` each output under its field name."""
        for name, value in self.as_dict().items():
            pulumi.export(name, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: every output name, in order
NAMES: tuple[str, ...] = tuple(f.name for f in fields(StackOutputs))

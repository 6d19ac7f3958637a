"""The platform on GCP: Cloud Storage + Cloud CDN, Identity Platform + Cloud Identity
groups + service accounts + Secret Manager, Cloud Monitoring, Compute Engine hosts,
Cloud SQL PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from pulumi import Output

from ..config import StackConfig
from ..outputs import StackOutputs
from .compute import Hosts, HostsArgs
from .database import Database, DatabaseArgs
from .identity import Identity, IdentityArgs
from .monitoring import Monitoring, MonitoringArgs
from .storage import ArtifactStore, ArtifactStoreArgs

__all__ = [
    "ArtifactStore",
    "ArtifactStoreArgs",
    "Database",
    "DatabaseArgs",
    "Hosts",
    "HostsArgs",
    "Identity",
    "IdentityArgs",
    "Monitoring",
    "MonitoringArgs",
    "build",
]


def build(cfg: StackConfig, rules_dir: Path) -> StackOutputs:
    """The whole platform on GCP; returns the stack outputs a deploy needs."""
    store = ArtifactStore("artifacts", ArtifactStoreArgs(cfg))
    identity = Identity("identity", IdentityArgs(cfg, store))
    monitoring = Monitoring("monitoring", MonitoringArgs(cfg, rules_dir))
    hosts = Hosts("hosts", HostsArgs(cfg, identity))
    db = Database("database", DatabaseArgs(cfg, store))
    return StackOutputs(
        cloud=Output.from_input("gcp"), environment=Output.from_input(cfg.environment),
        host_ips=hosts.private_ips, database_host=db.endpoint, database_port=db.port,
        packages_bucket=store.packages.name, index_bucket=store.index.name,
        index_url=store.index_url, issuer_url=identity.issuer_url,
        oidc_clients=Output.from_input({"web": "", "cli": "", "ci": ""}),
        oidc_client_secret=identity.client_secret.id,
        # Identity Platform's ID tokens name the project as their audience
        oidc_token_settings=Output.from_input({
            "audiences": [cfg.project], "groups_claim": "groups",
            "username_claims": ["email", "sub"],
            "cli_redirect_uri": "http://127.0.0.1/callback"}),
        database_url_secret=identity.database_url.id,
        signing_key_secret=identity.signing_key.id,
        prometheus_endpoint=monitoring.endpoint)

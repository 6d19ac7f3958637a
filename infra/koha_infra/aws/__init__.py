"""The platform on AWS: S3 + CloudFront, Cognito + IAM + Secrets Manager, AMP + SNS,
EC2 hosts, RDS PostgreSQL."""

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
    """The whole platform on AWS; returns the stack outputs a deploy needs."""
    store = ArtifactStore("artifacts", ArtifactStoreArgs(cfg))
    identity = Identity("identity", IdentityArgs(cfg, store))
    monitoring = Monitoring("monitoring", MonitoringArgs(cfg, store, identity, rules_dir))
    store.key_policy(monitoring.key_statement)
    hosts = Hosts("hosts", HostsArgs(cfg, identity))
    db = Database("database", DatabaseArgs(cfg, hosts))
    return StackOutputs(
        cloud=Output.from_input("aws"), environment=Output.from_input(cfg.environment),
        host_ips=hosts.private_ips, database_host=db.endpoint, database_port=db.port,
        packages_bucket=store.packages.bucket, index_bucket=store.index.bucket,
        index_url=store.index_url, issuer_url=identity.issuer_url,
        oidc_clients=Output.all(identity.marketplace_client.id, identity.cli_client.id,
                                identity.ci_client.id).apply(
            lambda ids: dict(zip(("web", "cli", "ci"), ids, strict=True))),
        oidc_client_secret=identity.client_secret.arn,
        # Cognito's access tokens name their client in client_id (no aud), its groups in
        # cognito:groups
        oidc_token_settings=Output.all(identity.cli_client.id, identity.ci_client.id).apply(
            lambda ids: {"audiences": list(ids), "groups_claim": "cognito:groups",
                         "username_claims": ["email", "cognito:username", "username", "sub"],
                         "cli_redirect_uri": Identity.CLI_REDIRECT}),
        database_url_secret=identity.database_url.arn,
        signing_key_secret=identity.signing_key.arn,
        prometheus_endpoint=monitoring.endpoint)

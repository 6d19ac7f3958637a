"""Identity on AWS (Cognito, IAM, Secrets Manager): users, app clients, machine roles and
secrets."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi_aws as aws
from pulumi import ComponentResource, Output, ResourceOptions

from ..components import child_opts as _opts
from ..config import StackConfig
from .storage import ArtifactStore


def _bucket_access_policy(args: list[str], write: bool) -> str:
    packages, index, key, *secrets = args
    actions = ["s3:GetObject", "s3:ListBucket"]
    if write:
        actions += ["s3:PutObject", "s3:DeleteObject"]
    kms = ["kms:Decrypt"] + (["kms:Encrypt", "kms:GenerateDataKey"] if write else [])
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions,
         "Resource": [packages, f"{packages}/*", index, f"{index}/*"]},
        {"Effect": "Allow", "Action": kms, "Resource": key},
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
         "Resource": secrets}]})


@dataclass
class IdentityArgs:
    """What Identity is built from."""

    config: StackConfig
    store: ArtifactStore


class Identity(ComponentResource):
    """Who may do what: users, app clients, machine roles and secrets.

    Creates: a Cognito user pool (strong password policy, MFA required of everyone:
    Cognito cannot require it of one group only, and every account here can publish,
    review or administer; deletion
    protection in prod) with groups admin, reviewer, publisher and host-admin (the
    services map them to roles: docs/operations/identity.md); app clients for the
    marketplace (authorization code + PKCE, callback URLs from config), the CLI
    (public, PKCE, loopback callback) and CI (client credentials for the ``publish``
    scope of the ``koha-plugins`` resource server); IAM roles and instance profiles for
    hosts (read-only on the artifact store) and the registry (read-write); Secrets
    Manager secrets for the signing key, the database URL and the marketplace client's
    secret (both services sign people in with it), encrypted with the store's KMS key.
    """

    GROUPS = ("admin", "reviewer", "publisher", "host-admin")
    #: where the CLI listens for the code (Cognito matches callback URLs exactly)
    CLI_REDIRECT = "http://localhost:8765/callback"

    def __init__(self, name: str, args: IdentityArgs,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:identity:Identity", name, None, opts)
        cfg, store = args.config, args.store
        tags = cfg.tags
        self.pool = aws.cognito.UserPool(
            f"{name}-users", name=cfg.name("users"), tags=tags, mfa_configuration="ON",
            software_token_mfa_configuration={"enabled": True},
            deletion_protection="ACTIVE" if cfg.is_prod else "INACTIVE",
            password_policy={"minimum_length": 12, "require_lowercase": True,
                             "require_numbers": True, "require_symbols": False,
                             "require_uppercase": True, "temporary_password_validity_days": 3},
            auto_verified_attributes=["email"], username_attributes=["email"],
            opts=_opts(self))
        self.groups = {g: aws.cognito.UserGroup(f"{name}-{g}", name=g,
                                                user_pool_id=self.pool.id, opts=_opts(self))
                       for g in self.GROUPS}
        common = {"user_pool_id": self.pool.id, "allowed_oauth_flows": ["code"],
                  "allowed_oauth_flows_user_pool_client": True,
                  "allowed_oauth_scopes": ["openid", "email", "profile"],
                  "supported_identity_providers": ["COGNITO"],
                  "prevent_user_existence_errors": "ENABLED"}
        self.marketplace_client = aws.cognito.UserPoolClient(
            f"{name}-marketplace", name="marketplace", generate_secret=True,
            callback_urls=cfg.marketplace_callback_urls, opts=_opts(self), **common)
        self.cli_client = aws.cognito.UserPoolClient(
            f"{name}-cli", name="cli", generate_secret=False,
            callback_urls=[self.CLI_REDIRECT], opts=_opts(self), **common)
        self.api = aws.cognito.ResourceServer(
            f"{name}-api", identifier="koha-plugins", name="Koha plugins",
            user_pool_id=self.pool.id, opts=_opts(self),
            scopes=[{"scope_name": "publish", "scope_description": "Publish plugins (CI)"}])
        self.ci_client = aws.cognito.UserPoolClient(
            f"{name}-ci", name="ci", generate_secret=True, user_pool_id=self.pool.id,
            allowed_oauth_flows=["client_credentials"],
            allowed_oauth_flows_user_pool_client=True,
            allowed_oauth_scopes=self.api.identifier.apply(lambda i: [f"{i}/publish"]),
            supported_identity_providers=["COGNITO"], opts=_opts(self))
        self.client_secret = aws.secretsmanager.Secret(
            f"{name}-oidc-client-secret", name=cfg.name("oidc-client-secret"),
            kms_key_id=store.key.arn, tags={**tags, "purpose": "oidc-client-secret"},
            opts=_opts(self))
        aws.secretsmanager.SecretVersion(
            f"{name}-oidc-client-secret", secret_id=self.client_secret.id,
            secret_string=self.marketplace_client.client_secret, opts=_opts(self))
        self.signing_key = aws.secretsmanager.Secret(
            f"{name}-signing-key", name=cfg.name("registry-signing-key"),
            kms_key_id=store.key.arn, tags={**tags, "purpose": "signing-key"},
            opts=_opts(self))
        self.database_url = aws.secretsmanager.Secret(
            f"{name}-database-url", name=cfg.name("database-url"),
            kms_key_id=store.key.arn, tags={**tags, "purpose": "database-url"},
            opts=_opts(self))
        self.host_role, self.host_profile = self._role(
            f"{name}-host", cfg, store, write=False,
            secrets=[self.database_url, self.client_secret])
        self.registry_role, self.registry_profile = self._role(
            f"{name}-registry", cfg, store, write=True,
            secrets=[self.database_url, self.signing_key, self.client_secret])
        self.issuer_url = self.pool.endpoint.apply(lambda e: f"https://{e}")
        self.register_outputs({"issuer_url": self.issuer_url,
                               "marketplace_client_id": self.marketplace_client.id,
                               "cli_client_id": self.cli_client.id,
                               "ci_client_id": self.ci_client.id,
                               "host_role": self.host_role.arn,
                               "registry_role": self.registry_role.arn})

    def _role(self, name: str, cfg: StackConfig, store: ArtifactStore, write: bool,
              secrets: list[aws.secretsmanager.Secret]):
        role = aws.iam.Role(name, tags=cfg.tags, opts=_opts(self),
                            assume_role_policy=json.dumps({
                                "Version": "2012-10-17", "Statement": [{
                                    "Effect": "Allow", "Action": "sts:AssumeRole",
                                    "Principal": {"Service": "ec2.amazonaws.com"}}]}))
        aws.iam.RolePolicy(name, role=role.id, opts=_opts(self), policy=Output.all(
            store.packages.arn, store.index.arn, store.key.arn, *(s.arn for s in secrets)
        ).apply(lambda a: _bucket_access_policy(a, write)))
        profile = aws.iam.InstanceProfile(name, role=role.name, tags=cfg.tags,
                                          opts=_opts(self))
        return role, profile

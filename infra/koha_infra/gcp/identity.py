"""Identity on GCP (Identity Platform, service accounts, Secret Manager): users, app
clients, service accounts and secrets."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi_gcp as gcp
from pulumi import ComponentResource, Output, ResourceOptions

from ..components import child_opts as _opts
from ..config import StackConfig
from .storage import ArtifactStore


@dataclass
class IdentityArgs:
    """What Identity is built from."""

    config: StackConfig
    store: ArtifactStore


class Identity(ComponentResource):
    """Who may do what: users, app clients, service accounts and secrets.

    Creates: Identity Platform configuration (e-mail sign-in, MFA required of everyone,
    TOTP: every account here can publish, review or administer); Cloud
    Identity groups admin, reviewer, publisher and host-admin (the services map them to
    roles through a ``groups`` custom claim); a Secret Manager secret for the web
    client's secret, readable by both services (its OAuth clients are made by the
    operator: docs/operations/identity.md); service accounts for hosts
    (objectViewer on packages and index) and the registry (objectAdmin), each granted
    only its secrets; Secret Manager secrets for the signing key and the database URL
    with CMEK replication.
    """

    GROUPS = ("admin", "reviewer", "publisher", "host-admin")

    def __init__(self, name: str, args: IdentityArgs,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:identity:Identity", name, None, opts)
        cfg, store = args.config, args.store
        self.config = gcp.identityplatform.Config(
            f"{name}-users", project=cfg.project, opts=_opts(self),
            sign_in={"email": {"enabled": True, "password_required": True}},
            mfa={"state": "MANDATORY", "provider_configs": [
                {"state": "ENABLED", "totp_provider_config": {"adjacent_intervals": 1}}]},
            authorized_domains=sorted({re.sub(r"^https?://([^/:]+).*$", r"\1", u)
                                       for u in cfg.marketplace_callback_urls}))
        self.groups = {g: gcp.cloudidentity.Group(
            f"{name}-{g}", display_name=cfg.name(g), labels={
                "cloudidentity.googleapis.com/groups.discussion_forum": ""},
            parent=f"customers/{cfg.gcp_customer_id or 'unset'}",
            group_key={"id": f"{cfg.name(g)}@{cfg.project}.example.org"}, opts=_opts(self))
            for g in self.GROUPS}
        self.host_account = gcp.serviceaccount.Account(
            f"{name}-host", project=cfg.project, account_id=cfg.name("host"),
            display_name="Koha plugin host (read-only)", opts=_opts(self))
        self.registry_account = gcp.serviceaccount.Account(
            f"{name}-registry", project=cfg.project, account_id=cfg.name("registry"),
            display_name="Koha registry (read-write)", opts=_opts(self))
        for who, account, role in (("host", self.host_account, "roles/storage.objectViewer"),
                                   ("registry", self.registry_account,
                                    "roles/storage.objectAdmin")):
            for label, bucket in (("packages", store.packages), ("index", store.index)):
                gcp.storage.BucketIAMMember(
                    f"{name}-{who}-{label}", bucket=bucket.name, role=role,
                    member=account.email.apply(lambda e: f"serviceAccount:{e}"),
                    opts=_opts(self))
        # the registry's machine also runs Prometheus, which writes to Managed Service
        # for Prometheus
        gcp.projects.IAMMember(f"{name}-registry-metrics", project=cfg.project,
                               role="roles/monitoring.metricWriter",
                               member=self.registry_account.email.apply(
                                   lambda e: f"serviceAccount:{e}"), opts=_opts(self))
        self.signing_key = self._secret(f"{name}-signing-key", cfg, store,
                                        "registry-signing-key",
                                        {"registry": self.registry_account})
        self.database_url = self._secret(f"{name}-database-url", cfg, store, "database-url",
                                         {"host": self.host_account,
                                          "registry": self.registry_account})
        self.client_secret = self._secret(f"{name}-oidc-client-secret", cfg, store,
                                          "oidc-client-secret",
                                          {"host": self.host_account,
                                           "registry": self.registry_account})
        self.issuer_url = Output.from_input(
            f"https://securetoken.google.com/{cfg.project}")
        self.register_outputs({"issuer_url": self.issuer_url,
                               "host_account": self.host_account.email,
                               "registry_account": self.registry_account.email})

    def _secret(self, name: str, cfg: StackConfig, store: ArtifactStore, secret_id: str,
                readers: dict[str, gcp.serviceaccount.Account]) -> gcp.secretmanager.Secret:
        secret = gcp.secretmanager.Secret(
            name, project=cfg.project, secret_id=cfg.name(secret_id),
            labels={**cfg.tags, "purpose": secret_id.removeprefix("registry-")},
            replication={"user_managed": {"replicas": [{
                "location": cfg.region,
                "customer_managed_encryption": {"kms_key_name": store.key.id}}]}},
            opts=_opts(self))
        for who, account in readers.items():
            gcp.secretmanager.SecretIamMember(
                f"{name}-{who}", project=cfg.project, secret_id=secret.secret_id,
                role="roles/secretmanager.secretAccessor",
                member=account.email.apply(lambda e: f"serviceAccount:{e}"), opts=_opts(self))
        return secret

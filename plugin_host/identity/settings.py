"""The identity settings both services share (``PLUGIN_HOST_…`` or ``PLUGIN_REGISTRY_…``).
Each provider is on when its first setting is given: ``oidc_issuer``, ``ldap_url``,
``saml_idp_metadata``. docs/operations/identity.md explains each one."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from ..service.secrets import resolve


class IdentitySettings(BaseModel):
    public_url: str | None = Field(
        default=None, description="The address people reach this service at, e.g. "
        "https://registry.example.org (sign-in callbacks and SAML endpoints hang off it)")

    # OpenID Connect
    oidc_issuer: str | None = Field(default=None, description="The provider's issuer URL "
                                    "(its /.well-known/openid-configuration is read)")
    oidc_client_id: str | None = Field(default=None, description="The confidential web "
                                       "client this service signs people in with")
    oidc_client_secret: str | None = Field(default=None, description="Its secret (may name "
                                           "a secret: aws-sm://, gcp-sm://, file://)")
    oidc_cli_client_id: str | None = Field(default=None, description="The public client "
                                           "`plugin-host login --sso` uses (PKCE)")
    oidc_cli_redirect_uri: str = Field(
        default="http://127.0.0.1/callback", description="Where the provider sends the "
        "CLI's code: a loopback address; without a port, any free one (RFC 8252), else that "
        "port (Cognito wants http://localhost:PORT/callback registered exactly)")
    oidc_audiences: list[str] = Field(
        default_factory=list, description="Bearer access tokens must name one of these in "
        "`aud` (or, without `aud`, in `client_id`, as Cognito's do)")
    oidc_resource: str | None = Field(default=None, description="The resource the CLI asks "
                                      "tokens for (default: the first audience)")
    oidc_scopes: str = "openid profile email"
    oidc_groups_claim: str = Field(default="groups", description="Where the groups are, "
                                   "e.g. cognito:groups")
    oidc_username_claims: list[str] = Field(
        default_factory=lambda: ["preferred_username", "email", "sub"])
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "PS256", "ES256",
                                                                "EdDSA"])
    oidc_leeway_seconds: int = Field(default=60, ge=0, le=600,
                                     description="Clock skew allowed on exp, iat, nbf")
    oidc_machine_roles: dict[str, list[str]] = Field(
        default_factory=dict, description="Client-credentials clients and their roles, "
        "e.g. {\"ci-publisher\": [\"publisher\"]}")

    # LDAP
    ldap_url: str | None = Field(default=None, description="ldaps://… or ldap://… (then "
                                 "StartTLS unless ldap_start_tls is false)")
    ldap_start_tls: bool = True
    ldap_ca_file: Path | None = Field(default=None, description="CA the directory's "
                                      "certificate is checked against")
    ldap_user_search_base: str | None = None
    ldap_user_filter: str = Field(default="(uid={username})", description="{username} is "
                                  "escaped (RFC 4515) before it goes in")
    ldap_bind_dn: str | None = Field(default=None, description="A reader account to find "
                                     "users and re-read groups at refresh (optional)")
    ldap_bind_password: str | None = None
    ldap_group_search_base: str | None = None
    ldap_group_filter: str = "(|(member={dn})(uniqueMember={dn})(memberUid={username}))"
    ldap_group_attribute: str = "cn"

    # SAML 2.0
    saml_idp_metadata: Path | None = Field(default=None, description="The IdP's metadata "
                                           "file (its signing certificate comes from it)")
    saml_sp_cert: Path | None = None
    saml_sp_key: Path | None = None
    saml_entity_id: str | None = Field(default=None, description="default: "
                                       "public_url + /auth/saml/metadata")
    saml_username_attribute: str = "uid"
    saml_groups_attribute: str = "memberOf"

    # roles and sessions
    role_groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Role → the provider groups that give it, e.g. "
        "{\"admin\": [\"koha-admins\"], \"host-admin\": [\"koha-admins\"]}")
    session_access_seconds: int = Field(default=900, ge=30, le=86400)
    session_refresh_seconds: int = Field(default=7 * 86400, ge=60,
                                         description="A refresh token unused this long ends")
    session_max_seconds: int = Field(default=12 * 3600, ge=60, description="No session "
                                     "outlives this: then sign in again")
    audit_file: Path | None = Field(default=None, description="JSON lines; default "
                                    "data_dir/audit.jsonl")

    @field_validator("oidc_client_secret", "ldap_bind_password")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        return resolve(v) if v else v

    @property
    def providers(self) -> list[str]:
        on = {"oidc": self.oidc_issuer, "ldap": self.ldap_url,
              "saml": self.saml_idp_metadata}
        return [name for name, setting in on.items() if setting]

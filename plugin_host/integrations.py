"""``[upstreams.NAME]`` in plugin.toml: the library services a plugin calls through
``ctx.upstream(NAME)``, each with its policy (timeouts, retries, circuit breaker, rate
limit) and its credentials, which the host holds and adds to each request: the plugin
never sees them. An operator overrides any of it per host (``PLUGIN_HOST_UPSTREAMS``).

The host's side is plugin_host/host/upstreams.py; docs/integrations/README.md is the
guide."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SECRET_NAME = r"^[A-Z][A-Z0-9_]{0,63}$"
UPSTREAM_NAME = r"^[a-z][a-z0-9_-]{0,31}$"
#: methods retried after a failure (RFC 9110 idempotent methods)
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Auth(_Strict):
    """How the host authenticates to the upstream. ``*_secret`` fields name secrets the
    operator sets for the plugin (``plugin-host secrets set``); they are readable only by
    the host, never by ``ctx.secrets``."""

    type: Literal["oauth2_client_credentials", "api_key", "none"] = "none"
    token_url: str | None = Field(default=None, description="oauth2: the token endpoint")
    scope: str | None = None
    client_auth: Literal["basic", "body"] = Field(
        default="basic", description="oauth2: the client's id and secret in HTTP Basic "
        "(RFC 6749 client_secret_basic) or in the form body (client_secret_post, as Koha "
        "reads them)")
    client_id_secret: Annotated[str, Field(pattern=SECRET_NAME)] | None = None
    client_secret_secret: Annotated[str, Field(pattern=SECRET_NAME)] | None = None
    key_secret: Annotated[str, Field(pattern=SECRET_NAME)] | None = Field(
        default=None, description="api_key: the key")
    header: str | None = Field(default=None, description="api_key: sent in this header, "
                                                         "e.g. Authorization")
    prefix: str = Field(default="", description="api_key: a word before the key, a space "
                        "between them, e.g. 'apikey' (Alma) or 'Bearer'")
    query: str | None = Field(default=None, description="api_key: or in this query "
                                                        "parameter, e.g. wskey")

    @model_validator(mode="after")
    def _complete(self) -> Auth:
        if self.type == "oauth2_client_credentials":
            missing = [f for f in ("token_url", "client_id_secret", "client_secret_secret")
                       if getattr(self, f) is None]
            if missing:
                raise ValueError(f"oauth2_client_credentials needs {', '.join(missing)}")
            _https_or_local(self.token_url or "", "token_url")
        if self.type == "api_key" and (self.key_secret is None
                                       or (self.header is None) == (self.query is None)):
            raise ValueError("api_key needs key_secret and one of header or query")
        return self

    def secret_names(self) -> list[str]:
        return [n for n in (self.client_id_secret, self.client_secret_secret,
                            self.key_secret) if n]


class Breaker(_Strict):
    failures: int = Field(default=5, ge=1, le=1000, description="Consecutive failures "
                          "that open it")
    reset_seconds: float = Field(default=30, gt=0, le=3600, description="How long it stays "
                                 "open before one trial call (half-open)")


class RateLimit(_Strict):
    per_second: float = Field(default=10, gt=0, le=10_000)
    burst: int = Field(default=20, ge=1, le=100_000)
    per_day: int | None = Field(default=None, ge=1, description="A daily quota, e.g. Alma's")


class Upstream(_Strict):
    url: str = Field(description="Base URL: ctx.upstream(NAME).get('/path') goes under it")
    timeout_ms: int = Field(default=5000, ge=10, le=300_000, description="Per attempt")
    retries: int = Field(default=2, ge=0, le=10, description="Extra attempts for "
                         "idempotent methods after a 5xx, 429 or a connection error")
    backoff_ms: int = Field(default=200, ge=1, le=60_000, description="First backoff; "
                            "doubles each attempt, with full jitter")
    breaker: Breaker = Field(default_factory=Breaker)
    rate: RateLimit = Field(default_factory=RateLimit)
    auth: Auth = Field(default_factory=Auth)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _https_or_local(v, "url").rstrip("/")

    def host_port(self) -> str:
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{(parts.hostname or '').lower()}:{port}"


def _https_or_local(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query \
            or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{what}: {url!r} is not an http(s) URL without query or user")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"{what}: credentials and library data go over https "
                         "(http only for a local test server)")
    return url


def overridden(upstream: Upstream, override: dict[str, Any] | None) -> Upstream:
    """The manifest's upstream with an operator's override merged in (nested tables
    merge key by key), validated again."""
    if not override:
        return upstream
    data = upstream.model_dump()
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Upstream.model_validate(data)

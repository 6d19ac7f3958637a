"""Accounts, API tokens and publisher keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from ...identity.audit import audit_detail
from ...service.http import answers, error_responses, request_example
from . import JSON_CHECK, DbId, RequiredCaller, Services
from . import models as M

router = APIRouter(prefix="/api/v1",
                   responses=error_responses(401, 403, 404, 409, 422),
                   dependencies=JSON_CHECK)


@router.get("/me", tags=["accounts"], **answers(M.Whoami))
async def whoami(c: RequiredCaller) -> dict[str, Any]:
    """The account the token belongs to: its name, role (the highest it holds), every
    role, and how it signed in (what `plugin-host login` checks)."""
    return {"name": c.name, "role": c.role, "roles": list(c.roles), "provider": c.provider}


@router.post("/accounts", tags=["accounts"], status_code=201,
             **answers(M.Account, status=201),
             openapi_extra=request_example({"name": "zed", "role": "publisher"}))
async def create_account(request: Request, registry: Services, c: RequiredCaller,
                         name: Annotated[str, Body(pattern=r"^[a-z][a-z0-9_.-]{1,63}$")],
                         role: Annotated[str, Body()]) -> dict[str, Any]:
    """Create an account with a role: admin, reviewer, publisher or user (admin only)."""
    audit_detail(request, account=name, role=role)
    return registry.accounts.create_account(c, name, role)


@router.post("/accounts/{name}/tokens", tags=["accounts"], status_code=201,
             **answers(M.NewToken, status=201), openapi_extra=request_example(
                 {"scopes": ["publisher"], "days": 30, "label": "CI publishing"}))
async def create_token(name: str, request: Request, registry: Services, c: RequiredCaller,
                       scopes: Annotated[list[str] | None, Body(max_length=8)] = None,
                       days: Annotated[float | None, Body()] = None,
                       label: Annotated[str, Body(max_length=128)] = "") -> dict[str, Any]:
    """A new API token for an account (its own, or any for an admin), for CI: limited to
    ``scopes`` (some of the account's roles; default ``["*"]``, all of them), expiring
    after ``days`` (default 90, at most 366). Shown once."""
    out = registry.accounts.create_token(c, name, scopes, days, label)
    audit_detail(request, token_id=out["id"], scopes=out["scopes"],
                 expires_at=out["expires_at"])
    return out


@router.delete("/tokens/{token_id}", tags=["accounts"], **answers(M.Revoked))
async def revoke_token(token_id: DbId, registry: Services, c: RequiredCaller) -> dict[str, Any]:
    """Revoke an API token (its account's own, or any for an admin): it stops working at
    once."""
    registry.accounts.revoke_token(c, token_id)
    return {"revoked": token_id}


@router.post("/keys", tags=["publishing"], status_code=201,
             **answers(M.KeyAdded, status=201), openapi_extra=request_example({
                 "public_key": "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA…\n"
                               "-----END PUBLIC KEY-----\n"}))
async def add_key(registry: Services, c: RequiredCaller,
                  public_key: Annotated[str, Body(embed=True)]) -> dict[str, Any]:
    """Register an Ed25519 public key (PEM) whose signatures this publisher uses."""
    return registry.accounts.add_key(c, public_key)

"""Registration, login, the caller's account, and API keys.

Invariants
- ``POST /v1/accounts`` creates the login and the exchange account together.
- ``POST /v1/auth/token`` answers a wrong password and an unknown user alike (401);
  a locked login gets 403 ``ACCOUNT_LOCKED`` saying until when.
- API keys are managed with a login token only; the secret appears once, in the
  201 answer of ``POST /v1/api-keys``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from spotlab.api.deps import CtxDep, LoginSession, Reader
from spotlab.api.schemas import RequestModel, ResponseModel
from spotlab.clock import ns_to_datetime

router = APIRouter(prefix="/v1", tags=["accounts"])

Username = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$", examples=["alice"])]
Password = Annotated[str, Field(min_length=8, max_length=128, examples=["correct horse battery"])]


class AccountCreate(RequestModel):
    username: Username
    password: Password


class AccountPublic(ResponseModel):
    username: str = Field(examples=["alice"])
    created_at: datetime = Field(examples=["2024-01-01T12:00:00Z"])
    two_factor_enabled: bool = Field(examples=[False])


class TokenRequest(RequestModel):
    username: Annotated[str, Field(max_length=64, examples=["alice"])]
    password: Annotated[str, Field(max_length=128, examples=["correct horse battery"])]


class TokenPublic(ResponseModel):
    access_token: str = Field(examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"])
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.", examples=[900])


Scope = Literal["read", "trade", "withdraw"]


class ApiKeyCreate(RequestModel):
    label: Annotated[str, Field(min_length=1, max_length=100, examples=["my bot"])]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=3, examples=[["read", "trade"]])]


class ApiKeyPublic(ResponseModel):
    key_id: str = Field(examples=["ak_6f1c0e9a2b7d4c3e8f5a1b2c"])
    label: str = Field(examples=["my bot"])
    scopes: list[str] = Field(examples=[["read", "trade"]])
    created_at: datetime = Field(examples=["2024-01-01T12:00:00Z"])


class ApiKeyCreated(ApiKeyPublic):
    secret: str = Field(
        description="Shown this once; sign requests with it (see the README).",
        examples=["r33nKOKRWz4hQ-3A4LFmSA9Ezogr2WmkxHwY7cOnGeQ"],
    )


def _account_public(row) -> AccountPublic:
    return AccountPublic(
        username=row.username, created_at=ns_to_datetime(row.created_at), two_factor_enabled=row.totp_enabled
    )


@router.post("/accounts", status_code=201, response_model=AccountPublic, summary="Register")
def register(body: AccountCreate, ctx: CtxDep) -> AccountPublic:
    ctx.accounts.register(body.username, body.password, ctx.exchange.create_account)
    return _account_public(ctx.accounts.user(body.username))


@router.post("/auth/token", response_model=TokenPublic, summary="Log in: a short-lived bearer token")
async def login(body: TokenRequest, ctx: CtxDep) -> TokenPublic:
    token = await run_in_threadpool(ctx.accounts.login, body.username, body.password)
    return TokenPublic(access_token=token, expires_in=ctx.accounts.token_ttl_seconds)


@router.get("/account", response_model=AccountPublic, summary="The caller's account")
def get_account(principal: Reader, ctx: CtxDep) -> AccountPublic:
    return _account_public(ctx.accounts.user(principal.account))


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated, summary="Create an API key")
def create_api_key(body: ApiKeyCreate, principal: LoginSession, ctx: CtxDep) -> ApiKeyCreated:
    key = ctx.accounts.create_api_key(principal.account, body.label, list(body.scopes))
    return ApiKeyCreated(
        key_id=key.key_id, label=key.label, scopes=list(key.scopes), created_at=key.created_at, secret=key.secret
    )


@router.get("/api-keys", response_model=list[ApiKeyPublic], summary="List API keys (without secrets)")
def list_api_keys(principal: LoginSession, ctx: CtxDep) -> list[ApiKeyPublic]:
    return [
        ApiKeyPublic(key_id=k.key_id, label=k.label, scopes=list(k.scopes), created_at=k.created_at)
        for k in ctx.accounts.list_api_keys(principal.account)
    ]


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
def revoke_api_key(key_id: Annotated[str, Path(max_length=64)], principal: LoginSession, ctx: CtxDep) -> Response:
    ctx.accounts.revoke_api_key(principal.account, key_id)
    return Response(status_code=204)

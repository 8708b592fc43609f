"""Typed dependencies: the context, the caller and the scopes a route needs.

Two ways to authenticate (both documented in OpenAPI):

- ``Authorization: Bearer <token>`` from ``POST /v1/auth/token`` (all scopes, short-lived);
- a signed API-key request: ``SPOTLAB-KEY``, ``SPOTLAB-TIMESTAMP``, ``SPOTLAB-SIGNATURE``
  (see ``spotlab.accounts.signing``), with the key's scopes.

Invariants
- A route that needs a scope declares it with ``Reader``, ``Trader`` or ``Withdrawer``
  (or, on a hot path, ``HotTrader`` with ``openapi_extra=HOT_SECURITY``: see below);
  key management, 2FA and withdrawal addresses need a login token (``LoginSession``):
  an API key cannot mint or widen keys.
- The principal's ``account`` is the only account a route ever touches (isolation).
- A signed request is checked for its timestamp window, then its signature, then
  replay, in that order; none of it changes state unless all pass.
- ``authenticate(request)`` and ``current_principal`` decide the same way (one function,
  ``principal_of``, behind both): they differ only in how the headers reach them.

Hot paths: each FastAPI dependency costs a few microseconds per request, and a security
scheme dependency about 10 us (measured by ``spotlab bench api``: the ``Trader`` chain of
seven dependencies was about a quarter of the order route's time in the server). ``HotTrader``
is one dependency that reads the credential headers itself (``authenticate``), with the
same answers. FastAPI documents security schemes only from scheme dependencies, so a route
using it passes ``openapi_extra=HOT_SECURITY``: the same security requirements as
``Trader``; the schemes themselves are documented by the other routes (tests check both).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from spotlab.accounts import Principal
from spotlab.accounts.signing import signature_matches
from spotlab.api.context import ApiContext
from spotlab.errors import ErrorCode, SpotlabError


async def get_ctx(request: Request) -> ApiContext:  # async: a plain def would hop to the thread pool
    return request.app.state.ctx


CtxDep = Annotated[ApiContext, Depends(get_ctx)]

_bearer = HTTPBearer(auto_error=False, scheme_name="BearerToken", description="A login token from POST /v1/auth/token.")
_key = APIKeyHeader(
    name="SPOTLAB-KEY", auto_error=False, scheme_name="ApiKey", description="API key id; sign the request (README)."
)
_timestamp = APIKeyHeader(
    name="SPOTLAB-TIMESTAMP", auto_error=False, scheme_name="ApiKeyTimestamp", description="Unix time in milliseconds."
)
_signature = APIKeyHeader(
    name="SPOTLAB-SIGNATURE",
    auto_error=False,
    scheme_name="ApiKeySignature",
    description="hex HMAC-SHA256(secret, timestamp+METHOD+path+body).",
)

_KEY_HEADER, _TIMESTAMP_HEADER, _SIGNATURE_HEADER = (scheme.model.name for scheme in (_key, _timestamp, _signature))


async def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    key_id: Annotated[str | None, Depends(_key)],
    timestamp: Annotated[str | None, Depends(_timestamp)],
    signature: Annotated[str | None, Depends(_signature)],
) -> Principal:
    return await principal_of(request, None if bearer is None else bearer.credentials, key_id, timestamp, signature)


async def authenticate(request: Request) -> Principal:
    """The caller, from the credential headers read here: what ``current_principal`` decides.

    The headers are read as FastAPI's ``HTTPBearer`` / ``APIKeyHeader`` (``auto_error=False``)
    read them: an empty header is absent, a bearer token needs the scheme ``Bearer`` (any case).
    """
    headers = request.headers
    return await principal_of(
        request,
        bearer_token(headers.get("authorization")),
        headers.get(_KEY_HEADER) or None,
        headers.get(_TIMESTAMP_HEADER) or None,
        headers.get(_SIGNATURE_HEADER) or None,
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None`` (as ``HTTPBearer`` decides)."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


async def principal_of(
    request: Request, bearer: str | None, key_id: str | None, timestamp: str | None, signature: str | None
) -> Principal:
    """The caller: a signed API-key request if ``SPOTLAB-KEY`` is sent, else a bearer token, else 401."""
    ctx: ApiContext = request.app.state.ctx
    if key_id is not None:
        return await verify_signed_request(ctx, request, key_id, timestamp, signature)
    if bearer is not None:
        return ctx.accounts.verify_token(bearer)
    if request.headers.get("authorization"):
        raise SpotlabError(ErrorCode.UNAUTHENTICATED, "the Authorization header must be 'Bearer <token>'")
    raise SpotlabError(
        ErrorCode.UNAUTHENTICATED,
        "authentication required: send 'Authorization: Bearer <token>' (POST /v1/auth/token) or sign the request "
        "with an API key (SPOTLAB-KEY, SPOTLAB-TIMESTAMP, SPOTLAB-SIGNATURE)",
    )


async def verify_signed_request(
    ctx: ApiContext, request: Request, key_id: str, timestamp: str | None, signature: str | None
) -> Principal:
    if not timestamp or not signature:
        raise SpotlabError(
            ErrorCode.INVALID_SIGNATURE, "an API-key request needs SPOTLAB-TIMESTAMP and SPOTLAB-SIGNATURE headers"
        )
    check_timestamp(ctx, timestamp)
    principal, secret = ctx.accounts.key_principal(key_id[:64])
    body = await request.body()
    if not signature_matches(secret, signature[:128], timestamp, request.method, signed_path(request.scope), body):
        raise SpotlabError(
            ErrorCode.INVALID_SIGNATURE,
            "the signature does not match: sign timestamp + METHOD + path (with query) + body with the key's secret",
        )
    await check_first_use(ctx, key_id + ":" + signature.lower())
    return principal


def check_timestamp(ctx: ApiContext, timestamp: str) -> None:
    window = ctx.settings.signature_window_ms
    if not timestamp.isdigit() or len(timestamp) > 16:
        raise SpotlabError(ErrorCode.TIMESTAMP_OUT_OF_WINDOW, "SPOTLAB-TIMESTAMP must be Unix time in milliseconds")
    skew = int(timestamp) - ctx.clock.now_ns() // 1_000_000
    if abs(skew) > window:
        raise SpotlabError(
            ErrorCode.TIMESTAMP_OUT_OF_WINDOW,
            f"SPOTLAB-TIMESTAMP is {skew / 1000:+.3f} s from the server's clock; the window is +-{window / 1000:g} s",
            skew_ms=skew,
        )


async def check_first_use(ctx: ApiContext, nonce: str) -> None:
    if not await ctx.replay.first_use(nonce, 2 * ctx.settings.signature_window_ms + 1000):
        raise SpotlabError(ErrorCode.REPLAYED_REQUEST, "this signed request was already received; sign a new one")


def signed_path(scope: dict) -> str:
    """The path as the client sent it, with the query string: what the signature covers."""
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    return (path + b"?" + query if query else path).decode("latin-1")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _scope(name: str):
    async def require_scope(principal: CurrentPrincipal) -> Principal:
        principal.require(name)
        return principal

    require_scope.__name__ = f"require_{name}"
    return require_scope


async def _login_session(principal: CurrentPrincipal) -> Principal:
    if principal.via != "token":
        raise SpotlabError(
            ErrorCode.FORBIDDEN, "this needs a login token (POST /v1/auth/token); API keys cannot manage security"
        )
    return principal


async def _hot_trader(request: Request) -> Principal:
    principal = await authenticate(request)
    principal.require("trade")
    return principal


Reader = Annotated[Principal, Depends(_scope("read"))]
Trader = Annotated[Principal, Depends(_scope("trade"))]
Withdrawer = Annotated[Principal, Depends(_scope("withdraw"))]
LoginSession = Annotated[Principal, Depends(_login_session)]
#: ``Trader`` in one dependency, for hot routes; pass ``openapi_extra=HOT_SECURITY`` with it.
HotTrader = Annotated[Principal, Depends(_hot_trader)]
#: The security requirements FastAPI derives for ``Trader`` (one per scheme name, in order), for ``HotTrader``.
HOT_SECURITY = {
    "security": [{name: []} for name in dict.fromkeys(s.scheme_name for s in (_bearer, _key, _timestamp, _signature))]
}

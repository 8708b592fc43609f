"""Exception handlers: every error leaves the API as ``application/problem+json``.

Invariants
- A ``SpotlabError`` keeps its code; its HTTP status comes from ``STATUS`` (one table,
  so the mapping is reviewed in one place). Its figures travel in ``details``.
- Validation errors list every bad field (``errors``: location, message, type) with
  422; a body that is not JSON at all is 400 ``MALFORMED_REQUEST``.
- Anything unexpected becomes a 500 ``INTERNAL_ERROR`` with the request id in
  ``api.observability`` (outside these handlers), logged with its stack trace on the
  server; the client never sees a trace.
- 401 answers carry ``WWW-Authenticate``; 429 answers carry ``Retry-After``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from spotlab.api.problems import problem_response
from spotlab.errors import ErrorCode, SpotlabError

log = logging.getLogger("spotlab.api")

C = ErrorCode
STATUS: dict[ErrorCode, int] = {
    **dict.fromkeys([C.MALFORMED_REQUEST], 400),
    **dict.fromkeys(
        [
            C.UNAUTHENTICATED,
            C.TOKEN_EXPIRED,
            C.INVALID_CREDENTIALS,
            C.INVALID_SIGNATURE,
            C.TIMESTAMP_OUT_OF_WINDOW,
            C.REPLAYED_REQUEST,
        ],
        401,
    ),
    **dict.fromkeys(
        [
            C.SCOPE_REQUIRED,
            C.FORBIDDEN,
            C.ACCOUNT_LOCKED,
            C.TWO_FACTOR_REQUIRED,
            C.INVALID_TWO_FACTOR_CODE,
            C.ADDRESS_NOT_WHITELISTED,
            C.ADDRESS_NOT_YET_ACTIVE,
            C.RISK_LIMIT,  # the account's own rule forbids it for now: retrying unchanged will not help
        ],
        403,
    ),
    **dict.fromkeys(
        [
            C.NOT_FOUND,
            C.UNKNOWN_MARKET,
            C.UNKNOWN_ASSET,
            C.UNKNOWN_ACCOUNT,
            C.ORDER_NOT_FOUND,
            C.API_KEY_NOT_FOUND,
        ],
        404,
    ),
    C.METHOD_NOT_ALLOWED: 405,
    **dict.fromkeys(
        [
            C.ACCOUNT_EXISTS,
            C.USERNAME_TAKEN,
            C.DUPLICATE_CLIENT_ORDER_ID,
            C.ORDER_NOT_OPEN,
            C.ILLEGAL_TRANSITION,
            C.INSUFFICIENT_FUNDS,
            C.POST_ONLY_WOULD_TRADE,
            C.MARKET_HALTED,
            C.TWO_FACTOR_ALREADY_ENABLED,
            C.TWO_FACTOR_NOT_ENABLED,
            C.ADDRESS_EXISTS,
            C.LIMIT_REACHED,
        ],
        409,
    ),
    C.PAYLOAD_TOO_LARGE: 413,
    **dict.fromkeys(
        [
            C.VALIDATION_ERROR,
            C.INVALID_NUMBER,
            C.INVALID_ARGUMENT,
            C.PRICE_NOT_ON_TICK,
            C.QUANTITY_NOT_ON_LOT,
            C.AMOUNT_NOT_ON_PRECISION,
            C.BELOW_MIN_QUANTITY,
            C.BELOW_MIN_NOTIONAL,
            C.BELOW_MIN_WITHDRAWAL,
            C.BELOW_MIN_DEPOSIT,
        ],
        422,
    ),
    C.RATE_LIMITED: 429,
    **dict.fromkeys([C.STORE_UNAVAILABLE, C.STORE_LOCKED, C.EXCHANGE_CLOSED, C.SOURCE_UNAVAILABLE], 503),
}


def status_of(code: ErrorCode) -> int:
    return STATUS.get(code, 500)


def error_response(error: SpotlabError, request_id: str | None = None):
    status = status_of(error.code)
    headers = {"WWW-Authenticate": 'Bearer realm="spotlab"'} if status == 401 else None
    extra: dict[str, Any] = {}
    if error.details:
        extra["details"] = {key: plain(value) for key, value in error.details.items()}
    return problem_response(status, error.code, error.message, request_id, headers=headers, **extra)


async def on_spotlab_error(request: Request, error: SpotlabError):
    if status_of(error.code) == 500:
        log.error("internal refusal %s: %s", error.code, error.message)
    return error_response(error, _request_id(request))


async def on_validation_error(request: Request, error: RequestValidationError):
    problems = error.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return problem_response(400, C.MALFORMED_REQUEST, "the request body is not valid JSON", _request_id(request))
    fields = [
        {
            "field": ".".join(str(part) for part in p.get("loc", ())),
            "message": _message(p),
            "type": p.get("type", "value_error"),
        }
        for p in problems
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return problem_response(422, C.VALIDATION_ERROR, f"invalid request: {summary}", _request_id(request), errors=fields)


async def on_http_error(request: Request, error: StarletteHTTPException):
    code = {404: C.NOT_FOUND, 405: C.METHOD_NOT_ALLOWED, 413: C.PAYLOAD_TOO_LARGE, 400: C.MALFORMED_REQUEST}.get(
        error.status_code, C.VALIDATION_ERROR if error.status_code == 422 else C.FORBIDDEN
    )
    detail = {404: f"no such resource: {request.method} {request.url.path}"}.get(error.status_code, str(error.detail))
    return problem_response(error.status_code, code, detail, _request_id(request), headers=error.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(SpotlabError, on_spotlab_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _message(problem: dict) -> str:
    message = str(problem.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def plain(value: Any) -> Any:
    """A refusal's figure as JSON can hold it (``Decimal`` and the like as strings, never floats)."""
    if isinstance(value, int | str | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return str(value)

"""The one error type spotlab raises at users, and its stable machine codes.

Every refusal carries a ``code`` that programs can branch on (it never changes
once released) and a ``message`` written for people: what was expected, what
was given, and where possible how to fix it. ``details`` holds the figures
behind the message (the tick size, the available balance, ...) as plain values.

A refusal never leaves partial state behind: whatever raised a ``SpotlabError``
changed nothing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable machine codes. New codes may be added; existing ones never change meaning."""

    INVALID_NUMBER = "INVALID_NUMBER"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    PRICE_NOT_ON_TICK = "PRICE_NOT_ON_TICK"
    QUANTITY_NOT_ON_LOT = "QUANTITY_NOT_ON_LOT"
    AMOUNT_NOT_ON_PRECISION = "AMOUNT_NOT_ON_PRECISION"
    BELOW_MIN_QUANTITY = "BELOW_MIN_QUANTITY"
    BELOW_MIN_NOTIONAL = "BELOW_MIN_NOTIONAL"
    BELOW_MIN_WITHDRAWAL = "BELOW_MIN_WITHDRAWAL"
    UNKNOWN_MARKET = "UNKNOWN_MARKET"
    UNKNOWN_ASSET = "UNKNOWN_ASSET"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    ACCOUNT_EXISTS = "ACCOUNT_EXISTS"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    POST_ONLY_WOULD_TRADE = "POST_ONLY_WOULD_TRADE"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ORDER_NOT_OPEN = "ORDER_NOT_OPEN"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    MARKET_HALTED = "MARKET_HALTED"
    INVALID_MARKET_SPEC = "INVALID_MARKET_SPEC"
    CATALOGUE_MISMATCH = "CATALOGUE_MISMATCH"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    STORE_LOCKED = "STORE_LOCKED"
    STORE_CORRUPT = "STORE_CORRUPT"
    EXCHANGE_CLOSED = "EXCHANGE_CLOSED"
    SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"  # a remote data source (another exchange) cannot be reached
    LIMIT_REACHED = "LIMIT_REACHED"  # an account holds as many of something as it may (e.g. alerts)
    RISK_LIMIT = "RISK_LIMIT"  # the account's risk profile refuses the order; the rule and figures are in details

    # the API layer (HTTP and WebSocket)
    VALIDATION_ERROR = "VALIDATION_ERROR"  # a request field is missing, mistyped or out of range
    MALFORMED_REQUEST = "MALFORMED_REQUEST"  # the body is not JSON, or not the JSON this endpoint takes
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    NOT_FOUND = "NOT_FOUND"  # no such route or resource
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNAUTHENTICATED = "UNAUTHENTICATED"  # no credentials, or credentials that are not valid
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"  # wrong username or password
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"  # too many failed logins; says until when
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    TIMESTAMP_OUT_OF_WINDOW = "TIMESTAMP_OUT_OF_WINDOW"
    REPLAYED_REQUEST = "REPLAYED_REQUEST"
    SCOPE_REQUIRED = "SCOPE_REQUIRED"  # the API key lacks the scope this endpoint needs
    FORBIDDEN = "FORBIDDEN"
    USERNAME_TAKEN = "USERNAME_TAKEN"
    API_KEY_NOT_FOUND = "API_KEY_NOT_FOUND"
    TWO_FACTOR_REQUIRED = "TWO_FACTOR_REQUIRED"
    INVALID_TWO_FACTOR_CODE = "INVALID_TWO_FACTOR_CODE"
    TWO_FACTOR_ALREADY_ENABLED = "TWO_FACTOR_ALREADY_ENABLED"
    TWO_FACTOR_NOT_ENABLED = "TWO_FACTOR_NOT_ENABLED"
    BELOW_MIN_DEPOSIT = "BELOW_MIN_DEPOSIT"
    ADDRESS_NOT_WHITELISTED = "ADDRESS_NOT_WHITELISTED"
    ADDRESS_NOT_YET_ACTIVE = "ADDRESS_NOT_YET_ACTIVE"
    ADDRESS_EXISTS = "ADDRESS_EXISTS"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL_ERROR = "INTERNAL_ERROR"  # a bug on our side; logged with the request id


class SpotlabError(Exception):
    """A refusal with a stable ``code``, a human ``message`` and the figures in ``details``."""

    __slots__ = ("code", "message", "details")

    def __init__(self, code: ErrorCode | str, message: str, **details: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = ErrorCode(code)
        self.message = message
        self.details = details

    def __reduce__(self):  # keep pickling (multiprocessing, pytest-xdist) working with keyword details
        return (_rebuild_error, (str(self.code), self.message, self.details))

    def to_dict(self) -> dict[str, Any]:
        """The error as plain data, the shape the API layer returns."""
        return {"code": str(self.code), "message": self.message, "details": dict(self.details)}


def _rebuild_error(code: str, message: str, details: dict[str, Any]) -> SpotlabError:
    return SpotlabError(code, message, **details)

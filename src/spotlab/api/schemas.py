"""Shared request and response types of the API: money as strings, market ids, pages.

Invariants
- Money and quantities travel as JSON strings (``"0.015"``) and become ``Decimal``;
  a JSON number with a fraction (a float) is refused with a per-field error, an
  integer is accepted. Nothing is ever rounded here: the exchange refuses values
  off its tick, lot or precision.
- Request models forbid unknown fields (a misspelled field is an error, not a
  silent default).
- Market ids in URLs and bodies are written ``BTC-USDT``; ``BTC/USDT`` is accepted
  in bodies and query strings too. Responses always use ``BTC-USDT``.
"""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema

from spotlab.core.units import parse_decimal
from spotlab.errors import ErrorCode, SpotlabError

_DECIMAL = r"^-?[0-9]{1,30}(\.[0-9]{1,30})?$"


def _to_decimal(value: Any, info: ValidationInfo) -> Decimal:
    if isinstance(value, bool):
        raise ValueError('expected a decimal number as a string, e.g. "0.01"')
    if isinstance(value, float):
        raise ValueError(
            'send amounts as strings, e.g. "0.1": a JSON number with a fraction is a float and can be inexact'
        )
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return parse_decimal(value, info.field_name or "value")
        except SpotlabError as error:
            raise ValueError(error.message) from None
    raise ValueError('expected a decimal number as a string, e.g. "0.01"')


#: A request amount: a decimal string (or a JSON integer); floats are refused.
DecimalIn = Annotated[
    Decimal,
    PlainValidator(_to_decimal),
    WithJsonSchema({"type": "string", "pattern": _DECIMAL, "examples": ["0.01"]}),
]
#: A response amount, always a decimal string.
DecimalOut = Annotated[
    Decimal,
    PlainSerializer(lambda value: format(value, "f"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": _DECIMAL, "examples": ["0.01"]}),
]

_MARKET_ID = re.compile(r"^[A-Z0-9]{1,12}[-/][A-Z0-9]{1,12}$")


def symbol_of(market_id: str) -> str:
    """``BTC-USDT`` (or ``BTC/USDT``) -> ``BTC/USDT``; refuses anything else with ``UNKNOWN_MARKET``."""
    if not isinstance(market_id, str) or not _MARKET_ID.match(market_id):
        raise SpotlabError(
            ErrorCode.UNKNOWN_MARKET,
            f"unknown market {str(market_id)[:40]!r}; market ids look like BTC-USDT",
            market=str(market_id)[:40],
        )
    return market_id.replace("-", "/")


def market_id(symbol: str) -> str:
    return symbol.replace("/", "-")


MarketId = Annotated[
    str,
    Field(pattern=r"^[A-Z0-9]{1,12}[-/][A-Z0-9]{1,12}$", examples=["BTC-USDT"], description="Market id"),
]


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=256)


class ResponseModel(BaseModel):
    """A response: serialised as declared (amounts as strings, times as ISO 8601 UTC)."""


T = TypeVar("T")


class Page(ResponseModel, Generic[T]):
    """One page of a list, newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: list[T]
    next_cursor: str | None = Field(None, description="Opaque; absent on the last page.")


def encode_cursor(value: int | None) -> str | None:
    if value is None:
        return None
    return base64.urlsafe_b64encode(f"v1:{value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The position a cursor stands for; ``VALIDATION_ERROR`` for anything this API did not hand out."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, value = text.partition(":")
        if tag != "v1" or not value.isdigit() or len(value) > 19:
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError):
        message = "cursor is not one this API handed out"
        raise SpotlabError(ErrorCode.VALIDATION_ERROR, message, field="cursor") from None


class FieldError(BaseModel):
    field: str = Field(examples=["body.price"])
    message: str = Field(examples=['send amounts as strings, e.g. "0.1"'])
    type: str = Field(examples=["value_error"])


class Problem(BaseModel):
    """An error (RFC 9457 problem details) with spotlab's stable ``code``."""

    type: str = Field(examples=["https://spotlab.dev/problems/insufficient-funds"])
    title: str = Field(examples=["Conflict"])
    status: int = Field(examples=[409])
    code: str = Field(examples=["INSUFFICIENT_FUNDS"])
    detail: str = Field(examples=["needs 650.65 USDT available, has 100 USDT"])
    request_id: str | None = Field(None, examples=["5f2b9c0e8a7d4e1f"])
    errors: list[FieldError] | None = Field(None, description="Per-field problems (422 validation errors).")
    details: dict[str, Any] | None = Field(None, description="The figures behind the detail.")


_ERROR_STATUSES = {
    400: "Malformed request (the body is not JSON)",
    401: "Not authenticated (missing, invalid, expired or replayed credentials)",
    403: "Authenticated but not allowed (scope, 2FA, whitelist, locked login)",
    404: "No such resource (or not yours)",
    409: "Conflicts with the current state (funds, duplicates, closed orders)",
    413: "Request body too large",
    422: "Invalid field values",
    429: "Rate limited; see Retry-After",
    500: "Internal error; quote the request id",
    503: "The exchange's store is unavailable",
}

#: Error answers every route may give, documented once for OpenAPI.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "model": Problem} for status, text in _ERROR_STATUSES.items()
}


def problems_as_problem_json(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare error answers as ``application/problem+json`` (FastAPI files models under application/json)."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status.isdigit() and int(status) >= 400 and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
                    content["application/problem+json"]["schema"] = {"$ref": "#/components/schemas/Problem"}
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def compose_examples(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every component schema an example composed from its fields' examples (for /docs).

    A model's own ``examples`` win; otherwise each property contributes its first example (a
    referenced model its composed example, an array one element). Properties without any example
    are left out if optional; a required one without an example leaves the model without one,
    which the tests report.
    """
    components = schema.get("components", {}).get("schemas", {})
    composing: set[str] = set()

    def example_of(node: dict[str, Any]) -> Any:
        if "$ref" in node:
            return model_example(node["$ref"].rsplit("/", 1)[1])
        if node.get("examples"):
            return node["examples"][0]
        if "default" in node and node["default"] is not None:
            return node["default"]
        for key in ("anyOf", "oneOf"):
            for option in node.get(key, ()):
                if option.get("type") != "null" and (found := example_of(option)) is not None:
                    return found
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            item = example_of(node["items"])
            return None if item is None else [item]
        if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
            value = example_of(node["additionalProperties"])
            return None if value is None else {"USDT": value}
        if "const" in node:
            return node["const"]
        if node.get("enum"):
            return node["enum"][0]
        return None

    def model_example(name: str) -> Any:
        model = components.get(name)
        if model is None or name in composing:
            return None
        if model.get("examples"):
            return model["examples"][0]
        composing.add(name)
        try:
            example: dict[str, Any] = {}
            for field, node in model.get("properties", {}).items():
                value = example_of(node)
                if value is None and field in model.get("required", ()):
                    if node.get("anyOf") and any(option.get("type") == "null" for option in node["anyOf"]):
                        example[field] = None
                        continue
                    return None
                if value is not None:
                    example[field] = value
            model["examples"] = [example]
            return example
        finally:
            composing.discard(name)

    for name in list(components):
        model_example(name)
    return schema


def signed_requests_need_all_three_headers(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI lists security requirements as alternatives: a bearer token, OR all three API-key headers."""
    parts = {"ApiKey", "ApiKeyTimestamp", "ApiKeySignature"}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            security = operation.get("security")
            if not security:
                continue
            names = {name for requirement in security for name in requirement}
            if parts <= names:
                rest = [r for r in security if not set(r) & parts]
                operation["security"] = [*rest, {name: [] for name in sorted(parts)}]
    return schema

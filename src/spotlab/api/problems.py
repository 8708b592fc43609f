"""Problem details (RFC 9457): the one shape every API error takes.

    {"type": "https://spotlab.dev/problems/insufficient-funds", "title": "Conflict",
     "status": 409, "code": "INSUFFICIENT_FUNDS", "detail": "...", "request_id": "..."}

served as ``application/problem+json``. ``problem_response`` builds it for route and
exception handlers; ``send_problem`` sends it from raw ASGI middleware.

Invariants
- ``type`` is derived from ``code`` alone (lowercase, ``_`` -> ``-``), so it is as
  stable as the code; ``title`` is the HTTP reason phrase of ``status``.
- ``request_id`` is always present: the one given, else the request being served
  (``logs.REQUEST_ID``), else ``null`` outside a request.
- Extra members never replace the standard ones; values JSON cannot hold (``Decimal``)
  are written as strings, never floats. A problem body never holds a stack trace.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from starlette.responses import Response
from starlette.types import Send

from spotlab.api.logs import current_request_id
from spotlab.errors import ErrorCode

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://spotlab.dev/problems/"


def problem_type(code: ErrorCode | str) -> str:
    """The ``type`` URI of a code: ``PAYLOAD_TOO_LARGE`` -> ``.../problems/payload-too-large``."""
    return PROBLEM_TYPE_BASE + str(code).lower().replace("_", "-")


def problem_body(
    status: int, code: ErrorCode | str, detail: str, request_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The problem as plain data (see the module docstring)."""
    body: dict[str, Any] = dict(extra)
    body.update(
        type=problem_type(code),
        title=_reason_phrase(status),
        status=status,
        code=str(code),
        detail=detail,
        request_id=request_id if request_id is not None else current_request_id(),
    )
    return body


def encode_problem(body: Mapping[str, Any]) -> bytes:
    """A problem body as compact UTF-8 JSON (non-JSON values such as ``Decimal`` as strings)."""
    return json.dumps(body, default=str, ensure_ascii=False, separators=(",", ":")).encode()


def problem_response(
    status: int,
    code: ErrorCode | str,
    detail: str,
    request_id: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A Starlette/FastAPI response carrying the problem."""
    content = encode_problem(problem_body(status, code, detail, request_id, **extra))
    return Response(content, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


async def send_problem(
    send: Send,
    status: int,
    code: ErrorCode | str,
    detail: str,
    request_id: str | None = None,
    *,
    headers: Iterable[tuple[bytes, bytes]] = (),
    **extra: Any,
) -> None:
    """Send the problem as a complete HTTP response through an ASGI ``send``."""
    content = encode_problem(problem_body(status, code, detail, request_id, **extra))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(content)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"

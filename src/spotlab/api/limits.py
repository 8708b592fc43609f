"""Request body size limit and security headers, as pure ASGI middleware.

``BodySizeLimitMiddleware`` refuses a request body larger than ``max_bytes`` with a
413 problem (``PAYLOAD_TOO_LARGE``):

- with a ``Content-Length`` header, up front, before the app runs (the server never
  delivers more bytes than the header declares, so nothing is counted after that);
- without one (``Transfer-Encoding: chunked``), by counting the chunks as the app
  reads them: the read that passes the limit sends the 413 and raises
  ``PayloadTooLarge`` into the app; whatever the app answers after that is dropped.
  If the app had already started its response, the 413 cannot be sent: the error
  propagates and the server drops the connection.

``SecurityHeadersMiddleware`` adds ``X-Content-Type-Options: nosniff`` to every HTTP
response, and ``Strict-Transport-Security`` only when built with ``hsts=True`` (the
server runs with TLS).

Invariants
- The limit middleware never buffers a body: it passes each chunk on as it arrives.
- Exactly one response reaches the client per request.
- WebSocket and lifespan traffic pass through untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spotlab.api.problems import send_problem
from spotlab.errors import ErrorCode

DEFAULT_MAX_BODY_BYTES = 64 * 1024
HSTS_MAX_AGE_SECONDS = 31_536_000


class PayloadTooLarge(Exception):
    """Raised from ``receive`` when a streamed request body passes the limit."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"request body larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


class BodySizeLimitMiddleware:
    """Refuses request bodies larger than ``max_bytes`` with 413 ``PAYLOAD_TOO_LARGE``."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative int (bytes), got {max_bytes!r}")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = content_length(scope["headers"])
        if declared is None:
            await self._count_streamed_body(scope, receive, send)
        elif declared > self.max_bytes:
            await refuse_too_large(send, self.max_bytes)
        else:
            await self.app(scope, receive, send)

    async def _count_streamed_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_bytes
        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started and not refused:
                        refused = True
                        await refuse_too_large(send, limit)
                    raise PayloadTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the client has its 413; the app's answer to a cut-off body is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise  # not ours, or too late to answer 413


async def refuse_too_large(send: Send, max_bytes: int) -> None:
    """Send the 413 ``PAYLOAD_TOO_LARGE`` problem."""
    detail = f"The request body is larger than the limit of {max_bytes} bytes; send a smaller request."
    await send_problem(send, 413, ErrorCode.PAYLOAD_TOO_LARGE, detail, max_bytes=max_bytes)


def content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The declared ``Content-Length``, or ``None`` if absent or not a number."""
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class SecurityHeadersMiddleware:
    """Adds ``X-Content-Type-Options: nosniff`` and, with ``hsts=True``, ``Strict-Transport-Security``."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False, hsts_max_age: int = HSTS_MAX_AGE_SECONDS) -> None:
        self.app = app
        headers = [(b"x-content-type-options", b"nosniff")]
        if hsts:
            headers.append((b"strict-transport-security", f"max-age={hsts_max_age}".encode()))
        self.headers = tuple(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

"""Request ids, access logs, metrics and the last-resort 500, as one pure ASGI middleware.

For every HTTP request ``ObservabilityMiddleware``:

1. takes the client's ``X-Request-ID`` if it is sane (1-64 of ``[A-Za-z0-9._-]``),
   else makes one (32 hex digits), and puts it in ``scope["state"]["request_id"]``
   (Starlette's ``request.state.request_id``), in ``logs.REQUEST_ID`` (so every log
   record of the request carries it) and in the response header ``X-Request-ID``;
2. turns an exception that escaped the app before the response started into a 500
   ``INTERNAL_ERROR`` problem carrying the request id, and logs the stack trace with
   the request id on ``spotlab.api`` (server side only: the body never holds one);
3. observes ``spotlab_http_requests_total`` / ``..._duration_seconds`` with the
   matched route's full path template (Starlette's ``scope["route"]``, with include
   and mount prefixes; see ``route_template``), ``unmatched`` when no route matched
   (404s, requests refused before routing such as a declared oversized body);
4. writes one access line at INFO on ``spotlab.access``: method, path (never the
   query string, which may hold credentials), route, status, duration_ms, client.

WebSocket connections get a request id too (state, context, ``websocket.accept``
header); their errors are logged with it and re-raised to the server.

Invariants
- Per-request cost is a header scan, one id, two ``perf_counter_ns`` calls, a cached
  metric child lookup, and the access record only if ``spotlab.access`` is enabled.
- The 500 is sent only if nothing has been sent yet; if the response had started,
  the error is logged and re-raised so the server drops the connection.
- Being outermost among ours, it sees the final status, including the 413 of the body
  limit. It handles unhandled errors itself, so Starlette's ``ServerErrorMiddleware``
  (and a handler registered for ``Exception`` / 500) never sees them.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from typing import Any

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spotlab.api.limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimitMiddleware, SecurityHeadersMiddleware
from spotlab.api.logs import REQUEST_ID
from spotlab.api.metrics import Metrics
from spotlab.api.problems import send_problem
from spotlab.errors import ErrorCode

ACCESS_LOG = logging.getLogger("spotlab.access")
ERROR_LOG = logging.getLogger("spotlab.api")
REQUEST_ID_HEADER = b"x-request-id"
UNMATCHED_ROUTE = "unmatched"
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_INTERNAL_ERROR_DETAIL = "An unexpected error occurred on our side. It has been logged under this request id."


def new_request_id() -> str:
    """A fresh request id: 32 random hex digits.

    From a private ``random.Random`` seeded by the OS (again in a forked child), not from
    ``os.urandom`` per request: an id only has to be unique, not secret, and ``os.urandom``
    releases the GIL around its system call, so under load each request then waited for
    another thread (the store's writer) to hand the GIL back: about 50 us of server CPU a
    request and 7 % of REST orders/s (A/B with the order load of ``spotlab bench api``).
    """
    return f"{_ID_BITS(128):032x}"


_ID_SOURCE = random.Random()
_ID_BITS = _ID_SOURCE.getrandbits
os.register_at_fork(after_in_child=_ID_SOURCE.seed)


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The client's ``X-Request-ID`` if it is sane (1-64 of ``[A-Za-z0-9._-]``), else ``None``."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if _SANE_REQUEST_ID.fullmatch(value) else None
    return None


def route_template(scope: Scope, root_path: str = "") -> str:
    """The path template of the route that handled ``scope`` (``/v1/items/{id}``), or ``unmatched``.

    ``root_path`` is the scope's ``root_path`` before the app ran; whatever a ``Mount``
    appended to it since is the mount's prefix (concrete, so mount at fixed paths).
    A FastAPI route included with a prefix does not carry it in ``route.path``; its
    full template is read from FastAPI's route context when that belongs to the route.
    """
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    after = scope.get("root_path", "")
    mount_prefix = after[len(root_path) :] if after.startswith(root_path) else ""
    if isinstance(route, Mount):
        return mount_prefix + "/{path}"  # matched a mount, but nothing inside it
    template = _fastapi_path_format(scope, route) or getattr(route, "path", None)
    return mount_prefix + template if isinstance(template, str) else UNMATCHED_ROUTE


def _fastapi_path_format(scope: Scope, route: Any) -> str | None:
    context = scope.get("fastapi", {}).get("effective_route_context")
    if context is None or getattr(context, "original_route", None) is not route:
        return None
    path_format = getattr(context, "path_format", None)
    return path_format if isinstance(path_format, str) else None


class ObservabilityMiddleware:
    """Request ids, the last-resort 500, metrics and access logs (see the module docstring)."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._serve_http(scope, receive, send)
        elif kind == "websocket":
            await self._serve_websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _serve_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter_ns()
        root_path = scope.get("root_path", "")
        request_id = _assign_request_id(scope)
        token = REQUEST_ID.set(request_id)
        id_header = (REQUEST_ID_HEADER, request_id.encode())
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            _log_unhandled(scope, request_id)
            if started:
                raise
            status = 500
            await send_problem(
                send, 500, ErrorCode.INTERNAL_ERROR, _INTERNAL_ERROR_DETAIL, request_id, headers=[id_header]
            )
        finally:
            self._record(scope, request_id, route_template(scope, root_path), status, time.perf_counter_ns() - start)
            REQUEST_ID.reset(token)

    def _record(self, scope: Scope, request_id: str, route: str, status: int, elapsed_ns: int) -> None:
        if self.metrics is not None:
            self.metrics.observe_request(scope["method"], route, status, elapsed_ns / 1e9)
        if ACCESS_LOG.isEnabledFor(logging.INFO):
            _log_access(scope, request_id, route, status, elapsed_ns)

    async def _serve_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = _assign_request_id(scope)
        token = REQUEST_ID.set(request_id)
        id_header = (REQUEST_ID_HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "websocket.accept":
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            _log_unhandled(scope, request_id)
            raise
        finally:
            REQUEST_ID.reset(token)


def _assign_request_id(scope: Scope) -> str:
    request_id = incoming_request_id(scope["headers"]) or new_request_id()
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    state["request_id"] = request_id
    return request_id


def _log_unhandled(scope: Scope, request_id: str) -> None:
    method = scope.get("method", "WEBSOCKET")
    ERROR_LOG.exception(
        "unhandled error in %s %s",
        method,
        scope["path"],
        extra={"request_id": request_id, "method": method, "path": scope["path"], "route": route_template(scope)},
    )


def _log_access(scope: Scope, request_id: str, route: str, status: int, elapsed_ns: int) -> None:
    client = scope.get("client")
    fields: dict[str, Any] = {
        "request_id": request_id,
        "method": scope["method"],
        "path": scope["path"],
        "route": route,
        "status": status,
        "duration_ms": round(elapsed_ns / 1e6, 3),
        "client": client[0] if client else None,
    }
    ACCESS_LOG.info("%s %s %d", scope["method"], scope["path"], status, extra=fields)


def add_operations_middleware(
    app: Any, metrics: Metrics | None, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, hsts: bool = False
) -> None:
    """Install, outermost first: security headers, observability, body size limit (on a Starlette/FastAPI app).

    Security headers go outermost so that the 500 and the 413 carry them too; the
    body limit goes inside observability so that its 413 is counted and logged.
    """
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeadersMiddleware, hsts=hsts)

"""``RateLimitMiddleware``: token-bucket limits as a pure ASGI middleware.

Pure ASGI (not ``BaseHTTPMiddleware``) so an allowed request costs two bucket
takes and a few header tuples, nothing more. Starlette resolves routes only after
middleware, so weights are matched here by method and path template against the
raw path (``WeightTable``, compiled once).

Per HTTP request
- The client is its credential if it sends one: the ``SPOTLAB-KEY`` header, else
  the ``Authorization`` header value (a bearer token), hashed (BLAKE2b, 96 bits) so
  no secret is stored as a bucket key. Credentials are not verified here: an
  invalid one is refused later by authentication, and a client inventing keys
  still meets the per-IP ceiling. The IP is the ASGI ``client`` host (behind a
  proxy, run uvicorn with ``--proxy-headers`` so that it is the real client's).
- Two buckets are charged with the endpoint's weight (see ``config.py``): the
  key's (or, unauthenticated, the IP's anonymous bucket), then the IP ceiling. The
  first refusal answers at once; a refusal by the ceiling leaves the first charge in
  place (the request did use the server).
- Every response carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and
  ``RateLimit-Reset`` (seconds until full) of the bucket with the fewest tokens
  left, and ``RateLimit-Policy`` listing both quotas (``1200;w=60, 6000;w=60``).
- A refusal is a 429 ``application/problem+json`` (code ``RATE_LIMITED``) whose
  detail names the limit and the wait, with ``Retry-After`` in whole seconds (>= 1).
  The app below is not called.

WebSocket scopes pass through untouched, except that each handshake is charged
``websocket_connect_weight`` to the IP ceiling; a refused handshake gets the 429
problem if the server supports the WebSocket denial-response extension, else a
close with code 1008 (policy violation) and the wait in the reason. Messages on an
open socket are not limited here. Other scopes (lifespan) pass through.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spotlab.api.problems import send_problem
from spotlab.api.ratelimit.bucket import Decision
from spotlab.api.ratelimit.config import EndpointWeight, RateLimits
from spotlab.api.ratelimit.limiters import Limiter, Limiters, build_limiters
from spotlab.errors import ErrorCode

_AUTHORIZATION = b"authorization"
_LIMIT = b"ratelimit-limit"
_REMAINING = b"ratelimit-remaining"
_RESET = b"ratelimit-reset"
_POLICY = b"ratelimit-policy"
_RETRY_AFTER = b"retry-after"
_POLICY_VIOLATION = 1008


class WeightTable:
    """Endpoint weights by method and path: exact templates by dictionary, the rest by precompiled regex."""

    def __init__(self, weights: tuple[EndpointWeight, ...], default_weight: int) -> None:
        self.default = EndpointWeight("*", "/", default_weight)
        self._exact: dict[tuple[str, str], EndpointWeight] = {}
        self._patterns: list[tuple[str, Callable[[str], re.Match[str] | None], EndpointWeight]] = []
        for entry in weights:
            method = entry.method.upper()
            if "{" in entry.path:
                self._patterns.append((method, entry.pattern().match, entry))
            else:
                self._exact.setdefault((method, entry.path), entry)

    def entry(self, method: str, path: str) -> EndpointWeight:
        """The first entry for ``method`` and ``path`` (exact templates first), else the default."""
        if method == "HEAD":
            method = "GET"
        found = self._exact.get((method, path))
        if found is not None:
            return found
        for entry_method, match, entry in self._patterns:
            if entry_method == method and match(path):
                return entry
        return self.default

    def weight(self, method: str, path: str, query_string: bytes = b"") -> tuple[int, bool]:
        """The weight of a request, and whether it is always charged as anonymous."""
        entry = self.entry(method, path)
        weight = entry.weight
        if entry.heavier and query_string:
            query = dict(parse_qsl(query_string.decode("latin-1")))
            for tier in entry.heavier:
                value = query.get(tier.param, "")
                if value.isdigit() and int(value) > tier.above:
                    weight = tier.weight
        return weight, entry.always_anonymous


class RateLimitMiddleware:
    """Charges each request's weight to its buckets; adds ``RateLimit-*`` headers; answers 429 when empty.

    ``limiters`` default to in-process ones, or Redis-backed when ``SPOTLAB_REDIS_URL``
    is set. ``on_refused`` is called once per refused request (e.g. a metrics counter).
    """

    def __init__(
        self,
        app: ASGIApp,
        limits: RateLimits | None = None,
        limiters: Limiters | None = None,
        on_refused: Callable[[], object] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits if limits is not None else RateLimits()
        self.limiters = limiters if limiters is not None else build_limiters(self.limits, _env_redis_url())
        self.on_refused = on_refused
        self.weights = WeightTable(self.limits.weights, self.limits.default_weight)
        self._key_header = self.limits.key_header.lower().encode("latin-1")
        self._policy_keyed = _policy_header(self.limiters.per_key, self.limiters.per_ip)
        self._policy_anonymous = _policy_header(self.limiters.per_ip_anonymous, self.limiters.per_ip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.limits.enabled:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket" and self.limits.websocket_connect_weight:
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        weight, always_anonymous = self.weights.weight(scope["method"], scope["path"], scope.get("query_string", b""))
        ip = "ip:" + client_ip(scope)
        credential = None if always_anonymous else self._credential(scope)
        if credential is None:
            first, policy = (self.limiters.per_ip_anonymous, ip, "unauthenticated IP address"), self._policy_anonymous
        else:
            first, policy = (self.limiters.per_key, credential, "API key"), self._policy_keyed
        reported: Decision | None = None
        for limiter, key, name in (first, (self.limiters.per_ip, ip, "IP address")):
            decision = await limiter.take(key, weight)
            if not decision.allowed:
                await self._refuse(send, decision, name, limiter, weight, policy)
                return
            if reported is None or decision.remaining < reported.remaining:
                reported = decision
        extra = _rate_headers(reported, policy)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _credential(self, scope: Scope) -> str | None:
        bearer = None
        for name, value in scope["headers"]:
            if name == self._key_header and value:
                return "key:" + _digest(value)
            if name == _AUTHORIZATION and value:
                bearer = value
        return None if bearer is None else "auth:" + _digest(bearer)

    async def _refuse(
        self, send: Send, decision: Decision, name: str, limiter: Limiter, weight: int, policy: bytes
    ) -> None:
        if self.on_refused is not None:
            self.on_refused()
        wait = retry_after(decision)
        await send_problem(
            send,
            429,
            ErrorCode.RATE_LIMITED,
            refusal_detail(decision, name, limiter, weight),
            headers=[(_RETRY_AFTER, str(wait).encode()), *_rate_headers(decision, policy)],
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        decision = await self.limiters.per_ip.take("ip:" + client_ip(scope), self.limits.websocket_connect_weight)
        if decision.allowed:
            await self.app(scope, receive, send)
            return
        if self.on_refused is not None:
            self.on_refused()
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        wait = retry_after(decision)
        if "websocket.http.response" in scope.get("extensions", {}):
            await send_problem(
                _as_denial(send),
                429,
                ErrorCode.RATE_LIMITED,
                refusal_detail(decision, "IP address", self.limiters.per_ip, self.limits.websocket_connect_weight),
                headers=[(_RETRY_AFTER, str(wait).encode())],
            )
        else:
            reason = f"rate limited: retry in {wait} s"
            await send({"type": "websocket.close", "code": _POLICY_VIOLATION, "reason": reason})


def client_ip(scope: Scope) -> str:
    """The client's address as the server saw it (``unknown`` when the server gives none)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


def retry_after(decision: Decision) -> int:
    """Whole seconds to wait before retrying: at least 1 (a never-fitting request: until full)."""
    wait = decision.retry_after_seconds
    return max(1, wait if wait is not None else decision.reset_seconds)


def refusal_detail(decision: Decision, name: str, limiter: Limiter, weight: int) -> str:
    """The problem detail of a refusal: which limit, this request's weight, and when to retry."""
    quota = limiter.quota
    return (
        f"rate limit of the {name} exceeded: {quota.limit} weight per {quota.window_seconds} s "
        f"(burst {quota.capacity}); this request weighs {weight} and {decision.remaining} remain; "
        f"retry in {retry_after(decision)} s"
    )


def _rate_headers(decision: Decision, policy: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (_LIMIT, str(decision.limit).encode()),
        (_REMAINING, str(decision.remaining).encode()),
        (_RESET, str(decision.reset_seconds).encode()),
        (_POLICY, policy),
    ]


def _policy_header(*limiters: Limiter) -> bytes:
    return ", ".join(limiter.quota.policy for limiter in limiters).encode()


def _digest(value: bytes) -> str:
    return hashlib.blake2b(value, digest_size=12).hexdigest()


def _env_redis_url() -> str | None:
    return os.environ.get("SPOTLAB_REDIS_URL") or None


def _as_denial(send: Send) -> Send:
    """``send`` for an HTTP response given in place of a WebSocket handshake (denial-response extension)."""

    async def send_denial(message: Message) -> None:
        await send({**message, "type": "websocket." + message["type"]})

    return send_denial

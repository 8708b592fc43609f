"""The limiter interface, and the three limiters a server uses, in process or in Redis.

A limiter holds the buckets of one quota by key::

    decision = await limiter.take("ip:203.0.113.7", cost=5)        # now: the limiter's clock
    decision = await limiter.take("ip:203.0.113.7", cost=5, now=t)  # now: t nanoseconds

``build_limiters(limits, redis_url)`` gives in-process limiters when ``redis_url`` is
``None`` (the default), else Redis-backed ones sharing one client (the server passes
``Settings.redis_url``, i.e. ``SPOTLAB_REDIS_URL``). Redis keys are
``<prefix>:<quota name>:<key>``. Building connects to nothing: Redis is first reached
by the first request, and an unreachable Redis only means in-process limits (see
``redisbacked.py``).

Invariants
- ``take`` never raises for an unreachable backend, only for a negative cost.
- ``Limiters.aclose()`` releases the Redis connections (call it at shutdown).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from spotlab.api.ratelimit.bucket import Decision
from spotlab.api.ratelimit.config import Quota, RateLimits
from spotlab.api.ratelimit.inprocess import InProcessLimiter

DEFAULT_REDIS_PREFIX = "spotlab:ratelimit"
#: Short timeouts: a slow Redis must not stall requests; on timeout the in-process fallback answers.
REDIS_TIMEOUT_SECONDS = 0.25


class Limiter(Protocol):
    quota: Quota

    async def take(self, key: str, cost: int, now: int | None = None) -> Decision:
        """Take ``cost`` from ``key``'s bucket at ``now`` (nanoseconds; default: the limiter's clock)."""

    async def aclose(self) -> None:
        """Release what the limiter holds."""


@dataclass(slots=True)
class Limiters:
    """The three limiters the middleware charges (see ``config.RateLimits``)."""

    per_key: Limiter
    per_ip: Limiter
    per_ip_anonymous: Limiter
    redis: Any = None  # the shared ``redis.asyncio.Redis`` client, closed by ``aclose``

    async def aclose(self) -> None:
        for limiter in (self.per_key, self.per_ip, self.per_ip_anonymous):
            await limiter.aclose()
        if self.redis is not None:
            await self.redis.aclose()


def in_process_limiters(limits: RateLimits) -> Limiters:
    return Limiters(
        InProcessLimiter(limits.per_key), InProcessLimiter(limits.per_ip), InProcessLimiter(limits.per_ip_anonymous)
    )


def redis_limiters(limits: RateLimits, redis_url: str, prefix: str = DEFAULT_REDIS_PREFIX) -> Limiters:
    from redis.asyncio import Redis

    from spotlab.api.ratelimit.redisbacked import RedisLimiter

    client = Redis.from_url(
        redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    return Limiters(
        RedisLimiter(client, limits.per_key, f"{prefix}:key"),
        RedisLimiter(client, limits.per_ip, f"{prefix}:ip"),
        RedisLimiter(client, limits.per_ip_anonymous, f"{prefix}:anon"),
        redis=client,
    )


def build_limiters(limits: RateLimits, redis_url: str | None = None, prefix: str = DEFAULT_REDIS_PREFIX) -> Limiters:
    """In-process limiters, or Redis-backed ones when ``redis_url`` is given."""
    if redis_url:
        return redis_limiters(limits, redis_url, prefix)
    return in_process_limiters(limits)

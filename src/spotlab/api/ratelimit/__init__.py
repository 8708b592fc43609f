"""Rate limits: token buckets per API key and per IP, with endpoint weights, in process or in Redis.

- ``bucket``: the pure token-bucket arithmetic (integers, time as an argument).
- ``config``: ``RateLimits``, ``Quota``, ``EndpointWeight`` (frozen, documented defaults).
- ``inprocess`` / ``redisbacked``: the two limiters behind ``limiters.Limiter``.
- ``middleware``: ``RateLimitMiddleware``, pure ASGI.

Wiring (the app factory)::

    limits = RateLimits.from_settings(settings)
    limiters = build_limiters(limits, settings.redis_url)
    app.add_middleware(RateLimitMiddleware, limits=limits, limiters=limiters, on_refused=metrics.rate_limited.inc)
    # at shutdown: await limiters.aclose()
"""

from spotlab.api.ratelimit.bucket import BucketPolicy, BucketState, Decision, decide, take
from spotlab.api.ratelimit.config import DEFAULT_WEIGHTS, EndpointWeight, QueryWeight, Quota, RateLimits
from spotlab.api.ratelimit.inprocess import InProcessLimiter
from spotlab.api.ratelimit.limiters import Limiter, Limiters, build_limiters
from spotlab.api.ratelimit.middleware import RateLimitMiddleware, WeightTable

__all__ = [
    "DEFAULT_WEIGHTS",
    "BucketPolicy",
    "BucketState",
    "Decision",
    "EndpointWeight",
    "InProcessLimiter",
    "Limiter",
    "Limiters",
    "QueryWeight",
    "Quota",
    "RateLimitMiddleware",
    "RateLimits",
    "WeightTable",
    "build_limiters",
    "decide",
    "take",
]

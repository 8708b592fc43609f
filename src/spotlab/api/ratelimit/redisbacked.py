"""Token buckets in Redis, shared by every API process that uses the same Redis.

Each ``take`` is one atomic Lua script (``EVALSHA``): read the bucket, refill it by
the time since, take the cost if it fits, write it back. The time is Redis's own
``TIME`` (microseconds), so the processes' clocks do not matter. A bucket is a hash
``{l: level, t: time}`` under ``<prefix>:<key>`` that expires when it would be full
again, so idle clients cost no memory. The maths is ``bucket.py``'s, in microseconds.

If Redis cannot be reached (or answers with an error), the limiter falls back to an
``InProcessLimiter`` with the same quota: it logs one warning per outage, tries Redis
again after ``retry_seconds``, and logs when Redis is back. During an outage each
process limits on its own (the limits become per process); a request is never
failed because Redis is down.

Invariants
- All numbers stay below 2**53, so Lua's doubles hold them exactly (checked at
  construction); numbers are written to Redis with ``%.0f``, never in exponent form.
- ``now`` (nanoseconds), when given, replaces Redis's clock (for tests); it is
  truncated to microseconds.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from spotlab.api.ratelimit.bucket import BucketPolicy, Decision, check_cost, decide
from spotlab.api.ratelimit.config import Quota
from spotlab.api.ratelimit.inprocess import InProcessLimiter
from spotlab.errors import ErrorCode, SpotlabError

log = logging.getLogger(__name__)

MICROSECONDS = 1_000_000
_LUA_EXACT = 2**53

# KEYS[1] bucket; ARGV: capacity, refill_tokens, refill_period (us), cost, now (us) or ''.
# Returns the level (units) after the refill and before the take; Python decides from it
# exactly as the script did.
TAKE_SCRIPT = """
local function floordiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local capacity = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local now
if ARGV[5] ~= '' then
  now = tonumber(ARGV[5])
else
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
end
local full = capacity * period
local level = full
local stored = redis.call('HMGET', KEYS[1], 'l', 't')
if stored[1] then
  level = tonumber(stored[1])
  local elapsed = now - tonumber(stored[2])
  if elapsed > 0 then
    if elapsed * refill >= full - level then level = full else level = level + elapsed * refill end
  end
end
local needed = cost * period
if cost <= capacity and level >= needed then
  local after = level - needed
  if after < full then
    local to_full_us = -floordiv(-(full - after), refill)
    local to_full_ms = -floordiv(-to_full_us, 1000)
    redis.call('HSET', KEYS[1], 'l', string.format('%.0f', after), 't', string.format('%.0f', now))
    redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.max(to_full_ms, 1)))
  end
end
return level
"""


def microsecond_policy(quota: Quota) -> BucketPolicy:
    """The bucket of ``quota`` measured in microseconds; refused if Lua could not hold it exactly."""
    policy = BucketPolicy(quota.capacity, quota.limit, quota.window_seconds * MICROSECONDS, MICROSECONDS)
    if policy.full_level >= _LUA_EXACT:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"quota {quota.policy} with burst {quota.capacity} is too large for the Redis limiter "
            f"(capacity x window must stay below {_LUA_EXACT // MICROSECONDS} token-seconds)",
        )
    return policy


class RedisLimiter:
    """One quota's buckets in Redis under ``prefix``; falls back to process memory if Redis is down."""

    def __init__(self, client: Redis, quota: Quota, prefix: str, retry_seconds: float = 5.0) -> None:
        self.quota = quota
        self.policy = microsecond_policy(quota)
        self.prefix = prefix
        self.fallback = InProcessLimiter(quota)
        self._client = client
        self._script = client.register_script(TAKE_SCRIPT)
        self._retry_ns = int(retry_seconds * 1_000_000_000)
        self._down_until: int | None = None  # monotonic ns; None while Redis answers

    @property
    def degraded(self) -> bool:
        """Whether the last attempt to reach Redis failed (limits are per process meanwhile)."""
        return self._down_until is not None

    async def take(self, key: str, cost: int, now: int | None = None) -> Decision:
        check_cost(cost)
        if self._down_until is not None and time.monotonic_ns() < self._down_until:
            return await self.fallback.take(key, cost, now)
        policy = self.policy
        now_us = "" if now is None else now // 1000
        arguments = (policy.capacity, policy.refill_tokens, policy.refill_period, cost, now_us)
        try:
            level = int(await self._script(keys=[f"{self.prefix}:{key}"], args=arguments))
        except (RedisError, OSError) as error:
            self._went_down(error)
            return await self.fallback.take(key, cost, now)
        if self._down_until is not None:
            log.info("rate limiter: Redis answers again; %s limits are shared again", self.prefix)
            self._down_until = None
        return decide(policy, cost, level)[1]

    def _went_down(self, error: Exception) -> None:
        if self._down_until is None:
            log.warning(
                "rate limiter: Redis unreachable (%s: %s); limiting %s in this process until it is back",
                type(error).__name__,
                error,
                self.prefix,
            )
        self._down_until = time.monotonic_ns() + self._retry_ns

    async def aclose(self) -> None:
        """The client is shared and closed by its owner (``Limiters.aclose``)."""

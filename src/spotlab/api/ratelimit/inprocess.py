"""Token buckets in this process's memory: the default limiter, and Redis's fallback.

Invariants
- Safe from threads and from asyncio: each ``take`` runs its arithmetic under one
  lock and never awaits while holding it.
- Time is ``time.monotonic_ns()`` unless ``now`` (nanoseconds) is given.
- Bounded memory: only buckets that are not full are stored (a full one is the same
  as none). Every ``take`` also forgets up to two of the least recently used buckets
  once they have refilled, and beyond ``max_keys`` buckets the least recently used
  is dropped even if not full (its client gets a fresh bucket: the price of bounded
  memory under a flood of distinct keys; the per-IP ceiling still applies).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from spotlab.api.ratelimit.bucket import BucketPolicy, BucketState, Decision, check_cost, is_full, take
from spotlab.api.ratelimit.config import Quota

NANOSECONDS = 1_000_000_000
_SWEEP_PER_TAKE = 2


def nanosecond_policy(quota: Quota) -> BucketPolicy:
    """The bucket of ``quota`` measured in nanoseconds."""
    return BucketPolicy(quota.capacity, quota.limit, quota.window_seconds * NANOSECONDS, NANOSECONDS)


class InProcessLimiter:
    """One quota's buckets, by key, in a dictionary of this process."""

    def __init__(self, quota: Quota, max_keys: int = 100_000) -> None:
        self.quota = quota
        self.policy = nanosecond_policy(quota)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, BucketState] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    async def take(self, key: str, cost: int, now: int | None = None) -> Decision:
        return self.take_now(key, cost, now)

    def take_now(self, key: str, cost: int, now: int | None = None) -> Decision:
        """``take`` without the coroutine (for synchronous callers)."""
        check_cost(cost)
        if now is None:
            now = time.monotonic_ns()
        with self._lock:
            state, decision = take(self.policy, self._buckets.pop(key, None), cost, now)
            if state is not None:
                self._buckets[key] = state
            self._forget_full(now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return decision

    def _forget_full(self, now: int) -> None:
        for _ in range(_SWEEP_PER_TAKE):
            if not self._buckets:
                return
            oldest_key = next(iter(self._buckets))
            if not is_full(self.policy, self._buckets[oldest_key], now):
                return
            del self._buckets[oldest_key]

    async def aclose(self) -> None:
        """Nothing to release; here so every limiter closes the same way."""

"""Each signed request is accepted once: a cache of signatures seen within the replay window.

Invariants
- ``first_use(signature, ttl_ms)`` is true exactly once per signature while it is
  remembered; a signature is remembered at least as long as its timestamp can be
  accepted, so a replay inside the window is refused and one outside it fails the
  timestamp check.
- In-process by default (bounded: expired entries are pruned as new ones come);
  with Redis (``SET NX PX``) when several API processes share keys.
"""

from __future__ import annotations

import heapq
import time


class InProcessReplayCache:
    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    async def first_use(self, signature: str, ttl_ms: int) -> bool:
        now = time.monotonic()
        heap = self._heap
        while heap and heap[0][0] <= now:
            expires, old = heapq.heappop(heap)
            if self._expiry.get(old) == expires:
                del self._expiry[old]
        if signature in self._expiry:
            return False
        expires = now + ttl_ms / 1000
        self._expiry[signature] = expires
        heapq.heappush(heap, (expires, signature))
        return True

    def __len__(self) -> int:
        return len(self._expiry)


class RedisReplayCache:
    def __init__(self, client, prefix: str = "spotlab:replay:") -> None:
        self._client = client  # redis.asyncio.Redis
        self._prefix = prefix

    async def first_use(self, signature: str, ttl_ms: int) -> bool:
        return bool(await self._client.set(self._prefix + signature, b"1", nx=True, px=ttl_ms))

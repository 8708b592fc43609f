"""Timers a strategy sets against the CLOCK (not the bars): ``every(interval, name)`` and ``at(time, name)``.

Invariants
- Timers fire in order of due time; at one due time, in the order they were set (a sequence
  number breaks ties), so runs are deterministic.
- A repeating timer's next due time is its previous due time plus its interval (no drift);
  ``cancel(name)`` stops every timer of that name.
- Times are UTC nanoseconds; a timer is never due before it was set.
"""

from __future__ import annotations

import heapq
from datetime import timedelta

from spotlab.errors import ErrorCode, SpotlabError


def to_ns(interval: timedelta) -> int:
    if not isinstance(interval, timedelta) or interval <= timedelta(0):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"a timer interval must be a positive timedelta, got {interval!r}"
        )
    return interval // timedelta(microseconds=1) * 1000


class Timers:
    """A queue of due times: ``(due_ns, seq, name, every_ns)``."""

    __slots__ = ("_heap", "_seq", "_canceled")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str, int]] = []
        self._seq = 0
        self._canceled: dict[str, int] = {}  # name -> timers of that name set before this seq are dead

    def add(self, due_ns: int, name: str, every_ns: int = 0) -> None:
        if not isinstance(name, str) or not name:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a timer needs a non-empty name, got {name!r}")
        self._seq += 1
        heapq.heappush(self._heap, (due_ns, self._seq, name, every_ns))

    def cancel(self, name: str) -> None:
        self._canceled[name] = self._seq + 1

    def next_due(self) -> int | None:
        self._drop_canceled()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now_ns: int) -> tuple[int, str] | None:
        """The earliest timer due at or before ``now_ns`` as ``(due_ns, name)``; a repeating one is re-armed."""
        self._drop_canceled()
        if not self._heap or self._heap[0][0] > now_ns:
            return None
        due, _, name, every = heapq.heappop(self._heap)
        if every:
            self.add(due + every, name, every)
        return due, name

    def _drop_canceled(self) -> None:
        while self._heap and self._heap[0][1] < self._canceled.get(self._heap[0][2], 0):
            heapq.heappop(self._heap)

"""Where time comes from: the wall clock when serving, a settable clock in tests and backtests.

Invariants
- Every timestamp is UTC. Inside spotlab a time is an integer of nanoseconds since
  the Unix epoch; ``datetime`` (timezone-aware, UTC) only at the edges.
- The core never reads a clock: the exchange service stamps each command with its
  clock's time and the engine takes that time as an argument.
- ``SimulatedClock`` never moves on its own and never goes backwards.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Protocol

from spotlab.errors import ErrorCode, SpotlabError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock(Protocol):
    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch, UTC."""

    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""


@lru_cache(maxsize=1024)  # the events of one command, an order and its fills share their times
def ns_to_datetime(ns: int) -> datetime:
    """An aware UTC datetime for nanoseconds since the epoch (microsecond resolution)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def datetime_to_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch for an aware datetime; a naive one is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{moment!r} has no timezone; spotlab keeps time in UTC: pass datetime(..., tzinfo=UTC)",
        )
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


class WallClock:
    """The system clock, UTC."""

    now_ns = staticmethod(time.time_ns)  # the builtin itself: read on every command

    def now(self) -> datetime:
        return ns_to_datetime(self.now_ns())

    def __repr__(self) -> str:
        return "WallClock()"


class SimulatedClock:
    """A clock that moves only when told to: ``set`` and ``advance``."""

    def __init__(self, start: datetime | None = None) -> None:
        self._ns = datetime_to_ns(start) if start is not None else 0

    def now_ns(self) -> int:
        return self._ns

    def now(self) -> datetime:
        return ns_to_datetime(self._ns)

    def set(self, moment: datetime) -> None:
        """Move to ``moment``; moving backwards is refused."""
        self._move_to(datetime_to_ns(moment))

    def advance(self, delta: timedelta | None = None, **units: float) -> None:
        """Move forward by ``delta`` or by keyword units (``advance(seconds=5)``, ``advance(days=1)``)."""
        step = delta if delta is not None else timedelta(**units)
        if step < timedelta(0):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a clock cannot go backwards (advance by {step})")
        self._move_to(self._ns + (step // timedelta(microseconds=1)) * 1000)

    def _move_to(self, ns: int) -> None:
        if ns < self._ns:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"a clock cannot go backwards: it is {ns_to_datetime(self._ns)}, asked for {ns_to_datetime(ns)}",
            )
        self._ns = ns

    def __repr__(self) -> str:
        return f"SimulatedClock({self.now().isoformat()})"

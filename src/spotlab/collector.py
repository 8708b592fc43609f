"""Pausing CPython's cyclic garbage collector around bulk work that makes no garbage cycles.

Reference counting frees almost everything spotlab allocates. The cyclic collector still runs
every few hundred allocations, and every so often a full collection walks every tracked object
in the process: the caller's own heap (pandas, a notebook's data, ...) as well as ours. Bulk
work that builds many long-lived objects (restoring a snapshot, a tax report, a backtest's
records) pays for those walks again and again, for nothing.

``collector_paused()`` turns the automatic collector off for a block and restores it as it
was. ``every``: for long loops that may make some cyclic garbage (a strategy's own code runs
inside a backtest), ``tick(n)`` counts work done, and every ``every`` units the young
generations are collected by hand (``gc.collect(1)``): it walks only what was allocated since
the last such collection, so garbage cycles cannot pile up for a whole run, and the process's
old objects are never walked.

Invariants
- The collector's state is restored on the way out (on error too); a block inside one that
  already paused it, or where the caller turned it off, leaves it off.
- Nothing is freed that a collection would keep: only when collections run changes, and a
  collection runs at the end of the block as usual whenever the allocation counts call for one.
"""

from __future__ import annotations

import gc
from types import TracebackType


class collector_paused:
    """``with collector_paused() as collector: ... collector.tick(n)``: see the module docstring."""

    __slots__ = ("every", "_count", "_was_enabled")

    def __init__(self, every: int | None = None) -> None:
        if every is not None and every < 1:
            raise ValueError(f"every must be a positive count or None, got {every!r}")
        self.every = every
        self._count = 0
        self._was_enabled = False

    def __enter__(self) -> collector_paused:
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._count = 0
        return self

    def tick(self, done: int = 1) -> None:
        """Count ``done`` units of work; collect the young generations every ``every`` units."""
        if self.every is None:
            return
        self._count += done
        if self._count >= self.every:
            self._count = 0
            gc.collect(1)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None):
        if self._was_enabled:
            gc.enable()
        return None

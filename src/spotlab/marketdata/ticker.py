"""Rolling 24 h statistics of a market's trades, kept in minute buckets. Pure: no I/O, no clock.

Invariants
- Integers only: prices in ticks, base volume in lots, quote volume in quote minor units.
  The one derived figure, ``change_percent`` = (last - open) / open x 100, is a ``Decimal``
  rounded half-even to two decimals.
- The window is made of whole UTC minutes: at ``now`` it holds the trades of the current
  minute and of the 1,439 minutes before it (so it spans between 23 h 59 min and 24 h).
  A trade in a later minute than ``now`` is not counted.
- ``add`` costs O(1) (amortised): it updates the newest bucket or opens a new one, and drops
  the buckets no later window can reach. A market's trades must come in time order (the
  exchange's clock never goes back); an older trade raises ``ValueError``.
- ``stats(now_ns)`` only reads: it visits at most 1,440 buckets.

``open`` is the first trade's price in the window, ``last`` the last one's; with no trade in
the window there are no statistics (``None``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

MINUTE_NS = 60 * 1_000_000_000
WINDOW_MINUTES = 24 * 60


class MinuteBucket:
    """The trades of one minute: open, high, low, close (ticks), volumes and count."""

    __slots__ = ("minute", "open", "high", "low", "close", "base_volume", "quote_volume", "count")

    def __init__(self, minute: int, price: int) -> None:
        self.minute = minute
        self.open = self.high = self.low = self.close = price
        self.base_volume = 0
        self.quote_volume = 0
        self.count = 0

    def add(self, price: int, lots: int, notional: int) -> None:
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.base_volume += lots
        self.quote_volume += notional
        self.count += 1


@dataclass(frozen=True, slots=True)
class WindowStats:
    """A window's statistics in integers; ``first_minute``/``last_minute`` are the buckets that hold trades."""

    open: int
    high: int
    low: int
    last: int
    base_volume: int
    quote_volume: int
    trade_count: int
    first_minute: int
    last_minute: int

    @property
    def change(self) -> int:
        """``last - open`` in ticks."""
        return self.last - self.open

    @property
    def change_percent(self) -> Decimal:
        return change_percent(self.open, self.last)


def change_percent(open_ticks: int, last_ticks: int) -> Decimal:
    """(last - open) / open x 100, half-even to two decimals (prices are positive, so ``open`` is never 0)."""
    return (Decimal((last_ticks - open_ticks) * 100) / Decimal(open_ticks)).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def minute_of(ts_ns: int) -> int:
    """Minutes since the epoch of a UTC nanosecond time."""
    return ts_ns // MINUTE_NS


class RollingWindow:
    """One market's last ``minutes`` minute buckets, oldest first."""

    __slots__ = ("minutes", "_buckets")

    def __init__(self, minutes: int = WINDOW_MINUTES) -> None:
        if minutes < 1:
            raise ValueError(f"a window needs at least one minute, got {minutes}")
        self.minutes = minutes
        self._buckets: deque[MinuteBucket] = deque()

    def add(self, ts_ns: int, price: int, lots: int, notional: int) -> None:
        """Count one trade at ``ts_ns`` of ``lots`` at ``price`` ticks for ``notional`` quote units."""
        minute = minute_of(ts_ns)
        buckets = self._buckets
        if buckets and buckets[-1].minute == minute:
            bucket = buckets[-1]
        elif not buckets or buckets[-1].minute < minute:
            bucket = MinuteBucket(minute, price)
            buckets.append(bucket)
            oldest = minute - self.minutes
            while buckets[0].minute <= oldest:
                buckets.popleft()
        else:
            raise ValueError(
                f"trades must come in time order: a trade in minute {minute} after one in minute {buckets[-1].minute}"
            )
        bucket.add(price, lots, notional)

    def stats(self, now_ns: int) -> WindowStats | None:
        """The statistics of the window ending in the minute of ``now_ns``; ``None`` without trades in it."""
        now = minute_of(now_ns)
        start = now - self.minutes  # exclusive
        inside = [b for b in self._buckets if start < b.minute <= now]
        if not inside:
            return None
        return WindowStats(
            open=inside[0].open,
            high=max(b.high for b in inside),
            low=min(b.low for b in inside),
            last=inside[-1].close,
            base_volume=sum(b.base_volume for b in inside),
            quote_volume=sum(b.quote_volume for b in inside),
            trade_count=sum(b.count for b in inside),
            first_minute=inside[0].minute,
            last_minute=inside[-1].minute,
        )

    def __len__(self) -> int:
        return len(self._buckets)


class MarketTickers:
    """A rolling window per market, created on a market's first trade."""

    def __init__(self, minutes: int = WINDOW_MINUTES) -> None:
        self.minutes = minutes
        self._windows: dict[str, RollingWindow] = {}

    def add(self, market: str, ts_ns: int, price: int, lots: int, notional: int) -> None:
        window = self._windows.get(market)
        if window is None:
            window = self._windows[market] = RollingWindow(self.minutes)
        window.add(ts_ns, price, lots, notional)

    def stats(self, market: str, now_ns: int) -> WindowStats | None:
        window = self._windows.get(market)
        return window.stats(now_ns) if window is not None else None

    def clear(self) -> None:
        self._windows.clear()

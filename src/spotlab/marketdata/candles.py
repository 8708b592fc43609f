"""Candles (OHLCV) from trades: UTC-aligned periods, an incremental builder and a vectorised resampler.

Pure: no I/O, no clock (time is an argument), integers only: prices in ticks, base volume in
lots, quote volume in quote minor units (the sum of the trades' notionals as the exchange's
``OrderFilled`` events carry them), times in UTC nanoseconds since the epoch.

Invariants
- Periods are aligned to UTC: a period of ``n`` nanoseconds starts at a multiple of ``n``
  since the epoch, except ``1w``, which starts on Monday 00:00 UTC as Binance's weekly
  klines do (the epoch was a Thursday, so weeks are offset by four days). ``1d`` starts
  at 00:00 UTC. ``period_start(ts, i) <= ts < period_start(ts, i) + INTERVALS[i]``.
- A period without trades has no candle: nothing is zero-filled (Binance fills them;
  freqtrade's data and this module do not). A candle's ``open`` is its first trade's
  price, ``close`` its last one's, in arrival order.
- ``CandleBook`` (incremental) and ``candles_from_trades`` (vectorised) give the same
  candles for the same trades, field for field; the tests check it on random trades.
- Trades come in time order per market (the exchange's clock never goes back): an older
  trade raises ``ValueError`` and changes nothing (like ``spotlab.marketdata.ticker``).
  Trades at the same time are fine.
- A candle closes when a trade of a later period arrives, or when ``close_until(now)``
  is told that its period has ended. A trade that still arrives in a period the clock
  already closed amends that candle (it stays ``closed``, and is reported as updated):
  nothing is lost, the correction is visible.
- Candles handed out are copies: the builder's own state never changes under a caller.
- Sums are exact integers in the builder; the vectorised resampler works in ``int64``
  (a candle's volumes must stay below 2**63, as in the history's SQL columns).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.intervals import DAY_MS, HOUR_MS, INTERVAL_MS, MINUTE_MS, OFFSET_MS

MINUTE_NS = MINUTE_MS * 1_000_000
HOUR_NS = HOUR_MS * 1_000_000
DAY_NS = DAY_MS * 1_000_000

#: The intervals the exchange keeps candles of, shortest first: name -> length in nanoseconds
#: (a subset of the data catalogue's ``spotlab.marketdata.intervals``, the one table of lengths).
INTERVALS: dict[str, int] = {
    name: INTERVAL_MS[name] * 1_000_000 for name in ("1m", "3m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")
}

#: Where each interval's periods start relative to the epoch: weeks on Mondays (1970-01-05), the rest at 0.
OFFSETS: dict[str, int] = {name: OFFSET_MS[name] * 1_000_000 for name in INTERVALS}


def interval_ns(interval: str) -> int:
    """The length of ``interval`` in nanoseconds; ``INVALID_ARGUMENT`` naming the valid ones if unknown."""
    length = INTERVALS.get(interval) if isinstance(interval, str) else None
    if length is None:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"unknown candle interval {interval!r}; use one of {', '.join(INTERVALS)}"
        )
    return length


def period_start(ts_ns: int, interval: str) -> int:
    """The start (UTC ns) of the period of ``interval`` that holds ``ts_ns``."""
    length = interval_ns(interval)
    offset = OFFSETS[interval]
    return ts_ns - (ts_ns - offset) % length


@dataclass(slots=True)
class Candle:
    """One period's trades: open/high/low/close in ticks, volumes in lots and quote minor units."""

    market: str  # engine symbol, "BTC/USDT"
    interval: str
    open_time: int  # UTC ns, the start of the period
    open: int
    high: int
    low: int
    close: int
    base_volume: int
    quote_volume: int
    trade_count: int
    closed: bool = False

    @property
    def close_time(self) -> int:
        """The end of the period (exclusive), UTC ns."""
        return self.open_time + INTERVALS[self.interval]

    def copy(self) -> Candle:
        return Candle(
            self.market, self.interval, self.open_time, self.open, self.high, self.low, self.close,
            self.base_volume, self.quote_volume, self.trade_count, self.closed,
        )  # fmt: skip


class CandleBook:
    """The current candle per (market, interval), updated one trade at a time.

    ``intervals`` are the intervals kept (default: all of ``INTERVALS``). The current candle of a
    key is the open one, or the last closed one until a trade of a later period arrives.
    """

    __slots__ = ("intervals", "_lengths", "_nested", "_slots", "_last_ts", "_changed", "_closed")

    def __init__(self, intervals: Iterable[str] = INTERVALS) -> None:
        self.intervals = tuple(intervals)
        self._lengths = [(name, interval_ns(name), OFFSETS[name]) for name in self.intervals]
        if len(set(self.intervals)) != len(self.intervals):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"intervals repeat: {', '.join(self.intervals)}")
        shortest = min(self._lengths, key=lambda spec: spec[1], default=None)
        # every period of the first interval inside one period of each other: a trade in the current
        # period of the first is in the current period of all (the fast path of ``_add``)
        self._nested = (
            bool(self._lengths)
            and self._lengths[0] == shortest
            and all(
                length % shortest[1] == 0 and (offset - shortest[2]) % shortest[1] == 0
                for _, length, offset in self._lengths
            )
        )
        self._slots: dict[str, list[Candle | None]] = {}  # market -> current candle per interval, in order
        self._last_ts: dict[str, int] = {}  # market -> time of its newest trade
        self._changed: dict[str, None] = {}  # markets with trades since the last report (all their candles)
        self._closed: list[Candle] = []

    # -- feeding ----------------------------------------------------------------------------

    def add(self, market: str, ts_ns: int, price: int, lots: int, notional: int) -> tuple[list[Candle], list[Candle]]:
        """Count one trade; ``(updated, closed)``: copies of the candles it changed, and of those it closed first.

        ``updated`` holds the trade's candle for every interval (``closed`` ones only when the trade
        amends a period the clock already closed); ``closed`` the candles a later period closed.
        """
        self._add(market, ts_ns, price, lots, notional)
        return self._take()

    def add_many(self, trades: Iterable[tuple[str, int, int, int, int]]) -> tuple[list[Candle], list[Candle]]:
        """Count ``(market, ts_ns, price, lots, notional)`` trades in order; ``(updated, closed)`` for all of them.

        ``updated`` holds the final state of each candle the trades changed that is still current
        (one per key), ``closed`` every candle closed meanwhile, oldest first. If a trade is out of
        order, the trades before it stay counted and ``ValueError`` is raised.
        """
        add = self._add
        try:
            for market, ts_ns, price, lots, notional in trades:
                add(market, ts_ns, price, lots, notional)
        except ValueError:
            self._changed.clear()
            self._closed = []
            raise
        return self._take()

    def close_until(self, now_ns: int) -> list[Candle]:
        """Close every open candle whose period ended at or before ``now_ns``; copies of them, oldest first."""
        closed = []
        for candle in self._all():
            if not candle.closed and candle.open_time + INTERVALS[candle.interval] <= now_ns:
                candle.closed = True
                closed.append(candle.copy())
        closed.sort(key=lambda c: (c.open_time, c.market, INTERVALS[c.interval]))
        return closed

    # -- state --------------------------------------------------------------------------------

    def current(self, market: str, interval: str) -> Candle | None:
        """A copy of the current candle of ``(market, interval)`` (open, or the last closed one), if any."""
        slots = self._slots.get(market)
        if slots is None or interval not in self.intervals:
            return None
        candle = slots[self.intervals.index(interval)]
        return None if candle is None else candle.copy()

    def candles(self) -> list[Candle]:
        """Copies of every current candle."""
        return [candle.copy() for candle in self._all()]

    def last_trade_time(self, market: str) -> int | None:
        return self._last_ts.get(market)

    def seed(self, candles: Iterable[Candle], last_trade_times: dict[str, int] | None = None) -> None:
        """Continue from stored candles (the newest per key) and each market's newest trade time.

        Without ``last_trade_times`` a market's is taken as the start of its newest candle.
        """
        for candle in candles:
            if candle.interval not in self.intervals:
                continue
            slots = self._market_slots(candle.market)
            index = self.intervals.index(candle.interval)
            known = slots[index]
            if known is None or candle.open_time >= known.open_time:
                slots[index] = candle.copy()
            self._last_ts[candle.market] = max(self._last_ts.get(candle.market, candle.open_time), candle.open_time)
        for market, ts in (last_trade_times or {}).items():
            self._last_ts[market] = ts

    def copy(self) -> CandleBook:
        """An independent book with the same state."""
        book = CandleBook(self.intervals)
        book._slots = {m: [None if c is None else c.copy() for c in slots] for m, slots in self._slots.items()}
        book._last_ts = dict(self._last_ts)
        return book

    # -- the work -----------------------------------------------------------------------------

    def _all(self) -> Iterator[Candle]:
        for slots in self._slots.values():
            yield from (candle for candle in slots if candle is not None)

    def _market_slots(self, market: str) -> list[Candle | None]:
        slots = self._slots.get(market)
        if slots is None:
            slots = self._slots[market] = [None] * len(self.intervals)
        return slots

    def _add(self, market: str, ts_ns: int, price: int, lots: int, notional: int) -> None:
        last = self._last_ts.get(market)
        if last is not None and ts_ns < last:
            raise ValueError(f"{market}: trades must come in time order: a trade at {ts_ns} ns after one at {last} ns")
        self._last_ts[market] = ts_ns
        self._changed[market] = None
        slots = self._slots.get(market) or self._market_slots(market)
        first = slots[0] if slots else None
        if (
            self._nested
            and first is not None
            and first.open_time <= ts_ns < first.open_time + self._lengths[0][1]
            and None not in slots
        ):  # the same shortest period: the same period of every interval
            # the update below is written out twice on purpose: a method call per candle costs ~20 % here
            for candle in slots:
                if price > candle.high:
                    candle.high = price
                elif price < candle.low:
                    candle.low = price
                candle.close = price
                candle.base_volume += lots
                candle.quote_volume += notional
                candle.trade_count += 1
            return
        for index, (name, length, offset) in enumerate(self._lengths):
            start = ts_ns - (ts_ns - offset) % length
            candle = slots[index]
            if candle is not None and candle.open_time == start:
                if price > candle.high:
                    candle.high = price
                elif price < candle.low:
                    candle.low = price
                candle.close = price
                candle.base_volume += lots
                candle.quote_volume += notional
                candle.trade_count += 1
            else:  # the first trade of a later period (the time check above rules out an earlier one)
                if candle is not None and not candle.closed:
                    candle.closed = True
                    self._closed.append(candle.copy())
                slots[index] = Candle(market, name, start, price, price, price, price, lots, notional, 1)

    def _take(self) -> tuple[list[Candle], list[Candle]]:
        updated = [candle.copy() for market in self._changed for candle in self._slots[market] if candle is not None]
        closed, self._closed = self._closed, []
        self._changed.clear()
        return updated, closed


class CandleColumns(NamedTuple):
    """Candles of one market and interval as ``int64`` columns (``closed`` is ``bool``), oldest first."""

    open_time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    base_volume: np.ndarray
    quote_volume: np.ndarray
    trade_count: np.ndarray
    closed: np.ndarray

    def __len__(self) -> int:  # the number of candles, not of columns
        return len(self.open_time)

    def to_candles(self, market: str, interval: str) -> list[Candle]:
        rows = zip(*(column.tolist() for column in self), strict=True)
        return [Candle(market, interval, *row) for row in rows]


def candles_from_trades(
    ts_ns: np.ndarray,
    price: np.ndarray,
    quantity: np.ndarray,
    notional: np.ndarray,
    interval: str,
    now_ns: int | None = None,
) -> CandleColumns:
    """The candles of one market's trades (integer arrays, oldest first) at ``interval``.

    Every candle but the last is closed; the last is closed only if its period ended by ``now_ns``
    (``None``: it is the open one). Times going back raise ``ValueError``.
    """
    length, offset = interval_ns(interval), OFFSETS[interval]
    ts = np.asarray(ts_ns, dtype=np.int64)
    columns = [np.asarray(a, dtype=np.int64) for a in (price, quantity, notional)]
    if any(len(column) != len(ts) for column in columns):
        raise ValueError("times, prices, quantities and notionals must have the same length")
    if len(ts) == 0:
        empty = np.empty(0, dtype=np.int64)
        return CandleColumns(*([empty] * 8), np.empty(0, dtype=bool))
    if len(ts) > 1 and bool((ts[1:] < ts[:-1]).any()):
        at = int(np.flatnonzero(ts[1:] < ts[:-1])[0]) + 1
        raise ValueError(f"trades must come in time order: trade {at} at {ts[at]} ns follows one at {ts[at - 1]} ns")
    starts = ts - (ts - offset) % length
    return _group(starts, *columns, np.ones(len(ts), dtype=np.int64), length, now_ns, first=True)


def merge_candles(candles: CandleColumns, source: str, interval: str, now_ns: int | None = None) -> CandleColumns:
    """Candles of ``source`` (one market, oldest first) combined into the longer ``interval`` (e.g. 1m -> 5m).

    Equal to building ``interval`` from the trades directly. ``interval`` must be a whole number of
    ``source`` periods (3m does not go into 5m): ``INVALID_ARGUMENT`` otherwise.
    """
    length, offset = interval_ns(interval), OFFSETS[interval]
    shorter = interval_ns(source)
    if length % shorter or (offset - OFFSETS[source]) % shorter:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"{source} candles do not combine into {interval} ones: use a divisor of it"
        )
    open_time = np.asarray(candles.open_time, dtype=np.int64)
    if len(open_time) > 1 and bool((open_time[1:] <= open_time[:-1]).any()):
        raise ValueError("candles must be in strictly increasing time order")
    if len(open_time) == 0:
        return candles
    starts = open_time - (open_time - offset) % length
    return _group(
        starts, candles.open, candles.base_volume, candles.quote_volume, candles.trade_count, length, now_ns,
        first=False, high=candles.high, low=candles.low, close=candles.close,
    )  # fmt: skip


def _group(
    starts: np.ndarray,
    opening: np.ndarray,
    base: np.ndarray,
    quote: np.ndarray,
    count: np.ndarray,
    length: int,
    now_ns: int | None,
    *,
    first: bool,
    high: np.ndarray | None = None,
    low: np.ndarray | None = None,
    close: np.ndarray | None = None,
) -> CandleColumns:
    """Reduce rows sorted by period start into one row per period (``first``: the rows are trades)."""
    n = len(starts)
    heads = np.empty(n, dtype=bool)
    heads[0] = True
    np.not_equal(starts[1:], starts[:-1], out=heads[1:])
    index = np.flatnonzero(heads)
    tails = np.empty(len(index), dtype=np.intp)
    tails[:-1] = index[1:] - 1
    tails[-1] = n - 1
    opening = np.asarray(opening, dtype=np.int64)
    high = opening if first else np.asarray(high, dtype=np.int64)
    low = opening if first else np.asarray(low, dtype=np.int64)
    close = opening if first else np.asarray(close, dtype=np.int64)
    open_time = starts[index]
    closed = np.ones(len(index), dtype=bool)
    closed[-1] = now_ns is not None and int(open_time[-1]) + length <= now_ns
    return CandleColumns(
        open_time,
        opening[index],
        np.maximum.reduceat(high, index),
        np.minimum.reduceat(low, index),
        close[tails],
        np.add.reduceat(np.asarray(base, dtype=np.int64), index),
        np.add.reduceat(np.asarray(quote, dtype=np.int64), index),
        np.add.reduceat(np.asarray(count, dtype=np.int64), index),
        closed,
    )

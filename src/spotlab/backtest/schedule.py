"""The backtest's schedule: every market's price points and bar closes, merged into instants in time order.

Each bar is four points (open, the two extremes in the fill model's order, close) at its open plus 0, 1/4,
2/4 and 3/4 of its length (whole microseconds), then its close event at its close time. A market whose
trades are replayed walks each bar's trades at their own times instead (a bar without trades keeps the four
points). ``instants`` yields ``(at, closes, points)`` per distinct time: markets in name order within one,
a market's entries in time order (sorted, stably, when its bars overlap).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal

from spotlab.backtest.fill_model import intrabar_path
from spotlab.strategy.data import Bar


def instants(
    series: Mapping[str, list[Bar]], trades: Mapping[str, Sequence[tuple[int, Decimal]]], path: str
) -> Iterator[tuple[int, list[Bar], list[tuple[str, int, Decimal, Bar]]]]:
    """``(at, closes, points)`` per instant, in time order (markets in name order within one)."""
    streams = [market_points(market, bars, trades.get(market), path) for market, bars in series.items()]
    merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=by_time)
    at, closes, points = None, [], []
    for when, item in merged:
        if when != at:
            if at is not None:
                yield at, closes, points
            at, closes, points = when, [], []
        if type(item) is tuple:
            points.append(item)
        else:
            closes.append(item)
    if at is not None:
        yield at, closes, points


def market_points(
    market: str, bars: list[Bar], replayed: Sequence[tuple[int, Decimal]] | None, path: str
) -> Iterator[tuple[int, Bar | tuple]]:
    """One market's points (``(at, (market, k, price, bar))``) and closes (``(at, bar)``), in time order."""
    if replayed is not None:
        return iter(sorted(trade_entries(market, bars, replayed, path), key=by_time))
    entries = (
        entry
        for bar in bars
        for entry in bar_entries(market, bar, intrabar_path(bar.open, bar.high, bar.low, bar.close, path))
    )
    if in_order(bars):
        return entries  # already in time order (a bar's points precede its close)
    return iter(sorted(entries, key=by_time))  # overlapping bars: stable, so a bar's order holds


def by_time(item: tuple) -> int:
    return item[0]


def in_order(bars: Sequence[Bar]) -> bool:
    """Whether every bar closes by the next one's open (then a market's points and closes come in time order)."""
    return all(a.close_time_ns <= b.open_time_ns for a, b in zip(bars, bars[1:]))


def bar_entries(market: str, bar: Bar, prices: tuple[Decimal, ...]) -> tuple[tuple[int, Bar | tuple], ...]:
    """A bar's points at its open plus 0, 1/4, 2/4 and 3/4 of its length (whole microseconds), then its close."""
    start = bar.open_time_ns
    length = bar.close_time_ns - start
    return (
        (start, (market, 0, prices[0], bar)),
        (start + length // 4 // 1000 * 1000, (market, 1, prices[1], bar)),
        (start + length * 2 // 4 // 1000 * 1000, (market, 2, prices[2], bar)),
        (start + length * 3 // 4 // 1000 * 1000, (market, 3, prices[3], bar)),
        (bar.close_time_ns, bar),
    )


def trade_entries(market: str, bars: Sequence[Bar], trades: Sequence[tuple[int, Decimal]], path: str):
    """A market's entries when its trades are replayed: each bar's trades (``open_time <= t < close_time``) at
    their own times, the first as the bar's point 0; a bar without trades keeps the four-point path."""
    index = 0
    for bar in bars:
        while index < len(trades) and trades[index][0] < bar.open_time_ns:
            index += 1
        inside = []
        while index < len(trades) and trades[index][0] < bar.close_time_ns:
            inside.append(trades[index])
            index += 1
        if not inside:
            yield from bar_entries(market, bar, intrabar_path(bar.open, bar.high, bar.low, bar.close, path))
            continue
        for k, (time_ns, price) in enumerate(inside):
            yield (time_ns, (market, k, price, bar))
        yield (bar.close_time_ns, bar)

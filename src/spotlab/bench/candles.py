"""``spotlab bench candles``: building candles from trades, vectorised and incrementally.

Target (issue 4): candle building >= 500,000 trades/s. The vectorised resampler
(``spotlab.marketdata.candles.candles_from_trades``) runs over ``trades`` synthetic trades once per
interval (best of ``repeats``); the incremental ``CandleBook`` (what the history and the streams run
live) is fed ``incremental_trades`` of them keeping all nine intervals, in batches (``add_many``, as
the history and the streams call it) and one call per trade (``add``, which copies nine candles out).

Invariants
- The trades are seeded (same ``trades`` and ``seed``, same inputs): times rise by random gaps
  averaging one second (a million trades span about 11.6 days, so every interval, weeks included,
  has several candles), prices are a random walk of ticks, notionals are price x lots.
- Each run also checks that the two paths agree: the builder's candles of every interval over the
  incremental trades equal the resampler's over the same trades, so a fast but wrong path cannot pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from spotlab.marketdata.candles import INTERVALS, Candle, CandleBook, candles_from_trades

TARGET_TRADES_PER_SECOND = 500_000
MARKET = "BTC/USDT"
INCREMENTAL_BATCH = 1_000  # trades per ``add_many``: a busy projector batch


@dataclass(frozen=True)
class Options:
    trades: int = 1_000_000
    repeats: int = 3
    incremental_trades: int = 200_000
    seed: int = 42


def synthetic_trades(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ts_ns, price, lots, notional)`` as ``int64`` arrays, oldest first."""
    rng = np.random.default_rng(seed)
    start = 1_704_067_200 * 1_000_000_000  # 2024-01-01 00:00 UTC
    gaps = rng.exponential(1e9, count).astype(np.int64)
    gaps[rng.random(count) < 0.2] = 0  # a fifth share their time with the trade before
    ts = start + np.cumsum(gaps)
    price = 3_000_000 + np.cumsum(rng.integers(-5, 6, count))
    price = np.maximum(price, 1)
    lots = rng.integers(1, 10_000, count)
    return ts, price, lots, price * lots


def best(function: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def built(columns: tuple[np.ndarray, ...], batch: int) -> tuple[float, dict[str, list[Candle]]]:
    """Seconds to feed the trades to a ``CandleBook`` of every interval in batches of ``batch`` (``add_many``, as
    the history and the streams do; 1: ``add`` per trade, with its copies), and its candles per interval."""
    rows = list(zip([MARKET] * len(columns[0]), *(column.tolist() for column in columns), strict=True))
    book = CandleBook()
    closed: list[Candle] = []
    started = time.perf_counter()
    if batch == 1:
        add = book.add
        for row in rows:
            closed += add(*row)[1]
    else:
        for start in range(0, len(rows), batch):
            closed += book.add_many(rows[start : start + batch])[1]
    seconds = time.perf_counter() - started
    per_interval: dict[str, list[Candle]] = {name: [] for name in INTERVALS}
    for candle in closed:
        per_interval[candle.interval].append(candle)
    for name in INTERVALS:
        current = book.current(MARKET, name)
        if current is not None:
            per_interval[name].append(current)
    return seconds, per_interval


def run(options: Options) -> dict[str, Any]:
    columns = synthetic_trades(options.trades, options.seed)
    vectorised = []
    total = 0.0
    for interval in INTERVALS:
        seconds, candles = best(lambda interval=interval: candles_from_trades(*columns, interval), options.repeats)
        total += seconds
        vectorised.append(
            {
                "interval": interval,
                "candles": len(candles),
                "ms": round(seconds * 1000, 2),
                "trades_per_second": round(options.trades / seconds),
            }
        )
    count = min(options.incremental_trades, options.trades)
    subset = tuple(column[:count] for column in columns)
    expected = {name: candles_from_trades(*subset, name).to_candles(MARKET, name) for name in INTERVALS}
    incremental, equal = [], True
    for batch in (INCREMENTAL_BATCH, 1):
        seconds, by_builder = built(subset, batch)
        equal = equal and by_builder == expected
        incremental.append(
            {
                "call": "add_many" if batch > 1 else "add",
                "batch": batch,
                "trades": count,
                "intervals": len(INTERVALS),
                "ms": round(seconds * 1000, 2),
                "trades_per_second": round(count / seconds),
                "us_per_trade": round(seconds / count * 1e6, 3),
            }
        )
    return {
        "trades": options.trades,
        "repeats": options.repeats,
        "target_trades_per_second": TARGET_TRADES_PER_SECOND,
        "vectorised": vectorised,
        "vectorised_all_intervals": {
            "ms": round(total * 1000, 2),
            "trades_per_second": round(options.trades / total),  # each trade into nine candles
        },
        "incremental": incremental,
        "equal": equal,
    }

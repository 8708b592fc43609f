"""Resampling: trades to candles, and candles of a lower interval to a higher one. Exact decimals.

Invariants
- Periods are UTC-aligned (``intervals.period_start``; ``1w`` starts on Monday 00:00 UTC).
- A candle's open is the first row of its period and its close the last, in the input's order
  (the input must be sorted by time: the catalogue returns it so); high/low are the extremes,
  volumes and counts are exact decimal sums. A period without rows has no candle (gaps stay
  gaps, never zero-filled); a higher candle built from a period with missing lower candles is
  still emitted, made of the candles there are.
- From trades: volume = sum of amounts, quote_volume = sum of costs (null if a trade lacks its
  cost), trade_count = trades, taker_buy_volume (and quote) = the sums over side ``buy`` (null if
  a trade's side is unknown).
- From candles: a sum over a column with a null in the period is null (unknown, not partial).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.frames import STORED_CANDLE_SCHEMA
from spotlab.marketdata.intervals import interval_ms, is_multiple, period_starts

_EXACT_SUM = pc.ScalarAggregateOptions(skip_nulls=False, min_count=0)


def trades_to_candles(trades: pa.Table, interval: str) -> pa.Table:
    """Trades (``TRADE_SCHEMA``, sorted by time) -> candles (``STORED_CANDLE_SCHEMA``)."""
    interval_ms(interval)
    times_ms = trades.column("time").cast(pa.int64()).to_numpy() // 1000
    _require_sorted(times_ms, "trades")
    buckets = period_starts(interval, times_ms)
    is_buy = pc.equal(trades.column("side"), "buy")
    zero = pa.scalar(0, trades.schema.field("amount").type)
    work = pa.table(
        {
            "bucket": buckets,
            "price": trades.column("price"),
            "amount": trades.column("amount"),
            "cost": trades.column("cost"),
            "buy_amount": pc.if_else(is_buy, trades.column("amount"), zero),
            "buy_cost": pc.if_else(is_buy, trades.column("cost"), zero),
        }
    )
    grouped = work.group_by("bucket", use_threads=False).aggregate(
        [
            ("price", "max"),
            ("price", "min"),
            ("amount", "sum", _EXACT_SUM),
            ("cost", "sum", _EXACT_SUM),
            ("price", "count"),
            ("buy_amount", "sum", _EXACT_SUM),
            ("buy_cost", "sum", _EXACT_SUM),
        ]
    )
    grouped = grouped.sort_by("bucket")
    first, last = _bounds(buckets)
    prices = trades.column("price")
    return _candles(
        grouped.column("bucket"),
        {
            "open": prices.take(first),
            "high": grouped.column("price_max"),
            "low": grouped.column("price_min"),
            "close": prices.take(last),
            "volume": grouped.column("amount_sum"),
            "quote_volume": grouped.column("cost_sum"),
            "trade_count": grouped.column("price_count"),
            "taker_buy_volume": grouped.column("buy_amount_sum"),
            "taker_buy_quote_volume": grouped.column("buy_cost_sum"),
        },
    )


def resample_candles(candles: pa.Table, source: str, target: str) -> pa.Table:
    """Candles of interval ``source`` (sorted) -> candles of the higher interval ``target``."""
    if not is_multiple(target, source):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"cannot build {target} candles from {source} candles: each {target} period must be made of whole, "
            f"aligned {source} periods (e.g. 1m -> 5m, 1h -> 4h, 1d -> 1w)",
            source=source,
            target=target,
        )
    times = candles.column("open_time").cast(pa.int64()).to_numpy()
    _require_sorted(times, "candles")
    buckets = period_starts(target, times)
    sums = ["volume", "quote_volume", "trade_count", "taker_buy_volume", "taker_buy_quote_volume"]
    present = [name for name in sums if name in candles.column_names]
    work = pa.table({"bucket": buckets, "high": candles.column("high"), "low": candles.column("low")})
    for name in present:
        work = work.append_column(name, candles.column(name))
    grouped = work.group_by("bucket", use_threads=False).aggregate(
        [("high", "max"), ("low", "min"), *((name, "sum", _EXACT_SUM) for name in present)]
    )
    grouped = grouped.sort_by("bucket")
    first, last = _bounds(buckets)
    columns = {
        "open": candles.column("open").take(first),
        "high": grouped.column("high_max"),
        "low": grouped.column("low_min"),
        "close": candles.column("close").take(last),
    }
    columns.update({name: grouped.column(f"{name}_sum") for name in present})
    return _candles(grouped.column("bucket"), columns)


def _bounds(buckets: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Indices of the first and last row of each run of equal buckets (the input is sorted)."""
    if buckets.size == 0:
        return pa.array([], pa.int64()), pa.array([], pa.int64())
    starts = np.flatnonzero(np.diff(buckets)) + 1
    first = np.concatenate(([0], starts))
    last = np.concatenate((starts - 1, [buckets.size - 1]))
    return pa.array(first), pa.array(last)


def _candles(buckets: pa.ChunkedArray, columns: dict) -> pa.Table:
    arrays = {"open_time": buckets.cast(pa.timestamp("ms", tz="UTC"))}
    for field in STORED_CANDLE_SCHEMA:
        if field.name != "open_time":
            column = columns.get(field.name)
            arrays[field.name] = pa.nulls(len(buckets), field.type) if column is None else column.cast(field.type)
    return pa.table(arrays, schema=STORED_CANDLE_SCHEMA)


def _require_sorted(times: np.ndarray, what: str) -> None:
    if times.size > 1 and (np.diff(times) < 0).any():
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{what} must be sorted by time to be resampled")

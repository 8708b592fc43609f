"""Loading the bars a backtest plays: from a pyarrow candle table, a DataStore or a candle file.

Invariants
- Bars come out sorted by open time with no time twice, each with ``low <= open, close <= high``
  and a non-negative volume; anything else is refused (``INVALID_ARGUMENT``, naming the bar).
- Prices and volumes stay exact ``Decimal`` (the tables' ``decimal256`` values, trailing zeros
  dropped); times become UTC nanoseconds; a bar closes ``interval`` after it opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata import formats
from spotlab.marketdata.candles import interval_ns
from spotlab.marketdata.datastore import DataStore
from spotlab.marketdata.intervals import INTERVAL_MS
from spotlab.strategy.data import Bar

_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")


def bars_from_table(market: str, table: pa.Table, interval: str) -> list[Bar]:
    """Bars of ``market`` from a candle table (``CANDLE_SCHEMA`` columns; ``open_time`` a timestamp or epoch ms)."""
    missing = [name for name in _COLUMNS if name not in table.column_names]
    if missing:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"the candle table lacks column(s) {', '.join(missing)}")
    length = _interval_ns(interval)
    times = table.column("open_time")
    if pa.types.is_timestamp(times.type):
        times = times.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
        opens_ns = times.to_pylist()
    else:
        opens_ns = [ms * 1_000_000 for ms in times.to_pylist()]
    columns = [[_plain(_decimal(v)) for v in table.column(name).to_pylist()] for name in _COLUMNS[1:]]
    bars = [Bar(market, t, t + length, o, h, low, c, v) for t, o, h, low, c, v in zip(opens_ns, *columns, strict=True)]
    check_bars(market, bars)
    return bars


def bars_from_datastore(store: DataStore, exchange: str, market: str, interval: str, start=None, end=None) -> list[Bar]:
    """Bars of ``market`` read from a ``DataStore`` (``start <= open_time < end``, both optional)."""
    return bars_from_table(market, store.read_candles(exchange, market, interval, start, end), interval)


def bars_from_file(path: str | Path, market: str, interval: str, fmt: str | None = None) -> list[Bar]:
    """Bars from a candle file in any layout ``spotlab.marketdata.formats`` reads (detected if ``fmt`` is None)."""
    path = Path(path)
    parsed = formats.read(fmt or formats.detect_format(path), path, interval)
    table = parsed.table.sort_by("open_time")
    return bars_from_table(market, table, interval)


def check_bars(market: str, bars: Sequence[Bar]) -> None:
    previous = None
    for index, bar in enumerate(bars):
        low = bar.low
        if (
            bar.market != market
            or (previous is not None and bar.open_time_ns <= previous)
            or not (low <= bar.open <= bar.high and low <= bar.close <= bar.high)
            or low <= 0
            or bar.volume < 0
            or bar.close_time_ns <= bar.open_time_ns
        ):
            _refuse(market, index, bar, previous)
        previous = bar.open_time_ns


def _refuse(market: str, index: int, bar: Bar, previous: int | None) -> None:
    """Raise the error of the first rule ``bar`` breaks (``check_bars`` found one)."""
    where = f"{market} bar {index} (open_time {bar.open_time_ns} ns)"
    if bar.market != market:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{where} belongs to {bar.market!r}")
    if previous is not None and bar.open_time_ns <= previous:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{where}: bars must be sorted with no time twice")
    if not (bar.low <= bar.open <= bar.high and bar.low <= bar.close <= bar.high) or bar.low <= 0:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{where}: needs 0 < low <= open, close <= high (got {bar.open} {bar.high} {bar.low} {bar.close})",
        )
    if bar.volume < 0:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{where}: volume {bar.volume} is negative")
    raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{where}: closes before it opens")


def _interval_ns(interval: str) -> int:
    if isinstance(interval, str) and interval in INTERVAL_MS:
        return INTERVAL_MS[interval] * 1_000_000
    return interval_ns(interval)  # raises naming the valid ones


def _decimal(value) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float) or value is None:
        raise SpotlabError(ErrorCode.INVALID_NUMBER, f"candle values must be exact decimals, got {value!r}")
    return Decimal(value)


def _plain(value: Decimal) -> Decimal:
    """The same number without trailing zeros, never in exponent form (``93576.000`` -> ``93576``)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def trades_from_file(path: str | Path, fmt: str | None = None) -> list[tuple[int, Decimal]]:
    """Trades as ``(time_ns, price)``, oldest first, from a trades file ``spotlab data import`` reads (CSV or CCXT
    JSON), for ``run_backtest(trades=...)``."""
    path = Path(path)
    fmt = fmt or formats.detect_format(path)
    if formats.kind_of(fmt) != "trades":
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{path} holds candles, not trades ({fmt})")
    parsed = formats.read(fmt, path, None)
    table = parsed.table.sort_by("time")
    times = table.column("time").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_pylist()
    prices = [_plain(_decimal(v)) for v in table.column("price").to_pylist()]
    return list(zip(times, prices, strict=True))

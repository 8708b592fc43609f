"""Binance kline CSV (data.binance.vision dumps): 12 columns, normally no header.

``open_time, open, high, low, close, volume, close_time, quote_volume, count,
taker_buy_base, taker_buy_quote, ignore``

Invariants
- Times are read per file in milliseconds or microseconds, told apart by magnitude (an epoch
  in microseconds has 16 digits; Binance spot dumps use them from 2025-01-01); a file mixing
  both is refused. ``close_time`` must be ``open_time + interval - 1`` in the file's unit: a
  file whose candles are of another length is refused with the interval it does hold.
- Every value is kept exactly, including the taker-buy columns; the ``ignore`` column is not
  stored: a file where it is not ``0`` gets a note, and exports write ``0``.
- ``write(read(f))`` gives back ``f`` byte for byte (same number of decimals per column, same
  time unit, same line ends, same header if it had one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.formats import CountingFile, Parsed, Progress, open_text
from spotlab.marketdata.formats.numbers import detect_style, format_column, parse_column
from spotlab.marketdata.frames import STORED_CANDLE_SCHEMA
from spotlab.marketdata.intervals import INTERVAL_MS, interval_ms

COLUMNS = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_base",
    "taker_buy_quote",
    "ignore",
]
#: file column -> catalogue column, for the decimal columns
DECIMALS = {
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "quote_volume": "quote_volume",
    "taker_buy_base": "taker_buy_volume",
    "taker_buy_quote": "taker_buy_quote_volume",
}
US_THRESHOLD = 10**14  # epoch values at or above this are microseconds (ms would be after year 5000)
_EXAMPLES = 5


def read(path: Path, interval: str, progress: Progress = None) -> Parsed:
    with open_text(path) as file:
        first = file.readline()
    header = bool(first) and not first.lstrip()[:1].isdigit()
    line_end = "\r\n" if first.endswith("\r\n") else "\n"
    options = pacsv.ReadOptions(column_names=COLUMNS, skip_rows=1 if header else 0, block_size=1 << 22)
    convert = pacsv.ConvertOptions(column_types={name: pa.string() for name in COLUMNS}, strings_can_be_null=False)
    try:
        with CountingFile(path, progress) as source:
            raw = pacsv.read_csv(source, read_options=options, convert_options=convert)
    except pa.ArrowInvalid as error:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"{path.name} is not a 12-column Binance kline CSV: {error}"
        ) from None
    first_line = 2 if header else 1
    open_raw = _integers(raw.column("open_time"), "open_time", first_line)
    close_raw = _integers(raw.column("close_time"), "close_time", first_line)
    unit = time_unit(open_raw, first_line)
    factor = 1000 if unit == "us" else 1
    _check_close_times(open_raw, close_raw, interval, factor, first_line)
    columns: dict[str, Any] = {"open_time": pa.array(open_raw // factor, pa.timestamp("ms", tz="UTC"))}
    styles = {}
    for source_name, name in DECIMALS.items():
        columns[name] = parse_column(raw.column(source_name), source_name, first_line)
        styles[name] = detect_style(raw.column(source_name))
    columns["trade_count"] = pa.array(_integers(raw.column("count"), "count", first_line))
    table = pa.table(columns).select(STORED_CANDLE_SCHEMA.names).cast(STORED_CANDLE_SCHEMA)
    notes = [f"{path.name}: open_time in {'microseconds' if unit == 'us' else 'milliseconds'}"]
    ignored = pc.sum(pc.not_equal(raw.column("ignore"), "0")).as_py() or 0
    if ignored:
        notes.append(f"{ignored} row(s) have a non-zero 'ignore' column; it is not stored (exports write 0)")
    meta = {
        "format": "binance",
        "time_unit": unit,
        "styles": styles,
        "line_end": line_end,
        "header": first.rstrip("\r\n") if header else None,
    }
    return Parsed("candles", table, meta, first_line, notes)


def write(table: pa.Table, path: Path, interval: str, meta: dict[str, Any]) -> None:
    """Write candles (``STORED_CANDLE_SCHEMA``) as a Binance kline CSV; the time unit and the
    decimals per column come from ``meta`` (default: milliseconds, exact plain decimals)."""
    for name in ("quote_volume", "trade_count", "taker_buy_volume", "taker_buy_quote_volume"):
        if table.column(name).null_count:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"the Binance layout needs {name}, which {table.column(name).null_count} candle(s) lack "
                "(their source did not have it); export as csv, ccxt or freqtrade-feather instead",
            )
    factor = 1000 if meta.get("time_unit") == "us" else 1
    styles = meta.get("styles", {})
    opens = table.column("open_time").cast(pa.int64()).to_numpy() * factor
    closes = opens + interval_ms(interval) * factor - 1
    texts = {name: format_column(table.column(name), styles.get(name, "plain")) for name in DECIMALS.values()}
    counts = table.column("trade_count").to_pylist()
    line_end = meta.get("line_end", "\n")
    with open_text(path, "wt") as file:
        if meta.get("header"):
            file.write(meta["header"] + line_end)
        for i in range(table.num_rows):
            file.write(
                f"{opens[i]},{texts['open'][i]},{texts['high'][i]},{texts['low'][i]},{texts['close'][i]},"
                f"{texts['volume'][i]},{closes[i]},{texts['quote_volume'][i]},{counts[i]},"
                f"{texts['taker_buy_volume'][i]},{texts['taker_buy_quote_volume'][i]},0{line_end}"
            )


def time_unit(times: np.ndarray, first_line: int) -> str:
    """``"ms"`` or ``"us"`` for a file's epoch times, by magnitude; a file mixing both is refused."""
    if times.size == 0:
        return "ms"
    big = times >= US_THRESHOLD
    if big.all():
        return "us"
    if not big.any():
        return "ms"
    line = first_line + int(np.flatnonzero(big != big[0])[0])
    raise SpotlabError(
        ErrorCode.INVALID_ARGUMENT,
        f"line {line}: the file mixes millisecond and microsecond times; split it where the unit changes",
        line=line,
    )


def _integers(texts: pa.ChunkedArray, name: str, first_line: int) -> np.ndarray:
    try:
        return pc.cast(texts, pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        for index, text in enumerate(texts.to_pylist()):
            if not text.strip().lstrip("-").isdigit():
                raise SpotlabError(
                    ErrorCode.INVALID_NUMBER,
                    f"line {first_line + index}: {name} {text!r} is not an integer",
                    line=first_line + index,
                ) from None
        raise


def _check_close_times(opens: np.ndarray, closes: np.ndarray, interval: str, factor: int, first_line: int) -> None:
    length = interval_ms(interval) * factor
    wrong = np.flatnonzero(closes - opens + 1 != length)
    if not wrong.size:
        return
    held = (closes[wrong[0]] - opens[wrong[0]] + 1) // factor
    names = [name for name, ms in INTERVAL_MS.items() if ms == held]
    hint = f"the file holds {names[0]} candles: use --interval {names[0]}" if names else "the file is not valid"
    lines = ", ".join(str(first_line + int(i)) for i in wrong[:_EXAMPLES])
    raise SpotlabError(
        ErrorCode.INVALID_ARGUMENT,
        f"{wrong.size} row(s) have close_time != open_time + {interval} - 1 (lines {lines}); {hint}",
        count=int(wrong.size),
    )

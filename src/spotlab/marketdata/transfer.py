"""Import a file into the data catalogue, export a dataset to a file, resample a stored dataset.

The services behind ``spotlab data import|export|resample`` (the CLI only parses flags and prints).

Invariants
- An import reads the whole file, validates it (``validation``) and writes nothing unless the
  report has no errors after the fixes the caller asked for; a refused import changes nothing.
- The dataset's ``meta`` remembers how the file wrote its numbers and times, so exporting the
  dataset in the same layout repeats the file (see each format module for the exact promise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata import formats
from spotlab.marketdata.datastore import DataStore, TimeBound, WriteReport
from spotlab.marketdata.resample import resample_candles, trades_to_candles
from spotlab.marketdata.validation import ValidationReport, check_candles, check_trades


@dataclass
class ImportResult:
    format: str
    kind: str  # "candles" or "trades"
    report: ValidationReport
    notes: list[str] = field(default_factory=list)
    written: WriteReport | None = None  # None: refused


def import_file(
    store: DataStore,
    path: Path,
    *,
    market: str,
    interval: str | None,
    fmt: str = "auto",
    exchange: str = "file",
    sort: bool = False,
    drop_duplicates: bool = False,
    progress: formats.Progress = None,
    limit: int = 10,
) -> ImportResult:
    """Read, validate and (if clean) merge ``path`` into the catalogue. See the module docstring."""
    fmt = formats.detect_format(path) if fmt == "auto" else fmt
    kind = formats.kind_of(fmt)
    if kind == "candles":
        store.candle_dir(exchange, market, formats.need_interval(interval))  # names checked before reading
    else:
        store.trade_dir(exchange, market)
    parsed = formats.read(fmt, path, interval, progress)
    options = {"first_line": parsed.first_line, "sort": sort, "drop_duplicates": drop_duplicates, "limit": limit}
    if kind == "candles":
        table, report = check_candles(parsed.table, interval, **options)
    else:
        table, report = check_trades(parsed.table, **options)
    result = ImportResult(fmt, kind, report, parsed.notes)
    if not report.ok:
        return result
    if kind == "candles":
        result.written = store.write_candles(exchange, market, interval, table, meta=parsed.meta)
    else:
        result.written = store.write_trades(exchange, market, table, meta=parsed.meta)
    return result


def export_file(
    store: DataStore,
    path: Path,
    *,
    market: str,
    interval: str | None,
    fmt: str,
    exchange: str = "file",
    start: TimeBound = None,
    end: TimeBound = None,
) -> int:
    """Write a stored dataset (``interval`` ``None`` or ``"trades"``: trades) to ``path``; returns the rows."""
    kind = formats.kind_of(fmt)
    if kind == "trades":
        table = store.read_trades(exchange, market, start, end)
        meta = store.trade_meta(exchange, market)
    else:
        interval = formats.need_interval(None if interval == "trades" else interval)
        table = store.read_candles(exchange, market, interval, start, end, taker_columns=True)
        meta = store.candle_meta(exchange, market, interval)
    if table.num_rows == 0:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"no {kind} stored for {exchange} {market} {interval or ''} in that range (see spotlab data list)",
        )
    formats.write(fmt, table, path, interval, meta if meta.get("format") == fmt else _styles_only(meta))
    return table.num_rows


def resample_dataset(
    store: DataStore, *, market: str, source: str, target: str, exchange: str = "file", start=None, end=None
) -> WriteReport:
    """Build ``target`` candles from stored ``source`` candles (or ``source="trades"``) and store them."""
    if source == "trades":
        candles = trades_to_candles(store.read_trades(exchange, market, start, end), target)
    else:
        stored = store.read_candles(exchange, market, source, start, end, taker_columns=True)
        candles = resample_candles(stored, source, target)
    if candles.num_rows == 0:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"no {source} data stored for {exchange} {market} to resample")
    return store.write_candles(exchange, market, target, candles)


def _styles_only(meta: dict) -> dict:
    """Another layout keeps the decimals of the source but not its header, line ends or time unit."""
    return {"styles": meta.get("styles", {})} if meta else {}

"""Headered OHLCV CSV: a time column, then open, high, low, close, volume (any case, any order).

Covers ``timestamp,open,high,low,close,volume`` files, the trimmed Binance dumps
(``open_time,...`` in microseconds), backtesting.py's ``timestamp,Open,...`` with date texts and
freqtrade's converted CSVs (``timestamp_ms,date,...``).

Invariants
- The time column is the first of ``timestamp_ms, timestamp, open_time, date, datetime, time`` or
  an unnamed first column. Integer times are epoch seconds, milliseconds or microseconds, told
  apart by magnitude per file; text times must all follow one of ``DATE_FORMATS`` (UTC).
- Columns not imported are named in the notes (e.g. freqtrade's derived ``date``).
- ``write(read(f))`` repeats ``f`` byte for byte when ``f`` has exactly the six columns (the
  header, time style and decimals per column are kept in the dataset's meta).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
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

TIME_NAMES = ("timestamp_ms", "timestamp", "open_time", "date", "datetime", "time")
VALUES = ("open", "high", "low", "close", "volume")
DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S+00:00",
    "%Y-%m-%dT%H:%M:%S+00:00",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
_UNIT_FACTOR = {"s": 1000, "ms": 1, "us": 1}  # to ms: multiply (s) or divide (us)


def read(path: Path, interval: str, progress: Progress = None) -> Parsed:
    with open_text(path) as file:
        header_line = file.readline()
    line_end = "\r\n" if header_line.endswith("\r\n") else "\n"
    options = pacsv.ReadOptions(block_size=1 << 22)
    try:
        names = next(csv.reader([header_line]))
        with CountingFile(path, progress) as source:
            convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
            raw = pacsv.read_csv(source, read_options=options, convert_options=convert)
    except pa.ArrowInvalid as error:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{path.name} is not a headered CSV: {error}") from None
    lower = {name.strip().lower(): name for name in raw.column_names}
    time_name = next((lower[n] for n in TIME_NAMES if n in lower), None)
    if time_name is None and raw.column_names and raw.column_names[0].strip() == "":
        time_name = raw.column_names[0]
    missing = [n for n in VALUES if n not in lower]
    if time_name is None or missing:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{path.name}: expected a header with a time column ({', '.join(TIME_NAMES)}) and "
            f"{', '.join(VALUES)}; found {', '.join(raw.column_names)}"
            + (f" (missing {', '.join(missing)})" if missing else ""),
        )
    first_line = 2
    times, time_style = _parse_times(raw.column(time_name), time_name, first_line)
    columns: dict[str, Any] = {"open_time": pa.array(times, pa.timestamp("ms", tz="UTC"))}
    styles = {}
    for name in VALUES:
        column = raw.column(lower[name])
        if column.null_count:
            index = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise SpotlabError(
                ErrorCode.INVALID_NUMBER, f"line {first_line + index}: {name} is empty", line=first_line + index
            )
        columns[name] = parse_column(column, name, first_line)
        styles[name] = detect_style(column)
    table = pa.table(columns)
    for field in STORED_CANDLE_SCHEMA:
        if field.name not in table.column_names:
            table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
    used = {time_name, *(lower[n] for n in VALUES)}
    notes = [f"{path.name}: times in {_describe(time_style)} (column {time_name!r})"]
    ignored = [name for name in raw.column_names if name not in used]
    if ignored:
        notes.append(f"column(s) not imported: {', '.join(repr(n) for n in ignored)}")
    order = [time_name, *(lower[n] for n in VALUES)]
    meta = {
        "format": "csv",
        "time_style": time_style,
        "time_unit": time_style if time_style in ("ms", "us") else "ms",
        "styles": styles,
        "line_end": line_end,
        "header": ",".join(order) if not ignored and raw.column_names == order else None,
    }
    return Parsed("candles", table.cast(STORED_CANDLE_SCHEMA), meta, first_line, notes)


def write(table: pa.Table, path: Path, interval: str, meta: dict[str, Any]) -> None:
    """Write ``timestamp,open,high,low,close,volume`` (or the imported file's own header and time style)."""
    style = meta.get("time_style", "ms") if meta.get("format") == "csv" else "ms"
    header = (meta.get("header") if meta.get("format") == "csv" else None) or "timestamp,open,high,low,close,volume"
    styles = meta.get("styles", {})
    times = _format_times(table.column("open_time").cast(pa.int64()).to_numpy(), style)
    texts = [format_column(table.column(name), styles.get(name, "plain")) for name in VALUES]
    line_end = meta.get("line_end", "\n")
    with open_text(path, "wt") as file:
        file.write(header + line_end)
        for i, when in enumerate(times):
            file.write(f"{when},{texts[0][i]},{texts[1][i]},{texts[2][i]},{texts[3][i]},{texts[4][i]}{line_end}")


def _parse_times(texts: pa.ChunkedArray, name: str, first_line: int) -> tuple[np.ndarray, str]:
    texts = texts.combine_chunks()
    if texts.null_count:
        index = int(np.flatnonzero(texts.is_null().to_numpy(zero_copy_only=False))[0])
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"line {first_line + index}: {name} is empty", line=first_line + index
        )
    if len(texts) and pc.all(pc.match_substring_regex(texts, r"^[0-9]+$")).as_py():
        values = pc.cast(texts, pa.int64()).to_numpy()
        units = np.where(values < 10**11, 0, np.where(values < 10**14, 1, 2))
        if units.min() != units.max():
            line = first_line + int(np.flatnonzero(units != units[0])[0])
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"line {line}: the file mixes time units (seconds, milliseconds, microseconds)",
                line=line,
            )
        unit = ("s", "ms", "us")[int(units[0])]
        if unit == "us":
            if (values % 1000).any():
                line = first_line + int(np.flatnonzero(values % 1000)[0])
                raise SpotlabError(
                    ErrorCode.INVALID_ARGUMENT, f"line {line}: a candle time with sub-millisecond digits", line=line
                )
            return values // 1000, unit
        return values * _UNIT_FACTOR[unit], unit
    sample = texts[0].as_py() if len(texts) else ""
    for fmt in DATE_FORMATS:
        try:
            parsed = datetime.strptime(sample, fmt)
        except ValueError:
            continue
        if parsed.strftime(fmt) != sample:
            continue
        stamps = pc.strptime(texts, format=fmt, unit="ms", error_is_null=True)
        if stamps.null_count:
            index = int(np.flatnonzero(stamps.is_null().to_numpy(zero_copy_only=False))[0])
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"line {first_line + index}: time {texts[index].as_py()!r} does not follow {fmt!r} like line "
                f"{first_line}",
                line=first_line + index,
            )
        return stamps.cast(pa.int64()).to_numpy(), "date:" + fmt
    raise SpotlabError(
        ErrorCode.INVALID_ARGUMENT,
        f"line {first_line}: time {sample!r} is neither epoch seconds/ms/us nor a date like 2024-01-31 12:00:00",
        line=first_line,
    )


def _format_times(times_ms: np.ndarray, style: str) -> list[str]:
    if style == "s":
        return [str(t // 1000) for t in times_ms]
    if style == "us":
        return [str(t * 1000) for t in times_ms]
    if style.startswith("date:"):
        fmt = style[5:]
        return [datetime.fromtimestamp(int(t) / 1000, tz=UTC).strftime(fmt) for t in times_ms]
    return [str(t) for t in times_ms]


def _describe(style: str) -> str:
    return {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}.get(style, f"date text {style[5:]!r}")

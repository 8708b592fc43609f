"""Trades: CSV ``timestamp_ms,id,type,side,price,amount,cost`` and ccxt's trade lists (JSON, often .gz).

The JSON holds ``[[ms, id, type, side, price, amount, cost], ...]`` or ccxt's trade dicts
(``timestamp``, ``id``, ``side``, ``price``, ``amount``, ``cost``).

Invariants
- Times are epoch milliseconds (a CSV whose times have 16 digits is read as microseconds);
  ``side`` is ``buy``, ``sell`` or empty; ``type`` (always empty in public trades) is not stored.
- CSV numbers keep their text style per column (``formats.numbers``), so a CSV exports back
  byte for byte; JSON numbers are floats and round-trip bit for bit.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.formats import CountingFile, Parsed, Progress, open_text
from spotlab.marketdata.formats.binance import time_unit
from spotlab.marketdata.formats.ccxt_json import load_json_list
from spotlab.marketdata.formats.numbers import decimals_from_floats, detect_style, format_column, parse_column
from spotlab.marketdata.frames import TRADE_SCHEMA

HEADER = "timestamp_ms,id,type,side,price,amount,cost"
NUMBERS = ("price", "amount", "cost")


def read_csv(path: Path, progress: Progress = None) -> Parsed:
    with open_text(path) as file:
        header_line = file.readline()
    names = next(csv.reader([header_line]), [])
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
    try:
        with CountingFile(path, progress) as source:
            raw = pacsv.read_csv(source, read_options=pacsv.ReadOptions(block_size=1 << 22), convert_options=convert)
    except pa.ArrowInvalid as error:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{path.name} is not a headered CSV: {error}") from None
    time_name = next((n for n in ("timestamp_ms", "timestamp", "time") if n in names), None)
    missing = [n for n in ("price", "amount") if n not in names]
    if time_name is None or missing:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{path.name}: expected a trades header like {HEADER}; found {', '.join(names)}",
        )
    first_line = 2
    times = _csv_times(raw.column(time_name), first_line)
    unit = time_unit(times, first_line)
    columns: dict[str, Any] = {"time": pa.array(times * (1 if unit == "us" else 1000), pa.timestamp("us", tz="UTC"))}
    columns["id"] = raw.column("id") if "id" in names else pa.nulls(raw.num_rows, pa.string())
    columns["side"] = _sides(raw.column("side") if "side" in names else None, raw.num_rows, first_line)
    styles = {}
    for name in NUMBERS:
        if name in names:
            columns[name] = parse_column(raw.column(name), name, first_line)
            styles[name] = detect_style(raw.column(name))
    table = _conform(columns, raw.num_rows)
    ignored = [n for n in names if n not in (time_name, "id", "side", *NUMBERS)]
    notes = [f"{path.name}: trade times in {'microseconds' if unit == 'us' else 'milliseconds'}"]
    if ignored:
        notes.append(f"column(s) not imported: {', '.join(repr(n) for n in ignored)}")
    line_end = "\r\n" if header_line.endswith("\r\n") else "\n"
    meta = {"format": "trades-csv", "time_unit": unit, "styles": styles, "line_end": line_end}
    return Parsed("trades", table, meta, first_line, notes)


def read_json(path: Path, progress: Progress = None) -> Parsed:
    rows = load_json_list(path, progress)
    try:
        if rows and isinstance(rows[0], dict):
            rows = [[r["timestamp"], r.get("id"), r.get("type"), r.get("side"), r["price"], r["amount"], r.get("cost")]
                    for r in rows]  # fmt: skip
        times = np.array([row[0] for row in rows], dtype=np.int64)
        columns: dict[str, Any] = {"time": pa.array(times * 1000, pa.timestamp("us", tz="UTC"))}
        columns["id"] = pa.array([None if row[1] is None else str(row[1]) for row in rows], pa.string())
        columns["side"] = _sides(pa.array([row[3] for row in rows], pa.string()), len(rows), 1)
        for position, name in zip((4, 5, 6), NUMBERS):
            columns[name] = decimals_from_floats([row[position] for row in rows], name)
    except (KeyError, IndexError, TypeError, ValueError, OverflowError) as error:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{path.name} is not a ccxt trades list ([ms, id, type, side, price, amount, cost]): {error!r}",
        ) from None
    meta = {"format": "trades-json", "time_unit": "ms", "styles": dict.fromkeys(NUMBERS, "float")}
    return Parsed("trades", _conform(columns, len(rows)), meta, 1, [f"{path.name}: {len(rows)} trades, times in ms"])


def write_csv(table: pa.Table, path: Path, meta: dict[str, Any]) -> None:
    """CSV with the header above; microseconds only if the source had them."""
    us = meta.get("time_unit") == "us"
    times = _times_out(table, us)
    styles = meta.get("styles", {})
    ids, sides = table.column("id").to_pylist(), table.column("side").to_pylist()
    texts = [format_column(table.column(name), styles.get(name, "plain")) for name in NUMBERS]
    line_end = meta.get("line_end", "\n")
    with open_text(path, "wt") as file:
        file.write(HEADER + line_end)
        for i, when in enumerate(times):
            cells = (ids[i], sides[i], texts[0][i], texts[1][i], texts[2][i])
            id_, side, price, amount, cost = ("" if c is None else c for c in cells)
            file.write(f"{when},{id_},,{side},{price},{amount},{cost}{line_end}")


def write_json(table: pa.Table, path: Path) -> None:
    times = _times_out(table, False)
    ids, sides = table.column("id").to_pylist(), table.column("side").to_pylist()
    numbers = [[None if v is None else float(v) for v in table.column(name).to_pylist()] for name in NUMBERS]
    rows = [[t, ids[i], None, sides[i], numbers[0][i], numbers[1][i], numbers[2][i]] for i, t in enumerate(times)]
    with open_text(path, "wt") as file:
        json.dump(rows, file, separators=(",", ":"))


def _times_out(table: pa.Table, us: bool) -> list[int]:
    micros = table.column("time").cast(pa.int64()).to_numpy()
    if us:
        return micros.tolist()
    if (micros % 1000).any():
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, "these trades have sub-millisecond times; the layout holds milliseconds"
        )
    return (micros // 1000).tolist()


def _csv_times(texts: pa.ChunkedArray, first_line: int) -> np.ndarray:
    try:
        return pc.cast(texts, pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        for index, text in enumerate(texts.to_pylist()):
            if text is None or not text.isdigit():
                raise SpotlabError(
                    ErrorCode.INVALID_NUMBER,
                    f"line {first_line + index}: time {text!r} is not an integer epoch time",
                    line=first_line + index,
                ) from None
        raise


def _sides(sides: pa.Array | pa.ChunkedArray | None, rows: int, first_line: int) -> pa.Array:
    if sides is None:
        return pa.nulls(rows, pa.string())
    sides = pc.utf8_lower(sides)
    sides = pc.if_else(pc.equal(sides, ""), pa.scalar(None, pa.string()), sides)
    bad = pc.invert(pc.fill_null(pc.is_in(sides, value_set=pa.array(["buy", "sell"])), True))
    if pc.any(bad).as_py():
        index = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"line {first_line + index}: side {sides[index].as_py()!r} is neither buy nor sell",
            line=first_line + index,
        )
    return sides


def _conform(columns: dict[str, Any], rows: int) -> pa.Table:
    arrays = [columns.get(f.name, pa.nulls(rows, f.type)) for f in TRADE_SCHEMA]
    arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
    return pa.Table.from_arrays([a.cast(f.type) for a, f in zip(arrays, TRADE_SCHEMA)], schema=TRADE_SCHEMA)

"""CCXT's OHLCV list layout (also freqtrade's JSON candles): ``[[ms, open, high, low, close, volume], ...]``.

Invariants
- Numbers are binary floats in this layout: each enters as the shortest decimal that reads back
  as the same float, and is written back as that float, so values round-trip bit for bit.
- A row that is not six numbers with an integer millisecond time is refused with its index.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.formats import Parsed, Progress, open_text
from spotlab.marketdata.formats.numbers import decimals_from_floats, to_floats
from spotlab.marketdata.frames import STORED_CANDLE_SCHEMA

VALUES = ("open", "high", "low", "close", "volume")


def read(path: Path, interval: str, progress: Progress = None) -> Parsed:
    rows = load_json_list(path, progress)
    times = []
    for index, row in enumerate(rows):
        if (
            not isinstance(row, list)
            or len(row) != 6
            or not isinstance(row[0], int)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row[1:])
        ):
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"row {index + 1} of {path.name} is not [ms, open, high, low, close, volume]: {str(row)[:120]}",
                row=index + 1,
            )
        times.append(row[0])
    columns: dict[str, Any] = {"open_time": pa.array(times, pa.int64()).cast(pa.timestamp("ms", tz="UTC"))}
    for position, name in enumerate(VALUES, start=1):
        columns[name] = decimals_from_floats([row[position] for row in rows], name)
    table = pa.table(columns)
    for field in STORED_CANDLE_SCHEMA:
        if field.name not in table.column_names:
            table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
    meta = {"format": "ccxt", "styles": dict.fromkeys(VALUES, "float")}
    notes = [f"{path.name}: {len(rows)} rows, times in milliseconds, numbers as floats"]
    return Parsed("candles", table.select(STORED_CANDLE_SCHEMA.names).cast(STORED_CANDLE_SCHEMA), meta, 1, notes)


def write(table: pa.Table, path: Path, interval: str, meta: dict[str, Any]) -> None:
    times = table.column("open_time").cast(pa.int64()).to_pylist()
    values = [to_floats(table.column(name)) for name in VALUES]
    rows = [[t, *(column[i] for column in values)] for i, t in enumerate(times)]
    with open_text(path, "wt") as file:
        json.dump(rows, file, separators=(",", ":"))


def load_json_list(path: Path, progress: Progress) -> list:
    try:
        with open_text(path) as file:
            text = file.read()
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, EOFError, json.JSONDecodeError) as error:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{path.name} is not a JSON file: {error}") from None
    if progress:
        progress(path.stat().st_size)
    if not isinstance(data, list):
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{path.name} does not hold a JSON list")
    return data

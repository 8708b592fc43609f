"""freqtrade's Feather candles: ``date`` (UTC timestamp), ``open, high, low, close, volume`` (float64).

Invariants
- Floats enter as the shortest decimals that read back as the same floats and are written back
  as those floats: a Feather file exported from the catalogue holds the same float64 bits.
- ``date`` must be whole milliseconds; a time zone other than UTC is converted, a naive column is
  taken as UTC (freqtrade always writes UTC).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as pafeather

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.formats import Parsed, Progress
from spotlab.marketdata.formats.numbers import decimals_from_floats, to_floats
from spotlab.marketdata.frames import STORED_CANDLE_SCHEMA

VALUES = ("open", "high", "low", "close", "volume")


def read(path: Path, interval: str, progress: Progress = None) -> Parsed:
    try:
        raw = pafeather.read_table(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{path.name} is not a Feather file: {error}") from None
    if progress:
        progress(path.stat().st_size)
    missing = [name for name in ("date", *VALUES) if name not in raw.column_names]
    if missing or not pa.types.is_timestamp(raw.schema.field("date").type if "date" in raw.column_names else pa.null()):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{path.name}: expected columns date (timestamp), {', '.join(VALUES)}; found {', '.join(raw.column_names)}",
        )
    date = raw.column("date")
    nanos = date.cast(pa.timestamp("ns", tz="UTC") if date.type.tz else pa.timestamp("ns")).cast(pa.int64())
    nanos = nanos.to_numpy()
    if (nanos % 1_000_000).any():
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{path.name}: a date with sub-millisecond digits")
    columns: dict[str, Any] = {"open_time": pa.array(nanos // 1_000_000, pa.timestamp("ms", tz="UTC"))}
    for name in VALUES:
        columns[name] = decimals_from_floats(raw.column(name).to_pylist(), name)
    table = pa.table(columns)
    for field in STORED_CANDLE_SCHEMA:
        if field.name not in table.column_names:
            table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
    extra = [name for name in raw.column_names if name not in ("date", *VALUES)]
    notes = [f"{path.name}: {raw.num_rows} rows, numbers as float64"]
    if extra:
        notes.append(f"column(s) not imported: {', '.join(extra)}")
    meta = {"format": "freqtrade-feather", "styles": dict.fromkeys(VALUES, "float")}
    return Parsed("candles", table.select(STORED_CANDLE_SCHEMA.names).cast(STORED_CANDLE_SCHEMA), meta, 1, notes)


def write(table: pa.Table, path: Path, interval: str, meta: dict[str, Any]) -> None:
    columns = {"date": table.column("open_time").cast(pa.timestamp("ns", tz="UTC"))}
    for name in VALUES:
        columns[name] = pa.array(to_floats(table.column(name)), pa.float64())
    pafeather.write_feather(pa.table(columns), path, compression="lz4")

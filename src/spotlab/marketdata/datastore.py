"""The historical data catalogue: candles and trades per source exchange, market and interval, in Parquet.

Layout under ``root`` (default ``<data_dir>/history``)::

    candles/<exchange>/<BASE-QUOTE>/<interval>/<YYYY>.parquet     one file per UTC year of open_time
    candles/<exchange>/<BASE-QUOTE>/<interval>/meta.json           how the source wrote its numbers
    trades/<exchange>/<BASE-QUOTE>/<YYYY-MM>.parquet               one file per UTC month of trade time
    trades/<exchange>/<BASE-QUOTE>/meta.json

Invariants
- Candle files have ``STORED_CANDLE_SCHEMA`` (``CANDLE_SCHEMA`` plus the nullable taker-buy columns),
  trade files ``TRADE_SCHEMA``; rows are sorted by time; a candle ``open_time`` appears once per
  dataset and is the start of its UTC period; a trade ``id`` appears once per dataset.
- Writes merge: a row already stored identically is counted as present, a new row is added, and a
  row that differs from the stored row with the same key (candles: ``open_time``; trades: ``id``)
  is refused with INVALID_ARGUMENT before any file is touched. Writing the same rows twice
  changes nothing.
- Each file is replaced atomically (write to a temporary file, then rename). A write that spans
  several files is not atomic across them, but every file is always a complete, valid dataset.
- ``meta.json`` records per column how the source wrote its numbers (see ``formats.numbers``) and
  the source's time unit, so an exporter can give back the same bytes.

Trades without an id cannot be told apart from a genuine repeat: such a row is "present" when
the dataset already holds as many identical rows (same time, side, price, amount and cost) as the
write brings, else the extra copies are added. One process writes a dataset at a time.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.frames import CANDLE_SCHEMA, STORED_CANDLE_SCHEMA, TRADE_SCHEMA
from spotlab.marketdata.intervals import INTERVAL_MS, interval_ms, period_starts

TimeBound = datetime | int | None

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_ASSET = re.compile(r"^[A-Z0-9]+$")
_EXAMPLES = 5  # rows quoted in an error message


@dataclass(frozen=True)
class WriteReport:
    """What a write did: rows added, rows that were already stored identically, files rewritten."""

    rows_added: int
    rows_present: int
    files_written: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset of the catalogue. ``interval`` is ``"trades"`` for trades; times are UTC."""

    exchange: str
    market: str  # "BTC/USDT"
    interval: str
    rows: int
    first: datetime | None
    last: datetime | None


def market_id(market: str) -> str:
    """``"BTC/USDT"`` or ``"BTC-USDT"`` (any case) -> ``"BTC-USDT"``, the catalogue's spelling."""
    parts = re.split(r"[/-]", market.strip().upper())
    if len(parts) != 2 or not all(_ASSET.match(part) for part in parts):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"market {market!r} is not BASE/QUOTE, e.g. BTC/USDT", market=market
        )
    return f"{parts[0]}-{parts[1]}"


def exchange_id(exchange: str) -> str:
    name = exchange.strip().lower()
    if not _NAME.match(name):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"exchange name {exchange!r} must be letters, digits, '.', '_' or '-', e.g. binance",
            exchange=exchange,
        )
    return name


def to_epoch_ms(value: datetime | int) -> int:
    """An aware datetime (any zone) or epoch milliseconds -> epoch milliseconds. Naive datetimes are refused."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"datetime {value.isoformat()} has no time zone; give it one, e.g. tzinfo=UTC",
            )
        return _floor_ms(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"time bound {value!r} is neither a datetime nor epoch ms")
    return int(value)


def _floor_ms(value: datetime) -> int:
    delta = value.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(microsecond=(ms % 1000) * 1000)


class DataStore:
    """A catalogue of candles and trades under one root folder (see the module docstring)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # ----------------------------------------------------------------- candles

    def candle_dir(self, exchange: str, market: str, interval: str) -> Path:
        interval_ms(interval)
        return self.root / "candles" / exchange_id(exchange) / market_id(market) / interval

    def write_candles(
        self, exchange: str, market: str, interval: str, table: pa.Table, *, meta: Mapping[str, Any] | None = None
    ) -> WriteReport:
        """Merge candles (``CANDLE_SCHEMA``, optionally with the taker-buy columns) into the dataset.

        ``meta`` (how the source wrote its numbers) is merged into the dataset's ``meta.json``.
        """
        folder = self.candle_dir(exchange, market, interval)
        incoming = conform(table, STORED_CANDLE_SCHEMA, "candles")
        times = incoming.column("open_time").cast(pa.int64()).to_numpy()
        _refuse_duplicate_keys(times, "open_time", _format_ms)
        misaligned = np.flatnonzero(period_starts(interval, times) != times)
        if misaligned.size:
            shown = ", ".join(_format_ms(int(times[i])) for i in misaligned[:_EXAMPLES])
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"{misaligned.size} candle(s) do not start on a UTC {interval} boundary: {shown}",
                count=int(misaligned.size),
            )
        years = _partition_keys(times, "year")
        return self._merge(folder, incoming, "open_time", years, meta)

    def read_candles(
        self,
        exchange: str,
        market: str,
        interval: str,
        start: TimeBound = None,
        end: TimeBound = None,
        *,
        taker_columns: bool = False,
    ) -> pa.Table:
        """Candles with ``start`` <= open_time < ``end`` (either bound optional), sorted, ``CANDLE_SCHEMA``.

        ``taker_columns=True`` adds the taker-buy columns (``STORED_CANDLE_SCHEMA``).
        """
        folder = self.candle_dir(exchange, market, interval)
        schema = STORED_CANDLE_SCHEMA if taker_columns else CANDLE_SCHEMA
        table = _read_range(folder, STORED_CANDLE_SCHEMA, "open_time", start, end, "year")
        return table.select(schema.names)

    def last_candle_time(self, exchange: str, market: str, interval: str) -> int | None:
        """Epoch ms of the newest stored open_time, or ``None`` when the dataset is empty."""
        return _last_time(self.candle_dir(exchange, market, interval), "open_time")

    # ------------------------------------------------------------------ trades

    def trade_dir(self, exchange: str, market: str) -> Path:
        return self.root / "trades" / exchange_id(exchange) / market_id(market)

    def write_trades(
        self, exchange: str, market: str, table: pa.Table, *, meta: Mapping[str, Any] | None = None
    ) -> WriteReport:
        """Merge trades (``TRADE_SCHEMA``) into the dataset; the key is the trade id (see the module docstring)."""
        folder = self.trade_dir(exchange, market)
        incoming = conform(table, TRADE_SCHEMA, "trades")
        incoming = incoming.append_column("_key", pa.array(_trade_keys(incoming), pa.string()))
        _refuse_duplicate_keys(incoming.column("_key").to_numpy(zero_copy_only=False), "trade id", str)
        times_ms = incoming.column("time").cast(pa.int64()).to_numpy() // 1000
        months = _partition_keys(times_ms, "month")
        return self._merge(folder, incoming, "_key", months, meta, time_column="time")

    def read_trades(self, exchange: str, market: str, start: TimeBound = None, end: TimeBound = None) -> pa.Table:
        """Trades with ``start`` <= time < ``end`` (bounds at millisecond precision), sorted by time."""
        return _read_range(self.trade_dir(exchange, market), TRADE_SCHEMA, "time", start, end, "month")

    def last_trade_time(self, exchange: str, market: str) -> int | None:
        """Epoch microseconds of the newest stored trade, or ``None``."""
        return _last_time(self.trade_dir(exchange, market), "time")

    # ---------------------------------------------------------------- metadata

    def meta(self, folder: Path) -> dict[str, Any]:
        """The dataset's ``meta.json`` (empty when there is none)."""
        path = folder / "meta.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def candle_meta(self, exchange: str, market: str, interval: str) -> dict[str, Any]:
        return self.meta(self.candle_dir(exchange, market, interval))

    def trade_meta(self, exchange: str, market: str) -> dict[str, Any]:
        return self.meta(self.trade_dir(exchange, market))

    def datasets(self) -> list[DatasetInfo]:
        """Every dataset in the catalogue, sorted by exchange, market and interval."""
        found: list[DatasetInfo] = []
        for folder in sorted((self.root / "candles").glob("*/*/*")):
            if folder.name in INTERVAL_MS and _files(folder):
                found.append(_info(folder, folder.parent.parent.name, folder.parent.name, folder.name, "open_time"))
        for folder in sorted((self.root / "trades").glob("*/*")):
            if _files(folder):
                found.append(_info(folder, folder.parent.name, folder.name, "trades", "time"))
        return found

    # ---------------------------------------------------------------- internal

    def _merge(
        self,
        folder: Path,
        incoming: pa.Table,
        key: str,
        partitions: np.ndarray,
        meta: Mapping[str, Any] | None,
        time_column: str = "open_time",
    ) -> WriteReport:
        plans: list[tuple[Path, pa.Table]] = []
        added = present = 0
        conflicts: list[str] = []
        for part in np.unique(partitions):
            rows = incoming.filter(pa.array(partitions == part))
            path = folder / f"{part}.parquet"
            stored = _with_keys(pq.read_table(path), key) if path.is_file() else None
            if stored is None:
                new = rows
            else:
                conflicts += _conflicts(rows, stored, key, time_column)
                new = rows.filter(pc.invert(pc.is_in(rows.column(key), value_set=stored.column(key))))
            added += new.num_rows
            present += rows.num_rows - new.num_rows
            if new.num_rows:
                merged = new if stored is None else pa.concat_tables([stored, new])
                merged = merged.take(pc.sort_indices(merged, [(time_column, "ascending")]))
                plans.append((path, merged.drop_columns([c for c in ("_key",) if c in merged.column_names])))
        if conflicts:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"{len(conflicts)} row(s) differ from the stored rows with the same {_key_name(key)}; nothing was "
                f"written (import into another --exchange name, or delete the dataset first). First: "
                + "; ".join(conflicts[:_EXAMPLES]),
                count=len(conflicts),
            )
        folder.mkdir(parents=True, exist_ok=True)
        for path, table in plans:
            _atomic_write(path, lambda tmp, t=table: pq.write_table(t, tmp, compression="zstd"))
        if meta:
            merged_meta = {**self.meta(folder), **meta}
            _atomic_write(folder / "meta.json", lambda tmp: Path(tmp).write_text(json.dumps(merged_meta, indent=1)))
        return WriteReport(added, present, tuple(str(path) for path, _ in plans))


def conform(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    """``table`` in ``schema``'s column order and types; missing nullable columns become nulls.

    Refuses unknown columns, missing required columns, nulls in required columns and values that
    do not fit the type (e.g. more than 36 decimal places).
    """
    unknown = [name for name in table.column_names if schema.get_field_index(name) < 0]
    if unknown:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{what} table has unknown column(s) {unknown}; expected {schema.names}",
        )
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            if not field.nullable:
                raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{what} table lacks the column {field.name!r}")
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        if not field.nullable and column.null_count:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"{what} column {field.name!r} has {column.null_count} empty value(s)"
            )
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"{what} column {field.name!r} does not fit {field.type}: {error}"
            ) from None
    return pa.Table.from_arrays(columns, schema=schema)


def _trade_keys(table: pa.Table) -> list[str]:
    ids = table.column("id").to_pylist()
    if all(value is not None for value in ids):
        return [f"i:{value}" for value in ids]
    seen: Counter[tuple] = Counter()
    keys = []
    rows = zip(*(table.column(name).to_pylist() for name in ("time", "side", "price", "amount", "cost")))
    for value, row in zip(ids, rows):
        if value is not None:
            keys.append(f"i:{value}")
            continue
        seen[row] += 1
        keys.append("r:" + "|".join(str(part) for part in row) + f"#{seen[row]}")
    return keys


def _with_keys(stored: pa.Table, key: str) -> pa.Table:
    if key == "_key":
        return stored.append_column("_key", pa.array(_trade_keys(stored), pa.string()))
    return stored


def _conflicts(rows: pa.Table, stored: pa.Table, key: str, time_column: str) -> list[str]:
    left = rows.rename_columns([f"n_{name}" if name != key else key for name in rows.column_names])
    both = left.join(stored, keys=key, join_type="inner", use_threads=False)
    if not both.num_rows:
        return []
    differs = pa.array(np.zeros(both.num_rows, dtype=bool))
    for name in stored.column_names:
        if name == key:
            continue
        a, b = both.column(f"n_{name}"), both.column(name)
        same = pc.fill_null(pc.or_kleene(pc.equal(a, b), pc.and_(pc.is_null(a), pc.is_null(b))), False)
        differs = pc.or_(differs, pc.invert(same))
    bad = both.filter(differs)
    names = [name for name in stored.column_names if name not in (key, "open_time")]
    shown = []
    for row in bad.slice(0, _EXAMPLES).to_pylist():
        changes = ", ".join(
            f"{name} stored {_plain(row[name])} new {_plain(row['n_' + name])}"
            for name in names
            if row[name] != row["n_" + name]
        )
        shown.append(f"{_describe(row, key, time_column)} ({changes})")
    return shown + ["..."] * max(0, bad.num_rows - _EXAMPLES)


def _describe(row: dict, key: str, time_column: str) -> str:
    if key == "_key":
        return f"trade {row['_key'][2:]}"
    return f"open_time {row[time_column]:%Y-%m-%d %H:%M:%S}"


def _plain(value: Any) -> str:
    if value is None:
        return "null"
    if hasattr(value, "normalize") and hasattr(value, "as_tuple"):
        return format(value.normalize(), "f")
    return str(value)


def _key_name(key: str) -> str:
    return "trade id" if key == "_key" else key


def _refuse_duplicate_keys(keys: np.ndarray, what: str, show) -> None:
    values, counts = np.unique(keys, return_counts=True)
    repeated = values[counts > 1]
    if repeated.size:
        shown = ", ".join(show(value) for value in repeated[:_EXAMPLES])
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{repeated.size} {what} value(s) appear more than once in the rows to write: {shown}",
            count=int(repeated.size),
        )


def _format_ms(ms: int) -> str:
    return f"{ms_to_datetime(int(ms)):%Y-%m-%d %H:%M:%S}"


def _partition_keys(times_ms: np.ndarray, unit: str) -> np.ndarray:
    stamps = np.asarray(times_ms, dtype="datetime64[ms]")
    if unit == "year":
        return np.datetime_as_string(stamps.astype("datetime64[Y]"))
    return np.datetime_as_string(stamps.astype("datetime64[M]"))


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*.parquet"))


def _read_range(folder: Path, schema: pa.Schema, column: str, start: TimeBound, end: TimeBound, unit: str):
    lo = None if start is None else to_epoch_ms(start)
    hi = None if end is None else to_epoch_ms(end)
    chosen = []
    for path in _files(folder):
        key = path.stem
        first_ms = int(np.datetime64(key, "ms").astype(np.int64))
        next_key = np.datetime64(key, "Y" if unit == "year" else "M") + 1
        next_ms = int(next_key.astype("datetime64[ms]").astype(np.int64))
        if (hi is not None and first_ms >= hi) or (lo is not None and next_ms <= lo):
            continue
        chosen.append(path)
    if not chosen:
        return schema.empty_table()
    table = pa.concat_tables([pq.read_table(path).cast(schema) for path in chosen])
    unit_per_ms = 1 if schema.field(column).type.unit == "ms" else 1000
    times = table.column(column).cast(pa.int64())
    mask = None
    if lo is not None:
        mask = pc.greater_equal(times, lo * unit_per_ms)
    if hi is not None:
        upper = pc.less(times, hi * unit_per_ms)
        mask = upper if mask is None else pc.and_(mask, upper)
    return table if mask is None else table.filter(mask)


def _last_time(folder: Path, column: str) -> int | None:
    files = _files(folder)
    if not files:
        return None
    times = pq.read_table(files[-1], columns=[column]).column(column).cast(pa.int64())
    return int(pc.max(times).as_py())


def _info(folder: Path, exchange: str, market: str, interval: str, column: str) -> DatasetInfo:
    files = _files(folder)
    rows = sum(pq.ParquetFile(path).metadata.num_rows for path in files)
    first = pq.read_table(files[0], columns=[column]).column(column)
    last = pq.read_table(files[-1], columns=[column]).column(column)
    low, high = pc.min(first).as_py(), pc.max(last).as_py()
    return DatasetInfo(exchange, market.replace("-", "/"), interval, rows, low, high)


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

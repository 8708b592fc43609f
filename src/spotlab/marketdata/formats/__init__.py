"""File layouts of historical market data, one module per layout, each with ``read`` and ``write``.

| name                | module        | kind    | layout                                                            |
| ------------------- | ------------- | ------- | ----------------------------------------------------------------- |
| ``binance``         | ``binance``   | candles | Binance kline CSV: 12 columns, no header, open_time ms or us      |
| ``csv``             | ``ohlcv_csv`` | candles | headered CSV: timestamp (s/ms/us or a date text), open ... volume |
| ``ccxt``            | ``ccxt_json`` | candles | JSON list of ``[ms, open, high, low, close, volume]`` numbers     |
| ``freqtrade-json``  | ``ccxt_json`` | candles | the same list layout (freqtrade's JSON candles)                   |
| ``freqtrade-feather`` | ``feather`` | candles | Feather: ``date`` (UTC), open, high, low, close, volume (floats)  |
| ``trades-csv``      | ``trades``    | trades  | CSV ``timestamp_ms,id,type,side,price,amount,cost``               |
| ``trades-json``     | ``trades``    | trades  | ccxt trades list ``[ms, id, type, side, price, amount, cost]``    |

A reader returns a ``Parsed``: the rows in file order (nothing sorted, dropped or merged: that is
the validation report's business), the ``meta`` an exporter needs to give back the same bytes,
and ``notes`` for the user (which time unit was detected, which columns were not imported).
``.gz`` files are read and written compressed.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from spotlab.errors import ErrorCode, SpotlabError

Progress = Callable[[int], None] | None  # called with the number of bytes just read


@dataclass
class Parsed:
    """What a reader found in a file (see the package docstring)."""

    kind: str  # "candles" or "trades"
    table: pa.Table  # STORED_CANDLE_SCHEMA or TRADE_SCHEMA, in file order
    meta: dict[str, Any]
    first_line: int = 1  # the file line (or list index + 1) of the first row
    notes: list[str] = field(default_factory=list)


CANDLE_FORMATS = ("binance", "csv", "ccxt", "freqtrade-json", "freqtrade-feather")
TRADE_FORMATS = ("trades-csv", "trades-json")
FORMATS = CANDLE_FORMATS + TRADE_FORMATS


def kind_of(fmt: str) -> str:
    check_format(fmt)
    return "trades" if fmt in TRADE_FORMATS else "candles"


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", format=fmt
        )


def detect_format(path: Path) -> str:
    """Guess a file's layout from its name and first bytes."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".feather"):
        return "freqtrade-feather"
    head = _head(path)
    if name.endswith(".json"):
        return "trades-json" if _json_is_trades(head) else "ccxt"
    first = head.splitlines()[0] if head else ""
    if first[:1].isdigit() and first.count(",") == 11:
        return "binance"
    if "price" in first.lower() and "amount" in first.lower():
        return "trades-csv"
    if first and not first[:1].isdigit():
        return "csv"
    raise SpotlabError(
        ErrorCode.INVALID_ARGUMENT,
        f"cannot tell the layout of {path.name}; give --format ({', '.join(FORMATS)})",
        path=str(path),
    )


def read(fmt: str, path: Path, interval: str | None, progress: Progress = None) -> Parsed:
    """Read ``path`` in layout ``fmt`` (``interval`` is needed by candle layouts)."""
    from spotlab.marketdata.formats import binance, ccxt_json, feather, ohlcv_csv, trades

    check_format(fmt)
    if not path.is_file():
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"no such file: {path}", path=str(path))
    if fmt == "trades-csv":
        return trades.read_csv(path, progress)
    if fmt == "trades-json":
        return trades.read_json(path, progress)
    readers = {"binance": binance.read, "csv": ohlcv_csv.read, "freqtrade-feather": feather.read}
    reader = readers.get(fmt, ccxt_json.read)
    return reader(path, need_interval(interval), progress)


def write(fmt: str, table: pa.Table, path: Path, interval: str | None, meta: dict[str, Any]) -> None:
    """Write ``table`` (from the catalogue) to ``path`` in layout ``fmt``."""
    from spotlab.marketdata.formats import binance, ccxt_json, feather, ohlcv_csv, trades

    check_format(fmt)
    if fmt == "trades-csv":
        return trades.write_csv(table, path, meta)
    if fmt == "trades-json":
        return trades.write_json(table, path)
    writers = {"binance": binance.write, "csv": ohlcv_csv.write, "freqtrade-feather": feather.write}
    return writers.get(fmt, ccxt_json.write)(table, path, need_interval(interval), meta)


def open_text(path: Path, mode: str = "rt") -> IO[str]:
    """A text file, gzip-compressed when its name ends in ``.gz``; ``\\n`` line ends kept as they are."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, mode, encoding="utf-8", newline="")
    return open(path, mode, encoding="utf-8", newline="")


class CountingFile:
    """A binary file that reports each read's size to ``progress`` (for progress bars)."""

    def __init__(self, path: Path, progress: Progress) -> None:
        self._file = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")
        self._progress = progress
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        if self._progress and data:
            self._progress(len(data))
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()
        self.closed = True

    def __enter__(self) -> CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def need_interval(interval: str | None) -> str:
    if not interval:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "candle files need --interval (e.g. 1m)")
    return interval


def _head(path: Path) -> str:
    try:
        with open_text(path) as file:
            return file.read(4096)
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"cannot read {path}: {error}", path=str(path)) from None


def _json_is_trades(head: str) -> bool:
    start = head.lstrip()[:400]
    return start.startswith("[{") or start.count('"') >= 2 and start.index('"') < start.find("]")

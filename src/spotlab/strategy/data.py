"""What a strategy sees of the market: closed bars, revealed one at a time, and indicators fed by them.

Invariants
- Nothing from the future: ``MarketData`` holds only the bars that have closed; the runner
  appends a bar after its close and never before. The arrays it hands out are read-only views
  of exactly the bars closed so far, so ``close[-1]`` is the bar just closed and ``close[n]``
  (one past the end) raises ``IndexError``. A view taken earlier keeps its length: it does not
  grow under its holder.
- Two forms of the same numbers: ``Bar`` fields are exact ``Decimal`` (for prices and
  quantities you send to the venue); the ``open``/``high``/``low``/``close``/``volume`` arrays
  are ``float64`` NumPy arrays (for indicators and statistics, never for money).
- An ``IndicatorSeries`` is updated by the runner once per closed bar of its market, through the
  indicator's streaming class, so a backtest and live trading compute the same numbers
  (``spotlab.indicators`` guarantees the streaming and vectorised forms agree).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from spotlab.errors import ErrorCode, SpotlabError

FIELDS = ("open", "high", "low", "close", "volume")
_INPUTS = {*FIELDS, "timestamp_ns"}


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed candle of one market; times are UTC nanoseconds, the close time exclusive."""

    market: str
    open_time_ns: int
    close_time_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base asset
    venue: str = ""  # the venue's name in a run with several venues (``LiveRunner.across``), else ""


class MarketData:
    """The closed bars of one market, oldest first, growing as bars close."""

    __slots__ = ("market", "_bars", "_columns", "_size")

    def __init__(self, market: str, capacity: int = 256) -> None:
        self.market = market
        self._bars: list[Bar] = []
        self._columns = {name: np.empty(max(capacity, 1), dtype=np.float64) for name in FIELDS}
        self._size = 0

    def _append(self, bar: Bar) -> None:
        """Reveal one more closed bar (the runner's business)."""
        bars, size = self._bars, self._size
        if bars and bar.open_time_ns <= bars[-1].open_time_ns:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{self.market}: bars must arrive in time order")
        columns = self._columns
        if size == len(columns["close"]):
            columns = self._columns = {name: np.resize(column, 2 * len(column)) for name, column in columns.items()}
        columns["open"][size] = float(bar.open)  # FIELDS, unrolled: this runs once per bar of every backtest
        columns["high"][size] = float(bar.high)
        columns["low"][size] = float(bar.low)
        columns["close"][size] = float(bar.close)
        columns["volume"][size] = float(bar.volume)
        bars.append(bar)
        self._size = size + 1

    def _column(self, name: str) -> np.ndarray:
        view = self._columns[name][: self._size]
        view.flags.writeable = False
        return view

    @property
    def open(self) -> np.ndarray:
        return self._column("open")

    @property
    def high(self) -> np.ndarray:
        return self._column("high")

    @property
    def low(self) -> np.ndarray:
        return self._column("low")

    @property
    def close(self) -> np.ndarray:
        return self._column("close")

    @property
    def volume(self) -> np.ndarray:
        return self._column("volume")

    @property
    def last(self) -> Bar:
        """The bar that closed last (``IndexError`` before the first)."""
        return self._bars[-1]

    def __getitem__(self, index: int) -> Bar:
        return self._bars[index]

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Bar]:
        return iter(tuple(self._bars))

    def __repr__(self) -> str:
        return f"MarketData({self.market}, {self._size} bars)"


class IndicatorSeries:
    """A streaming indicator's outputs, one per closed bar of its market (NaN during warm-up)."""

    __slots__ = ("market", "indicator", "inputs", "_values", "_array", "_size", "_field", "_update_indicator")

    def __init__(self, market: str, indicator: Any, inputs: tuple[str, ...]) -> None:
        self.market = market
        self.indicator = indicator
        self.inputs = inputs
        self._values: list[Any] = []
        self._array: np.ndarray | None = None
        self._size = 0
        # the one price field most indicators take (``close``), read without building an argument list
        self._field = inputs[0] if len(inputs) == 1 and inputs[0] != "timestamp_ns" else None
        self._update_indicator = indicator.update

    def _update(self, bar: Bar) -> None:
        field = self._field
        if field is not None:
            value = self._update_indicator(float(getattr(bar, field)))
        else:
            args = [bar.open_time_ns if name == "timestamp_ns" else float(getattr(bar, name)) for name in self.inputs]
            value = self._update_indicator(*args)
        self._values.append(value)
        if isinstance(value, float):
            size, array = self._size, self._array
            if array is None:
                array = self._array = np.empty(256, dtype=np.float64)
            elif size == len(array):
                array = self._array = np.resize(array, 2 * len(array))
            array[size] = value
        self._size += 1

    @property
    def values(self) -> np.ndarray:
        """The outputs so far as a read-only float64 array (single-output indicators)."""
        if self._array is None and self._values:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"{type(self.indicator).__name__} gives several outputs per bar; index the series instead",
            )
        view = (self._array if self._array is not None else np.empty(0))[: self._size]
        view.flags.writeable = False
        return view

    def __getitem__(self, index: int) -> Any:
        return self._values[index]

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"IndicatorSeries({type(self.indicator).__name__}, {self.market}, {self._size} values)"


def indicator_inputs(indicator: Any, source: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """The bar fields ``indicator.update`` takes: read from its signature, or ``source`` for one-input ones."""
    try:
        names = tuple(inspect.signature(indicator.update).parameters)
    except (AttributeError, TypeError, ValueError):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"{indicator!r} is not a streaming indicator (it needs an update method)"
        ) from None
    if source is None:
        unknown = [name for name in names if name not in _INPUTS]
        if unknown:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"cannot tell which bar fields feed {type(indicator).__name__}.update{names}: pass source=",
            )
        return names
    chosen = (source,) if isinstance(source, str) else tuple(source)
    bad = [name for name in chosen if name not in _INPUTS]
    if bad:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"source must name bar fields ({', '.join(FIELDS)}), got {', '.join(bad)}"
        )
    if len(chosen) != len(names):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{type(indicator).__name__}.update takes {len(names)} input(s) {names}, source gives {len(chosen)}",
        )
    return chosen


@dataclass(frozen=True, slots=True)
class StrategyFill:
    """One trade of the strategy's account, from its side; money in the market's quote asset."""

    market: str
    order_id: int
    trade_id: int
    side: str  # "buy" or "sell": the strategy's side
    price: Decimal
    quantity: Decimal  # base
    notional: Decimal  # price x quantity, quote
    fee: Decimal
    fee_asset: str
    role: str  # "maker" or "taker"
    time_ns: int
    venue: str = ""  # the venue's name in a run with several venues (``LiveRunner.across``), else ""

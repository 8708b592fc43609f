"""What a strategy sees of the market: closed bars, revealed one at a time, and indicators fed by them.

Invariants
- Nothing from the future: ``MarketData`` shows only the bars that have closed (its indexing,
  iteration, ``last`` and arrays); the runner reveals a bar after its close and never before
  (a backtest may have preloaded it: see below). The arrays it hands out are read-only views
  of exactly the bars closed so far, so ``close[-1]`` is the bar just closed and ``close[n]``
  (one past the end) raises ``IndexError``. A view taken earlier keeps its length: it does not
  grow under its holder.
- Two forms of the same numbers: ``Bar`` fields are exact ``Decimal`` (for prices and
  quantities you send to the venue); the ``open``/``high``/``low``/``close``/``volume`` arrays
  are ``float64`` NumPy arrays (for indicators and statistics, never for money).
- An ``IndicatorSeries`` is updated by the runner once per closed bar of its market, through the
  indicator's streaming class, so a backtest and live trading compute the same numbers
  (``spotlab.indicators`` guarantees the streaming and vectorised forms agree).
- Prepared ahead (a backtest, whose bars are all known before it starts): ``MarketData._preload``
  fills the float columns of the bars still to come, and ``IndicatorSeries._prepare`` takes every
  output at once from the indicator's ``batch`` (its vectorised form: the same bits). Revealing a
  bar then only moves the size; what is handed out is still cut at the bars closed so far, so
  nothing more can be read than without preparing. A bar revealed out of the prepared order is
  refused (``INVALID_ARGUMENT``), never answered with another bar's numbers.
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

    __slots__ = ("market", "_bars", "_columns", "_size", "_coming", "_preloaded", "_unfilled")

    def __init__(self, market: str, capacity: int = 256) -> None:
        self.market = market
        self._bars: list[Bar] = []
        self._columns = {name: np.empty(max(capacity, 1), dtype=np.float64) for name in FIELDS}
        self._size = 0
        self._coming: list[Bar] = []  # the preloaded bars, from the first one not revealed yet (see _preload)
        self._preloaded: tuple[int, list[Bar]] = (0, [])  # (the index of the first, every preloaded bar)
        self._unfilled: set[str] = set()  # the columns the preloaded bars have not been written into yet

    def _preload(self, bars: list[Bar]) -> None:
        """Take ``bars``, the bars to be revealed next, in that order (the runner's business: a backtest knows them
        all): each column is filled for all of them at once, the first time it is read (``_full_column``);
        ``_append`` then only checks each bar is the next of them and counts it."""
        if self._coming or self._preloaded[1]:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{self.market}: bars are already preloaded")
        size, count = self._size, len(bars)
        columns = self._columns
        if size + count > len(columns["close"]):
            self._columns = {name: np.resize(column, size + count) for name, column in columns.items()}
        self._preloaded = (size, list(bars))
        self._unfilled = set(FIELDS)
        self._coming = list(reversed(bars))  # popped from the end as they are revealed

    def _full_column(self, name: str) -> np.ndarray:
        """Column ``name`` as stored, preloaded bars included (their values written on the first read)."""
        column = self._columns[name]
        if name in self._unfilled:
            start, bars = self._preloaded
            column[start : start + len(bars)] = [float(getattr(bar, name)) for bar in bars]
            self._unfilled.discard(name)
        return column

    def _append(self, bar: Bar) -> None:
        """Reveal one more closed bar (the runner's business)."""
        bars, size = self._bars, self._size
        if bars and bar.open_time_ns <= bars[-1].open_time_ns:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{self.market}: bars must arrive in time order")
        coming = self._coming
        if coming:
            if coming[-1] is not bar:
                raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{self.market}: a bar out of the preloaded order")
            coming.pop()
            bars.append(bar)
            self._size = size + 1
            return
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
        view = self._full_column(name)[: self._size]
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

    __slots__ = (
        "market", "indicator", "inputs", "_values", "_array", "_size", "_field", "_update_indicator", "_data",
    )  # fmt: skip

    def __init__(self, market: str, indicator: Any, inputs: tuple[str, ...]) -> None:
        self.market = market
        self.indicator = indicator
        self.inputs = inputs
        self._values: list[Any] = []  # every output so far (prepared: every output of the run)
        self._array: np.ndarray | None = None
        self._size = 0  # the outputs revealed
        # the one price field most indicators take (``close``), read without building an argument list
        self._field = inputs[0] if len(inputs) == 1 and inputs[0] != "timestamp_ns" else None
        self._update_indicator = indicator.update
        self._data: MarketData | None = None  # prepared: the market's data, whose size is this series' size

    def _prepare(self, data: MarketData) -> bool:
        """Take every output of the run at once from ``indicator.batch`` over ``data``'s columns (the bars
        revealed so far and the preloaded ones: ``MarketData._preload``); from then on the series counts the bars
        ``data`` has revealed and needs no ``_update``. False (nothing changed) when the indicator has no
        ``batch``, reads the bar time, or its batch form refuses the series (too short for one value); then it
        keeps being updated bar by bar. The outputs already given must be the batch's own."""
        batch = getattr(self.indicator, "batch", None)
        if batch is None or self._data is not None or "timestamp_ns" in self.inputs:
            return False
        size = self._size
        if size != data._size or self._array is None and self._values:
            return False
        total = size + len(data._coming)
        try:
            outputs = batch(*(data._full_column(name)[:total] for name in self.inputs))
        except SpotlabError:
            return False
        if size and not np.array_equal(outputs[:size], self._array[:size], equal_nan=True):
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"{type(self.indicator).__name__}.batch disagrees with its update"
            )
        self._array = np.array(outputs, dtype=np.float64)
        self._values = self._array.tolist()
        self._data = data
        return True

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
    def prepared(self) -> bool:
        """Whether the outputs were taken at once (``_prepare``) rather than bar by bar."""
        return self._data is not None

    @property
    def values(self) -> np.ndarray:
        """The outputs so far as a read-only float64 array (single-output indicators)."""
        if self._array is None and self._values:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"{type(self.indicator).__name__} gives several outputs per bar; index the series instead",
            )
        view = (self._array if self._array is not None else np.empty(0))[: len(self)]
        view.flags.writeable = False
        return view

    def __getitem__(self, index: int) -> Any:
        data = self._data
        size = self._size if data is None else data._size
        if type(index) is int:
            position = index + size if index < 0 else index
            if not 0 <= position < size:
                raise IndexError(f"index {index} beyond the {size} values so far")
            return self._values[position]
        return self._values[:size][index]

    def __len__(self) -> int:
        return self._size if self._data is None else self._data._size

    def __repr__(self) -> str:
        return f"IndicatorSeries({type(self.indicator).__name__}, {self.market}, {len(self)} values)"


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

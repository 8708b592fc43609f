"""Volatility and trend-strength indicators: Bollinger Bands, ATR and ADX, vectorised and streaming, equal to TA-Lib.

Formulas (p = period):
- Bollinger (TA-Lib ``BBANDS`` with SMA): middle = SMA(close, p) (running sum, see ``trend``); sd = population
  standard deviation of the same window from the moves d = x - pivot: sqrt(mean(d^2) - mean(d)^2), 0 where that is
  not positive; upper/lower = middle +/- sd*stddev. NaN at indices < p-1. The sums of d and d^2 are running sums
  (add the newest move, emit, subtract the oldest). A re-base sets pivot = the window's first value and adds both
  sums afresh from the window: at the first window, then every p-th window after the last re-base, and at once
  wherever the variance from the running sums is below 2^-16 of the largest d^2 summed since the last re-base (a
  jump that has left the window would otherwise leave its rounding in the sums). A window of p equal values has
  sd exactly 0, at any price (it is recognised by the run of equal closes, not left to the sums).
- True range at i >= 1: max(high_i - low_i, |close_{i-1} - high_i|, |close_{i-1} - low_i|).
- ATR (TA-Lib ``ATR``): first value at index p = (TR_1 + ... + TR_p)/p; then, with a = (p-1)/p and b = 1 - a,
  atr = atr*a + TR*b, the first product and the sum rounded once (a fused multiply-add, as TA-Lib's FMA build).
  For p == 1 it is the true range itself (from index 1).
- ADX (TA-Lib ``ADX``): +DM_i = up move if up > 0 and up > down, -DM_i = down move if down > 0 and down > up
  (up = high_i - high_{i-1}, down = low_{i-1} - low_i). +DM, -DM and TR are summed over bars 1..p-1, then Wilder
  smoothed (s = s - s/p + new) from bar p; DI = 100*DM/TR; DX = 100*|+DI - -DI|/(+DI + -DI). The first ADX, at
  index 2p-1, is the mean of DX over bars p..2p-1; then adx = (adx*(p-1) + DX)/p. A bar whose smoothed TR or DI sum
  is 0 adds no DX (and leaves the ADX unchanged), as in TA-Lib.

Invariants:
- Outputs are float64 arrays as long as the input, computed by compiled loops (``_compiled``); the streaming classes
  fed the same bars run the same float operations in the same order and return the same bits, NaN included.
- Bit-identical to TA-Lib (its FMA build, the one used on CPUs with FMA): ATR and ADX. Bollinger's middle band is
  TA-Lib's SMA bit for bit; its deviation is within 1e-9 of the price level but not bit for bit (TA-Lib 0.8 computes
  it in an order it does not document; the moves, small because the pivot is at most two windows old, keep it
  precise where a running sum of squares of prices would cancel, and the re-basing keeps the sums from drifting).
- Bollinger costs O(1) per bar, amortised: one re-base (O(p)) every p bars, plus one wherever the cancellation test
  fires (after a jump, or where two closes nearly agree at p = 2; none at p >= 20 over 100,000 random-walk bars),
  vectorised and streaming alike. Data built to fire it on every bar (each window's first value far from the rest)
  would cost O(p) per bar, a deviation from scratch per window.
- Streaming state is bounded by the period (at most one window), whatever the series length.
- Bad input raises ``SpotlabError(INVALID_ARGUMENT)`` (see ``_checks``).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from spotlab.indicators import _checks, _compiled
from spotlab.indicators._fused import fused_multiply_add

__all__ = ["ADX", "ATR", "Bollinger", "adx", "atr", "bollinger", "true_range"]


def _bollinger_parameters(period: int, stddev: float) -> tuple[int, float]:
    return _checks.period("period", period, minimum=2), _checks.number("stddev", stddev)


def bollinger(close, period: int = 20, stddev: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger Bands ``(upper, middle, lower)`` over an SMA and the population standard deviation."""
    size, width = _bollinger_parameters(period, stddev)
    values = _checks.series("close", close)
    _checks.long_enough("close", len(values), size, f"period={size}")
    return _compiled.bbands(values, size, width)


class Bollinger:
    """Streaming Bollinger Bands; ``update(close)`` returns ``(upper, middle, lower)``; O(1) per update (amortised).

    The kernel's arithmetic bar by bar: running sums of the moves from the pivot, re-based on the same windows
    (every ``period``-th, and wherever the variance falls below ``CANCELLATION`` of the largest squared move), and
    the run of equal closes that marks a flat window."""

    __slots__ = (
        "period",
        "stddev",
        "_window",
        "_sum",
        "_pivot",
        "_moves",
        "_squares",
        "_peak",
        "_until_rebase",
        "_run",
        "_last",
    )

    def __init__(self, period: int = 20, stddev: float = 2.0) -> None:
        self.period, self.stddev = _bollinger_parameters(period, stddev)
        self._window: deque[float] = deque()
        self._sum = 0.0
        self._pivot = self._moves = self._squares = self._peak = 0.0
        self._until_rebase = 0  # windows left before the next periodic re-base (0: the next one)
        self._run = 0  # how many closes in a row equal the newest
        self._last: float | None = None

    def update(self, close: float) -> tuple[float, float, float]:
        value = _checks.scalar("close", close)
        window = self._window
        window.append(value)
        self._sum += value
        self._run = self._run + 1 if value == self._last else 1
        self._last = value
        period = self.period
        if len(window) < period:
            return math.nan, math.nan, math.nan
        fresh = self._until_rebase == 0
        if fresh:
            self._rebase(period)
        else:
            move = value - self._pivot
            square = move * move
            self._moves += move
            self._squares += square
            if square > self._peak:
                self._peak = square
        self._until_rebase -= 1
        mean = self._sum / period
        leaving = window[0]
        self._sum -= leaving
        if self._run >= period:
            deviation = 0.0
        else:
            variance = self._variance()
            if not fresh and variance < self._peak * _compiled.CANCELLATION:
                self._rebase(period - 1)
                variance = self._variance()
            deviation = (math.sqrt(variance) if variance > 0.0 else 0.0) * self.stddev
        window.popleft()
        move = leaving - self._pivot
        self._moves -= move
        self._squares -= move * move
        return mean + deviation, mean, mean - deviation

    def _variance(self) -> float:
        average_move = self._moves / self.period
        return self._squares / self.period - average_move * average_move

    def _rebase(self, windows: int) -> None:
        """Pivot on the window's first value and add both sums afresh (the kernel's ``_window_moves``)."""
        self._until_rebase = windows
        self._pivot = pivot = self._window[0]
        moves = squares = peak = 0.0
        for past in self._window:
            move = past - pivot
            square = move * move
            moves += move
            squares += square
            if square > peak:
                peak = square
        self._moves, self._squares, self._peak = moves, squares, peak


def _bars(high, low, close) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    highs, lows, closes = _checks.series("high", high), _checks.series("low", low), _checks.series("close", close)
    _checks.same_length(high=highs, low=lows, close=closes)
    return highs, lows, closes


def _true_range(high: float, low: float, previous_close: float) -> float:
    return max(high - low, abs(previous_close - high), abs(previous_close - low))


def true_range(high, low, close) -> np.ndarray:
    """True range per bar (TA-Lib ``TRANGE``): NaN at index 0."""
    return _true_ranges(*_bars(high, low, close))


def _true_ranges(highs: np.ndarray, lows: np.ndarray, closes: np.ndarray) -> np.ndarray:
    out = _checks.nan_array(len(closes))
    previous, bar_high, bar_low = closes[:-1], highs[1:], lows[1:]
    ranges = np.subtract(bar_high, bar_low, out=out[1:])
    gap = np.subtract(previous, bar_high)
    np.maximum(ranges, np.abs(gap, out=gap), out=ranges)
    np.subtract(previous, bar_low, out=gap)
    np.maximum(ranges, np.abs(gap, out=gap), out=ranges)
    return out


class _WilderAverage:
    """Mean of the first ``period`` inputs, then avg = fma(avg, (p-1)/p, x*(1 - (p-1)/p)), as TA-Lib's ATR."""

    __slots__ = ("period", "_count", "_total", "_keep", "_share", "value")

    def __init__(self, period: int) -> None:
        self.period = period
        self._keep = float(period - 1) / float(period)
        self._share = 1.0 - self._keep
        self._count = 0
        self._total = 0.0
        self.value = math.nan

    def step(self, value: float) -> float:
        if self._count < self.period:
            self._count += 1
            self._total += value
            if self._count == self.period:
                self.value = self._total / self.period
            return self.value
        self.value = result = fused_multiply_add(self.value, self._keep, value * self._share)
        return result


def atr(high, low, close, period: int = 14) -> np.ndarray:
    """Average True Range with Wilder smoothing (TA-Lib ``ATR``)."""
    size = _checks.period("period", period)
    highs, lows, closes = _bars(high, low, close)
    _checks.long_enough("close", len(closes), size + 1, f"period={size} needs period+1 bars")
    return _compiled.atr(highs, lows, closes, size)


class ATR:
    """Streaming ATR; ``update(high, low, close)`` returns the newest value (NaN for the first ``period`` bars)."""

    __slots__ = ("period", "_average", "_previous_close")

    def __init__(self, period: int = 14) -> None:
        self.period = _checks.period("period", period)
        self._average = _WilderAverage(self.period)
        self._previous_close: float | None = None

    def batch(self, high, low, close) -> np.ndarray:
        """What a fresh instance's ``update`` returns for each value of the arrays in turn, computed at once
        (``atr``: the same float operations, the same bits)."""
        return atr(high, low, close, self.period)

    def update(self, high: float, low: float, close: float) -> float:
        scalar = _checks.scalar
        bar_high, bar_low, bar_close = scalar("high", high), scalar("low", low), scalar("close", close)
        previous, self._previous_close = self._previous_close, bar_close
        if previous is None:
            return math.nan
        return self._average.step(max(bar_high - bar_low, abs(previous - bar_high), abs(previous - bar_low)))


class _DirectionalState:
    """TA-Lib's ADX recursion, one bar at a time; ``step`` returns the ADX (NaN during the 2p-1 warm-up bars)."""

    __slots__ = ("period", "_bars", "_previous", "_plus_dm", "_minus_dm", "_tr", "_dx_total", "value")

    def __init__(self, period: int) -> None:
        self.period = period
        self._bars = 0
        self._previous: tuple[float, float, float] | None = None
        self._plus_dm = self._minus_dm = self._tr = 0.0
        self._dx_total = 0.0
        self.value = math.nan

    def _directional_moves(self, high: float, low: float) -> tuple[float, float]:
        previous_high, previous_low, _ = self._previous
        up, down = high - previous_high, previous_low - low
        if down > 0 and up < down:
            return 0.0, down
        if up > 0 and up > down:
            return up, 0.0
        return 0.0, 0.0

    def _smooth(self, plus: float, minus: float, true_range: float) -> None:
        period = self.period
        if self._bars >= period:
            self._minus_dm -= self._minus_dm / period
            self._plus_dm -= self._plus_dm / period
            self._tr = self._tr - (self._tr / period) + true_range
        else:
            self._tr += true_range
        self._plus_dm += plus
        self._minus_dm += minus

    def _dx(self) -> float | None:
        if self._tr == 0.0:
            return None
        minus_di = 100.0 * (self._minus_dm / self._tr)
        plus_di = 100.0 * (self._plus_dm / self._tr)
        total = minus_di + plus_di
        return None if total == 0.0 else 100.0 * (abs(minus_di - plus_di) / total)

    def step(self, high: float, low: float, close: float) -> float:
        if self._previous is None:
            self._previous = (high, low, close)
            return math.nan
        plus, minus = self._directional_moves(high, low)
        self._bars += 1
        self._smooth(plus, minus, _true_range(high, low, self._previous[2]))
        self._previous = (high, low, close)
        if self._bars >= self.period:
            self._accumulate(self._dx())
        return self.value

    def _accumulate(self, dx: float | None) -> None:
        period = self.period
        if self._bars < 2 * period - 1:
            self._dx_total += 0.0 if dx is None else dx
        elif self._bars == 2 * period - 1:
            self.value = (self._dx_total + (0.0 if dx is None else dx)) / period
        elif dx is not None:
            self.value = ((self.value * (period - 1)) + dx) / period


def adx(high, low, close, period: int = 14) -> np.ndarray:
    """Average Directional Index (TA-Lib ``ADX``): first value at index 2*period-1."""
    size = _checks.period("period", period, minimum=2)
    highs, lows, closes = _bars(high, low, close)
    _checks.long_enough("close", len(closes), 2 * size, f"period={size} needs 2*period bars")
    return _compiled.adx(highs, lows, closes, size)


class ADX:
    """Streaming ADX; ``update(high, low, close)`` returns the newest value (NaN for the first 2*period-1 bars)."""

    __slots__ = ("period", "_state")

    def __init__(self, period: int = 14) -> None:
        self.period = _checks.period("period", period, minimum=2)
        self._state = _DirectionalState(self.period)

    def batch(self, high, low, close) -> np.ndarray:
        """What a fresh instance's ``update`` returns for each value of the arrays in turn, computed at once
        (``adx``: the same float operations, the same bits)."""
        return adx(high, low, close, self.period)

    def update(self, high: float, low: float, close: float) -> float:
        scalar = _checks.scalar
        return self._state.step(scalar("high", high), scalar("low", low), scalar("close", close))

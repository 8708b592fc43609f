"""Volatility and trend-strength indicators: Bollinger Bands, ATR and ADX, vectorised and streaming, equal to TA-Lib.

Formulas (p = period):
- Bollinger (TA-Lib ``BBANDS`` with SMA): middle = SMA(close, p); sd = population standard deviation of the same
  window (vectorised: mean(d^2) - mean(d)^2 of the deviations d from a nearby close, see
  ``_kernels.window_variance``; streaming: two-pass over the window); a flat window gives exactly 0 both ways;
  upper/lower = middle +/- stddev*sd. NaN at indices < p-1.
- True range at i >= 1: max(high_i - low_i, |close_{i-1} - high_i|, |close_{i-1} - low_i|).
- ATR (TA-Lib ``ATR``): first value at index p = mean(TR_1..TR_p); then atr = (atr*(p-1) + TR)/p.
  For p == 1 it is the true range itself (from index 1).
- ADX (TA-Lib ``ADX``): +DM_i = up move if up > 0 and up > down, -DM_i = down move if down > 0 and down > up
  (up = high_i - high_{i-1}, down = low_{i-1} - low_i). +DM, -DM and TR are summed over bars 1..p-1, then Wilder
  smoothed (s = s - s/p + new) from bar p; DI = 100*DM/TR; DX = 100*|+DI - -DI|/(+DI + -DI). The first ADX, at
  index 2p-1, is the mean of DX over bars p..2p-1; then adx = (adx*(p-1) + DX)/p. A bar whose smoothed TR or DI sum
  is 0 adds no DX (and leaves the ADX unchanged), as in TA-Lib.

Invariants:
- Outputs are float64 arrays as long as the input; streaming classes fed the same bars return the same numbers
  up to float rounding (within ~1e-14 relative) and NaN exactly where the vectorised output is NaN.
- The vectorised forms run no Python loop over the bars: Wilder smoothing goes through
  ``_kernels.linear_recurrence`` (ADX's bars without a DX are left out of its average and the previous value carried),
  DX is computed as 100*|+DM - -DM|/(+DM + -DM) (the DIs' common 100/TR cancels).
- Streaming state is bounded by the period (at most one window), whatever the series length.
- Bad input raises ``SpotlabError(INVALID_ARGUMENT)`` (see ``_checks``).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from spotlab.indicators import _checks
from spotlab.indicators._kernels import linear_recurrence, sequential_sum, window_sum, window_variance

__all__ = ["ADX", "ATR", "Bollinger", "adx", "atr", "bollinger", "true_range"]


def _bollinger_parameters(period: int, stddev: float) -> tuple[int, float]:
    return _checks.period("period", period, minimum=2), _checks.number("stddev", stddev)


def bollinger(close, period: int = 20, stddev: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger Bands ``(upper, middle, lower)`` over an SMA and the population standard deviation."""
    size, width = _bollinger_parameters(period, stddev)
    values = _checks.series("close", close)
    _checks.long_enough("close", len(values), size, f"period={size}")
    upper, middle, lower = (_checks.nan_array(len(values)) for _ in range(3))
    mean = np.divide(window_sum(values, size), size, out=middle[size - 1 :])
    deviation = np.sqrt(window_variance(values, size))
    np.multiply(deviation, width, out=deviation)
    np.add(mean, deviation, out=upper[size - 1 :])
    np.subtract(mean, deviation, out=lower[size - 1 :])
    return upper, middle, lower


class Bollinger:
    """Streaming Bollinger Bands; ``update(close)`` returns ``(upper, middle, lower)`` (O(period) per update)."""

    __slots__ = ("period", "stddev", "_window")

    def __init__(self, period: int = 20, stddev: float = 2.0) -> None:
        self.period, self.stddev = _bollinger_parameters(period, stddev)
        self._window: deque[float] = deque(maxlen=self.period)

    def update(self, close: float) -> tuple[float, float, float]:
        window = self._window
        window.append(_checks.scalar("close", close))
        period = self.period
        if len(window) < period:
            return math.nan, math.nan, math.nan
        mean = sum(window) / period
        squares = 0.0
        for value in window:
            squares += (value - mean) * (value - mean)
        deviation = math.sqrt(squares / period) * self.stddev
        return mean + deviation, mean, mean - deviation


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
    """Mean of the first ``period`` inputs, then avg = (avg*(p-1) + x)/p, in TA-Lib's float order."""

    __slots__ = ("period", "_count", "_total", "value")

    def __init__(self, period: int) -> None:
        self.period = period
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
        self.value = (self.value * (self.period - 1) + value) / self.period
        return self.value


def atr(high, low, close, period: int = 14) -> np.ndarray:
    """Average True Range with Wilder smoothing (TA-Lib ``ATR``)."""
    size = _checks.period("period", period)
    ranges = true_range(high, low, close)
    _checks.long_enough("close", len(ranges), size + 1, f"period={size} needs period+1 bars")
    if size == 1:
        return ranges  # (atr*0 + TR)/1: the true range itself
    out = _checks.nan_array(len(ranges))
    seed = sequential_sum(ranges[1 : size + 1]) / size
    out[size] = seed
    out[size + 1 :] = linear_recurrence(ranges[size + 1 :], (size - 1) / size, seed, gain=1.0 / size)
    return out


class ATR:
    """Streaming ATR; ``update(high, low, close)`` returns the newest value (NaN for the first ``period`` bars)."""

    __slots__ = ("period", "_average", "_previous_close")

    def __init__(self, period: int = 14) -> None:
        self.period = _checks.period("period", period)
        self._average = _WilderAverage(self.period)
        self._previous_close: float | None = None

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
    smoothed = _smoothed_directional_sums(highs, lows, closes, size)
    dx, counted = _directional_index(*smoothed)
    return _average_dx(dx, counted, size, len(closes))


def _smoothed_directional_sums(highs, lows, closes, size: int) -> np.ndarray:
    """Rows +DM, -DM, TR, Wilder-smoothed; column j is bar ``size + j`` (sums of bars 1..size-1 seed them)."""
    up = np.subtract(highs[1:], highs[:-1])
    down = np.subtract(lows[:-1], lows[1:])
    moves = np.empty((3, len(up)))
    np.multiply(up, (up > down) & (up > 0.0), out=moves[0])
    np.multiply(down, (down > up) & (down > 0.0), out=moves[1])
    moves[2] = _true_ranges(highs, lows, closes)[1:]
    seeds = [sequential_sum(row[: size - 1]) for row in moves]
    return linear_recurrence(moves[:, size - 1 :], 1.0 - 1.0 / size, seeds)


def _directional_index(plus: np.ndarray, minus: np.ndarray, ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DX per bar and whether it counts (TA-Lib skips bars whose smoothed TR or DI sum is 0).

    DX = 100*|+DI - -DI|/(+DI + -DI) with DI = 100*DM/TR; the 100/TR cancels, so it is computed from the DMs.
    """
    total = np.add(plus, minus)
    counted = (ranges != 0.0) & (total != 0.0)
    dx = np.subtract(plus, minus)
    np.abs(dx, out=dx)
    np.multiply(dx, 100.0, out=dx)
    np.divide(dx, total, out=dx, where=counted)
    dx[~counted] = 0.0
    return dx, counted


def _average_dx(dx: np.ndarray, counted: np.ndarray, size: int, length: int) -> np.ndarray:
    """ADX from DX of bars size.. : mean of the first ``size`` (uncounted as 0), then Wilder's average of counted."""
    out = _checks.nan_array(length)
    seed = sequential_sum(dx[:size]) / size
    out[2 * size - 1] = seed
    later, later_counted = dx[size:], counted[size:]
    averages = np.empty(int(later_counted.sum()) + 1)
    averages[0] = seed
    averages[1:] = linear_recurrence(later[later_counted], (size - 1) / size, seed, gain=1.0 / size)
    out[2 * size :] = averages[np.cumsum(later_counted)]
    return out


class ADX:
    """Streaming ADX; ``update(high, low, close)`` returns the newest value (NaN for the first 2*period-1 bars)."""

    __slots__ = ("period", "_state")

    def __init__(self, period: int = 14) -> None:
        self.period = _checks.period("period", period, minimum=2)
        self._state = _DirectionalState(self.period)

    def update(self, high: float, low: float, close: float) -> float:
        scalar = _checks.scalar
        return self._state.step(scalar("high", high), scalar("low", low), scalar("close", close))

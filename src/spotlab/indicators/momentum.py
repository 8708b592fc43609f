"""Momentum indicators: RSI and the (slow) Stochastic oscillator, vectorised and streaming, equal to TA-Lib.

Formulas (x = close, p = period):
- RSI (TA-Lib ``RSI``, Wilder): d_i = x_i - x_{i-1}; the first averages are the left-to-right sums of the gains
  and of the losses over d_1..d_p times s = 1/p; afterwards avg = (avg*(p-1) + new)*s (TA-Lib 0.8 multiplies by
  the reciprocal). RSI = 100*(gain/(gain+loss)), 0 when both are 0. First value at index p (NaN before).
- Stochastic (TA-Lib ``STOCH`` with SMA smoothing): fast %K_i = (close_i - LL)/(HH - LL)*100, where HH/LL are the
  highest high / lowest low of the last ``k_period`` bars (0 when HH == LL); slow %K = SMA(fast %K, k_smooth);
  %D = SMA(slow %K, d_period), each SMA a running sum (see ``trend``). Both outputs start at index
  k_period + k_smooth + d_period - 3 (NaN before).

Invariants:
- Outputs are float64 arrays as long as the input, computed by compiled loops (``_compiled``); the streaming classes
  fed the same bars run the same float operations in the same order and return the same bits, NaN included.
- Bit-identical to TA-Lib: RSI and Stochastic (``np.array_equal`` in the parity tests).
- Streaming state is bounded by the periods (one window per stage), whatever the series length.
- Bad input raises ``SpotlabError(INVALID_ARGUMENT)`` (see ``_checks``).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from spotlab.indicators import _checks, _compiled

__all__ = ["RSI", "Stochastic", "rsi", "stochastic"]


def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 100.0 * (gain / total) if total != 0.0 else 0.0


def rsi(close, period: int = 14) -> np.ndarray:
    """Relative Strength Index with Wilder smoothing (TA-Lib ``RSI``)."""
    values = _checks.series("close", close)
    size = _checks.period("period", period, minimum=2)
    _checks.long_enough("close", len(values), size + 1, f"period={size} needs period+1 closes")
    return _compiled.rsi(values, size)


class _WilderRsi:
    """Wilder's average gain/loss in TA-Lib's exact arithmetic; ``step`` takes one price change."""

    __slots__ = ("period", "_count", "_gain", "_loss", "_keep", "_share")

    def __init__(self, period: int) -> None:
        self.period = period
        self._keep = float(period - 1)
        self._share = 1.0 / period
        self._count = 0
        self._gain = 0.0
        self._loss = 0.0

    def step(self, change: float) -> float:
        if self._count >= self.period:
            self._gain *= self._keep
            self._loss *= self._keep
        self._count += 1
        if change < 0:
            self._loss -= change
        else:
            self._gain += change
        if self._count < self.period:
            return math.nan
        self._gain *= self._share
        self._loss *= self._share
        return _rsi_value(self._gain, self._loss)


class RSI:
    """Streaming RSI; ``update(close)`` returns the newest value (NaN for the first ``period`` closes)."""

    __slots__ = ("period", "_state", "_previous")

    def __init__(self, period: int = 14) -> None:
        self.period = _checks.period("period", period, minimum=2)
        self._state = _WilderRsi(self.period)
        self._previous: float | None = None

    def batch(self, close) -> np.ndarray:
        """What a fresh instance's ``update`` returns for each value of the arrays in turn, computed at once
        (``rsi``: the same float operations, the same bits)."""
        return rsi(close, self.period)

    def update(self, close: float) -> float:
        value = _checks.scalar("close", close)
        previous, self._previous = self._previous, value
        return math.nan if previous is None else self._state.step(value - previous)


def _stochastic_periods(k_period: int, k_smooth: int, d_period: int) -> tuple[int, int, int]:
    return (
        _checks.period("k_period", k_period),
        _checks.period("k_smooth", k_smooth),
        _checks.period("d_period", d_period),
    )


def _fast_k(close: float, highest: float, lowest: float) -> float:
    spread = highest - lowest
    return (close - lowest) / spread * 100.0 if spread != 0.0 else 0.0


class _RunningMean:
    """TA-Lib's SMA one value at a time: add the new value, emit total/p, subtract the oldest."""

    __slots__ = ("period", "_window", "_total")

    def __init__(self, period: int) -> None:
        self.period = period
        self._window: deque[float] = deque()
        self._total = 0.0

    def step(self, value: float) -> float:
        window = self._window
        window.append(value)
        self._total += value
        if len(window) < self.period:
            return math.nan
        mean = self._total / self.period
        self._total -= window.popleft()
        return mean


def stochastic(
    high, low, close, k_period: int = 5, k_smooth: int = 3, d_period: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Slow stochastic ``(%K, %D)`` with SMA smoothing (TA-Lib ``STOCH`` defaults)."""
    k_period, k_smooth, d_period = _stochastic_periods(k_period, k_smooth, d_period)
    highs, lows, closes = _checks.series("high", high), _checks.series("low", low), _checks.series("close", close)
    length = _checks.same_length(high=highs, low=lows, close=closes)
    first = k_period + k_smooth + d_period - 3
    _checks.long_enough("close", length, first + 1, f"k_period + k_smooth + d_period - 2 = {first + 1}")
    return _compiled.stoch(highs, lows, closes, k_period, k_smooth, d_period)


class Stochastic:
    """Streaming slow stochastic; ``update(high, low, close)`` returns ``(%K, %D)``.

    Keeps the last ``k_period`` highs and lows and one running-sum SMA per smoothing stage (TA-Lib's order).
    """

    __slots__ = ("k_period", "k_smooth", "d_period", "_highs", "_lows", "_slow_k", "_slow_d")

    def __init__(self, k_period: int = 5, k_smooth: int = 3, d_period: int = 3) -> None:
        self.k_period, self.k_smooth, self.d_period = _stochastic_periods(k_period, k_smooth, d_period)
        self._highs: deque[float] = deque(maxlen=self.k_period)
        self._lows: deque[float] = deque(maxlen=self.k_period)
        self._slow_k = _RunningMean(self.k_smooth)
        self._slow_d = _RunningMean(self.d_period)

    def update(self, high: float, low: float, close: float) -> tuple[float, float]:
        scalar = _checks.scalar
        bar_high, bar_low, bar_close = scalar("high", high), scalar("low", low), scalar("close", close)
        highs, lows = self._highs, self._lows
        highs.append(bar_high)
        lows.append(bar_low)
        if len(highs) < self.k_period:
            return math.nan, math.nan
        slow_k = self._slow_k.step(_fast_k(bar_close, max(highs), min(lows)))
        if math.isnan(slow_k):
            return math.nan, math.nan
        slow_d = self._slow_d.step(slow_k)
        if math.isnan(slow_d):
            return math.nan, math.nan
        return slow_k, slow_d

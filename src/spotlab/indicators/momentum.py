"""Momentum indicators: RSI and the (slow) Stochastic oscillator, vectorised and streaming, equal to TA-Lib.

Formulas (x = close, p = period):
- RSI (TA-Lib ``RSI``, Wilder): d_i = x_i - x_{i-1}; the first averages are the plain means of the gains and of
  the losses over d_1..d_p; afterwards avg = (avg*(p-1) + new)/p. RSI = 100*gain/(gain+loss), 0 when both are 0.
  First value at index p (NaN before).
- Stochastic (TA-Lib ``STOCH`` with SMA smoothing): fast %K_i = (close_i - LL)/((HH - LL)/100), where HH/LL are the
  highest high / lowest low of the last ``k_period`` bars (0 when HH == LL); slow %K = SMA(fast %K, k_smooth);
  %D = SMA(slow %K, d_period). Both outputs start at index k_period + k_smooth + d_period - 3 (NaN before).

Invariants:
- Outputs are float64 arrays as long as the input; the streaming classes fed the same bars return the same numbers
  (RSI bit for bit; Stochastic within ~1e-15 relative), NaN exactly where the vectorised output is NaN.
- Streaming state is bounded by the periods (one window per stage), whatever the series length.
- Bad input raises ``SpotlabError(INVALID_ARGUMENT)`` (see ``_checks``).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from spotlab.indicators import _checks
from spotlab.indicators.trend import SMA

__all__ = ["RSI", "Stochastic", "rsi", "stochastic"]


def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 100.0 * (gain / total) if total != 0.0 else 0.0


def rsi(close, period: int = 14) -> np.ndarray:
    """Relative Strength Index with Wilder smoothing (TA-Lib ``RSI``)."""
    values = _checks.series("close", close)
    size = _checks.period("period", period, minimum=2)
    _checks.long_enough("close", len(values), size + 1, f"period={size} needs period+1 closes")
    out = _checks.nan_array(len(values))
    state = _WilderRsi(size)
    previous = float(values[0])
    for index in range(1, len(values)):
        current = float(values[index])
        out[index] = state.step(current - previous)
        previous = current
    return out


class _WilderRsi:
    """Wilder's average gain/loss in TA-Lib's exact arithmetic; ``step`` takes one price change."""

    def __init__(self, period: int) -> None:
        self.period = period
        self._count = 0
        self._gain = 0.0
        self._loss = 0.0

    def step(self, change: float) -> float:
        if self._count >= self.period:
            self._gain *= self.period - 1
            self._loss *= self.period - 1
        self._count += 1
        if change < 0:
            self._loss -= change
        else:
            self._gain += change
        if self._count < self.period:
            return math.nan
        self._gain /= self.period
        self._loss /= self.period
        return _rsi_value(self._gain, self._loss)


class RSI:
    """Streaming RSI; ``update(close)`` returns the newest value (NaN for the first ``period`` closes)."""

    def __init__(self, period: int = 14) -> None:
        self.period = _checks.period("period", period, minimum=2)
        self._state = _WilderRsi(self.period)
        self._previous: float | None = None

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
    spread = (highest - lowest) / 100.0
    return (close - lowest) / spread if spread != 0.0 else 0.0


def _sma_ignoring_warmup(values: np.ndarray, start: int, period: int) -> np.ndarray:
    """SMA of ``values[start:]`` placed back at its indices (NaN before ``start + period - 1``)."""
    out = _checks.nan_array(len(values))
    out[start + period - 1 :] = sliding_window_view(values[start:], period).sum(axis=1) / period
    return out


def stochastic(
    high, low, close, k_period: int = 5, k_smooth: int = 3, d_period: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Slow stochastic ``(%K, %D)`` with SMA smoothing (TA-Lib ``STOCH`` defaults)."""
    k_period, k_smooth, d_period = _stochastic_periods(k_period, k_smooth, d_period)
    highs, lows, closes = _checks.series("high", high), _checks.series("low", low), _checks.series("close", close)
    length = _checks.same_length(high=highs, low=lows, close=closes)
    first = k_period + k_smooth + d_period - 3
    _checks.long_enough("close", length, first + 1, f"k_period + k_smooth + d_period - 2 = {first + 1}")
    highest = sliding_window_view(highs, k_period).max(axis=1)
    lowest = sliding_window_view(lows, k_period).min(axis=1)
    spread = (highest - lowest) / 100.0
    fast = _checks.nan_array(length)
    with np.errstate(divide="ignore", invalid="ignore"):
        fast[k_period - 1 :] = np.where(spread != 0.0, (closes[k_period - 1 :] - lowest) / spread, 0.0)
    slow_k = _sma_ignoring_warmup(fast, k_period - 1, k_smooth)
    slow_d = _sma_ignoring_warmup(slow_k, k_period + k_smooth - 2, d_period)
    slow_k[:first] = np.nan
    return slow_k, slow_d


class _Smoother:
    """SMA stage that passes values straight through for period 1 (TA-Lib's MA of period 1 is a copy)."""

    def __init__(self, period: int) -> None:
        self._sma = SMA(period) if period > 1 else None

    def update(self, value: float) -> float:
        return value if self._sma is None else self._sma.update(value)


class Stochastic:
    """Streaming slow stochastic; ``update(high, low, close)`` returns ``(%K, %D)``."""

    def __init__(self, k_period: int = 5, k_smooth: int = 3, d_period: int = 3) -> None:
        self.k_period, self.k_smooth, self.d_period = _stochastic_periods(k_period, k_smooth, d_period)
        self._highs: deque[float] = deque(maxlen=self.k_period)
        self._lows: deque[float] = deque(maxlen=self.k_period)
        self._smooth_k = _Smoother(self.k_smooth)
        self._smooth_d = _Smoother(self.d_period)

    def update(self, high: float, low: float, close: float) -> tuple[float, float]:
        bar_high, bar_low = _checks.scalar("high", high), _checks.scalar("low", low)
        bar_close = _checks.scalar("close", close)
        self._highs.append(bar_high)
        self._lows.append(bar_low)
        if len(self._highs) < self.k_period:
            return math.nan, math.nan
        slow_k = self._smooth_k.update(_fast_k(bar_close, max(self._highs), min(self._lows)))
        if math.isnan(slow_k):
            return math.nan, math.nan
        slow_d = self._smooth_d.update(slow_k)
        return (math.nan, math.nan) if math.isnan(slow_d) else (slow_k, slow_d)

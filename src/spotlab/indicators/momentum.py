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
  up to float rounding (within ~1e-14 relative), NaN exactly where the vectorised output is NaN.
- The vectorised forms run no Python loop over the bars (Wilder averages through ``_kernels.linear_recurrence``,
  highest/lowest and SMA stages through its window kernels).
- Streaming state is bounded by the periods (one window per stage), whatever the series length.
- Bad input raises ``SpotlabError(INVALID_ARGUMENT)`` (see ``_checks``).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from spotlab.indicators import _checks
from spotlab.indicators._kernels import linear_recurrence, sequential_sum, window_max, window_min, window_sum

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
    changes = np.diff(values)
    moves = np.empty((2, len(changes)))
    np.maximum(changes, 0.0, out=moves[0])  # gains
    np.negative(changes, out=moves[1])
    np.maximum(moves[1], 0.0, out=moves[1])  # losses
    seeds = [sequential_sum(moves[0, :size]) / size, sequential_sum(moves[1, :size]) / size]
    averages = linear_recurrence(moves[:, size:], (size - 1) / size, seeds, gain=1.0 / size)
    out[size] = _rsi_value(*seeds)
    total = averages[0] + averages[1]
    np.divide(averages[0], total, out=averages[1], where=total != 0.0)
    averages[1][total == 0.0] = 0.0
    np.multiply(averages[1], 100.0, out=out[size + 1 :])
    return out


class _WilderRsi:
    """Wilder's average gain/loss in TA-Lib's exact arithmetic; ``step`` takes one price change."""

    __slots__ = ("period", "_count", "_gain", "_loss")

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

    __slots__ = ("period", "_state", "_previous")

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
    np.divide(window_sum(values[start:], period), period, out=out[start + period - 1 :])
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
    highest = window_max(highs, k_period)
    lowest = window_min(lows, k_period)
    spread = np.subtract(highest, lowest, out=highest)
    np.divide(spread, 100.0, out=spread)
    fast = _checks.nan_array(length)
    position = np.subtract(closes[k_period - 1 :], lowest, out=lowest)
    fast_k = fast[k_period - 1 :]
    fast_k[:] = 0.0
    np.divide(position, spread, out=fast_k, where=spread != 0.0)
    slow_k = _sma_ignoring_warmup(fast, k_period - 1, k_smooth)
    slow_d = _sma_ignoring_warmup(slow_k, k_period + k_smooth - 2, d_period)
    slow_k[:first] = np.nan
    return slow_k, slow_d


class Stochastic:
    """Streaming slow stochastic; ``update(high, low, close)`` returns ``(%K, %D)``.

    Keeps the last ``k_period`` highs and lows, the last ``k_smooth`` fast %K values and the last ``d_period`` slow %K
    values; each SMA stage adds its (short) window afresh on every bar, so nothing drifts.
    """

    __slots__ = ("k_period", "k_smooth", "d_period", "_highs", "_lows", "_fast", "_slow")

    def __init__(self, k_period: int = 5, k_smooth: int = 3, d_period: int = 3) -> None:
        self.k_period, self.k_smooth, self.d_period = _stochastic_periods(k_period, k_smooth, d_period)
        self._highs: deque[float] = deque(maxlen=self.k_period)
        self._lows: deque[float] = deque(maxlen=self.k_period)
        self._fast: deque[float] = deque(maxlen=self.k_smooth)
        self._slow: deque[float] = deque(maxlen=self.d_period)

    def update(self, high: float, low: float, close: float) -> tuple[float, float]:
        scalar = _checks.scalar
        bar_high, bar_low, bar_close = scalar("high", high), scalar("low", low), scalar("close", close)
        highs, lows = self._highs, self._lows
        highs.append(bar_high)
        lows.append(bar_low)
        if len(highs) < self.k_period:
            return math.nan, math.nan
        fast = self._fast
        fast.append(_fast_k(bar_close, max(highs), min(lows)))
        if len(fast) < self.k_smooth:
            return math.nan, math.nan
        slow_k = sum(fast) / self.k_smooth
        slow = self._slow
        slow.append(slow_k)
        if len(slow) < self.d_period:
            return math.nan, math.nan
        return slow_k, sum(slow) / self.d_period

"""Trend indicators: SMA, EMA, WMA and MACD, vectorised and streaming, equal to TA-Lib.

Formulas (x = the input series, p = period, values at index i):
- SMA: mean(x[i-p+1 .. i]); warm-up NaN at indices < p-1.
- EMA: k = 2/(p+1); seeded at index p-1 with SMA(x[0..p-1]); then e_i = (x_i - e_{i-1})*k + e_{i-1}
  (the streaming class in TA-Lib's arithmetic order; the vectorised form as e_i = (1-k)*e_{i-1} + k*x_i, run in
  blocks by ``_kernels.linear_recurrence``); NaN at indices < p-1.
- WMA: sum_j (j+1)*x[i-p+1+j] / (p(p+1)/2), newest value weighted p; NaN at indices < p-1.
- MACD(fast, slow, signal): TA-Lib's alignment. Both EMAs are seeded at index slow-1, the fast one with the SMA
  of the ``fast`` values ending there (not of the first ``fast`` values). line = fastEMA - slowEMA; signal =
  EMA(line, signal) seeded with the SMA of the first ``signal`` line values; histogram = line - signal. All three
  outputs are NaN at indices < slow+signal-2. If slow < fast they are swapped, as TA-Lib does.

Invariants:
- Every vectorised function returns float64 arrays as long as its input; the streaming class fed the same values
  one at a time returns the same numbers up to float rounding (a few units in the last place: within ~1e-14 relative
  for SMA/EMA/WMA; MACD, a difference of price-sized EMAs, within ~1e-14 of the price level).
- The vectorised forms run no Python loop over the bars (window sums by doubling, recursions as blocked matrix
  products, see ``_kernels``); only the seed windows (``period`` values) are added one by one, as TA-Lib does.
- Streaming state is bounded: at most one window of ``period`` values, whatever the series length.
- Bad input (non-1-D, NaN/inf, period below TA-Lib's minimum, series shorter than one output needs) raises
  ``SpotlabError(INVALID_ARGUMENT)``; streaming ``update`` refuses NaN/inf.
"""

from __future__ import annotations

import math
import operator
from collections import deque

import numpy as np

from spotlab.indicators import _checks
from spotlab.indicators._kernels import linear_recurrence, sequential_sum, weighted_window_sum, window_sum

__all__ = ["EMA", "MACD", "SMA", "WMA", "ema", "macd", "sma", "wma"]


def _prepared(close, period: int, needed_extra: int = 0, name: str = "period") -> tuple[np.ndarray, int]:
    values = _checks.series("close", close)
    size = _checks.period(name, period, minimum=2)
    _checks.long_enough("close", len(values), size + needed_extra, f"{name}={size}")
    return values, size


def sma(close, period: int) -> np.ndarray:
    """Simple moving average (TA-Lib ``SMA``)."""
    values, size = _prepared(close, period)
    out = _checks.nan_array(len(values))
    np.divide(window_sum(values, size), size, out=out[size - 1 :])
    return out


def _ema_from(values: np.ndarray, seed: float, start: int, k: float, out: np.ndarray) -> None:
    """Write the EMA recursion e = e*(1-k) + x*k into ``out[start:]`` given its value ``seed`` at ``start``."""
    out[start] = seed
    out[start + 1 :] = linear_recurrence(values[start + 1 :], 1.0 - k, seed, gain=k)


def _sequential_mean(values: np.ndarray) -> float:
    return sequential_sum(values) / len(values)


def ema(close, period: int) -> np.ndarray:
    """Exponential moving average seeded with the SMA of the first ``period`` values (TA-Lib ``EMA``)."""
    values, size = _prepared(close, period)
    out = _checks.nan_array(len(values))
    _ema_from(values, _sequential_mean(values[:size]), size - 1, 2.0 / (size + 1), out)
    return out


def wma(close, period: int) -> np.ndarray:
    """Linearly weighted moving average, newest value weighted ``period`` (TA-Lib ``WMA``)."""
    values, size = _prepared(close, period)
    out = _checks.nan_array(len(values))
    np.divide(weighted_window_sum(values, size), size * (size + 1) / 2, out=out[size - 1 :])
    return out


def _macd_periods(fast: int, slow: int, signal: int) -> tuple[int, int, int]:
    fast = _checks.period("fast", fast, minimum=2)
    slow = _checks.period("slow", slow, minimum=2)
    signal = _checks.period("signal", signal, minimum=1)
    return (slow, fast, signal) if slow < fast else (fast, slow, signal)


def macd(close, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD line, signal line and histogram with TA-Lib's ``MACD`` alignment and warm-up."""
    fast, slow, signal = _macd_periods(fast, slow, signal)
    values = _checks.series("close", close)
    first = slow + signal - 2
    _checks.long_enough("close", len(values), first + 1, f"slow={slow}, signal={signal}")
    fast_line, slow_line = _checks.nan_array(len(values)), _checks.nan_array(len(values))
    _ema_from(values, _sequential_mean(values[slow - fast : slow]), slow - 1, 2.0 / (fast + 1), fast_line)
    _ema_from(values, _sequential_mean(values[:slow]), slow - 1, 2.0 / (slow + 1), slow_line)
    line = fast_line - slow_line
    signal_line = _checks.nan_array(len(values))
    _ema_from(line, _sequential_mean(line[slow - 1 : first + 1]), first, 2.0 / (signal + 1), signal_line)
    line[:first] = np.nan
    return line, signal_line, line - signal_line


class SMA:
    """Streaming SMA: a window of ``period`` values and a compensated (Neumaier) running sum."""

    __slots__ = ("period", "_window", "_sum", "_compensation")

    def __init__(self, period: int) -> None:
        self.period = _checks.period("period", period, minimum=2)
        self._window: deque[float] = deque()
        self._sum = 0.0
        self._compensation = 0.0

    def update(self, close: float) -> float:
        value = _checks.scalar("close", close)
        window = self._window
        window.append(value)
        total, compensation = self._sum, self._compensation
        for term in (value, -window.popleft()) if len(window) > self.period else (value,):
            new_total = total + term
            if abs(total) >= abs(term):
                compensation += (total - new_total) + term
            else:
                compensation += (term - new_total) + total
            total = new_total
        self._sum, self._compensation = total, compensation
        if len(window) < self.period:
            return math.nan
        return (total + compensation) / self.period


class _EmaState:
    """The EMA recursion for any period >= 1 (MACD's signal may be 1): SMA seed, then TA-Lib's update."""

    __slots__ = ("period", "_k", "_seed_total", "_count", "value")

    def __init__(self, period: int) -> None:
        self.period = period
        self._k = 2.0 / (period + 1)
        self._seed_total = 0.0
        self._count = 0
        self.value = math.nan

    def step(self, value: float) -> float:
        if self._count < self.period:
            self._count += 1
            self._seed_total += value
            if self._count == self.period:
                self.value = self._seed_total / self.period
            return self.value
        previous = self.value
        self.value = previous = (value - previous) * self._k + previous
        return previous


class EMA:
    """Streaming EMA: collects the first ``period`` values for the SMA seed, then runs the recursion."""

    __slots__ = ("period", "_state")

    def __init__(self, period: int) -> None:
        self.period = _checks.period("period", period, minimum=2)
        self._state = _EmaState(self.period)

    def update(self, close: float) -> float:
        return self._state.step(_checks.scalar("close", close))


class WMA:
    """Streaming WMA: a window of ``period`` values, weighted on each update (O(period) time, bounded state)."""

    __slots__ = ("period", "_window", "_weights", "_divisor")

    def __init__(self, period: int) -> None:
        self.period = _checks.period("period", period, minimum=2)
        self._window: deque[float] = deque(maxlen=self.period)
        self._weights = [float(weight) for weight in range(1, self.period + 1)]
        self._divisor = self.period * (self.period + 1) / 2

    def update(self, close: float) -> float:
        window = self._window
        window.append(_checks.scalar("close", close))
        if len(window) < self.period:
            return math.nan
        return sum(map(operator.mul, window, self._weights)) / self._divisor


class MACD:
    """Streaming MACD; ``update`` returns ``(macd, signal, histogram)``, NaN until index slow+signal-2."""

    __slots__ = ("fast", "slow", "signal", "_recent", "_fast_ema", "_slow_ema", "_signal_ema")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self.fast, self.slow, self.signal = _macd_periods(fast, slow, signal)
        self._recent: deque[float] | None = deque(
            maxlen=self.slow
        )  # the last ``slow`` closes until both EMAs are seeded
        self._fast_ema = _EmaState(self.fast)
        self._slow_ema = _EmaState(self.slow)
        self._signal_ema = _EmaState(self.signal)

    def update(self, close: float) -> tuple[float, float, float]:
        value = _checks.scalar("close", close)
        if self._recent is not None:
            self._recent.append(value)
            if len(self._recent) < self.slow:
                return math.nan, math.nan, math.nan
            self._seed_both_emas()
        else:
            self._fast_ema.step(value)
            self._slow_ema.step(value)
        line = self._fast_ema.value - self._slow_ema.value
        signal = self._signal_ema.step(line)
        if math.isnan(signal):
            return math.nan, math.nan, math.nan
        return line, signal, line - signal

    def _seed_both_emas(self) -> None:
        """At index slow-1: the slow EMA sees all ``slow`` closes, the fast one only the last ``fast`` (TA-Lib)."""
        window = list(self._recent)
        for seed_value in window[self.slow - self.fast :]:
            self._fast_ema.step(seed_value)
        for seed_value in window:
            self._slow_ema.step(seed_value)
        self._recent = None

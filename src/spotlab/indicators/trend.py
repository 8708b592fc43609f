"""Trend indicators: SMA, EMA, WMA and MACD, vectorised and streaming, equal to TA-Lib.

Formulas (x = the input series, p = period, values at index i):
- SMA: mean(x[i-p+1 .. i]) as TA-Lib's running sum: total += x_i; sma_i = total/p; total -= x_{i-p+1}.
  Warm-up NaN at indices < p-1.
- EMA: k = 2/(p+1); seeded at index p-1 with the left-to-right mean of x[0..p-1]; then e_i = (x_i - e_{i-1})*k +
  e_{i-1} with the product and the sum rounded once (a fused multiply-add, as TA-Lib's FMA build does); NaN at
  indices < p-1.
- WMA: sum_j (j+1)*x[i-p+1+j] / (p(p+1)/2), newest value weighted p, as TA-Lib's running sums: S += x_i; S -= the
  value that left; W += p*x_i; wma_i = W/divider; W -= S; every 1024th output both sums are added afresh from
  the window (so they do not drift). NaN at indices < p-1.
- MACD(fast, slow, signal): TA-Lib's alignment. Both EMAs are seeded at index slow-1, the fast one with the mean
  of the ``fast`` values ending there (not of the first ``fast`` values). line = fastEMA - slowEMA; signal =
  EMA(line, signal) seeded with the mean of the first ``signal`` line values; histogram = line - signal. All three
  outputs are NaN at indices < slow+signal-2. If slow < fast they are swapped, as TA-Lib does.

Invariants:
- Every vectorised function returns float64 arrays as long as its input, computed by a compiled loop
  (``_compiled``); the streaming class fed the same values one at a time runs the same float operations in the
  same order and returns the same bits (``np.array_equal``, NaN warm-up included).
- Bit-identical to TA-Lib (its FMA build, the one used on CPUs with FMA): SMA, EMA, MACD. WMA equals TA-Lib within
  a few units in the last place (TA-Lib 0.8's WMA adds in an order it does not document).
- Like TA-Lib's, the SMA running sum carries rounding from bar to bar: over a million bars it drifts by about
  1e-11 relative.
- Streaming state is bounded: at most one window of ``period`` values, whatever the series length.
- Bad input (non-1-D, NaN/inf, period below TA-Lib's minimum, series shorter than one output needs) raises
  ``SpotlabError(INVALID_ARGUMENT)``; streaming ``update`` refuses NaN/inf.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from spotlab.indicators import _checks, _compiled
from spotlab.indicators._fused import fused_multiply_add

__all__ = ["EMA", "MACD", "SMA", "WMA", "ema", "macd", "sma", "wma"]


def _prepared(close, period: int, needed_extra: int = 0, name: str = "period") -> tuple[np.ndarray, int]:
    values = _checks.series("close", close)
    size = _checks.period(name, period, minimum=2)
    _checks.long_enough("close", len(values), size + needed_extra, f"{name}={size}")
    return values, size


def sma(close, period: int) -> np.ndarray:
    """Simple moving average (TA-Lib ``SMA``)."""
    values, size = _prepared(close, period)
    return _compiled.sma(values, size)


def ema(close, period: int) -> np.ndarray:
    """Exponential moving average seeded with the SMA of the first ``period`` values (TA-Lib ``EMA``)."""
    values, size = _prepared(close, period)
    return _compiled.ema(values, size)


def wma(close, period: int) -> np.ndarray:
    """Linearly weighted moving average, newest value weighted ``period`` (TA-Lib ``WMA``)."""
    values, size = _prepared(close, period)
    return _compiled.wma(values, size)


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
    return _compiled.macd(values, fast, slow, signal)


class SMA:
    """Streaming SMA: a window of ``period`` values and TA-Lib's running sum (add the new, emit, drop the oldest)."""

    __slots__ = ("period", "_window", "_sum")

    def __init__(self, period: int) -> None:
        self.period = _checks.period("period", period, minimum=2)
        self._window: deque[float] = deque()
        self._sum = 0.0

    def batch(self, close) -> np.ndarray:
        """What a fresh instance's ``update`` returns for each value of the arrays in turn, computed at once
        (``sma``: the same float operations, the same bits)."""
        return sma(close, self.period)

    def update(self, close: float) -> float:
        value = _checks.scalar("close", close)
        window = self._window
        window.append(value)
        self._sum += value
        if len(window) < self.period:
            return math.nan
        mean = self._sum / self.period
        self._sum -= window.popleft()
        return mean


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
        self.value = result = fused_multiply_add(value - self.value, self._k, self.value)
        return result


class EMA:
    """Streaming EMA: collects the first ``period`` values for the SMA seed, then runs the recursion."""

    __slots__ = ("period", "_state")

    def __init__(self, period: int) -> None:
        self.period = _checks.period("period", period, minimum=2)
        self._state = _EmaState(self.period)

    def batch(self, close) -> np.ndarray:
        """What a fresh instance's ``update`` returns for each value of the arrays in turn, computed at once
        (``ema``: the same float operations, the same bits)."""
        return ema(close, self.period)

    def update(self, close: float) -> float:
        return self._state.step(_checks.scalar("close", close))


class WMA:
    """Streaming WMA with TA-Lib's running sums: O(1) per update, a window of ``period`` values."""

    __slots__ = ("period", "_window", "_weight", "_divisor", "_sum", "_weighted", "_leaving", "_outputs")

    def __init__(self, period: int) -> None:
        self.period = _checks.period("period", period, minimum=2)
        self._window: deque[float] = deque(maxlen=self.period)
        self._weight = float(self.period)
        self._divisor = float(self.period * (self.period + 1) // 2)
        self._sum = 0.0  # plain sum of the window
        self._weighted = 0.0  # weighted sum, already lowered by one step for the next bar
        self._leaving = 0.0  # the value that leaves the plain sum on the next bar
        self._outputs = 0

    def batch(self, close) -> np.ndarray:
        """What a fresh instance's ``update`` returns for each value of the arrays in turn, computed at once
        (``wma``: the same float operations, the same bits)."""
        return wma(close, self.period)

    def update(self, close: float) -> float:
        value = _checks.scalar("close", close)
        window = self._window
        window.append(value)
        self._sum += value
        if len(window) < self.period:
            self._weighted += value * len(window)
            return math.nan
        self._sum -= self._leaving
        self._weighted += value * self._weight
        self._leaving = window[0]
        self._outputs += 1
        if self._outputs % _compiled.RESUM == 0:  # the kernel's fresh start, at the same bars
            self._sum = self._weighted = 0.0
            for weight, past in enumerate(window, start=1):
                self._sum += past
                self._weighted += past * weight
        result = self._weighted / self._divisor
        self._weighted -= self._sum
        return result


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

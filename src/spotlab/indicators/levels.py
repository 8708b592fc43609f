"""Price-level indicators for range and breakout trading: Donchian channels and swing support/resistance.

Each indicator is a function over whole NumPy arrays and a class updated one bar at a time; fed the same bars,
the class returns exactly the numbers the function does (maxima, minima and one halving are exact in float64).

Invariants:
- Inputs are validated by ``_checks``: 1-D, finite (a NaN gap is refused with its index), equal lengths, integer
  periods >= 1; a series too short to yield one value is refused. Every refusal is a ``SpotlabError``
  (``INVALID_ARGUMENT``).
- No look-ahead: the output at bar ``t`` uses only bars ``0..t``. A swing point is reported from the bar that
  confirms it (``right`` bars after it), never earlier.
- Warm-up bars are NaN.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from spotlab.indicators import _checks

__all__ = ["Donchian", "DonchianChannel", "SwingLevels", "SwingLevelValues", "donchian", "swing_levels"]


class DonchianChannel(NamedTuple):
    """Donchian channel values (arrays from ``donchian``, floats from ``Donchian.update``)."""

    upper: Any
    middle: Any
    lower: Any


class SwingLevelValues(NamedTuple):
    """The latest confirmed swing levels (arrays from ``swing_levels``, floats from ``SwingLevels.update``)."""

    resistance: Any
    support: Any


def _high_low(high: Any, low: Any) -> tuple[np.ndarray, np.ndarray]:
    high_array = _checks.series("high", high)
    low_array = _checks.series("low", low)
    _checks.same_length(high=high_array, low=low_array)
    return high_array, low_array


# --- Donchian channels ---------------------------------------------------------------------------------------------


def donchian(high: Any, low: Any, period: int = 20) -> DonchianChannel:
    """Donchian channel over the last ``period`` bars, the current bar included::

        upper[t] = max(high[t-period+1..t]),  lower[t] = min(low[t-period+1..t]),  middle = (upper + lower) / 2

    NaN for the first ``period - 1`` bars. For a breakout signal compare ``close[t]`` with ``upper[t-1]``
    (the channel at ``t`` already contains bar ``t``).
    """
    period = _checks.period("period", period)
    high_array, low_array = _high_low(high, low)
    _checks.long_enough("high", len(high_array), period, f"the channel needs {period} bars")
    upper, lower = _checks.nan_array(len(high_array)), _checks.nan_array(len(low_array))
    upper[period - 1 :] = sliding_window_view(high_array, period).max(axis=1)
    lower[period - 1 :] = sliding_window_view(low_array, period).min(axis=1)
    return DonchianChannel(upper, (upper + lower) / 2.0, lower)


class _RollingExtreme:
    """Max (or min) of the last ``period`` values in amortised O(1): a monotonic deque of (index, value)."""

    def __init__(self, period: int, take_max: bool) -> None:
        self._period = period
        self._better = (lambda a, b: a >= b) if take_max else (lambda a, b: a <= b)
        self._window: deque[tuple[int, float]] = deque()
        self._count = 0

    def update(self, value: float) -> float:
        while self._window and self._better(value, self._window[-1][1]):
            self._window.pop()
        self._window.append((self._count, value))
        if self._window[0][0] <= self._count - self._period:
            self._window.popleft()
        self._count += 1
        return self._window[0][1] if self._count >= self._period else math.nan


class Donchian:
    """Streaming Donchian channel; ``update`` returns the same values ``donchian`` gives at that bar."""

    def __init__(self, period: int = 20) -> None:
        period = _checks.period("period", period)
        self._upper = _RollingExtreme(period, take_max=True)
        self._lower = _RollingExtreme(period, take_max=False)

    def update(self, high: float, low: float) -> DonchianChannel:
        upper = self._upper.update(_checks.scalar("high", high))
        lower = self._lower.update(_checks.scalar("low", low))
        return DonchianChannel(upper, (upper + lower) / 2.0, lower)


# --- swing support and resistance ----------------------------------------------------------------------------------


def _swing_periods(left: Any, right: Any) -> tuple[int, int]:
    return _checks.period("left", left), _checks.period("right", right)


def _strict_extreme_centres(values: np.ndarray, left: int, right: int) -> np.ndarray:
    """For each full window ``values[i-left..i+right]``: is ``values[i]`` strictly above every other value in it?"""
    windows = sliding_window_view(values, left + right + 1)
    centre = windows[:, left]
    return (centre > windows[:, :left].max(axis=1)) & (centre > windows[:, left + 1 :].max(axis=1))


def _latest_confirmed(values: np.ndarray, is_swing: np.ndarray, left: int, right: int) -> np.ndarray:
    """At each bar ``t``, the value of the latest swing point at ``i <= t - right`` (NaN before the first)."""
    result = _checks.nan_array(len(values))
    confirmed_at = np.flatnonzero(is_swing) + left + right  # the bar i + right that confirms the swing at i
    marks = np.full(len(values), -1)
    marks[confirmed_at] = confirmed_at - right
    latest = np.maximum.accumulate(marks)
    known = latest >= 0
    result[known] = values[latest[known]]
    return result


def swing_levels(high: Any, low: Any, left: int = 3, right: int = 3) -> SwingLevelValues:
    """Support and resistance from the latest confirmed swing low and swing high.

    A swing high is at bar ``i`` when ``high[i]`` is the strict maximum of ``high[i-left..i+right]`` (a tie is not
    a swing); a swing low when ``low[i]`` is the strict minimum of ``low[i-left..i+right]``. It becomes known at
    bar ``i + right``, so::

        resistance[t] = high[i] for the latest swing high i with i + right <= t   (NaN before the first)
        support[t]    = low[i]  for the latest swing low  i with i + right <= t   (NaN before the first)

    Needs at least ``left + right + 1`` bars.
    """
    left, right = _swing_periods(left, right)
    high_array, low_array = _high_low(high, low)
    span = left + right + 1
    _checks.long_enough("high", len(high_array), span, f"a swing needs left + right + 1 = {span} bars")
    swing_highs = _strict_extreme_centres(high_array, left, right)
    swing_lows = _strict_extreme_centres(-low_array, left, right)
    return SwingLevelValues(
        _latest_confirmed(high_array, swing_highs, left, right),
        _latest_confirmed(low_array, swing_lows, left, right),
    )


class SwingLevels:
    """Streaming swing support/resistance; ``update`` returns the same values ``swing_levels`` gives at that bar."""

    def __init__(self, left: int = 3, right: int = 3) -> None:
        self._left, self._right = _swing_periods(left, right)
        span = self._left + self._right + 1
        self._highs: deque[float] = deque(maxlen=span)
        self._lows: deque[float] = deque(maxlen=span)
        self._resistance = math.nan
        self._support = math.nan

    def update(self, high: float, low: float) -> SwingLevelValues:
        self._highs.append(_checks.scalar("high", high))
        self._lows.append(_checks.scalar("low", low))
        if len(self._highs) == self._highs.maxlen:
            if self._is_strict_centre(self._highs, lambda centre, other: centre > other):
                self._resistance = self._highs[self._left]
            if self._is_strict_centre(self._lows, lambda centre, other: centre < other):
                self._support = self._lows[self._left]
        return SwingLevelValues(self._resistance, self._support)

    def _is_strict_centre(self, window: deque[float], beats: Any) -> bool:
        centre = window[self._left]
        return all(beats(centre, value) for index, value in enumerate(window) if index != self._left)

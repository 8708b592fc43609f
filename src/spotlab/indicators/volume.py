"""Volume indicators: OBV, session-anchored VWAP and the volume oscillator, vectorised and streaming.

Each indicator is a function over whole NumPy arrays and a class updated one bar at a time; fed the same bars,
the class returns the numbers the function does, exactly (the same float64 operations in the same order; the
volume oscillator's EMAs are ``trend``'s, which stream bit for bit).

Invariants:
- Inputs are validated by ``_checks``: 1-D, finite (a NaN gap is refused with its index), equal lengths, integer
  periods (>= 2 for the EMAs); a series too short to yield one value is refused. Every refusal is a ``SpotlabError``
  (``INVALID_ARGUMENT``).
- Warm-up bars are NaN; an output at bar ``t`` depends only on bars ``0..t`` (no look-ahead).
- ``obv`` equals TA-Lib's ``OBV`` bit for bit (first value = first volume, no warm-up NaN; a compiled loop).
- ``volume_oscillator`` uses ``trend``'s TA-Lib-seeded EMA (the SMA of the first ``period`` values, then
  ``ema = (x - ema) * 2 / (period + 1) + ema``), so it shares its numbers and its streaming twin.
- Timestamps are UTC nanoseconds since the Unix epoch (integers or ``datetime64``), strictly increasing.

Limitation: VWAP sessions are fixed-length and anchored at the Unix epoch (1970-01-01T00:00Z), so ``"1d"`` starts at
each UTC midnight and ``"4h"`` at 00:00, 04:00, ... UTC; there are no calendar (weekly, monthly) sessions.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.indicators import _checks, _compiled
from spotlab.indicators.trend import EMA, ema

__all__ = ["OBV", "VWAP", "VolumeOscillator", "obv", "session_length_ns", "volume_oscillator", "vwap"]

_UNIT_NS = {"m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}
_SESSION_PATTERN = re.compile(r"^([1-9][0-9]*)([mhd])$")
_HLCV = ("high", "low", "close", "volume")


# --- OBV -----------------------------------------------------------------------------------------------------------


def obv(close: Any, volume: Any) -> np.ndarray:
    """On-balance volume: ``obv[0] = volume[0]``; then add ``volume[t]`` on an up close, subtract it on a down close,
    carry it on an unchanged close. Same values as TA-Lib ``OBV`` (no warm-up)."""
    close_array = _checks.series("close", close)
    volume_array = _checks.series("volume", volume)
    length = _checks.same_length(close=close_array, volume=volume_array)
    _checks.long_enough("close", length, 1)
    return _compiled.obv(close_array, volume_array)


class OBV:
    """Streaming on-balance volume; ``update`` returns the same value ``obv`` gives at that bar."""

    __slots__ = ("_previous_close", "_value")

    def __init__(self) -> None:
        self._previous_close: float | None = None
        self._value = math.nan

    def batch(self, close, volume) -> np.ndarray:
        """What a fresh instance's ``update`` returns for each value of the arrays in turn, computed at once
        (``obv``: the same float operations, the same bits)."""
        return obv(close, volume)

    def update(self, close: float, volume: float) -> float:
        close = _checks.scalar("close", close)
        volume = _checks.scalar("volume", volume)
        if self._previous_close is None:
            self._value = volume
        elif close > self._previous_close:
            self._value = self._value + volume
        elif close < self._previous_close:
            self._value = self._value - volume
        self._previous_close = close
        return self._value


# --- VWAP ----------------------------------------------------------------------------------------------------------


def session_length_ns(session: str | int) -> int:
    """A session given as ``"<n>m"``, ``"<n>h"`` or ``"<n>d"`` (or a positive int of nanoseconds) in nanoseconds."""
    if isinstance(session, str):
        match = _SESSION_PATTERN.match(session)
        if match is None:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"session must look like '30m', '4h' or '1d', got {session!r}",
                name="session",
            )
        return int(match.group(1)) * _UNIT_NS[match.group(2)]
    return _checks.period("session", session)


def _timestamps(values: Any) -> np.ndarray:
    """Timestamps as int64 UTC nanoseconds, strictly increasing; floats are refused (they lose nanoseconds)."""
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.datetime64):
        array = array.astype("datetime64[ns]").astype(np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"timestamps_ns must be a 1-D array of integer nanoseconds or datetime64, got dtype {array.dtype} "
            f"and shape {array.shape}",
            name="timestamps_ns",
        )
    array = array.astype(np.int64)
    steps = np.diff(array)
    if (steps <= 0).any():
        index = int(np.argmax(steps <= 0)) + 1
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"timestamps_ns must be strictly increasing, but index {index} is not after index {index - 1}",
            name="timestamps_ns",
            index=index,
        )
    return array


def _typical_price(high: Any, low: Any, close: Any) -> Any:
    return (high + low + close) / 3.0


def vwap(high: Any, low: Any, close: Any, volume: Any, timestamps_ns: Any, session: str | int = "1d") -> np.ndarray:
    """Session-anchored volume-weighted average price.

    With typical price ``tp = (high + low + close) / 3`` and ``s`` the first bar of bar ``t``'s session
    (sessions are ``session``-long UTC windows anchored at the Unix epoch; a bar belongs to the session holding its
    timestamp, normally its open time)::

        vwap[t] = sum(tp[s..t] * volume[s..t]) / sum(volume[s..t])

    NaN while the session's cumulative volume is zero (the average is undefined there).
    """
    arrays = {name: _checks.series(name, values) for name, values in zip(_HLCV, (high, low, close, volume))}
    stamps = _timestamps(timestamps_ns)
    length = _checks.same_length(**arrays, timestamps_ns=stamps)
    _checks.long_enough("close", length, 1)
    weighted = _typical_price(arrays["high"], arrays["low"], arrays["close"]) * arrays["volume"]
    sessions = stamps // session_length_ns(session)
    starts = np.flatnonzero(np.diff(sessions, prepend=sessions[0] - 1))
    cumulative_weighted = np.empty(length)
    cumulative_volume = np.empty(length)
    for start, stop in zip(starts, np.append(starts[1:], length)):
        cumulative_weighted[start:stop] = np.add.accumulate(weighted[start:stop])
        cumulative_volume[start:stop] = np.add.accumulate(arrays["volume"][start:stop])
    result = _checks.nan_array(length)
    traded = cumulative_volume != 0.0
    result[traded] = cumulative_weighted[traded] / cumulative_volume[traded]
    return result


class VWAP:
    """Streaming session-anchored VWAP; ``update`` returns the same value ``vwap`` gives at that bar."""

    def __init__(self, session: str | int = "1d") -> None:
        self._session_ns = session_length_ns(session)
        self._last_timestamp: int | None = None
        self._session: int | None = None
        self._weighted = 0.0
        self._volume = 0.0

    def update(self, high: float, low: float, close: float, volume: float, timestamp_ns: int) -> float:
        high, low, close, volume = (_checks.scalar(n, v) for n, v in zip(_HLCV, (high, low, close, volume)))
        timestamp = self._next_timestamp(timestamp_ns)
        session = timestamp // self._session_ns
        if session != self._session:
            self._session, self._weighted, self._volume = session, 0.0, 0.0
        self._weighted = self._weighted + _typical_price(high, low, close) * volume
        self._volume = self._volume + volume
        return self._weighted / self._volume if self._volume != 0.0 else math.nan

    def _next_timestamp(self, value: Any) -> int:
        if isinstance(value, np.datetime64):
            value = value.astype("datetime64[ns]").astype(np.int64)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"timestamp_ns must be integer nanoseconds, got {value!r}",
                name="timestamp_ns",
            )
        timestamp = int(value)
        if self._last_timestamp is not None and timestamp <= self._last_timestamp:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"timestamp_ns must increase: got {timestamp} after {self._last_timestamp}",
                name="timestamp_ns",
            )
        self._last_timestamp = timestamp
        return timestamp


# --- volume oscillator ---------------------------------------------------------------------------------------------


def _oscillator(fast: float, slow: float) -> float:
    """One bar of the oscillator, the same float operations ``volume_oscillator`` does elementwise."""
    if math.isnan(slow) or slow == 0.0:
        return math.nan
    return 100.0 * (fast - slow) / slow


def _oscillator_periods(fast: Any, slow: Any) -> tuple[int, int]:
    fast = _checks.period("fast", fast, minimum=2)
    slow = _checks.period("slow", slow, minimum=2)
    if fast >= slow:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"fast must be shorter than slow, got fast={fast}, slow={slow}; swap them",
            fast=fast,
            slow=slow,
        )
    return fast, slow


def volume_oscillator(volume: Any, fast: int = 5, slow: int = 10) -> np.ndarray:
    """Percentage difference of a fast and a slow volume EMA (TA-Lib EMA seeding)::

        vo[t] = 100 * (EMA_fast[t] - EMA_slow[t]) / EMA_slow[t]

    NaN for the first ``slow - 1`` bars and wherever ``EMA_slow`` is zero. Needs ``2 <= fast < slow`` (TA-Lib's EMA
    minimum); the defaults (5, 10) are the common charting ones. The EMAs are ``trend.ema`` / ``trend.EMA``.
    """
    fast, slow = _oscillator_periods(fast, slow)
    volume_array = _checks.series("volume", volume)
    _checks.long_enough("volume", len(volume_array), slow, f"the slow EMA needs {slow} bars")
    fast_ema, slow_ema = ema(volume_array, fast), ema(volume_array, slow)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = 100.0 * (fast_ema - slow_ema) / slow_ema
    result[slow_ema == 0.0] = np.nan
    return result


class VolumeOscillator:
    """Streaming volume oscillator; ``update`` returns the same value ``volume_oscillator`` gives at that bar."""

    def __init__(self, fast: int = 5, slow: int = 10) -> None:
        fast, slow = _oscillator_periods(fast, slow)
        self._fast, self._slow = EMA(fast), EMA(slow)

    def update(self, volume: float) -> float:
        volume = _checks.scalar("volume", volume)
        return _oscillator(self._fast.update(volume), self._slow.update(volume))

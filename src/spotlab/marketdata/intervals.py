"""Candle intervals of the historical data catalogue: names, lengths and UTC period starts.

Invariants
- Every interval is a whole number of milliseconds; periods are aligned to the Unix epoch
  (1970-01-01 00:00 UTC), except ``1w``, whose periods start on Monday 00:00 UTC.
- ``period_start(t)`` <= ``t`` < ``period_start(t) + length``, for every epoch-ms ``t``.

Calendar months (Binance's ``1M``) are not fixed-length and are not supported.
"""

from __future__ import annotations

import numpy as np

from spotlab.errors import ErrorCode, SpotlabError

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

#: Interval name -> length in milliseconds (Binance's names).
INTERVAL_MS: dict[str, int] = {
    "1s": SECOND_MS,
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
}

#: Where periods start relative to the epoch: 1970-01-01 was a Thursday, so weeks start on Monday 1970-01-05.
OFFSET_MS: dict[str, int] = {name: 4 * DAY_MS if name == "1w" else 0 for name in INTERVAL_MS}


def interval_ms(interval: str) -> int:
    """The length of ``interval`` in milliseconds; an unknown name raises INVALID_ARGUMENT."""
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown interval {interval!r}; expected one of {', '.join(INTERVAL_MS)}",
            interval=interval,
        ) from None


def period_start(interval: str, time_ms: int) -> int:
    """The epoch-ms start of the UTC period of ``interval`` that contains ``time_ms``."""
    length = interval_ms(interval)
    offset = OFFSET_MS[interval]
    return time_ms - (time_ms - offset) % length


def period_starts(interval: str, times_ms: np.ndarray) -> np.ndarray:
    """``period_start`` over an int64 array of epoch milliseconds."""
    length = interval_ms(interval)
    offset = OFFSET_MS[interval]
    times = np.asarray(times_ms, dtype=np.int64)
    return times - (times - offset) % length


def is_multiple(coarse: str, fine: str) -> bool:
    """True when every period of ``coarse`` is a whole number of aligned periods of ``fine``."""
    coarse_ms, fine_ms = interval_ms(coarse), interval_ms(fine)
    return coarse_ms % fine_ms == 0 and OFFSET_MS.get(coarse, 0) % fine_ms == 0 and coarse_ms > fine_ms

"""Bollinger Bands against a two-pass oracle: running sums re-based every period stay exact enough, flat is exactly 0.

The oracle is the textbook population deviation of each window (``numpy.std`` over a sliding window: the mean
first, then the mean squared distance from it), independent of TA-Lib and of our running sums.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from spotlab.indicators import volatility


def _two_pass_deviation(close: np.ndarray, period: int) -> np.ndarray:
    out = np.full(len(close), np.nan)
    out[period - 1 :] = sliding_window_view(close, period).std(axis=1)
    return out


def _crash_and_recovery() -> np.ndarray:
    """5,000 bars: a walk near 30,000, a 100x crash in one bar, a walk near 300, a jump back, quiet ticks at 1e6."""
    rng = np.random.default_rng(7)
    high = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 2_000)))
    low = 300.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 2_000)))
    quiet = 1e6 + np.round(rng.normal(0.0, 0.01, 1_000), 2)
    return np.concatenate([high, low, quiet])


@pytest.mark.parametrize("period", [2, 3, 20, 50, 201])
def test_deviation_equals_the_two_pass_oracle_within_1e_9_of_the_local_price(period: int) -> None:
    close = _crash_and_recovery()
    upper, middle, lower = volatility.bollinger(close, period, 1.0)
    expected = _two_pass_deviation(close, period)
    np.testing.assert_array_equal(np.isnan(upper), np.isnan(expected))
    known = ~np.isnan(expected)
    local_price = np.abs(close[known])  # the window's newest close: deviations are judged at today's price
    assert np.all(np.abs((upper - middle)[known] - expected[known]) <= 1e-9 * local_price)
    assert np.all(np.abs((middle - lower)[known] - expected[known]) <= 1e-9 * local_price)


@pytest.mark.parametrize("period", [2, 5, 20])
@pytest.mark.parametrize("offset", [0, 1, 7, 19])
def test_a_flat_window_anywhere_has_exactly_zero_width_and_the_next_bar_does_not(period: int, offset: int) -> None:
    """Flat stretches of exactly ``period`` bars, placed at every phase of the every-``period``-bars re-base."""
    rng = np.random.default_rng(period * 100 + offset)
    close = 20_000.0 + np.round(np.cumsum(rng.normal(0.0, 5.0, 400)), 2)
    start = 200 + offset
    close[start : start + period] = 19_999.37
    close[start + period] = 19_999.38
    upper, middle, lower = volatility.bollinger(close, period, 2.0)
    end = start + period - 1
    assert upper[end] == middle[end] == lower[end]
    assert middle[end] == pytest.approx(19_999.37, rel=1e-12)
    assert upper[end + 1] > middle[end + 1] > lower[end + 1]
    assert upper[end - 1] > middle[end - 1] > lower[end - 1]


@pytest.mark.parametrize("period", [2, 3, 20, 201])
def test_streaming_equals_vectorised_across_the_crash_bit_for_bit(period: int) -> None:
    close = _crash_and_recovery()
    indicator = volatility.Bollinger(period, 2.5)
    streamed = np.array([indicator.update(value) for value in close.tolist()]).T
    for streamed_band, vectorised_band in zip(streamed, volatility.bollinger(close, period, 2.5), strict=True):
        np.testing.assert_array_equal(streamed_band, vectorised_band)

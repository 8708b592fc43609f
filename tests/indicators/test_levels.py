"""Donchian channels and swing support/resistance: hand-computed vectors, a naive oracle, no look-ahead,
streaming == vectorised."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from spotlab.indicators.levels import Donchian, SwingLevels, donchian, swing_levels
from tests.indicators.support import assert_invalid
from tests.shared_data import DATA

NAN = math.nan


def _high_low(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open(newline="") as handle:
        rows = [{key.lower(): value for key, value in row.items()} for row in csv.DictReader(handle)]
    return np.array([row["high"] for row in rows], float), np.array([row["low"] for row in rows], float)


REAL = {
    "btc": DATA / "quantedge-ta" / "btcusdt-1h.csv",
    "sol": DATA / "backtesting.py" / "SOLUSDT_1h.csv",
    "eth": DATA / "freqtrade" / "ETH_BTC-5m.csv",
}


def _random_high_low(seed: int, length: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    middle = np.round(100 + np.cumsum(rng.normal(size=length)), 0)  # coarse rounding makes ties (plateaus) common
    spread = np.round(rng.uniform(0, 2, size=length), 0)
    return middle + spread, middle - spread


def _stream(indicator, high, low) -> np.ndarray:
    """Bar-by-bar outputs as an array of shape (fields, bars)."""
    return np.array([indicator.update(h, v) for h, v in zip(high, low)], dtype=np.float64).T


# --- Donchian ------------------------------------------------------------------------------------------------------


def test_donchian_on_a_hand_computed_vector():
    high = [5.0, 7.0, 6.0, 4.0, 8.0]
    low = [3.0, 4.0, 2.0, 1.0, 6.0]
    upper, middle, lower = donchian(high, low, period=3)
    np.testing.assert_array_equal(upper, [NAN, NAN, 7.0, 7.0, 8.0])
    np.testing.assert_array_equal(lower, [NAN, NAN, 2.0, 1.0, 1.0])
    np.testing.assert_array_equal(middle, [NAN, NAN, 4.5, 4.0, 4.5])


def test_donchian_of_period_one_is_the_bar_itself():
    high, low = _random_high_low(1, 20)
    channel = donchian(high, low, 1)
    np.testing.assert_array_equal(channel.upper, high)
    np.testing.assert_array_equal(channel.lower, low)


@pytest.mark.parametrize("name", REAL)
@pytest.mark.parametrize("period", [1, 20, 55])
def test_streaming_donchian_equals_vectorised_on_real_data(name, period):
    high, low = _high_low(REAL[name])
    np.testing.assert_array_equal(_stream(Donchian(period), high, low), np.array(donchian(high, low, period)))


@pytest.mark.parametrize("seed", range(4))
def test_streaming_donchian_equals_vectorised_on_random_series_with_ties(seed):
    high, low = _random_high_low(seed)
    np.testing.assert_array_equal(_stream(Donchian(10), high, low), np.array(donchian(high, low, 10)))


# --- swing levels --------------------------------------------------------------------------------------------------


def _naive_swing_levels(high, low, left, right):
    """Oracle straight from the definition: at each t, scan back for the latest confirmed strict extreme."""
    resistance, support = [], []
    for t in range(len(high)):
        resistance.append(_latest_strict(high, t, left, right, lambda centre, other: centre > other))
        support.append(_latest_strict(low, t, left, right, lambda centre, other: centre < other))
    return np.array(resistance), np.array(support)


def _latest_strict(values, t, left, right, beats):
    for i in range(t - right, left - 1, -1):
        others = [values[j] for j in range(i - left, i + right + 1) if j != i]
        if all(beats(values[i], other) for other in others):
            return values[i]
    return NAN


def test_swing_levels_on_a_hand_computed_vector():
    # swing highs (left = right = 2): 5.0 at bar 2 (confirmed at bar 4) and 6.0 at bar 6 (confirmed at bar 8)
    # swing lows: 1.0 at bar 3 (confirmed at bar 5)
    high = [1.0, 2.0, 5.0, 3.0, 2.0, 4.0, 6.0, 4.0, 3.0, 2.0]
    low = [3.0, 2.0, 2.0, 1.0, 1.5, 2.0, 3.0, 2.5, 2.5, 2.5]
    resistance, support = swing_levels(high, low, left=2, right=2)
    np.testing.assert_array_equal(resistance, [NAN, NAN, NAN, NAN, 5.0, 5.0, 5.0, 5.0, 6.0, 6.0])
    np.testing.assert_array_equal(support, [NAN, NAN, NAN, NAN, NAN, 1.0, 1.0, 1.0, 1.0, 1.0])


def test_a_tied_top_or_bottom_is_not_a_swing():
    high = [1.0, 2.0, 5.0, 5.0, 2.0, 1.0, 0.5]
    low = [4.0, 3.0, 1.0, 2.0, 1.0, 3.0, 4.0]
    resistance, support = swing_levels(high, low, left=2, right=2)
    assert np.isnan(resistance).all()
    assert np.isnan(support).all()


def test_asymmetric_windows_confirm_after_right_bars():
    high = [1.0, 9.0, 2.0, 3.0, 4.0, 5.0]  # 9.0 at bar 1: left = 1 bar before, right = 3 bars after
    resistance, _ = swing_levels(high, [0.0] * 6, left=1, right=3)
    np.testing.assert_array_equal(resistance, [NAN, NAN, NAN, NAN, 9.0, 9.0])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("left, right", [(1, 1), (3, 3), (2, 5)])
def test_swing_levels_equal_the_naive_oracle_on_random_series_with_ties(seed, left, right):
    high, low = _random_high_low(seed, 120)
    expected = _naive_swing_levels(high.tolist(), low.tolist(), left, right)
    np.testing.assert_array_equal(np.array(swing_levels(high, low, left, right)), np.array(expected))


@pytest.mark.parametrize("seed", range(3))
def test_swing_levels_never_look_ahead(seed):
    rng = np.random.default_rng(100 + seed)
    high, low = _random_high_low(seed)
    original = np.array(swing_levels(high, low, 3, 3))
    for t in rng.integers(10, len(high) - 1, size=10):
        changed_high, changed_low = high.copy(), low.copy()
        changed_high[t + 1 :] = rng.uniform(0, 500, size=len(high) - t - 1)
        changed_low[t + 1 :] = changed_high[t + 1 :] - rng.uniform(0, 5, size=len(high) - t - 1)
        changed = np.array(swing_levels(changed_high, changed_low, 3, 3))
        np.testing.assert_array_equal(changed[:, : t + 1], original[:, : t + 1])


def test_donchian_never_looks_ahead():
    high, low = _random_high_low(9)
    original = np.array(donchian(high, low, 20))
    changed = np.array(donchian(np.append(high[:150], high[150:] * 3), np.append(low[:150], low[150:] / 3), 20))
    np.testing.assert_array_equal(changed[:, :150], original[:, :150])
    assert not np.array_equal(changed[:, 150:], original[:, 150:])


@pytest.mark.parametrize("name", REAL)
def test_streaming_swing_levels_equal_vectorised_on_real_data(name):
    high, low = _high_low(REAL[name])
    np.testing.assert_array_equal(_stream(SwingLevels(3, 3), high, low), np.array(swing_levels(high, low, 3, 3)))


@pytest.mark.parametrize("seed", range(4))
def test_streaming_swing_levels_equal_vectorised_on_random_series_with_ties(seed):
    high, low = _random_high_low(seed)
    np.testing.assert_array_equal(_stream(SwingLevels(2, 4), high, low), np.array(swing_levels(high, low, 2, 4)))


def test_levels_are_highs_and_lows_of_real_bars():
    high, low = _high_low(REAL["btc"])
    resistance, support = swing_levels(high, low)
    known = ~np.isnan(resistance)
    assert known[-1] and np.isin(resistance[known], high).all()
    assert np.isin(support[~np.isnan(support)], low).all()


# --- bad input -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [0, -3, 2.5, True])
def test_bad_donchian_periods_are_refused(period):
    assert_invalid(lambda: donchian([1.0] * 5, [0.0] * 5, period), "period")
    assert_invalid(lambda: Donchian(period), "period")


@pytest.mark.parametrize("left, right, name", [(0, 3, "left"), (3, 0, "right"), (3, 1.0, "right")])
def test_bad_swing_windows_are_refused(left, right, name):
    assert_invalid(lambda: swing_levels([1.0] * 9, [0.0] * 9, left, right), name)
    assert_invalid(lambda: SwingLevels(left, right), name)


def test_too_short_series_are_refused():
    assert_invalid(lambda: donchian([1.0, 2.0], [0.0, 1.0], 3), "too short", "3")
    assert_invalid(lambda: swing_levels([1.0] * 6, [0.0] * 6, 3, 3), "too short", "7")


def test_nan_gaps_and_unequal_lengths_are_refused():
    assert_invalid(lambda: donchian([1.0, np.nan, 2.0], [0.0] * 3, 2), "high", "NaN", "index 1")
    assert_invalid(lambda: swing_levels([1.0] * 8, [0.0] * 7), "equal lengths")
    assert_invalid(lambda: SwingLevels().update(1.0, float("nan")), "low")
    assert_invalid(lambda: Donchian(3).update(float("inf"), 1.0), "high")

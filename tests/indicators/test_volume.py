"""OBV, session VWAP and the volume oscillator: TA-Lib parity, hand-computed vectors, streaming == vectorised."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import talib

from spotlab.indicators.volume import OBV, VWAP, VolumeOscillator, obv, session_length_ns, volume_oscillator, vwap
from tests.indicators.support import assert_invalid, assert_talib_bits
from tests.shared_data import DATA

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS


def _columns(path: Path) -> dict[str, list[str]]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key.lower(): [row[key] for row in rows] for key in rows[0]}


def _bars(name: str) -> dict[str, np.ndarray]:
    """high, low, close, volume as float64 and timestamps as int64 UTC nanoseconds, for one real data file."""
    if name == "btc":
        columns = _columns(DATA / "quantedge-ta" / "btcusdt-1h.csv")
        stamps = np.array(columns["open_time"], dtype=np.int64) * 1000  # microseconds
    elif name == "sol":
        columns = _columns(DATA / "backtesting.py" / "SOLUSDT_1h.csv")
        stamps = np.array([t.replace(" ", "T") for t in columns["timestamp"]], dtype="datetime64[ns]").astype(np.int64)
    else:
        columns = _columns(DATA / "freqtrade" / "ETH_BTC-5m.csv")
        stamps = np.array(columns["timestamp_ms"], dtype=np.int64) * 10**6
    bars = {key: np.array(columns[key], dtype=np.float64) for key in ("high", "low", "close", "volume")}
    return {**bars, "timestamps": stamps}


REAL = ["btc", "sol", "eth"]


def _random_bars(seed: int, length: int = 400) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = np.round(100 + np.cumsum(rng.normal(size=length)), 1)  # rounded so unchanged closes occur
    spread = rng.uniform(0, 2, size=length)
    volume = np.where(rng.random(length) < 0.05, 0.0, rng.uniform(0, 1000, size=length))
    stamps = 1_700_000_000 * 10**9 + np.cumsum(rng.integers(1, 3 * HOUR_NS, size=length))
    return {"high": close + spread, "low": close - spread, "close": close, "volume": volume, "timestamps": stamps}


def _stream(indicator, *columns) -> np.ndarray:
    return np.array([indicator.update(*values) for values in zip(*columns)], dtype=np.float64)


# --- OBV -----------------------------------------------------------------------------------------------------------


def test_obv_adds_volume_on_up_closes_subtracts_on_down_closes_and_carries_on_unchanged():
    close = [10.0, 11.0, 11.0, 9.0, 12.0]
    volume = [5.0, 3.0, 7.0, 2.0, 4.0]
    assert obv(close, volume).tolist() == [5.0, 8.0, 8.0, 6.0, 10.0]


@pytest.mark.parametrize("name", REAL)
def test_obv_equals_talib_on_real_data(name):
    bars = _bars(name)
    np.testing.assert_allclose(obv(bars["close"], bars["volume"]), talib.OBV(bars["close"], bars["volume"]), rtol=1e-9)
    assert_talib_bits(obv(bars["close"], bars["volume"]), talib.OBV(bars["close"], bars["volume"]))


@pytest.mark.parametrize("seed", range(5))
def test_obv_equals_talib_on_random_series_with_ties(seed):
    bars = _random_bars(seed)
    np.testing.assert_allclose(obv(bars["close"], bars["volume"]), talib.OBV(bars["close"], bars["volume"]), rtol=1e-9)
    assert_talib_bits(obv(bars["close"], bars["volume"]), talib.OBV(bars["close"], bars["volume"]))


def test_obv_equals_the_published_quantedge_reference():
    bars = _bars("btc")
    expected = np.array(_columns(DATA / "quantedge-ta" / "obv-close.csv")["expected"], dtype=np.float64)
    np.testing.assert_allclose(obv(bars["close"], bars["volume"]), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("bars", [_bars("btc"), _random_bars(7)], ids=["btc", "random"])
def test_streaming_obv_equals_vectorised(bars):
    np.testing.assert_array_equal(_stream(OBV(), bars["close"], bars["volume"]), obv(bars["close"], bars["volume"]))


# --- VWAP ----------------------------------------------------------------------------------------------------------

# Two UTC days: bars at 22:00 and 23:00 on day 0, then 00:00 and 01:00 on day 1 (a new session at midnight).
TWO_SESSIONS = {
    "high": [12.0, 15.0, 21.0, 24.0],
    "low": [9.0, 12.0, 18.0, 18.0],
    "close": [9.0, 12.0, 18.0, 21.0],  # typical prices 10, 13, 19, 21
    "volume": [1.0, 2.0, 3.0, 1.0],
    "timestamps_ns": [22 * HOUR_NS, 23 * HOUR_NS, DAY_NS, DAY_NS + HOUR_NS],
}


def test_vwap_restarts_at_each_utc_midnight():
    # day 0: 10 -> (10*1 + 13*2) / 3 = 12 ; day 1: 19 -> (19*3 + 21*1) / 4 = 19.5
    np.testing.assert_allclose(vwap(**TWO_SESSIONS), [10.0, 12.0, 19.0, 19.5], rtol=1e-15)


def test_vwap_with_a_session_spanning_both_days_never_restarts():
    # 2-day sessions anchored at the epoch: both days are session 0
    expected = [10.0, 12.0, (10 + 26 + 57) / 6, (10 + 26 + 57 + 21) / 7]
    np.testing.assert_allclose(vwap(**TWO_SESSIONS, session="2d"), expected, rtol=1e-15)


def test_vwap_with_one_hour_sessions_is_each_bars_typical_price():
    np.testing.assert_allclose(vwap(**TWO_SESSIONS, session="1h"), [10.0, 13.0, 19.0, 21.0], rtol=1e-15)


def test_vwap_is_nan_while_the_session_has_traded_no_volume():
    bars = {**TWO_SESSIONS, "volume": [0.0, 2.0, 0.0, 1.0]}
    result = vwap(**bars)
    assert np.isnan(result[0]) and np.isnan(result[2])
    assert result[1] == 13.0 and result[3] == 21.0


def test_vwap_accepts_datetime64_timestamps():
    stamps = np.array(["2024-01-01T22:00", "2024-01-01T23:00", "2024-01-02T00:00", "2024-01-02T01:00"], "datetime64[m]")
    np.testing.assert_allclose(vwap(**{**TWO_SESSIONS, "timestamps_ns": stamps}), [10.0, 12.0, 19.0, 19.5])


@pytest.mark.parametrize("session, nanoseconds", [("1d", DAY_NS), ("4h", 4 * HOUR_NS), ("30m", 1800 * 10**9), (7, 7)])
def test_session_lengths(session, nanoseconds):
    assert session_length_ns(session) == nanoseconds


@pytest.mark.parametrize("name", REAL)
@pytest.mark.parametrize("session", ["1d", "4h"])
def test_streaming_vwap_equals_vectorised_on_real_data(name, session):
    bars = _bars(name)
    columns = (bars["high"], bars["low"], bars["close"], bars["volume"])
    expected = vwap(*columns, bars["timestamps"], session=session)
    np.testing.assert_array_equal(_stream(VWAP(session), *columns, bars["timestamps"].tolist()), expected)


@pytest.mark.parametrize("seed", range(3))
def test_streaming_vwap_equals_vectorised_on_random_series_with_zero_volumes(seed):
    bars = _random_bars(seed)
    columns = (bars["high"], bars["low"], bars["close"], bars["volume"], bars["timestamps"])
    np.testing.assert_array_equal(_stream(VWAP(), *columns), vwap(*columns))


def test_vwap_stays_within_the_sessions_price_range_on_real_data():
    bars = _bars("btc")
    result = vwap(bars["high"], bars["low"], bars["close"], bars["volume"], bars["timestamps"])
    sessions = bars["timestamps"] // DAY_NS
    for session in np.unique(sessions):
        inside = sessions == session
        assert bars["low"][inside].min() <= result[inside].min()
        assert result[inside].max() <= bars["high"][inside].max()


# --- volume oscillator ---------------------------------------------------------------------------------------------


def test_volume_oscillator_on_a_hand_computed_vector():
    # EMA2 (alpha 2/3) seeded with mean(1, 2) = 1.5: 1.5, 2.5, 3.5, 4.5, 5.5
    # EMA4 (alpha 0.4) seeded with mean(1..4) = 2.5: 2.5, 3.5, 4.5
    result = volume_oscillator([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], fast=2, slow=4)
    assert np.isnan(result[:3]).all()
    np.testing.assert_allclose(result[3:], [40.0, 100 / 3.5, 100 / 4.5], rtol=1e-12)


def test_volume_oscillator_is_nan_where_the_slow_ema_is_zero():
    result = volume_oscillator([0.0, 0.0, 0.0, 0.0, 8.0], fast=2, slow=4)
    assert np.isnan(result[:4]).all()
    assert result[4] == pytest.approx(100 * (16 / 3 - 3.2) / 3.2, rel=1e-12)


@pytest.mark.parametrize("name", REAL)
def test_volume_oscillator_matches_talib_emas_on_real_data(name):
    volume = _bars(name)["volume"]
    fast, slow = talib.EMA(volume, 5), talib.EMA(volume, 10)
    np.testing.assert_allclose(volume_oscillator(volume, 5, 10), 100 * (fast - slow) / slow, rtol=1e-9)


@pytest.mark.parametrize("bars", [_bars("eth"), _random_bars(3)], ids=["eth", "random"])
def test_streaming_volume_oscillator_equals_vectorised(bars):
    """Within 1e-12 of the value or of one percentage point: the oscillator crosses zero, and the vectorised EMAs add
    in a different order than one bar at a time (a few units in the last place of the volume averages)."""
    expected = volume_oscillator(bars["volume"], 12, 26)
    streamed = _stream(VolumeOscillator(12, 26), bars["volume"])
    np.testing.assert_array_equal(np.isnan(streamed), np.isnan(expected))
    known = ~np.isnan(expected)
    assert known.any()
    assert np.all(np.abs(streamed[known] - expected[known]) <= 1e-12 * np.maximum(np.abs(expected[known]), 1.0))


# --- bad input -----------------------------------------------------------------------------------------------------


def test_a_nan_gap_is_refused_with_its_index():
    assert_invalid(lambda: obv([1.0, np.nan, 2.0], [1.0, 1.0, 1.0]), "close", "NaN", "index 1")
    assert_invalid(lambda: volume_oscillator([1.0] * 9 + [np.nan], 2, 4), "volume", "NaN")
    assert_invalid(lambda: OBV().update(1.0, float("nan")), "volume")


def test_series_of_different_lengths_are_refused():
    assert_invalid(lambda: obv([1.0, 2.0], [1.0]), "equal lengths")
    assert_invalid(lambda: vwap(**{**TWO_SESSIONS, "timestamps_ns": [1, 2, 3]}), "equal lengths")


def test_too_short_series_are_refused():
    assert_invalid(lambda: obv([], []), "too short")
    assert_invalid(lambda: volume_oscillator([1.0, 2.0, 3.0], 2, 4), "too short", "4")


@pytest.mark.parametrize(
    "fast, slow, words",
    [(0, 4, ["fast"]), (1, 4, ["fast", ">= 2"]), (2, -1, ["slow"]), (4, 4, ["shorter"]), (2.0, 4, ["fast"])],
)
def test_bad_oscillator_periods_are_refused(fast, slow, words):
    assert_invalid(lambda: volume_oscillator([1.0] * 10, fast, slow), *words)
    assert_invalid(lambda: VolumeOscillator(fast, slow), *words)


@pytest.mark.parametrize("session", ["1w", "0d", "day", "", 0, -5])
def test_bad_sessions_are_refused(session):
    assert_invalid(lambda: vwap(**TWO_SESSIONS, session=session), "session")
    assert_invalid(lambda: VWAP(session), "session")


def test_timestamps_must_be_strictly_increasing_integers():
    assert_invalid(lambda: vwap(**{**TWO_SESSIONS, "timestamps_ns": [1, 2, 2, 3]}), "strictly increasing", "index 2")
    assert_invalid(lambda: vwap(**{**TWO_SESSIONS, "timestamps_ns": [1.0, 2.0, 3.0, 4.0]}), "integer")
    stream = VWAP()
    stream.update(2.0, 1.0, 1.5, 1.0, 100)
    assert_invalid(lambda: stream.update(2.0, 1.0, 1.5, 1.0, 100), "increase")
    assert_invalid(lambda: stream.update(2.0, 1.0, 1.5, 1.0, 101.5), "integer")

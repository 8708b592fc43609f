"""Streaming indicators fed one bar at a time return the vectorised numbers bit for bit, NaN warm-up included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spotlab.indicators import momentum, trend, volatility

from .test_talib_parity import SERIES, _long_series_with_flat_stretches, _series


def assert_same(streamed: np.ndarray, vectorised: np.ndarray) -> None:
    """Bit for bit: the streaming classes run the compiled kernels' float operations in the same order."""
    assert (~np.isnan(vectorised)).any()
    np.testing.assert_array_equal(streamed, vectorised)  # NaN positions included


def _feed_close(indicator, close: np.ndarray) -> np.ndarray:
    return np.array([indicator.update(value) for value in close.tolist()], dtype=np.float64)


def _feed_bars(indicator, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    bars = zip(high.tolist(), low.tolist(), close.tolist(), strict=True)
    return np.array([indicator.update(*bar) for bar in bars], dtype=np.float64)


CLOSE_CASES = [
    (lambda: trend.SMA(20), lambda c: trend.sma(c, 20)),
    (lambda: trend.SMA(3), lambda c: trend.sma(c, 3)),
    (lambda: trend.EMA(20), lambda c: trend.ema(c, 20)),
    (lambda: trend.EMA(2), lambda c: trend.ema(c, 2)),
    (lambda: trend.WMA(20), lambda c: trend.wma(c, 20)),
    (lambda: momentum.RSI(), lambda c: momentum.rsi(c)),
    (lambda: momentum.RSI(3), lambda c: momentum.rsi(c, 3)),
]


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("case", range(len(CLOSE_CASES)))
def test_single_output_close_indicators_stream_the_vectorised_values(name: str, case: int) -> None:
    make, vectorised = CLOSE_CASES[case]
    _, _, close = _series(name)
    assert_same(_feed_close(make(), close), vectorised(close))


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("fast, slow, signal", [(12, 26, 9), (5, 35, 5), (3, 10, 1), (26, 12, 9)])
def test_macd_streams_all_three_outputs(name: str, fast: int, slow: int, signal: int) -> None:
    _, _, close = _series(name)
    streamed = _feed_close(trend.MACD(fast, slow, signal), close).T
    for streamed_output, vectorised_output in zip(streamed, trend.macd(close, fast, slow, signal), strict=True):
        assert_same(streamed_output, vectorised_output)


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period, stddev", [(20, 2.0), (5, 1.5)])
def test_bollinger_streams_all_three_bands(name: str, period: int, stddev: float) -> None:
    _, _, close = _series(name)
    streamed = _feed_close(volatility.Bollinger(period, stddev), close).T
    for streamed_output, vectorised_output in zip(streamed, volatility.bollinger(close, period, stddev), strict=True):
        assert_same(streamed_output, vectorised_output)


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [1, 14])
def test_atr_streams_the_vectorised_values(name: str, period: int) -> None:
    high, low, close = _series(name)
    assert_same(_feed_bars(volatility.ATR(period), high, low, close), volatility.atr(high, low, close, period))


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [2, 14])
def test_adx_streams_the_vectorised_values(name: str, period: int) -> None:
    high, low, close = _series(name)
    assert_same(_feed_bars(volatility.ADX(period), high, low, close), volatility.adx(high, low, close, period))


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("periods", [(5, 3, 3), (14, 1, 3), (1, 1, 1)])
def test_stochastic_streams_k_and_d(name: str, periods: tuple[int, int, int]) -> None:
    high, low, close = _series(name)
    streamed = _feed_bars(momentum.Stochastic(*periods), high, low, close).T
    for streamed_output, vectorised_output in zip(streamed, momentum.stochastic(high, low, close, *periods)):
        assert_same(streamed_output, vectorised_output)


def test_warm_up_lengths_are_talib_lookbacks() -> None:
    _, _, close = _series("walk-unit")
    first_values = {
        "SMA(20)": np.flatnonzero(~np.isnan(_feed_close(trend.SMA(20), close)))[0],
        "EMA(20)": np.flatnonzero(~np.isnan(_feed_close(trend.EMA(20), close)))[0],
        "RSI(14)": np.flatnonzero(~np.isnan(_feed_close(momentum.RSI(14), close)))[0],
        "MACD(12,26,9)": np.flatnonzero(~np.isnan(_feed_close(trend.MACD(), close)[:, 0]))[0],
    }
    assert first_values == {"SMA(20)": 19, "EMA(20)": 19, "RSI(14)": 14, "MACD(12,26,9)": 33}


def test_rsi_update_returns_the_newest_value() -> None:
    rsi = momentum.RSI(2)
    assert math.isnan(rsi.update(10))
    assert math.isnan(rsi.update(11))
    assert rsi.update(10) == 50.0  # gains 1, losses 1 over the first two changes
    assert rsi.update(10) == 50.0  # a zero change keeps the Wilder averages' ratio


@pytest.mark.parametrize("period", [2, 14, 20])
def test_long_series_with_flat_stretches_stream_the_vectorised_values(period: int) -> None:
    high, low, close = _long_series_with_flat_stretches()
    for make, vectorised in (
        (trend.SMA, trend.sma),
        (trend.EMA, trend.ema),
        (trend.WMA, trend.wma),
        (momentum.RSI, momentum.rsi),
    ):
        assert_same(_feed_close(make(period), close), vectorised(close, period))
    assert_same(_feed_bars(volatility.ATR(period), high, low, close), volatility.atr(high, low, close, period))
    assert_same(_feed_bars(volatility.ADX(period), high, low, close), volatility.adx(high, low, close, period))
    streamed = _feed_close(volatility.Bollinger(period, 2.0), close).T
    for streamed_output, vectorised_output in zip(streamed, volatility.bollinger(close, period, 2.0), strict=True):
        assert_same(streamed_output, vectorised_output)
    streamed = _feed_bars(momentum.Stochastic(period, 3, 3), high, low, close).T
    for streamed_output, vectorised_output in zip(streamed, momentum.stochastic(high, low, close, period, 3, 3)):
        assert_same(streamed_output, vectorised_output)

"""The names outside code uses: ``from spotlab import indicators`` and its functions and classes."""

from __future__ import annotations

import numpy as np

from spotlab import indicators


def test_the_documented_functions_and_streaming_classes_are_there_and_agree():
    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(0, 1, 300))
    high, low = close + rng.uniform(0, 1, 300), close - rng.uniform(0, 1, 300)
    assert len(indicators.sma(close, 20)) == len(close)
    macd, signal, histogram = indicators.macd(close)
    upper, middle, lower = indicators.bollinger(close)
    k, d = indicators.stochastic(high, low, close)
    for array in (macd, signal, histogram, upper, middle, lower, k, d, indicators.adx(high, low, close)):
        assert array.shape == close.shape and np.isnan(array[0]) and not np.isnan(array[-1])
    streaming = indicators.RSI(14)
    values = [streaming.update(float(c)) for c in close]
    vectorised = indicators.rsi(close, 14)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(vectorised))
    np.testing.assert_allclose(np.array(values), vectorised, rtol=1e-12, atol=0)

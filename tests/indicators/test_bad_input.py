"""Bad input is refused with SpotlabError(INVALID_ARGUMENT) and a message that names the problem."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.indicators import _checks, momentum, trend, volatility

CLOSE = np.linspace(100.0, 130.0, 60)
HIGH, LOW = CLOSE + 1.0, CLOSE - 1.0


def _with_gap(values: np.ndarray, index: int, gap: float = math.nan) -> np.ndarray:
    copy = values.copy()
    copy[index] = gap
    return copy


REFUSALS = [
    # (call, words the message must contain)
    (lambda: trend.sma(_with_gap(CLOSE, 7), 5), "NaN at index 7"),
    (lambda: trend.ema(_with_gap(CLOSE, 3, math.inf), 5), "infinite value at index 3"),
    (lambda: momentum.rsi(_with_gap(CLOSE, 0)), "NaN at index 0"),
    (lambda: volatility.atr(HIGH, _with_gap(LOW, 12), CLOSE), "low holds NaN at index 12"),
    (lambda: trend.sma(CLOSE, 0), "period must be an integer >= 2, got 0"),
    (lambda: trend.wma(CLOSE, -3), "period must be an integer >= 2, got -3"),
    (lambda: trend.ema(CLOSE, 2.5), "period must be an integer >= 2, got 2.5"),
    (lambda: momentum.rsi(CLOSE, True), "period must be an integer"),
    (lambda: volatility.atr(HIGH, LOW, CLOSE, 0), "period must be an integer >= 1, got 0"),
    (lambda: trend.macd(CLOSE, signal=0), "signal must be an integer >= 1, got 0"),
    (lambda: momentum.stochastic(HIGH, LOW, CLOSE, d_period=0), "d_period must be an integer >= 1"),
    (lambda: volatility.bollinger(CLOSE, 20, math.nan), "stddev must be a finite number"),
    (lambda: trend.sma(CLOSE[:4], 5), "too short: 4 values given, at least 5 needed"),
    (lambda: momentum.rsi(CLOSE[:14], 14), "too short: 14 values given, at least 15 needed"),
    (lambda: trend.macd(CLOSE[:33]), "too short: 33 values given, at least 34 needed"),
    (lambda: volatility.adx(HIGH[:27], LOW[:27], CLOSE[:27]), "too short: 27 values given, at least 28 needed"),
    (lambda: trend.sma([], 2), "too short: 0 values given"),
    (lambda: volatility.atr(HIGH, LOW[:-1], CLOSE), "equal lengths, got high=60, low=59, close=60"),
    (lambda: trend.sma(CLOSE.reshape(6, 10), 2), "must be 1-D"),
    (lambda: trend.sma("100,101", 2), "1-D sequence of numbers"),
    (lambda: trend.sma(["a", "b"], 2), "1-D sequence of numbers"),
    (lambda: trend.SMA(1), "period must be an integer >= 2, got 1"),
    (lambda: momentum.Stochastic(k_period=0), "k_period must be an integer >= 1"),
    (lambda: volatility.ADX(1), "period must be an integer >= 2, got 1"),
    (lambda: momentum.RSI().update(math.nan), "close must be finite"),
    (lambda: volatility.ATR().update(1.0, None, 1.0), "low must be a number"),
    (lambda: trend.MACD().update("1"), "close must be a number"),
]


@pytest.mark.parametrize("case", range(len(REFUSALS)))
def test_bad_input_is_refused_with_a_clear_message(case: int) -> None:
    call, words = REFUSALS[case]
    with pytest.raises(SpotlabError) as refusal:
        call()
    assert refusal.value.code is ErrorCode.INVALID_ARGUMENT
    assert words in refusal.value.message


def test_refusal_details_carry_the_figures() -> None:
    with pytest.raises(SpotlabError) as refusal:
        _checks.series("close", [1.0, 2.0, math.nan, 4.0])
    assert refusal.value.details == {"name": "close", "index": 2}
    with pytest.raises(SpotlabError) as refusal:
        _checks.long_enough("close", 3, 10)
    assert refusal.value.details == {"name": "close", "length": 3, "needed": 10}


def test_a_refused_streaming_update_leaves_the_state_unchanged() -> None:
    streamed, reference = trend.EMA(3), trend.EMA(3)
    for value in (1.0, 2.0, 3.0):
        streamed.update(value)
        reference.update(value)
    with pytest.raises(SpotlabError):
        streamed.update(math.nan)
    assert streamed.update(4.0) == reference.update(4.0)


def test_good_input_of_other_types_is_accepted() -> None:
    assert _checks.series("close", [1, 2, 3]).dtype == np.float64
    assert _checks.period("period", np.int64(5)) == 5
    assert trend.sma((1, 2, 3, 4), 2).tolist()[1:] == [1.5, 2.5, 3.5]
    assert np.isnan(_checks.nan_array(3)).all() and len(_checks.nan_array(3)) == 3
    assert _checks.same_length(a=np.zeros(2), b=np.ones(2)) == 2

"""Evaluating rules: the values equal the indicators computed directly on real candles, streaming equals
vectorised bar for bar, and unknown (warm-up, division by zero) follows three-valued logic."""

from __future__ import annotations

import csv
import math
from functools import cache

import numpy as np
import pytest

from spotlab import indicators as ta
from spotlab.alerts.evaluate import Bar, Candles, RuleState, evaluate
from spotlab.alerts.rules import INDICATORS, parse
from spotlab.errors import SpotlabError
from tests.shared_data import DATA

TOLERANCE = 1e-9


@cache
def btc_bars() -> tuple[Bar, ...]:
    """744 real BTC/USDT 1h candles (January 2025, Binance) from ../shared/data/quantedge-ta."""
    with (DATA / "quantedge-ta" / "btcusdt-1h.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return tuple(
        Bar(int(r["open_time"]) * 1000, float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]),
            float(r["volume"]))
        for r in rows
    )  # fmt: skip


def close_enough(a: float | None, b: float) -> bool:
    if a is None:
        return math.isnan(b)
    return abs(a - b) <= TOLERANCE * max(1.0, abs(b))


def direct(name: str, c: Candles) -> np.ndarray:
    """The indicator named in the language, computed straight from ``spotlab.indicators`` with its defaults."""
    table = {
        "sma": lambda: ta.sma(c.close, 20),
        "ema": lambda: ta.ema(c.close, 20),
        "wma": lambda: ta.wma(c.close, 20),
        "rsi": lambda: ta.rsi(c.close, 14),
        "macd": lambda: ta.macd(c.close)[0],
        "macd_signal": lambda: ta.macd(c.close)[1],
        "macd_hist": lambda: ta.macd(c.close)[2],
        "bollinger_upper": lambda: ta.bollinger(c.close)[0],
        "bollinger_middle": lambda: ta.bollinger(c.close)[1],
        "bollinger_lower": lambda: ta.bollinger(c.close)[2],
        "atr": lambda: ta.atr(c.high, c.low, c.close),
        "adx": lambda: ta.adx(c.high, c.low, c.close),
        "stoch_k": lambda: ta.stochastic(c.high, c.low, c.close)[0],
        "stoch_d": lambda: ta.stochastic(c.high, c.low, c.close)[1],
        "obv": lambda: ta.obv(c.close, c.volume),
        "donchian_upper": lambda: ta.donchian(c.high, c.low, 20).upper,
        "donchian_middle": lambda: ta.donchian(c.high, c.low, 20).middle,
        "donchian_lower": lambda: ta.donchian(c.high, c.low, 20).lower,
        "volume_sma": lambda: ta.sma(c.volume, 20),
        "volume_ema": lambda: ta.ema(c.volume, 20),
        "volume_oscillator": lambda: ta.volume_oscillator(c.volume, 5, 10),
    }
    return table[name]()


@pytest.mark.parametrize("size", [60, 300, 744])
@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_each_indicator_in_a_rule_has_the_value_the_indicator_function_gives(name, size):
    candles = Candles.of(list(btc_bars()[:size]))
    evaluation = evaluate(parse(f"{name} > 0"), candles)
    (reported,) = [v for key, v in evaluation.values.items() if key.startswith(name + "(")]
    assert close_enough(reported, float(direct(name, candles)[-1]))


def test_an_oversold_in_an_uptrend_rule_matches_a_hand_evaluation_at_every_hour():
    bars = btc_bars()
    rule = parse("rsi(14) < 35 and close > ema(200)")  # the example (< 30) never holds in this month
    candles = Candles.of(list(bars))
    rsi, ema = ta.rsi(candles.close, 14), ta.ema(candles.close, 200)
    state = RuleState(rule)
    seen = set()
    for index, bar in enumerate(bars):
        result = state.update(bar).result
        if index < 199:
            expected = False if rsi[index] >= 35 else None  # False and unknown = False
        else:
            expected = bool(rsi[index] < 35 and candles.close[index] > ema[index])
        assert result is expected, index
        seen.add(result)
    assert seen == {None, False, True}  # the real series exercises all three answers


RULES = [
    "rsi(14) < 30 and close > ema(200)",
    "close crosses_above sma(50)",
    "close crosses_below bollinger_lower(20, 2)",
    "macd_hist(12, 26, 9) > 0 or stoch_k < 20",
    "volume > 2 * volume_sma(20)",
    "adx > 25 and atr(14) / close > 0.004",
    "not (obv > 0) or donchian_upper(10) - donchian_lower(10) > 1500",
    "macd crosses_above macd_signal",
    "(high - low) / (close - open) > 3",  # division by zero on doji candles: unknown
]


@pytest.mark.parametrize("text", RULES)
def test_streaming_equals_vectorised_at_every_candle(text):
    bars = btc_bars()
    rule = parse(text)
    state = RuleState(rule)
    for index, bar in enumerate(bars):
        streamed = state.update(bar)
        if index % 7 and index != len(bars) - 1:
            continue  # the vectorised side is O(n) per candle: check every 7th and the last
        whole = evaluate(rule, Candles.of(list(bars[: index + 1])))
        assert streamed.result is whole.result, (index, streamed, whole)
        assert streamed.values.keys() == whole.values.keys()
        for key, value in whole.values.items():
            assert close_enough(streamed.values[key], math.nan if value is None else value), (index, key)


def test_crosses_looks_at_this_candle_and_the_one_before():
    def bar(close: float, time: int) -> Bar:
        return Bar(time, close, close, close, close, 1.0)

    state = RuleState(parse("close crosses_above 10"))
    results = [state.update(bar(c, t)).result for t, c in enumerate([9, 10, 11, 12, 9, 11, 10])]
    assert results == [None, False, True, False, False, True, False]
    below = RuleState(parse("close crosses_below 10"))
    assert [below.update(bar(c, t)).result for t, c in enumerate([11, 10, 9, 9, 12, 8])] == [
        None, False, True, False, False, True,
    ]  # fmt: skip


def test_unknown_follows_three_valued_logic():
    candles = Candles.of(list(btc_bars()[:100]))  # sma(500) is unknown on 100 candles
    assert evaluate(parse("sma(500) > 0"), candles).result is None
    assert evaluate(parse("sma(500) > 0 and close < 0"), candles).result is False
    assert evaluate(parse("sma(500) > 0 and close > 0"), candles).result is None
    assert evaluate(parse("sma(500) > 0 or close > 0"), candles).result is True
    assert evaluate(parse("sma(500) > 0 or close < 0"), candles).result is None
    assert evaluate(parse("not sma(500) > 0"), candles).result is None
    assert evaluate(parse("close / (open - open) > 1"), candles).result is None  # division by zero
    assert evaluate(parse("sma(500) > 0"), candles).values == {"sma(500)": None}


def test_no_candles_means_unknown():
    assert evaluate(parse("close > 0"), Candles.of([])).result is None


def test_a_candle_with_a_nan_is_refused_and_moves_nothing():
    state = RuleState(parse("sma(2) > 0"))
    state.update(Bar(0, 1.0, 1.0, 1.0, 1.0, 1.0))
    with pytest.raises(SpotlabError):
        state.update(Bar(1, 1.0, 1.0, 1.0, math.nan, 1.0))
    assert state.count == 1
    assert state.update(Bar(2, 3.0, 3.0, 3.0, 3.0, 1.0)).values == {"sma(2)": 2.0}

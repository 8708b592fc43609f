"""The market signal: a steady rise is bullish, a steady fall bearish, a flat or short series neutral."""

from __future__ import annotations

import numpy as np
import pytest

from spotlab.alerts.signals import BEARISH, BULLISH, NEUTRAL, signal, verdict
from spotlab.errors import ErrorCode, SpotlabError


def wave(trend: float, length: int = 300) -> np.ndarray:
    """An accelerating rise (``trend`` > 0) or fall (< 0) with a small wiggle: momentum keeps growing."""
    steps = np.arange(length, dtype=np.float64)
    return 2000.0 + trend * 0.005 * steps * steps + np.sin(steps / 3.0)


def votes(result) -> dict[str, int]:
    return {reason.rule: reason.vote for reason in result.reasons}


def test_a_steady_rise_is_bullish_on_every_rule():
    result = signal(wave(+2.0))
    assert result.verdict == BULLISH
    assert votes(result) == {"trend": 1, "long_trend": 1, "rsi": 1, "macd": 1}
    assert result.score == 4 and result.candles == 300


def test_a_steady_fall_is_bearish_on_every_rule():
    result = signal(wave(-2.0))
    assert result.verdict == BEARISH
    assert votes(result) == {"trend": -1, "long_trend": -1, "rsi": -1, "macd": -1}


def test_a_flat_market_is_neutral():
    result = signal(np.full(300, 50.0))
    assert result.verdict == NEUTRAL and result.score == 0
    assert votes(result) == {"trend": 0, "long_trend": 0, "rsi": 0, "macd": 0}  # float noise and RSI 0 vote 0
    assert {reason.rule: reason.detail for reason in result.reasons}["rsi"] == "no price change in 15 candles"


def test_each_reason_carries_the_figures_behind_its_vote():
    result = signal(wave(+2.0))
    by_rule = {reason.rule: reason for reason in result.reasons}
    closes = wave(+2.0)
    assert by_rule["trend"].values["close"] == closes[-1]
    assert by_rule["trend"].values["close"] > by_rule["trend"].values["ema_50"]
    assert by_rule["long_trend"].values["ema_50"] > by_rule["long_trend"].values["ema_200"]
    assert by_rule["rsi"].values["rsi_14"] >= 55 and "RSI(14) >= 55" in by_rule["rsi"].detail
    assert by_rule["macd"].values["macd_hist"] > 0


def test_a_young_market_abstains_where_it_lacks_candles():
    result = signal(wave(+2.0, length=60))  # enough for EMA(50), RSI, MACD; not for EMA(200)
    by_rule = {reason.rule: reason for reason in result.reasons}
    assert not by_rule["long_trend"].available and by_rule["long_trend"].vote == 0
    assert "needs 200 candles, has 60" in by_rule["long_trend"].detail
    assert result.verdict == BULLISH and result.score == 3
    empty = signal([])
    assert empty.verdict == NEUTRAL and not any(reason.available for reason in empty.reasons)


def test_conflicting_rules_are_each_reported_and_the_vote_decides():
    # a long accelerating rise, then a sharp drop: the long trend is still up, everything short-term is down
    rise = wave(+2.0, 250)
    closes = np.concatenate([rise, rise[-1] - 20.0 * np.arange(1, 26)])
    result = signal(closes)
    assert votes(result) == {"trend": -1, "long_trend": 1, "rsi": -1, "macd": -1}
    assert result.score == -2 and result.verdict == BEARISH


@pytest.mark.parametrize(
    ("score", "expected"),
    [(4, BULLISH), (2, BULLISH), (1, NEUTRAL), (0, NEUTRAL), (-1, NEUTRAL), (-2, BEARISH), (-4, BEARISH)],
)
def test_the_verdict_needs_a_margin_of_two_votes(score, expected):
    assert verdict(score) == expected


def test_bad_closes_are_refused():
    with pytest.raises(SpotlabError) as caught:
        signal([1.0, float("nan"), 2.0])
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT

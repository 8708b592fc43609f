"""A market's bullish / bearish / neutral signal: a small, documented vote over the indicators.

The rule set (each rule votes +1 bullish, -1 bearish or 0, at the last closed candle):

1. ``trend``      close vs EMA(50): above +1, below -1, equal 0.
2. ``long_trend`` EMA(50) vs EMA(200): above +1 (the "golden cross" side), below -1, equal 0.
3. ``rsi``        RSI(14): >= 55 +1, <= 45 -1, else 0. Beyond 70 / below 30 the reason also says
                  overbought / oversold, but the vote keeps the momentum's direction.
4. ``macd``       MACD(12, 26, 9) histogram: > 0 +1, < 0 -1, 0 votes 0.

Verdict: the sum of the votes; ``bullish`` at >= +2, ``bearish`` at <= -2, else ``neutral``. A rule
without enough candles for its indicator (EMA(200) needs 200, MACD 34, RSI 15, EMA(50) 50) abstains
(vote 0, ``available`` False) and says how many candles it needs, so a young market is neutral rather
than guessed at. Differences within 1e-9 of the price (float rounding) vote 0, and so does RSI when the
last 15 closes did not move at all (TA-Lib's RSI is then 0, which is no momentum, not a bearish one).

Invariants
- Pure: a function of the closes handed in (floats, analysis only), oldest first, the last one the
  last closed candle; nothing looks past it.
- Every ``Reason`` carries the figures behind its vote; the verdict is a function of the votes alone.
- Bad input (NaN, infinity, not 1-D) is ``SpotlabError(INVALID_ARGUMENT)`` from ``spotlab.indicators``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from spotlab import indicators as ta
from spotlab.indicators import _checks

__all__ = ["BEARISH", "BULLISH", "NEUTRAL", "Reason", "Signal", "signal", "verdict"]

BULLISH, BEARISH, NEUTRAL = "bullish", "bearish", "neutral"
THRESHOLD = 2
RSI_BULLISH, RSI_BEARISH, RSI_OVERBOUGHT, RSI_OVERSOLD = 55.0, 45.0, 70.0, 30.0
NOISE = 1e-9  # relative: differences smaller than this are float rounding, and vote 0


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    vote: int  # +1, 0, -1
    available: bool
    detail: str
    values: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Signal:
    verdict: str  # bullish, bearish, neutral
    score: int
    candles: int
    reasons: tuple[Reason, ...]


def _last(series: np.ndarray) -> float:
    value = float(series[-1]) if len(series) else math.nan
    return value if math.isfinite(value) else math.nan


def _sign(difference: float, scale: float) -> int:
    """+1, -1 or 0; a difference within ``NOISE`` of ``scale`` is float noise, not a direction."""
    if abs(difference) <= NOISE * abs(scale):
        return 0
    return (difference > 0) - (difference < 0)


def _missing(rule: str, needed: int, have: int) -> Reason:
    return Reason(rule, 0, False, f"needs {needed} candles, has {have}: abstains")


def _trend(close: np.ndarray) -> Reason:
    if len(close) < 50:
        return _missing("trend", 50, len(close))
    last, average = float(close[-1]), _last(ta.ema(close, 50))
    vote = _sign(last - average, last)
    where = {1: "above", -1: "below", 0: "at"}[vote]
    return Reason("trend", vote, True, f"close {where} EMA(50)", {"close": last, "ema_50": average})


def _long_trend(close: np.ndarray) -> Reason:
    if len(close) < 200:
        return _missing("long_trend", 200, len(close))
    fast, slow = _last(ta.ema(close, 50)), _last(ta.ema(close, 200))
    vote = _sign(fast - slow, slow)
    where = {1: "above", -1: "below", 0: "at"}[vote]
    return Reason("long_trend", vote, True, f"EMA(50) {where} EMA(200)", {"ema_50": fast, "ema_200": slow})


def _rsi(close: np.ndarray) -> Reason:
    if len(close) < 15:
        return _missing("rsi", 15, len(close))
    value = _last(ta.rsi(close, 14))
    if float(np.ptp(close[-15:])) == 0.0:  # TA-Lib's RSI is 0 without any change: that is no momentum at all
        return Reason("rsi", 0, True, "no price change in 15 candles", {"rsi_14": value})
    vote = 1 if value >= RSI_BULLISH else -1 if value <= RSI_BEARISH else 0
    detail = {1: f"RSI(14) >= {RSI_BULLISH:g}", -1: f"RSI(14) <= {RSI_BEARISH:g}", 0: "RSI(14) between 45 and 55"}
    text = detail[vote]
    if value > RSI_OVERBOUGHT:
        text += " (overbought)"
    elif value < RSI_OVERSOLD:
        text += " (oversold)"
    return Reason("rsi", vote, True, text, {"rsi_14": value})


def _macd(close: np.ndarray) -> Reason:
    if len(close) < 34:
        return _missing("macd", 34, len(close))
    line, signal_line, histogram = (_last(series) for series in ta.macd(close, 12, 26, 9))
    vote = _sign(histogram, float(close[-1]))
    where = {1: "positive", -1: "negative", 0: "zero"}[vote]
    values = {"macd": line, "macd_signal": signal_line, "macd_hist": histogram}
    return Reason("macd", vote, True, f"MACD histogram {where}", values)


def signal(close) -> Signal:
    """The signal at the last of ``close`` (closing prices of closed candles, oldest first)."""
    closes = _checks.series("close", close)
    reasons = (_trend(closes), _long_trend(closes), _rsi(closes), _macd(closes))
    score = sum(reason.vote for reason in reasons)
    return Signal(verdict(score), score, len(closes), reasons)


def verdict(score: int) -> str:
    """``bullish`` at >= ``THRESHOLD``, ``bearish`` at <= -``THRESHOLD``, else ``neutral``."""
    return BULLISH if score >= THRESHOLD else BEARISH if score <= -THRESHOLD else NEUTRAL

"""Technical indicators over NumPy arrays, and the same indicators one bar at a time.

``from spotlab import indicators``; each function takes float arrays and returns arrays of the
same length, NaN during warm-up (``indicators.rsi(close, 14)``); each class is the streaming
form (``indicators.RSI(14).update(close)`` returns the newest value) and gives the same
numbers as its function, bar for bar. The single-output classes (SMA, EMA, WMA, RSI, ATR, ADX,
OBV) also have ``batch(...)``: every value a fresh instance would return, fed the arrays one bar at
a time, computed at once by the function (backtests use it; same bits).

Invariants
- Where TA-Lib has the indicator (SMA, EMA, WMA, MACD, RSI, Stochastic, Bollinger, ATR, ADX,
  OBV) the values and the warm-up NaNs equal TA-Lib's (relative difference <= 1e-9, tested
  against TA-Lib itself on real and random series); the others (VWAP, volume oscillator,
  Donchian, swing levels) state their formula in their module and are tested on hand-computed
  vectors.
- Nothing looks ahead: a value at bar t depends only on bars up to t.
- Bad input (NaN or infinite values, unequal lengths, non-positive periods, series too short
  for one value) raises ``SpotlabError(INVALID_ARGUMENT)`` naming the argument; a refused
  streaming update changes nothing.
"""

from spotlab.indicators.levels import Donchian, DonchianChannel, SwingLevels, SwingLevelValues, donchian, swing_levels
from spotlab.indicators.momentum import RSI, Stochastic, rsi, stochastic
from spotlab.indicators.trend import EMA, MACD, SMA, WMA, ema, macd, sma, wma
from spotlab.indicators.volatility import ADX, ATR, Bollinger, adx, atr, bollinger, true_range
from spotlab.indicators.volume import OBV, VWAP, VolumeOscillator, obv, session_length_ns, volume_oscillator, vwap

__all__ = [
    "ADX",
    "ATR",
    "EMA",
    "MACD",
    "OBV",
    "RSI",
    "SMA",
    "VWAP",
    "WMA",
    "Bollinger",
    "Donchian",
    "DonchianChannel",
    "Stochastic",
    "SwingLevelValues",
    "SwingLevels",
    "VolumeOscillator",
    "adx",
    "atr",
    "bollinger",
    "donchian",
    "ema",
    "macd",
    "obv",
    "rsi",
    "session_length_ns",
    "sma",
    "stochastic",
    "swing_levels",
    "true_range",
    "volume_oscillator",
    "vwap",
    "wma",
]

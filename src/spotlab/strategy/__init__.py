"""Strategies: typed parameters, closed bars and streaming indicators in, orders through a venue out.

``Strategy`` (``base``), ``Param`` (``params``), ``Bar`` / ``MarketData`` / ``IndicatorSeries`` /
``StrategyFill`` (``data``), ``Venue`` / ``ExchangeVenue`` (``venue``). Built-in strategies live
in ``spotlab.strategy.builtin`` (``STRATEGIES``). The same strategy runs in a backtest, paper
trading or live: only the clock and the venue change.
"""

from spotlab.strategy.base import Strategy, StrategyContext
from spotlab.strategy.data import Bar, IndicatorSeries, MarketData, StrategyFill
from spotlab.strategy.params import Param
from spotlab.strategy.venue import ExchangeVenue, Venue

__all__ = [
    "Bar",
    "ExchangeVenue",
    "IndicatorSeries",
    "MarketData",
    "Param",
    "Strategy",
    "StrategyContext",
    "StrategyFill",
    "Venue",
]

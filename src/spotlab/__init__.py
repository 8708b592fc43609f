"""spotlab: a self-hosted crypto spot exchange and day-trading lab.

>>> from decimal import Decimal
>>> from spotlab import Exchange
>>> ex = Exchange.open()            # in memory; or "sqlite:///data/spotlab.sqlite", or a postgresql:// URL
"""

from spotlab.clock import Clock, SimulatedClock, WallClock
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange import AsyncExchange, Exchange
from spotlab.exchange.views import Balance, BookView, Fill, MarketView, OrderView, Trade, Withdrawal

__version__ = "0.1.0"

__all__ = [
    "AsyncExchange",
    "Balance",
    "BookView",
    "Clock",
    "ErrorCode",
    "Exchange",
    "Fill",
    "MarketView",
    "OrderView",
    "SimulatedClock",
    "SpotlabError",
    "Trade",
    "WallClock",
    "Withdrawal",
]

"""Built-in strategies, by the name the CLI uses: ``STRATEGIES["swing"](fast=12)``."""

from spotlab.strategy.builtin.arbitrage import TriangularArbitrage
from spotlab.strategy.builtin.breakout import Breakout
from spotlab.strategy.builtin.buy_and_hold import BuyAndHold
from spotlab.strategy.builtin.cross_arbitrage import CrossExchangeArbitrage
from spotlab.strategy.builtin.dca import DCA, DcaSummary
from spotlab.strategy.builtin.momentum import Momentum
from spotlab.strategy.builtin.range_trading import RangeTrading
from spotlab.strategy.builtin.scalping import Scalping
from spotlab.strategy.builtin.swing import Swing

STRATEGIES = {
    "buy_and_hold": BuyAndHold,
    "dca": DCA,
    "swing": Swing,
    "momentum": Momentum,
    "range_trading": RangeTrading,
    "breakout": Breakout,
    "scalping": Scalping,
    "triangular_arbitrage": TriangularArbitrage,
    "cross_arbitrage": CrossExchangeArbitrage,
}

__all__ = [
    "DCA",
    "STRATEGIES",
    "Breakout",
    "BuyAndHold",
    "CrossExchangeArbitrage",
    "DcaSummary",
    "Momentum",
    "RangeTrading",
    "Scalping",
    "Swing",
    "TriangularArbitrage",
]

"""Buy and hold: the benchmark every other strategy has to beat.

Idea: put the money in at the start and never trade again.

Parameters
- ``fraction`` (Decimal, 1): the share of the quote balance to invest, 0 < fraction <= 1.

Rules
- When the first bar of each of its markets closes, buy with a market order by quote amount:
  ``fraction`` of the available quote balance, split evenly over the markets not bought yet that
  share that quote asset (the amount includes the fee, so the order never asks for more than is there).
- Never sell.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from spotlab.strategy.base import Strategy
from spotlab.strategy.data import Bar
from spotlab.strategy.params import Param


class BuyAndHold(Strategy):
    fraction = Param(Decimal, Decimal(1), "share of the quote balance to invest", min=Decimal("0.00000001"), max=1)

    def init(self) -> None:
        self.bought: set[str] = set()

    def on_bar(self, bar: Bar) -> None:
        if bar.market in self.bought:
            return
        spec = self.context.venue.market_spec(bar.market)
        waiting = [m for m in self.markets if m not in self.bought and m.endswith("/" + spec.quote.code)]
        available = self.balance(spec.quote.code).available
        amount = (available * self.fraction / len(waiting)).quantize(spec.quote.unit, rounding=ROUND_DOWN)
        self.bought.add(bar.market)
        if amount >= spec.min_notional and amount > 0:
            self.buy(bar.market, quote_quantity=amount)

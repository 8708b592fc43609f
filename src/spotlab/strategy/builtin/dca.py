"""Dollar-cost averaging: buy a fixed quote amount at fixed intervals of clock time, whatever the price.

Idea: spreading purchases over time buys more when the price is low and less when it is high,
so the average purchase price (a harmonic mean of the prices) is at most the average market
price at the purchase times (their arithmetic mean).

Parameters
- ``amount`` (Decimal, 100): the quote amount spent per purchase, fee included.
- ``interval`` (timedelta, "1d"): clock time between purchases; the first comes one interval
  after the start.

Rules
- A timer (``every(interval)``) fires; if a bar has closed and the available quote balance covers
  ``amount``, buy with a market order by quote amount ``amount``.
- Never sell. ``summary()`` reports the purchases: the average purchase price
  (sum of fill notionals / base bought, fees excluded) and the average market price
  (mean of the last close at each purchase time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Context, Decimal

from spotlab.strategy.base import Strategy
from spotlab.strategy.data import StrategyFill
from spotlab.strategy.params import Param

_WIDE = Context(prec=50)


@dataclass(frozen=True, slots=True)
class DcaSummary:
    purchases: int
    spent: Decimal  # quote, fees included
    bought: Decimal  # base
    average_purchase_price: Decimal | None  # fill notionals / base bought
    average_market_price: Decimal | None  # mean last close at the purchase times


class DCA(Strategy):
    amount = Param(Decimal, Decimal(100), "quote amount per purchase, fee included", min=Decimal("0.00000001"))
    interval = Param(timedelta, timedelta(days=1), "time between purchases", min=timedelta(seconds=1))

    def init(self) -> None:
        self.market_prices: list[Decimal] = []
        self.notional = self.bought = self.fees = Decimal(0)
        self.every(self.interval, "buy")

    def on_timer(self, name: str) -> None:
        market = self.market
        data = self.data[market]
        if not len(data):
            return
        quote = self.context.venue.market_spec(market).quote.code
        if self.balance(quote).available < self.amount:
            return
        self.market_prices.append(data.last.close)
        self.buy(market, quote_quantity=self.amount)

    def on_fill(self, fill: StrategyFill) -> None:
        if fill.side == "buy":
            self.notional += fill.notional
            self.bought += fill.quantity
            self.fees += fill.fee

    def summary(self) -> DcaSummary:
        prices = self.market_prices
        return DcaSummary(
            purchases=len(prices),
            spent=self.notional + self.fees,
            bought=self.bought,
            average_purchase_price=_WIDE.divide(self.notional, self.bought) if self.bought else None,
            average_market_price=_WIDE.divide(sum(prices, Decimal(0)), len(prices)) if prices else None,
        )

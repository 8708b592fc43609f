"""Swing trading on an EMA crossover: long while the fast EMA is above the slow one, held for days.

Idea: a fast EMA crossing above a slow one marks the start of an up-swing; crossing back below,
its end. On hourly bars the default periods (24 and 120 hours: one day and five days) hold a
position for days.

Parameters
- ``fast`` (int, 24), ``slow`` (int, 120): EMA periods in bars, ``fast < slow``.
- ``fraction`` (Decimal, 1): share of the quote balance a trade uses when there is no stop.
- ``stop_percent`` (Decimal, 0): 0 for no stop; else a protective stop this many percent below
  the entry close, with the size set so a stop-out loses ``risk_percent`` of equity
  (``spotlab.risk.sizing``, fees included).
- ``risk_percent`` (Decimal, 1), ``take_profit_percent`` (Decimal, 10): with a stop, the exit
  is an OCO: take profit this many percent above the entry close, or the stop.

Rules (decided when a bar closes, on that bar's EMAs)
- Entry: flat, and the fast EMA crosses above the slow one (below or equal on the previous bar,
  above on this one): a market buy; with a stop, then an OCO sell of what was bought.
- Exit: in a trade and the fast EMA crosses below the slow one: cancel the OCO, sell what is
  held at market. A filled OCO ends the trade by itself.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from spotlab import indicators
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.strategy.base import Strategy
from spotlab.strategy.data import Bar
from spotlab.strategy.params import Param


class Swing(Strategy):
    fast = Param(int, 24, "fast EMA period (bars)", min=2)
    slow = Param(int, 120, "slow EMA period (bars)", min=3)
    fraction = Param(Decimal, Decimal(1), "share of the quote balance per trade without a stop", min=0, max=1)
    stop_percent = Param(Decimal, Decimal(0), "stop below the entry close, percent (0: none)", min=0, max=50)
    risk_percent = Param(Decimal, Decimal(1), "equity risked to the stop, percent", min=Decimal("0.01"), max=100)
    take_profit_percent = Param(Decimal, Decimal(10), "take profit above the entry close, percent", min=0)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        if self.fast >= self.slow:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"fast ({self.fast}) must be below slow ({self.slow})", parameter="fast"
            )

    def init(self) -> None:
        self.ema_fast = self.indicator(indicators.EMA, self.fast)
        self.ema_slow = self.indicator(indicators.EMA, self.slow)
        self.in_trade = False
        self.oco_id: int | None = None
        self.entries = 0

    def on_bar(self, bar: Bar) -> None:
        market = bar.market
        spec = self.context.venue.market_spec(market)
        held = self.round_quantity(market, self.balance(spec.base.code).total)
        if self.in_trade and held < spec.min_quantity:  # the OCO closed the trade
            self.in_trade, self.oco_id = False, None
        if len(self.ema_slow) < 2 or math.isnan(self.ema_slow[-2]):
            return
        before = self.ema_fast[-2] - self.ema_slow[-2]
        now = self.ema_fast[-1] - self.ema_slow[-1]
        if not self.in_trade and before <= 0 < now:
            self._enter(market, bar.close)
        elif self.in_trade and before >= 0 > now:
            self._exit(market)

    def _enter(self, market: str, close: Decimal) -> None:
        spec = self.context.venue.market_spec(market)
        if self.stop_percent:
            stop = self.round_price(market, close * (1 - self.stop_percent / 100), ROUND_DOWN)
            try:
                size = self.position_size(market, close, stop, self.risk_percent)
            except SpotlabError:
                return  # too small to trade at this risk
            order = self.buy(market, size.quantity)
            self.in_trade = True
            self.entries += 1
            if order is not None and order.filled_quantity:
                take = self.round_price(market, close * (1 + self.take_profit_percent / 100), ROUND_UP)
                self.oco_id = self.place_oco(market, order.filled_quantity, take, stop).id
            return
        amount = (self.balance(spec.quote.code).available * self.fraction).quantize(spec.quote.unit, ROUND_DOWN)
        if amount >= spec.min_notional and amount > 0:
            self.buy(market, quote_quantity=amount)
            self.in_trade = True
            self.entries += 1

    def _exit(self, market: str) -> None:
        spec = self.context.venue.market_spec(market)
        if self.oco_id is not None:
            try:
                self.cancel_order_list(self.oco_id)
            except SpotlabError:
                pass  # already done: one of its orders filled meanwhile
            self.oco_id = None
        quantity = self.round_quantity(market, self.balance(spec.base.code).available)
        if quantity >= spec.min_quantity:
            self.sell(market, quantity)
        self.in_trade = False

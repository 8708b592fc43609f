"""Breakout: buy a close through resistance on a volume surge, with an ATR stop below the broken level.

Idea: the highest high of the last bars is where sellers stopped rises before; a close above it
on unusually heavy volume says buyers have taken that level, and the move often runs. The stop
goes below the broken level (by a multiple of ATR, so it sits outside the bar-to-bar noise); the
exit is a trailing stop that follows the run, or a take-profit a multiple of the risk away.
Optionally the entry waits for a retest: a limit buy at the broken level.

Parameters (defaults for 1h crypto bars)
- ``period`` (int, 20): ``level`` = the highest high of the ``period`` bars BEFORE the current
  one (the Donchian high of the previous bar; the current bar is not part of it).
- ``volume_period`` (int, 20), ``volume_factor`` (float, 2): a volume surge is a bar's volume
  above ``volume_factor`` times the mean volume of the ``volume_period`` bars before it.
- ``atr_period`` (int, 14), ``stop_atr`` (Decimal, 1): ``stop = level - stop_atr x ATR`` (ATR at
  the breakout bar), rounded down to the tick.
- ``exit`` (str, "trailing"): ``"trailing"``: a trailing stop sell whose distance is
  ``entry - stop``, so it starts at about the stop and follows the highest price since;
  ``"take_profit"``: an OCO, take-profit at ``entry + take_profit_r x (entry - stop)`` (rounded up
  to the tick) and stop-loss at ``stop``.
- ``take_profit_r`` (Decimal, 2): the take-profit's distance in multiples of the risk.
- ``retest`` (bool, False), ``retest_bars`` (int, 3): with ``retest``, the entry is a GTC limit
  buy at ``level`` instead of a market buy; what has not filled when ``retest_bars`` more bars
  have closed is canceled.
- ``risk_percent`` (Decimal, 1): a stop-out loses at most this share of equity, fees included.

Rules (decided when a bar closes; ``entry`` is the bar's close, or ``level`` with ``retest``)
- Entry, when the strategy holds less than the minimum quantity and has no order in the market:
  ``close > level`` and ``volume > volume_factor x mean volume`` (and ATR past its warm-up).
  The quantity is ``position_size(entry, stop, risk_percent)``. Market entry: a market buy of it
  if risk decides it, or of all the available quote (fees included) if equity caps it. Retest
  entry: a limit buy at ``level``, the quantity capped by what the available quote pays there
  with the dearer fee. Nothing is sent when sizing refuses or the order is below the minimums.
- Protection: right after a market entry fills, and at every bar close while the strategy holds
  base and has no order in the market, the exit is sent for the available base (rounded down to
  the lot): the trailing stop or the OCO. If the close is already at or below ``stop`` (or, for
  the OCO, at or above the take-profit), the base is sold at market instead. Nothing is sent
  when the quantity is below the minimum quantity or ``stop x quantity`` below the minimum
  notional.
- A retest entry's unfilled rest is canceled at the close of the ``retest_bars``-th bar after
  the breakout bar; what it bought is protected as above.

The base asset the account holds counts as the position; base the strategy did not buy itself
is left alone. A retest fill is unprotected until the next bar close (as is any fill with order
latency): the stop and the trailing stop go out then.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from spotlab import indicators
from spotlab.errors import SpotlabError
from spotlab.strategy.base import Strategy
from spotlab.strategy.data import Bar
from spotlab.strategy.params import Param


class Breakout(Strategy):
    period = Param(int, 20, "bars whose highest high is the resistance (before the current one)", min=1)
    volume_period = Param(int, 20, "bars in the volume average (before the current one)", min=1)
    volume_factor = Param(float, 2.0, "a surge is volume above this times the average", min=0)
    atr_period = Param(int, 14, "ATR period (bars)", min=1)
    stop_atr = Param(Decimal, Decimal(1), "stop below the broken level, in ATRs", min=0, max=20)
    exit = Param(str, "trailing", "how the trade ends: a trailing stop or an OCO", choices=("trailing", "take_profit"))
    take_profit_r = Param(Decimal, Decimal(2), "take profit above the entry, in multiples of the risk", min=0)
    retest = Param(bool, False, "enter with a limit buy at the broken level instead of at market")
    retest_bars = Param(int, 3, "bars a retest entry waits before it is canceled", min=1)
    risk_percent = Param(Decimal, Decimal(1), "equity risked to the stop, percent", min=Decimal("0.01"), max=100)

    def init(self) -> None:
        self.channel = self.indicator(indicators.Donchian, self.period)
        self.volume_mean = self.indicator(indicators.SMA, self.volume_period, source="volume")
        self.atr = self.indicator(indicators.ATR, self.atr_period)
        self.entry: Decimal | None = None
        self.stop: Decimal | None = None
        self.retest_until: int | None = None  # bar index at whose close a waiting retest entry is canceled
        self.entries = 0

    def on_bar(self, bar: Bar) -> None:
        market = bar.market
        index = len(self.data[market]) - 1
        spec = self.context.venue.market_spec(market)
        if self.retest_until is not None and index >= self.retest_until:
            self.retest_until = None
            if self.open_orders(market):
                self.cancel_all(market)  # the retest did not come (or came only in part)
        has_orders = bool(self.open_orders(market) or self.conditional_orders(market))
        if self.round_quantity(market, self.position(market)) >= spec.min_quantity:
            if not has_orders:
                self._protect(market, bar.close)
            return
        if has_orders or not self._breaks_out(bar):
            return
        level = _decimal(self.channel[-2].upper)
        stop = self.round_price(market, level - self.stop_atr * _decimal(self.atr[-1]), ROUND_DOWN)
        if stop <= 0:
            return
        if self.retest:
            self._enter_on_retest(market, level, stop, index)
        else:
            self._enter_at_market(market, bar.close, stop)

    def _breaks_out(self, bar: Bar) -> bool:
        if len(self.channel) < 2 or math.isnan(self.channel[-2].upper) or math.isnan(self.atr[-1]):
            return False
        if len(self.volume_mean) < 2 or math.isnan(self.volume_mean[-2]):
            return False
        surge = float(bar.volume) > self.volume_factor * self.volume_mean[-2]
        return surge and bar.close > _decimal(self.channel[-2].upper)

    def _enter_at_market(self, market: str, close: Decimal, stop: Decimal) -> None:
        if not self.buy_sized(market, close, stop, self.risk_percent):
            return  # below the market's minimums at this risk
        self.entry, self.stop = close, stop
        self.entries += 1
        self._protect(market, close)

    def _enter_on_retest(self, market: str, level: Decimal, stop: Decimal, index: int) -> None:
        spec = self.context.venue.market_spec(market)
        try:
            size = self.position_size(market, level, stop, self.risk_percent)
        except SpotlabError:
            return
        available = self.balance(spec.quote.code).available
        affordable = self.round_quantity(market, available / (level * (1 + max(spec.maker_fee, spec.taker_fee))))
        quantity = min(size.quantity, affordable)
        if quantity < spec.min_quantity or quantity * stop < spec.min_notional:
            return
        self.buy(market, quantity, price=level)
        self.entry, self.stop = level, stop
        self.retest_until = index + self.retest_bars
        self.entries += 1

    def _protect(self, market: str, close: Decimal) -> None:
        if self.entry is None or self.stop is None:
            return  # base the strategy did not buy
        spec = self.context.venue.market_spec(market)
        quantity = self.round_quantity(market, self.balance(spec.base.code).available)
        if quantity < spec.min_quantity or quantity * self.stop < spec.min_notional:
            return
        take = self.round_price(market, self.entry + self.take_profit_r * (self.entry - self.stop), ROUND_UP)
        if close <= self.stop or (self.exit == "take_profit" and close >= take):
            self.sell(market, quantity)
        elif self.exit == "trailing":
            self.place_order(
                market, "sell", "trailing_stop", quantity=quantity, trailing_distance=self.entry - self.stop
            )
        else:
            self.place_oco(market, quantity, take, self.stop)


def _decimal(value: float) -> Decimal:
    """An indicator's value back as a Decimal (a Donchian level is exactly a bar's price)."""
    return Decimal(repr(value))

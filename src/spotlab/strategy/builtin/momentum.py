"""Momentum: RSI and MACD with volume confirmation, protected by a risk-sized OCO.

Idea: a MACD line crossing above its signal line marks momentum turning up; it is worth
following when RSI says the move has strength but is not yet overbought, and when volume
confirms that the market takes part. The trade ends when momentum turns down (MACD back
below its signal), when RSI reaches overbought, or at a protective stop or take-profit.

Parameters (defaults for 1h crypto bars)
- ``rsi_period`` (int, 14); ``macd_fast`` / ``macd_slow`` / ``macd_signal`` (int, 12 / 26 / 9).
- ``rsi_floor`` (float, 50), ``rsi_ceiling`` (float, 70): an entry needs
  ``rsi_floor <= RSI < rsi_ceiling`` (strength, not overbought).
- ``rsi_exit`` (float, 80): in a trade, RSI at or above it sells (overbought).
- ``volume_period`` (int, 20), ``volume_factor`` (float, 1.2): an entry needs the bar's volume
  above ``volume_factor`` times the mean volume of the ``volume_period`` bars before it.
- ``stop_percent`` (Decimal, 3), ``take_profit_percent`` (Decimal, 6): the OCO's stop and
  take-profit, this many percent below / above the entry bar's close.
- ``risk_percent`` (Decimal, 1): a stop-out loses at most this share of equity, fees included
  (``Strategy.position_size``).

Rules (decided when a bar closes, on the indicators of the bars closed so far)
- Entry, when the strategy holds less than the market's minimum quantity of the base asset:
  MACD crosses above its signal (``macd <= signal`` on the previous bar, ``macd > signal`` on
  this one), ``rsi_floor <= RSI < rsi_ceiling`` and ``volume > volume_factor x mean volume``.
  Then ``stop = close x (1 - stop_percent/100)`` rounded down to the tick,
  ``take = close x (1 + take_profit_percent/100)`` rounded up to the tick, and the quantity is
  ``position_size(close, stop, risk_percent)``. If that quantity is what risk allows, a market
  buy of it; if equity caps it, a market buy spending the whole available quote (fees included,
  so it is never refused for a price a little above the close). Nothing is sent when sizing
  refuses (below the market's minimums, or a stop on the close's tick).
- Protection: right after the buy fills, and at every later bar close while the strategy holds
  base and has no order in the market, an OCO sells the available base (rounded down to the lot):
  take-profit limit at ``take``, stop-loss (market) at ``stop``. It is not sent when the quantity
  is below the minimum quantity or ``stop x quantity`` below the minimum notional.
- Exit: holding base and (MACD crosses below its signal, ``macd >= signal`` then ``macd < signal``,
  or ``RSI >= rsi_exit``): cancel every order of the market (the OCO), then sell the base held
  (rounded down to the lot) at market, if it reaches the minimums. A filled OCO ends the trade by
  itself.

The base asset the account holds counts as the position (spot: what you own is your position);
base the strategy did not buy itself gets no OCO, but an exit signal sells it. With order
latency the OCO goes out at the first bar close after the buy has filled.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from spotlab import indicators
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.strategy.base import Strategy
from spotlab.strategy.data import Bar
from spotlab.strategy.params import Param


class Momentum(Strategy):
    rsi_period = Param(int, 14, "RSI period (bars)", min=2)
    rsi_floor = Param(float, 50.0, "an entry needs RSI at or above this", min=0, max=100)
    rsi_ceiling = Param(float, 70.0, "an entry needs RSI below this (not overbought)", min=0, max=100)
    rsi_exit = Param(float, 80.0, "in a trade, RSI at or above this sells", min=0, max=100)
    macd_fast = Param(int, 12, "MACD fast EMA period (bars)", min=2)
    macd_slow = Param(int, 26, "MACD slow EMA period (bars)", min=3)
    macd_signal = Param(int, 9, "MACD signal EMA period (bars)", min=2)
    volume_period = Param(int, 20, "bars in the volume average (the bars before the current one)", min=1)
    volume_factor = Param(float, 1.2, "an entry needs volume above this times the average", min=0)
    stop_percent = Param(Decimal, Decimal(3), "stop below the entry close, percent", min=Decimal("0.01"), max=50)
    take_profit_percent = Param(Decimal, Decimal(6), "take profit above the entry close, percent", min=Decimal("0.01"))
    risk_percent = Param(Decimal, Decimal(1), "equity risked to the stop, percent", min=Decimal("0.01"), max=100)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        if self.rsi_floor >= self.rsi_ceiling:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"rsi_floor ({self.rsi_floor}) must be below rsi_ceiling ({self.rsi_ceiling})",
                parameter="rsi_floor",
            )
        if self.macd_fast >= self.macd_slow:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"macd_fast ({self.macd_fast}) must be below macd_slow ({self.macd_slow})",
                parameter="macd_fast",
            )

    def init(self) -> None:
        self.rsi = self.indicator(indicators.RSI, self.rsi_period)
        self.macd = self.indicator(indicators.MACD, self.macd_fast, self.macd_slow, self.macd_signal)
        self.volume_mean = self.indicator(indicators.SMA, self.volume_period, source="volume")
        self.stop: Decimal | None = None
        self.take: Decimal | None = None
        self.entries = 0

    def on_bar(self, bar: Bar) -> None:
        market = bar.market
        spec = self.context.venue.market_spec(market)
        holding = self.round_quantity(market, self.position(market)) >= spec.min_quantity
        if len(self.macd) < 2 or math.isnan(self.macd[-2][1]) or math.isnan(self.rsi[-1]):
            return
        (line_before, signal_before, _), (line, signal, _) = self.macd[-2], self.macd[-1]
        if holding:
            if (line_before >= signal_before and line < signal) or self.rsi[-1] >= self.rsi_exit:
                self._exit(market)
            elif not self.open_orders(market) and not self.conditional_orders(market):
                self._protect(market)
            return
        crossed_up = line_before <= signal_before and line > signal
        if crossed_up and self.rsi_floor <= self.rsi[-1] < self.rsi_ceiling and self._volume_confirms(bar):
            self._enter(market, bar.close)

    def _volume_confirms(self, bar: Bar) -> bool:
        if len(self.volume_mean) < 2 or math.isnan(self.volume_mean[-2]):
            return False
        return float(bar.volume) > self.volume_factor * self.volume_mean[-2]

    def _enter(self, market: str, close: Decimal) -> None:
        stop = self.round_price(market, close * (1 - self.stop_percent / 100), ROUND_DOWN)
        if not self.buy_sized(market, close, stop, self.risk_percent):
            return  # below the market's minimums at this risk, or a stop on the close's tick
        self.stop = stop
        self.take = self.round_price(market, close * (1 + self.take_profit_percent / 100), ROUND_UP)
        self.entries += 1
        self._protect(market)

    def _protect(self, market: str) -> None:
        if self.stop is None or self.take is None:
            return  # base the strategy did not buy: it only sells it on an exit signal
        spec = self.context.venue.market_spec(market)
        quantity = self.round_quantity(market, self.balance(spec.base.code).available)
        if quantity < spec.min_quantity or quantity * self.stop < spec.min_notional:
            return
        self.place_oco(market, quantity, self.take, self.stop)

    def _exit(self, market: str) -> None:
        spec = self.context.venue.market_spec(market)
        self.cancel_all(market)  # the OCO; its base comes free before the sell below
        quantity = self.round_quantity(market, self.position(market))
        if quantity >= spec.min_quantity and quantity * self.data[market].last.close >= spec.min_notional:
            self.sell(market, quantity)
        self.stop = self.take = None

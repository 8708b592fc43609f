"""Range trading: buy near support, sell near resistance, while the market moves sideways.

Idea: when price has stayed inside a narrow channel without a trend, it tends to turn back at
the channel's edges. A limit buy a little above support, a take-profit a little below
resistance and a stop a little below support (one bracket order) trade that; a close outside
the channel says the range has broken, and the strategy stands aside until a new range forms.

Parameters (defaults for 1h crypto bars)
- ``period`` (int, 48): the range is the Donchian channel of the ``period`` bars BEFORE the
  current one: ``resistance`` = their highest high, ``support`` = their lowest low;
  ``height = resistance - support``, ``width = height / support x 100`` (percent).
- ``min_width_percent`` (Decimal, 1.5), ``max_width_percent`` (Decimal, 6): a range is traded
  only when ``min_width_percent <= width <= max_width_percent`` (narrower leaves nothing after
  fees; wider is not a range).
- ``adx_period`` (int, 14), ``adx_max`` (float, 25): and only when ADX is below ``adx_max``
  (no trend).
- ``entry_offset``, ``take_profit_offset``, ``stop_offset`` (Decimal, 0.15 each), fractions of
  ``height``: entry ``support + entry_offset x height``, take-profit
  ``resistance - take_profit_offset x height``, stop ``support - stop_offset x height``, each
  rounded down to the tick. ``entry_offset + take_profit_offset < 1``.
- ``risk_percent`` (Decimal, 1): a stop-out loses at most this share of equity, fees included.

Rules (decided when a bar closes; ``i`` is the index of that bar)
- Breakout: ``close > resistance`` or ``close < support``: cancel every order of the market
  (a waiting entry, or the exits of a bought bracket), sell the base held (rounded down to
  the lot) at market if it reaches the minimums, and stand aside: no entry while
  ``i <= breakout bar + period`` (from then on the range holds only bars after the breakout).
- Holding base (at least the minimum quantity): nothing; the bracket's OCO (take-profit and
  stop) manages the position.
- Flat and not standing aside: if the range is not tradeable (width outside its bounds, ADX not
  below ``adx_max``, or ADX still warming up), cancel a waiting entry. Otherwise the quantity is
  ``position_size(entry, stop, risk_percent)``, capped by what the quote balance (available plus
  what a waiting entry holds) pays at the entry price with the dearer fee, rounded down to the
  lot. If a waiting entry has exactly these prices and quantity, it stays; else every order of
  the market is canceled and a bracket is placed: a GTC limit buy at ``entry`` whose fills get
  an OCO sell (take-profit limit at ``take``, stop-loss at ``stop``). Nothing is sent when
  sizing refuses, when ``stop < entry < take`` does not hold after rounding, or when the
  quantity is below the minimum quantity or ``stop x quantity`` below the minimum notional.
  A close already at or below ``entry`` makes the entry buy at once (up to ``entry``).

The base asset the account holds counts as the position (spot: what you own is your position).
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal

from spotlab import indicators
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.strategy.base import Strategy
from spotlab.strategy.data import Bar
from spotlab.strategy.params import Param

_FRACTION = {"min": 0, "max": Decimal("0.95")}


class RangeTrading(Strategy):
    period = Param(int, 48, "bars in the range (before the current one)", min=2)
    min_width_percent = Param(Decimal, Decimal("1.5"), "narrowest range traded, percent of support", min=0)
    max_width_percent = Param(Decimal, Decimal(6), "widest range traded, percent of support", min=0)
    adx_period = Param(int, 14, "ADX period (bars)", min=2)
    adx_max = Param(float, 25.0, "trade only while ADX is below this", min=0, max=100)
    entry_offset = Param(Decimal, Decimal("0.15"), "entry above support, fraction of the range height", **_FRACTION)
    take_profit_offset = Param(
        Decimal, Decimal("0.15"), "take profit below resistance, fraction of the range height", **_FRACTION
    )
    stop_offset = Param(
        Decimal, Decimal("0.15"), "stop below support, fraction of the range height", min=Decimal("0.01"), max=1
    )
    risk_percent = Param(Decimal, Decimal(1), "equity risked to the stop, percent", min=Decimal("0.01"), max=100)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        if self.entry_offset + self.take_profit_offset >= 1:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"entry_offset + take_profit_offset ({self.entry_offset} + {self.take_profit_offset}) must be below "
                "1, or the entry would sit at or above the take-profit",
                parameter="entry_offset",
            )
        if self.min_width_percent > self.max_width_percent:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"min_width_percent ({self.min_width_percent}) must not exceed max_width_percent "
                f"({self.max_width_percent})",
                parameter="min_width_percent",
            )

    def init(self) -> None:
        self.channel = self.indicator(indicators.Donchian, self.period)
        self.adx = self.indicator(indicators.ADX, self.adx_period)
        self.aside_until = -1  # the first bar index at which entries are allowed again
        self.waiting: tuple[Decimal, Decimal, Decimal, Decimal] | None = None  # the last bracket sent
        self.breakouts = 0
        self.brackets = 0

    def on_bar(self, bar: Bar) -> None:
        market = bar.market
        index = len(self.data[market]) - 1
        if index < self.period or math.isnan(self.channel[-2].upper):
            return
        resistance, support = _decimal(self.channel[-2].upper), _decimal(self.channel[-2].lower)
        spec = self.context.venue.market_spec(market)
        if bar.close > resistance or bar.close < support:
            self._stand_aside(market, bar.close, index)
            return
        if self.round_quantity(market, self.position(market)) >= spec.min_quantity:
            return  # the bracket's OCO manages the position
        if not self.open_orders(market):
            self.waiting = None  # no entry rests: the last bracket (if any) is done
        if index < self.aside_until or not self._is_range(support, resistance):
            self._cancel_entry(market)
            return
        levels = self._levels(market, support, resistance)
        if levels is None:
            self._cancel_entry(market)
            return
        if levels != self.waiting:
            self._cancel_entry(market)
            entry, take, stop, quantity = levels
            self.place_bracket(market, quantity, entry, take, stop)
            self.waiting = levels
            self.brackets += 1

    def _is_range(self, support: Decimal, resistance: Decimal) -> bool:
        width = (resistance - support) / support * 100
        adx = self.adx[-1]
        return self.min_width_percent <= width <= self.max_width_percent and not math.isnan(adx) and adx < self.adx_max

    def _levels(self, market: str, support: Decimal, resistance: Decimal):
        """``(entry, take, stop, quantity)`` of the bracket to place, or None when nothing may be sent."""
        height = resistance - support
        entry = self.round_price(market, support + self.entry_offset * height, ROUND_DOWN)
        take = self.round_price(market, resistance - self.take_profit_offset * height, ROUND_DOWN)
        stop = self.round_price(market, support - self.stop_offset * height, ROUND_DOWN)
        if not Decimal(0) < stop < entry < take:
            return None
        try:
            size = self.position_size(market, entry, stop, self.risk_percent)
        except SpotlabError:
            return None  # below the market's minimums at this risk
        spec = self.context.venue.market_spec(market)
        quote = self.balance(spec.quote.code)
        funds = quote.available + (quote.locked if self.waiting is not None else Decimal(0))
        affordable = self.round_quantity(market, funds / (entry * (1 + max(spec.maker_fee, spec.taker_fee))))
        quantity = min(size.quantity, affordable)
        if quantity < spec.min_quantity or quantity * stop < spec.min_notional:
            return None
        return entry, take, stop, quantity

    def _cancel_entry(self, market: str) -> None:
        if self.waiting is not None:
            self.cancel_all(market)
            self.waiting = None

    def _stand_aside(self, market: str, close: Decimal, index: int) -> None:
        self.breakouts += 1
        self.aside_until = index + self.period + 1
        spec = self.context.venue.market_spec(market)
        if self.open_orders(market) or self.conditional_orders(market):
            self.cancel_all(market)
        self.waiting = None
        quantity = self.round_quantity(market, self.position(market))
        if quantity >= spec.min_quantity and quantity * close >= spec.min_notional:
            self.sell(market, quantity)


def _decimal(value: float) -> Decimal:
    """An indicator's price (a max or min of bar prices, so exactly a bar's price) back as a Decimal."""
    return Decimal(repr(value))

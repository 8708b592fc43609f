"""Moving one market along a bar's path on the real exchange, with the backtester's own two accounts.

``MarketTape`` owns, for one market, the liquidity account's ladder and the tape account's
prints (``spotlab.backtest.fill_model`` states the model). It sends ordinary exchange commands
(``Exchange.execute``): the engine matches, settles, triggers and charges fees as for anyone.

One move to a price ``b`` (from the previous point ``a``), in exchange commands:
1. cancel the liquidity's ladder, if one is quoted (1 command);
2. if the ladder is needed (a conditional order of the strategy may trigger between ``a`` and
   ``b``, a resting order of the strategy is reached, or the strategy's delayed orders arrive
   now): quote it around ``b``, the side toward
   which the price moved first, so it never crosses the strategy's orders (2 x levels commands);
   a level quoted across a strategy order fills it at the order's price;
3. the tape takes every strategy order the move trades through, at their own prices
   (0 or 1 command: one immediate-or-cancel order for all of them);
4. the print: the liquidity rests the smallest valid order at ``b`` and the tape takes it
   (2 commands). The last trade price is now ``b``; conditional orders it crosses trigger
   in that command and fill from the ladder.
``ensure_quoted`` quotes the ladder around the last print when the strategy is about to send
a command (``QuotingVenue``), so its market orders always meet the ladder; with ``fill_at_print``
it re-quotes it before each order so the side that order takes starts at the print. Before an
order of a known side only the side of the ladder that order takes is quoted (a buy meets the
asks; the bids are quoted when something needs them: a book read, an order list, a move).

``print_and_quote`` is the fast path's catch-up print (``spotlab.backtest.runner``) when it comes
just before an order of a known side, in a market where the strategy has no orders: it replaces the
ladder by the side the order takes, with the print's lots first in line at the print price (``price``
itself; on the level there with ``fill_at_print``, else as a level of its own), and the tape takes
exactly those lots. The last trade price is the print's, and the order then meets the ladder
``ensure_quoted(side)`` would have quoted (the same prices and depth), in 2 commands (one
``ReplaceQuotes``, one immediate-or-cancel order of the tape) instead of 3 + 2 x levels. The
print's taker is the order's side (a buy's print is a buy), whatever the direction from the point
before. ``move_idle`` (the catch-up print otherwise) replaces the ladder by the print's resting half
in one ``ReplaceQuotes`` too: 2 commands. ``ReplaceQuotes`` (``spotlab.core.quotes``) runs
triggered conditional orders after its last quote; it is used only where the strategy has no orders
in the market, so placing the quotes together is placing them one by one.

Invariants
- The tape never rests an order (immediate-or-cancel only); the liquidity's orders are canceled
  before each move, so between moves the book holds at most the ladder, the strategy's orders
  and the rest of one print.
- Commands per move are bounded: at most ``2 x levels + 4``, plus a deposit now and then when one
  of the two accounts runs short (deposits count in conservation like any other).
"""

from __future__ import annotations

from decimal import Decimal

from spotlab.backtest.fill_model import FillModel, ladder, minimum_lots
from spotlab.core.commands import CancelAllOrders, Deposit, PlaceOrder, Quote, ReplaceQuotes
from spotlab.core.fees import buy_hold
from spotlab.core.markets import MarketSpec
from spotlab.core.orders import DEFAULT_SELF_TRADE_PREVENTION, OrderType, Side, TimeInForce
from spotlab.exchange.service import Exchange
from spotlab.exchange.views import OrderView

LIQUIDITY_ACCOUNT = "backtest-liquidity"
TAPE_ACCOUNT = "backtest-tape"
_FALLING = {("sell", "stop_loss"), ("sell", "stop_loss_limit"), ("sell", "trailing_stop"), ("buy", "take_profit")}
_FALLING |= {("buy", "take_profit_limit")}
_BOTH = frozenset((Side.BUY, Side.SELL))
_TAKES = {"buy": frozenset((Side.SELL,)), "sell": frozenset((Side.BUY,))}  # the ladder side an order takes


class MarketTape:
    """Plays one market's path on the exchange (see the module docstring)."""

    def __init__(self, exchange: Exchange, spec: MarketSpec, model: FillModel, strategy_account: str) -> None:
        self.exchange = exchange
        self.spec = spec
        self.model = model
        self.strategy_account = strategy_account
        self.last: int | None = None  # ticks of the last print
        self.volume = Decimal(0)  # the base volume of the bar being played
        self.quoted = False  # whether some of the ladder is in the book
        self.sides: frozenset[Side] = frozenset()  # the sides of the ladder quoted (Side.BUY: its bids)
        self.taking: str | None = None  # the side the quoted ladder starts at the print for (fill_at_print)
        self.commands = 0

    # -- the moves -----------------------------------------------------------------------------

    def move(self, price: int, force_quote: bool = False) -> None:
        """Print ``price`` (ticks): re-quote the ladder if needed, take the strategy orders traded through."""
        previous = self.last if self.last is not None else price
        account, market = self.strategy_account, self.spec.symbol
        orders = self.exchange.open_orders(account, market)
        pending = self.exchange.conditional_orders(account, market) if not force_quote else ()
        low, high = min(previous, price) - 1, max(previous, price) + 1
        at = self.spec.price(price)
        quote = (
            force_quote
            or any(self._may_trigger(order, low, high) for order in pending)
            # a fill can place new conditional orders (a bracket's exits) that this very move may trigger
            or any(o.price >= at if o.side == "buy" else o.price <= at for o in orders)
        )
        self._cancel_ladder()
        if quote:
            self._quote(price, rising=price >= previous)
            if orders:
                orders = self.exchange.open_orders(account, market)  # the ladder may have filled some
        resting = self._take_crossed(price, orders) if orders else ()
        self._print(price, previous, resting)
        self.last = price

    def move_idle(self, price: int, previous: int | None) -> None:
        """``move`` to ``price`` from the point ``previous`` (ticks; None: none yet) in a market where the strategy
        has no orders, open or conditional (so there is nothing to quote for or take): cancel the ladder and print.
        The backtester's fast path uses it to print the last point it skipped (``spotlab.backtest.runner``)."""
        self._print(price, price if previous is None else previous, (), replace=True)
        self.last = price

    def ensure_quoted(self, side: str | None = None) -> None:
        """Quote the ladder around the last print where it is not: the side an order of ``side`` takes
        (its asks for a buy), or both sides for ``side`` None. With ``fill_at_print`` and the ``side`` of
        the order about to arrive, re-quote that side so the order meets the print itself."""
        if self.last is None:
            return
        taking = str(side).lower() if side is not None and self.model.fill_at_print else None
        if taking is not None and self._own_side_at_print(taking):
            taking = None  # the re-quoted side would cross the strategy's own order: keep the ordinary ladder
        need = _BOTH if side is None else _TAKES[str(side).lower()]
        if taking is None and self.taking is None:
            missing = need - self.sides
            if missing:
                self._quote(self.last, rising=True, sides=missing)  # added beside what is quoted
            return
        self._cancel_ladder()
        self._quote(self.last, rising=True, taking=taking, sides=need)

    def print_and_quote(self, price: int, side: str) -> None:
        """Print ``price`` (ticks) from the side of the ladder an order of ``side`` is about to take, in a market
        where the strategy has no orders, open or conditional (see the module docstring)."""
        side = str(side).lower()
        spec, model = self.spec, self.model
        taking = side if model.fill_at_print else None
        bids, asks = ladder(spec, model, price, self.volume, taking)
        levels = asks if side == "buy" else bids
        lots = minimum_lots(spec, price)
        if levels and levels[0][0] == price:
            levels[0] = (price, levels[0][1] + lots)
        else:
            levels.insert(0, (price, lots))
        maker = Side.SELL if side == "buy" else Side.BUY
        self._replace_ladder(maker, levels)
        if maker is Side.SELL:
            self._fund(TAPE_ACCOUNT, 0, buy_hold(price, lots, spec.notional_unit, spec.max_rate))
            self._place(TAPE_ACCOUNT, Side.BUY, price, lots, TimeInForce.IOC)
        else:
            self._fund(TAPE_ACCOUNT, lots * spec.lot_units, 0)
            self._place(TAPE_ACCOUNT, Side.SELL, price, lots, TimeInForce.IOC)
        self.quoted, self.sides, self.taking = True, _TAKES[side], taking
        self.last = price

    def _own_side_at_print(self, side: str) -> bool:
        at = self.spec.price(self.last)
        orders = self.exchange.open_orders(self.strategy_account, self.spec.symbol)
        if side == "buy":
            return any(o.side == "buy" and o.price >= at for o in orders)
        return any(o.side == "sell" and o.price <= at for o in orders)

    def _may_trigger(self, order: OrderView, low: int, high: int) -> bool:
        if order.stop_price is None:
            return True  # a trailing stop not active yet: it may start and trigger
        stop = int(order.stop_price / self.spec.tick_size)
        return stop >= low if (order.side, order.type) in _FALLING else stop <= high

    # -- steps ---------------------------------------------------------------------------------

    def _cancel_ladder(self) -> None:
        if self.quoted:
            self._execute(CancelAllOrders(LIQUIDITY_ACCOUNT, self.spec.symbol))
            self.quoted, self.sides, self.taking = False, frozenset(), None

    def _quote(self, price: int, rising: bool, taking: str | None = None, sides: frozenset[Side] | None = None) -> None:
        """Quote the ladder around ``price`` (both sides, or ``sides``: ``Side.BUY`` for its bids)."""
        sides = _BOTH if sides is None else sides
        bids, asks = ladder(self.spec, self.model, price, self.volume, taking)
        order = ((Side.SELL, asks), (Side.BUY, bids)) if rising else ((Side.BUY, bids), (Side.SELL, asks))
        for maker, levels in order:
            if maker in sides:
                self._quote_levels(maker, levels)
        self.quoted, self.sides, self.taking = True, self.sides | sides, taking

    def _quote_levels(self, maker: Side, levels: list[tuple[int, int]]) -> None:
        """The liquidity rests ``levels`` (``(price ticks, lots)``, best first) on its ``maker`` side, beside what
        it rests already (one command per level)."""
        self._fund_levels(maker, levels)
        for level_price, lots in levels:
            self._place(LIQUIDITY_ACCOUNT, maker, level_price, lots, TimeInForce.GTC)

    def _replace_ladder(self, maker: Side, levels: list[tuple[int, int]]) -> None:
        """The liquidity's orders in this market are replaced by ``levels`` on its ``maker`` side, in one command
        (``ReplaceQuotes``). Only where the strategy has no orders in the market: the quotes can fill or trigger
        nothing of its, so placing them together is placing them one by one."""
        self._fund_levels(maker, levels)
        self._execute(ReplaceQuotes(LIQUIDITY_ACCOUNT, self.spec.symbol, tuple(Quote(maker, p, n) for p, n in levels)))
        self.quoted, self.sides, self.taking = True, frozenset((maker,)), None

    def _fund_levels(self, maker: Side, levels: list[tuple[int, int]]) -> None:
        spec = self.spec
        if maker is Side.SELL:
            self._fund(LIQUIDITY_ACCOUNT, sum(lots for _, lots in levels) * spec.lot_units, 0)
        else:
            nu, rate = spec.notional_unit, spec.max_rate
            self._fund(LIQUIDITY_ACCOUNT, 0, sum(buy_hold(p, lots, nu, rate) for p, lots in levels))

    def _take_crossed(self, price: int, orders: list[OrderView]) -> list[OrderView]:
        """Let the tape take the strategy's orders the price traded through; returns those still resting."""
        spec = self.spec
        touch = self.model.fill_on_touch
        at = spec.price(price)
        bids = [o for o in orders if o.side == "buy" and (o.price > at or touch and o.price == at)]
        asks = [o for o in orders if o.side == "sell" and (o.price < at or touch and o.price == at)]
        beyond = 0 if touch else 1
        for crossed, side, limit in ((bids, Side.SELL, price + beyond), (asks, Side.BUY, price - beyond)):
            if not crossed:
                continue
            lots = sum(int(o.remaining_quantity / spec.lot_size) for o in crossed)
            if side is Side.SELL:
                self._fund(TAPE_ACCOUNT, lots * spec.lot_units, 0)
            else:
                self._fund(TAPE_ACCOUNT, 0, buy_hold(limit, lots, spec.notional_unit, spec.max_rate))
            self._place(TAPE_ACCOUNT, side, limit, lots, TimeInForce.IOC)
        taken = {o.id for o in bids} | {o.id for o in asks}
        return [o for o in orders if o.id not in taken]

    def _print(self, price: int, previous: int, resting, replace: bool = False) -> None:
        """The print at ``price`` (ticks); with ``replace`` its resting half also replaces the ladder (one command
        for the cancel and it)."""
        spec = self.spec
        at = spec.price(price)
        maker = Side.SELL if price >= previous else Side.BUY
        if any(o.side == "buy" and o.price == at for o in resting):
            price, maker = price + 1, Side.SELL  # do not touch the strategy's bid at the point
        elif any(o.side == "sell" and o.price == at for o in resting):
            price, maker = price - 1, Side.BUY
        lots = minimum_lots(spec, price)
        taker = Side.BUY if maker is Side.SELL else Side.SELL
        base, quote = lots * spec.lot_units, buy_hold(price, lots, spec.notional_unit, spec.max_rate)
        self._fund(TAPE_ACCOUNT, base if taker is Side.SELL else 0, quote if taker is Side.BUY else 0)
        if replace:
            self._replace_ladder(maker, [(price, lots)])
            self.quoted, self.sides, self.taking = False, frozenset(), None  # the tape takes all of it next
        else:
            self._fund(LIQUIDITY_ACCOUNT, base if maker is Side.SELL else 0, quote if maker is Side.BUY else 0)
            self._place(LIQUIDITY_ACCOUNT, maker, price, lots, TimeInForce.GTC)
        self._place(TAPE_ACCOUNT, taker, price, lots, TimeInForce.IOC)

    def _place(self, account: str, side: Side, price: int, lots: int, time_in_force: TimeInForce) -> None:
        command = PlaceOrder(
            account, self.spec.symbol, side, OrderType.LIMIT, time_in_force, DEFAULT_SELF_TRADE_PREVENTION, price, lots
        )
        self._execute(command)

    def _execute(self, command) -> None:
        self.exchange.execute(command)
        self.commands += 1

    # -- funds ---------------------------------------------------------------------------------

    def _fund(self, account: str, base_units: int, quote_units: int) -> None:
        """Deposit into ``account`` if its available base or quote (minor units) is below what is asked."""
        for asset, needed in ((self.spec.base, base_units), (self.spec.quote, quote_units)):
            if needed <= 0:
                continue
            available = self.exchange.available_units(account, asset.code)
            if available < needed:  # deposit four times the need: top-ups stay rare
                self._execute(Deposit(account, asset.code, needed * 4 - available))

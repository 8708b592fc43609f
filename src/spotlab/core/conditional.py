"""Conditional orders: stop-loss and take-profit, waiting outside the book until the last trade price crosses them.

Types (``spotlab.core.orders.CONDITIONAL_TYPES``)
- ``stop_loss`` / ``stop_loss_limit``: a sell triggers when the last trade price falls
  to or below ``stop_price``, a buy when it rises to or above it;
- ``take_profit`` / ``take_profit_limit``: the other way round (a sell triggers at or
  above, a buy at or below).
The plain types place a market order when triggered, the ``_limit`` types a limit
order at ``price`` with the conditional's time in force.
- ``trailing_stop``: a stop-loss (market when triggered) whose stop follows the best
  last price in its favour (its ``peak``: the highest for a sell, the lowest for a
  buy) at ``trailing_distance`` ticks or ``trailing_bps`` basis points of the peak
  (rounded to the tick away from the peak); it never moves back. With an
  ``activation_price`` it starts trailing once a trade reaches that price, else at
  once from the last trade price (a market that has not traded needs one). Peaks
  move with the high and low of the trades since the last check, so a trailing stop
  costs O(trailing stops of the market) per trading command (plain stops: O(log n)).

Invariants
- The trigger is the market's LAST TRADE PRICE (the price of its latest fill), not
  the best bid or ask. After every placement that produced trades, every pending
  conditional whose trigger is crossed is triggered in the same command, one at a
  time: sell stops / buy take-profits first (highest trigger first), then buy stops
  / sell take-profits (lowest trigger first), earlier orders first at one trigger.
  The price is read again after each triggered order, so cascades settle in that
  same command. Hence after every command no pending conditional is crossed; a
  conditional that would trigger at once is rejected at placement.
- Funds are held at placement like any order, so stops can never oversell: a sell
  holds its base quantity; a limit buy holds ``buy_hold(price, quantity)``; a market
  buy must be placed by quote amount (``quote_quantity``, fees included, as an
  ordinary market buy by amount) and holds that amount; a market sell is placed by
  base quantity, and its stop price times its quantity must reach the minimum
  notional. On trigger the hold passes to the child order (released, then held
  again by the child's placement, which states the row's new value).
- A triggered conditional becomes ``TRIGGERED`` (terminal) and its child order keeps
  ``parent_id`` = the conditional's id; the child's ``arrival_price`` is the stop
  price, so its slippage is reported against the stop. A child fills at what the
  book offers, gaps included; a market child with no liquidity expires like any
  market order.
- Pending conditionals are ``Order`` objects with status NEW that are in no book;
  the engine keeps them in ``Engine.pending_orders`` and per market in a
  ``PendingConditionals`` (two ``SortedList`` s), so checking after a trade costs
  O(log n) plus the triggered ones. Snapshots, the state hash and recovery cover them.
- Cancel releases the whole hold; a pending conditional cannot be reduced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sortedcontainers import SortedList

from spotlab.core import placement
from spotlab.core.commands import PlaceOrder
from spotlab.core.events import ConditionalOrderCanceled, ConditionalOrderPlaced, Event, OrderTriggered
from spotlab.core.fees import buy_hold
from spotlab.core.ledger import Row, hold, release
from spotlab.core.markets import MarketStatus
from spotlab.core.orders import CONDITIONAL_TYPES, Action, Order, OrderType, Side, TimeInForce, transition
from spotlab.core.outcome import Outcome
from spotlab.core.units import MAX_UNITS
from spotlab.errors import ErrorCode, SpotlabError

if TYPE_CHECKING:
    from spotlab.core.engine import AccountState, Engine, MarketState

_STOPS = frozenset({OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TRAILING_STOP})
TRAILING_STOP = OrderType.TRAILING_STOP
BPS = 10_000
TRIGGERED_REASON = "triggered by the last trade price"


def triggers_falling(order: Order) -> bool:
    """Whether ``order`` triggers when the last price falls to its stop (sell stops, buy take-profits)."""
    return (order.type in _STOPS) is (order.side is Side.SELL)


class PendingConditionals:
    """The pending conditional orders of one market, sorted so the crossed ones come first."""

    __slots__ = ("falling", "rising", "orders", "trailing", "checked_trade")

    def __init__(self) -> None:
        self.falling = SortedList()  # (-stop_price, id): triggers when last <= stop_price
        self.rising = SortedList()  # (stop_price, id): triggers when last >= stop_price
        self.orders: dict[int, Order] = {}
        self.trailing: dict[int, Order] = {}  # trailing stops, active or waiting for their activation price
        self.checked_trade = 0  # the market's trade_seq up to which trades were followed and checked

    def __len__(self) -> int:
        return len(self.orders)

    def add(self, order: Order) -> None:
        self._index(order)
        self.orders[order.id] = order
        if order.type is TRAILING_STOP:
            self.trailing[order.id] = order

    def remove(self, order: Order) -> None:
        self._unindex(order)
        del self.orders[order.id]
        if order.type is TRAILING_STOP:
            del self.trailing[order.id]

    def move(self, order: Order, stop_price: int) -> None:
        """Set a trailing stop's stop price (0: not trailing yet), keeping the index sorted."""
        self._unindex(order)
        order.stop_price = stop_price
        self._index(order)

    def _index(self, order: Order) -> None:
        if not order.stop_price:  # a trailing stop waiting for its activation price cannot trigger
            return
        if triggers_falling(order):
            self.falling.add((-order.stop_price, order.id))
        else:
            self.rising.add((order.stop_price, order.id))

    def _unindex(self, order: Order) -> None:
        if not order.stop_price:
            return
        if triggers_falling(order):
            self.falling.remove((-order.stop_price, order.id))
        else:
            self.rising.remove((order.stop_price, order.id))

    def crossed(self, last: int) -> Order | None:
        """The first conditional the last price ``last`` triggers, or ``None``."""
        falling, rising = self.falling, self.rising
        if falling and -falling[0][0] >= last:
            return self.orders[falling[0][1]]
        if rising and rising[0][0] <= last:
            return self.orders[rising[0][1]]
        return None

    def would_trigger(self, order: Order | PlaceOrder, last: int) -> bool:
        if not order.stop_price:
            return False
        falling = (order.type in _STOPS) is (order.side is Side.SELL)
        return last <= order.stop_price if falling else last >= order.stop_price


def child_command(order: Order | PlaceOrder) -> PlaceOrder:
    """The order a conditional places when triggered (no client order id: it is found through ``parent_id``)."""
    child_type = CONDITIONAL_TYPES[order.type]
    return PlaceOrder(
        order.account,
        order.market,
        order.side,
        child_type,
        TimeInForce.IOC if child_type is OrderType.MARKET else order.time_in_force,
        order.self_trade_prevention,
        order.price,
        order.quantity,
        order.quote_quantity,
    )


def validate(command: PlaceOrder, spec) -> None:
    """Refuse a conditional order that is not valid for ``spec`` (raises, changes nothing)."""
    if command.type not in CONDITIONAL_TYPES:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"only conditional orders ({', '.join(CONDITIONAL_TYPES)}) take a stop price, not {command.type}",
        )
    if command.type is TRAILING_STOP:
        _validate_trailing(command, spec)
    else:
        if command.trailing_distance or command.trailing_bps or command.activation_price:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"only trailing stops take a trailing distance or an activation price, not {command.type}",
            )
        if command.stop_price <= 0:
            raise SpotlabError(ErrorCode.INVALID_NUMBER, f"a {command.type} order needs a positive stop price")
    if command.stop_price > MAX_UNITS:
        raise SpotlabError(ErrorCode.INVALID_NUMBER, f"{spec.symbol}: the stop price is too large to represent")
    if CONDITIONAL_TYPES[command.type] is OrderType.MARKET:
        if command.time_in_force is not TimeInForce.IOC:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"a {command.type} order places a market order (IOC); time in force {command.time_in_force} "
                "does not apply",
            )
        if command.side is Side.BUY and (command.quantity or not command.quote_quantity):
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"a {command.type} buy becomes a market buy whose cost is unknown until then: give the quote "
                "amount to spend (quote_quantity, fees included), which is held meanwhile",
            )
        if command.side is Side.SELL and (command.quote_quantity or not command.quantity):
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"a {command.type} sell sells a base quantity: give quantity"
            )
        notional = command.stop_price * command.quantity * spec.notional_unit
        if command.side is Side.SELL and command.stop_price and notional < spec.min_notional_units:
            raise SpotlabError(
                ErrorCode.BELOW_MIN_NOTIONAL,
                f"{spec.symbol}: stop price x quantity = {spec.quote.to_decimal(notional)} {spec.quote.code} is "
                f"below the minimum notional {spec.min_notional} {spec.quote.code}",
                min_notional=str(spec.min_notional),
            )
    placement.validate(child_command(command), spec)


def _validate_trailing(command: PlaceOrder, spec) -> None:
    if command.stop_price:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            "a trailing stop computes its stop price from the price it follows: give trailing_distance or "
            "trailing_bps (and optionally activation_price), not stop_price",
        )
    if command.trailing_bps < 0 or command.trailing_distance < 0 or command.activation_price < 0:
        raise SpotlabError(ErrorCode.INVALID_NUMBER, "trailing distances and the activation price must be positive")
    if (command.trailing_distance > 0) == (command.trailing_bps > 0):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            "a trailing stop takes exactly one positive distance: trailing_distance (price) or trailing_bps "
            "(basis points of the peak, 1 to 9999)",
        )
    if command.trailing_bps >= BPS or command.trailing_distance > MAX_UNITS or command.activation_price > MAX_UNITS:
        raise SpotlabError(
            ErrorCode.INVALID_NUMBER,
            f"{spec.symbol}: trailing_bps must be below 10000 (100 %) and prices representable",
        )


def trailing_stop(order: Order | PlaceOrder, peak: int) -> int:
    """The stop of a trailing stop whose best price so far is ``peak`` (ticks), rounded away from the peak."""
    distance = order.trailing_distance or -(-peak * order.trailing_bps // BPS)
    if order.side is Side.SELL:
        return max(peak - distance, 1)
    return peak + distance


def _follow(pending: PendingConditionals, trades, after: int) -> None:
    """Let every trailing stop follow the trades with ids above ``after`` (their high and low)."""
    new = []
    for trade in reversed(trades):
        if trade[0] <= after:
            break
        new.append(trade[2])
    if not new:
        return
    high, low = max(new), min(new)
    for order in list(pending.trailing.values()):
        sell = order.side is Side.SELL
        if not order.peak and not (high >= order.activation_price if sell else low <= order.activation_price):
            continue  # still waiting for its activation price
        best = high if sell else low
        if order.peak and not (best > order.peak if sell else best < order.peak):
            continue
        order.peak = best
        stop = trailing_stop(order, best)
        if order.stop_price == 0 or (stop > order.stop_price if sell else stop < order.stop_price):
            pending.move(order, stop)


def place(engine: Engine, command: PlaceOrder, ts: int, list_id: int = 0) -> Outcome:
    """The ``PlaceOrder`` handler for conditional types: validate, hold, wait.

    With ``list_id``: the stop-loss of an OCO (``spotlab.core.order_lists``), already validated,
    holding nothing (its take-profit holds for both), and never rejected: if the price is past
    its stop already, the trigger check right after the command triggers it.
    """
    market = engine.market(command.market)
    account = engine.account(command.account)
    spec = market.spec
    if list_id:
        return _place(engine, market, account, command, ts, 0, list_id)
    validate(command, spec)
    repeated = placement.repeat_of(account, command)
    if repeated is not None:
        return repeated
    if market.status is not MarketStatus.TRADING:
        return placement._reject(
            engine, command, ts, ErrorCode.MARKET_HALTED, f"{spec.symbol} is halted; only cancels are accepted"
        )
    pending = market.pending
    last_price = market.trades[-1][2] if market.trades else 0
    stop_price, peak = command.stop_price, 0
    if command.type is TRAILING_STOP:
        sell = command.side is Side.SELL
        activation = command.activation_price
        if last_price and (not activation or (last_price >= activation if sell else last_price <= activation)):
            peak, stop_price = last_price, trailing_stop(command, last_price)  # trails from now
        elif not activation:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"{spec.symbol} has not traded yet: a trailing stop needs a last price to follow, or an "
                "activation_price to wait for",
            )
    if market.trades and pending.would_trigger(command, market.trades[-1][2]):
        last = market.trades[-1][2]
        return placement._reject(
            engine,
            command,
            ts,
            ErrorCode.INVALID_ARGUMENT,
            f"a {command.side} {command.type} at {spec.price(command.stop_price)} would trigger at once: the last "
            f"trade price is {spec.price(last)}",
        )
    is_buy = command.side is Side.BUY
    if not is_buy:
        amount = command.quantity * spec.lot_units
    elif command.quote_quantity:
        amount = command.quote_quantity
    else:
        amount = buy_hold(command.price, command.quantity, spec.notional_unit, spec.max_rate)
    held_asset = spec.quote if is_buy else spec.base
    held_row = engine.row(account.id, held_asset.code)
    if amount > held_row[0]:
        return placement._reject(
            engine,
            command,
            ts,
            ErrorCode.INSUFFICIENT_FUNDS,
            f"this order needs {held_asset.to_decimal(amount)} {held_asset.code} held until it triggers "
            f"{'(fees included) ' if is_buy else ''}but {held_asset.to_decimal(held_row[0])} is available",
            needed=str(held_asset.to_decimal(amount)),
            available=str(held_asset.to_decimal(held_row[0])),
            asset=held_asset.code,
        )
    return _place(engine, market, account, command, ts, amount, 0, stop_price, peak)


def _place(engine, market, account, command, ts, amount, list_id, stop_price=None, peak=0) -> Outcome:
    spec = market.spec
    pending = market.pending
    held_row = engine.row(account.id, (spec.quote if command.side is Side.BUY else spec.base).code)
    client_order_id = command.client_order_id
    child = child_command(command)
    order = Order(
        engine.next_order_id, account.id, spec.symbol, command.side, command.type, child.time_in_force,
        command.self_trade_prevention, command.price, command.quantity, command.quote_quantity, client_order_id, ts,
    )  # fmt: skip
    order.stop_price = command.stop_price if stop_price is None else stop_price
    order.list_id = list_id
    order.trailing_distance = command.trailing_distance
    order.trailing_bps = command.trailing_bps
    order.activation_price = command.activation_price
    order.peak = peak
    if not list_id:
        pending.checked_trade = market.trade_seq  # nothing pending is crossed; earlier trades are not its to follow
    engine.next_order_id += 1
    order.base_balance = engine.row(account.id, spec.base.code)
    order.quote_balance = engine.row(account.id, spec.quote.code)
    hold(held_row, amount)
    order.hold = amount
    pending.add(order)
    engine.pending_orders[order.id] = order
    account.pending[order.id] = order
    if client_order_id is not None:
        account.client_orders[client_order_id] = order
    engine.seq += 1
    events: list[Event] = [
        ConditionalOrderPlaced(
            engine.seq,
            ts,
            order.id,
            order.account,
            order.market,
            order.side,
            order.type,
            order.time_in_force,
            order.self_trade_prevention,
            order.stop_price,
            order.price,
            order.quantity,
            order.quote_quantity,
            client_order_id,
            amount,
            order.trailing_distance,
            order.trailing_bps,
            order.activation_price,
        )
    ]
    if amount:
        engine.balance_events({id(held_row): held_row}, ts, events)
    return Outcome(events, order)


def trigger_next(engine: Engine, market: MarketState, ts: int, events: list[Event]) -> bool:
    """Trigger the first pending conditional of ``market`` the last trade price has crossed, if any.

    The engine calls this until it returns ``False``, after every placement that traded.
    """
    pending = market.pending
    trades = market.trades
    if pending.trailing and pending.checked_trade != market.trade_seq:
        _follow(pending, trades, pending.checked_trade)
    pending.checked_trade = market.trade_seq
    if not pending.orders or not trades:
        return False
    last = trades[-1][2]
    order = pending.crossed(last)
    if order is None:
        return False
    _trigger(engine, market, order, last, ts, events)
    return True


def _trigger(engine: Engine, market: MarketState, order: Order, last: int, ts: int, events: list[Event]) -> None:
    account = engine.accounts[order.account]
    _forget(engine, market, order, account)
    if order.list_id:  # an OCO's stop: its take-profit goes first, freeing the base this sells
        from spotlab.core import order_lists

        order_lists.on_trigger(engine, order, ts, events)
    row = _held_row(order)
    release(row, order.hold)  # the child's placement holds it again and reports the row
    order.hold = 0
    order.status = transition(order.status, Action.TRIGGER)
    order.reason = TRIGGERED_REASON
    order.updated = ts
    engine.close_order(order, account)
    engine.seq += 1
    events.append(
        OrderTriggered(
            engine.seq, ts, order.id, order.account, order.market, order.stop_price, last, engine.next_order_id
        )
    )
    outcome = placement.place_order(engine, child_command(order), ts, order.id, order.stop_price)
    events.extend(outcome.events)
    if outcome.error is not None:  # not expected (validated at placement); the row still gets reported
        engine.balance_events({id(row): row}, ts, events)
    if order.list_id:
        from spotlab.core import order_lists

        order_lists.after_trigger(engine, order, ts, events)


def cancel(engine: Engine, order: Order, account: AccountState, ts: int, reason: str, events: list[Event]) -> None:
    """Cancel a pending conditional order: its whole hold goes back to available."""
    _forget(engine, engine.markets[order.market], order, account)
    order.status = transition(order.status, Action.CANCEL)
    order.reason = reason
    order.updated = ts
    touched: dict[int, Row] = {}
    released = engine.release_all(order, touched)
    engine.close_order(order, account)
    engine.seq += 1
    events.append(ConditionalOrderCanceled(engine.seq, ts, order.id, order.account, order.market, released, reason))
    engine.balance_events(touched, ts, events)


def _forget(engine: Engine, market: MarketState, order: Order, account: AccountState) -> None:
    market.pending.remove(order)
    del engine.pending_orders[order.id]
    del account.pending[order.id]


def _held_row(order: Order) -> Row:
    return order.quote_balance if order.side is Side.BUY else order.base_balance


def required_hold(order: Order, spec) -> int:
    """What a pending conditional must hold (for the invariant checks); an OCO's stop shares its take-profit's."""
    if order.list_id:
        return 0
    if order.side is Side.SELL:
        return order.quantity * spec.lot_units
    if order.quote_quantity:
        return order.quote_quantity
    return buy_hold(order.price, order.quantity, spec.notional_unit, spec.max_rate)

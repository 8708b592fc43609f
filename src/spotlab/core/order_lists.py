"""Order lists: OCO (one cancels the other) and bracket orders.

- A sell OCO sells ``quantity`` twice over without holding it twice: a take-profit LIMIT
  sell rests in the book at ``price`` and holds the base; a stop-loss (market, or
  limit at ``stop_limit_price``) waits as a conditional order with a hold of 0,
  sharing the limit's. The limit filling, even in part, cancels the stop; the stop
  triggering cancels the limit first (its base comes free) and then places its order.
  Cancelling either cancels the list. Neither can be reduced. If self-trade
  prevention expires the take-profit, its stop-loss is canceled with it.
- A buy OCO (as on Binance spot) buys ``quantity`` either with a LIMIT buy resting BELOW
  the market at ``price`` (still called the take-profit) or, once the last trade price
  RISES to ``stop_price`` (a breakout, a stop-entry), with a stop-limit buy at
  ``stop_limit_price``. The resting limit holds the quote for both legs: the larger of
  ``buy_hold(price, quantity)`` and ``buy_hold(stop_limit_price, quantity)``
  (``spotlab.core.fees``; with the price rules below it is the stop-limit's), and the
  stop holds 0, as for sells. A fill of the limit trims its hold to what its rest needs
  (``spotlab.core.placement``) and cancels the stop in the same command; the stop
  triggering cancels the limit first (its whole hold comes free) and then places its
  limit buy, which holds its own. A buy OCO needs ``stop_limit_price``: a market buy by
  base quantity has no bounded cost, so no hold placed in advance can cover it.
- A bracket buys ``quantity`` with a GTC limit entry at ``entry_price``; after every
  command in which the entry bought lots, those lots get their own sell OCO (take-profit
  at ``price``, stop-loss at ``stop_price``). Lots below the market's minimum quantity
  or notional for an exit wait (``unprotected``) until later fills make them enough;
  what is left unprotected when the entry closes stays with the account, stated in
  the list.
- Links run both ways: each order has ``list_id``; the list has ``order_ids``.
- Price rules (refused with ``INVALID_ARGUMENT`` before anything changes). Sell: the stop
  below the take-profit, a stop limit at or below the stop. Buy: the take-profit limit
  below the stop, a stop limit at or above the stop. Either side: the OCO's limit may not
  trade at once and its stop may not trigger at once (rejected with ``OrderRejected`` then).
- Client ids: a list may carry a ``client_order_id`` (validated as orders' are). The
  same id again from the same account with the same parameters returns the original
  list (``Outcome.duplicate``) and changes nothing; with other parameters it is refused
  with ``DUPLICATE_CLIENT_ORDER_ID``. Lists' client ids are their own namespace, apart
  from orders' (as Binance's ``listClientOrderId``), and are kept for good: in the list
  (snapshots, state hash) and in ``Engine.list_client_ids``.

Known limits: brackets are buy-entry only (the spot long side: a sell entry would need
borrowed base for its exits); a buy OCO's stop is a stop-limit only; a list stays in
the engine (and its snapshots) after it is done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from spotlab.core import conditional, placement
from spotlab.core.commands import PlaceOrder, PlaceOrderList
from spotlab.core.events import Event, OrderExpired, OrderFilled, OrderListPlaced, OrderListUpdated
from spotlab.core.fees import buy_hold
from spotlab.core.markets import MarketStatus
from spotlab.core.matching import would_cross
from spotlab.core.orders import Order, OrderType, SelfTradePrevention, Side, TimeInForce
from spotlab.core.outcome import Outcome
from spotlab.errors import ErrorCode, SpotlabError

if TYPE_CHECKING:
    from spotlab.core.engine import Engine

OCO, BRACKET = "oco", "bracket"
EXECUTING, ALL_DONE = "EXECUTING", "ALL_DONE"
OCO_FILLED = "the take-profit of its OCO filled"
OCO_TRIGGERED = "the stop-loss of its OCO triggered"
OCO_EXPIRED = "the take-profit of its OCO expired"
LIST_CANCELED = "its order list was canceled"


class OrderList(msgspec.Struct, array_like=True, gc=False):
    """An OCO or a bracket: its terms, its orders, and the OCO pairs among them."""

    id: int
    account: str
    market: str
    kind: str
    quantity: int
    price: int
    stop_price: int
    stop_limit_price: int
    entry_price: int
    self_trade_prevention: SelfTradePrevention
    entry_id: int = 0
    order_ids: list[int] = []
    pairs: list[tuple[int, int]] = []  # (take-profit limit id, stop-loss id)
    unprotected: int = 0
    status: str = EXECUTING
    oco_side: Side = Side.SELL  # the side of its OCO legs (a bracket's exits sell)
    client_order_id: str | None = None

    @property
    def side(self) -> Side:
        """The side the list was placed with: its OCO's, or a bracket's entry's (buy)."""
        return Side.BUY if self.kind == BRACKET else self.oco_side

    def parameters(self) -> tuple:
        """What a repeated client order id is compared on (``parameters`` of the command)."""
        return (
            self.market, self.kind, self.side, self.quantity, self.price, self.stop_price, self.stop_limit_price,
            self.entry_price, self.self_trade_prevention,
        )  # fmt: skip


def parameters(command: PlaceOrderList) -> tuple:
    """What ``OrderList.parameters`` gives for the list ``command`` would place."""
    return (
        command.market, command.list_type, command.side, command.quantity, command.price, command.stop_price,
        command.stop_limit_price, command.entry_price, command.self_trade_prevention,
    )  # fmt: skip


def validate(command: PlaceOrderList, spec) -> None:
    if command.list_type not in (OCO, BRACKET):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"an order list is 'oco' or 'bracket', not {command.list_type!r}"
        )
    if command.list_type == BRACKET and command.side is not Side.BUY:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            "brackets are buy-entry only: a spot bracket buys and then sells what it bought through an OCO; a sell "
            "entry would need base it does not hold for its exits",
        )
    if command.client_order_id is not None:
        placement.check_client_order_id(command.client_order_id)
    if _oco_side(command) is Side.SELL:
        if not 0 < command.stop_price < command.price:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                "the stop-loss's stop price must be positive and below the take-profit price",
            )
        if command.stop_limit_price < 0 or command.stop_limit_price > command.stop_price:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                "the stop-loss's limit price must be positive and at or below its stop price",
            )
    else:
        if not 0 < command.price < command.stop_price:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                "a buy OCO's take-profit limit must be positive and below its stop price (the limit buys a dip, "
                "the stop buys a breakout)",
            )
        if not command.stop_limit_price:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                "a buy OCO needs stop_limit_price: its stop buys with a limit, because a market buy by base "
                "quantity has no bounded cost, so the one hold the OCO places in advance could not cover it",
            )
        if command.stop_limit_price < command.stop_price:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, "a buy OCO's stop limit price must be at or above its stop price"
            )
    if command.list_type == BRACKET and not command.stop_price < command.entry_price < command.price:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, "a bracket's entry price must lie between its stop price and its take-profit"
        )
    if command.list_type == OCO and command.entry_price:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "an OCO has no entry price; use a bracket")
    for leg in _legs(command, command.quantity, 0):
        placement.validate(leg, spec) if leg.type is OrderType.LIMIT else conditional.validate(leg, spec)
    if command.list_type == BRACKET:
        placement.validate(_entry(command), spec)


def _oco_side(lst: PlaceOrderList | OrderList) -> Side:
    """The side of the OCO legs: an OCO's own side; a bracket's exits sell."""
    if isinstance(lst, OrderList):
        return lst.oco_side
    return Side.SELL if lst.list_type == BRACKET else lst.side


def _legs(lst: PlaceOrderList | OrderList, lots: int, list_id: int) -> tuple[PlaceOrder, PlaceOrder]:
    stp = lst.self_trade_prevention
    side = _oco_side(lst)
    take_profit = PlaceOrder(lst.account, lst.market, side, OrderType.LIMIT, TimeInForce.GTC, stp, lst.price, lots)
    if lst.stop_limit_price:
        stop = PlaceOrder(
            lst.account, lst.market, side, OrderType.STOP_LOSS_LIMIT, TimeInForce.GTC, stp,
            lst.stop_limit_price, lots, stop_price=lst.stop_price,
        )  # fmt: skip
    else:  # a sell only (a buy OCO needs its stop limit)
        stop = PlaceOrder(
            lst.account, lst.market, side, OrderType.STOP_LOSS, TimeInForce.IOC, stp, 0, lots,
            stop_price=lst.stop_price,
        )  # fmt: skip
    return take_profit, stop


def _entry(command: PlaceOrderList | OrderList) -> PlaceOrder:
    return PlaceOrder(
        command.account, command.market, Side.BUY, OrderType.LIMIT, TimeInForce.GTC,
        command.self_trade_prevention, command.entry_price, command.quantity,
    )  # fmt: skip


def oco_hold(lst: PlaceOrderList | OrderList, lots: int, spec) -> int:
    """What an OCO of ``lots`` holds for both its legs: the base it sells, or the quote the dearer buy leg spends."""
    if _oco_side(lst) is Side.SELL:
        return lots * spec.lot_units
    nu, rate = spec.notional_unit, spec.max_rate
    return max(buy_hold(lst.price, lots, nu, rate), buy_hold(lst.stop_limit_price, lots, nu, rate))


def by_client_id(engine: Engine, account: str, client_order_id: str) -> OrderList | None:
    list_id = engine.list_client_ids.get((account, client_order_id))
    return None if list_id is None else engine.order_lists[list_id]


def _repeat_of(engine: Engine, command: PlaceOrderList) -> Outcome | None:
    """The answer to a list client id used before: the original list (same parameters) or a refusal."""
    if command.client_order_id is None:
        return None
    prior = by_client_id(engine, command.account, command.client_order_id)
    if prior is None:
        return None
    if prior.parameters() == parameters(command):
        return Outcome([], duplicate=True)
    raise SpotlabError(
        ErrorCode.DUPLICATE_CLIENT_ORDER_ID,
        f"client order id {command.client_order_id!r} already names order list {prior.id}, placed with other "
        "parameters; use a new client order id for a new list",
        client_order_id=command.client_order_id,
        list_id=prior.id,
    )


def place(engine: Engine, command: PlaceOrderList, ts: int) -> Outcome:
    """The ``PlaceOrderList`` handler."""
    market = engine.market(command.market)
    account = engine.account(command.account)
    spec = market.spec
    validate(command, spec)
    repeated = _repeat_of(engine, command)
    if repeated is not None:
        return repeated
    if market.status is not MarketStatus.TRADING:
        return _reject(engine, command, ts, ErrorCode.MARKET_HALTED, f"{spec.symbol} is halted")
    side = _oco_side(command)
    if command.list_type == OCO:
        if would_cross(market.book, side, command.price):
            return _reject(
                engine, command, ts, ErrorCode.INVALID_ARGUMENT,
                f"the take-profit at {spec.price(command.price)} would trade at once; an OCO's limit must rest",
            )  # fmt: skip
        last = market.trades[-1][2] if market.trades else 0
        if last and (last <= command.stop_price if side is Side.SELL else last >= command.stop_price):
            return _reject(
                engine, command, ts, ErrorCode.INVALID_ARGUMENT,
                f"the stop at {spec.price(command.stop_price)} would trigger at once: the last trade price is "
                f"{spec.price(last)}",
            )  # fmt: skip
    held = spec.base if command.list_type == OCO and side is Side.SELL else spec.quote
    row = account.rows.get(held.code)
    available = row[0] if row else 0
    if command.list_type == OCO:
        need = oco_hold(command, command.quantity, spec)
    else:
        need = buy_hold(command.entry_price, command.quantity, spec.notional_unit, spec.max_rate)
    if need > available:
        return _reject(
            engine, command, ts, ErrorCode.INSUFFICIENT_FUNDS,
            f"this {command.list_type} needs {held.to_decimal(need)} {held.code} "
            f"{'(fees included) ' if held is spec.quote else ''}but {held.to_decimal(available)} is available",
        )  # fmt: skip
    lst = OrderList(
        engine.next_list_id, account.id, spec.symbol, command.list_type, command.quantity, command.price,
        command.stop_price, command.stop_limit_price, command.entry_price, command.self_trade_prevention,
        oco_side=side, client_order_id=command.client_order_id,
    )  # fmt: skip
    events: list[Event] = []
    engine.next_list_id += 1
    engine.order_lists[lst.id] = lst
    if lst.client_order_id is not None:
        engine.list_client_ids[lst.account, lst.client_order_id] = lst.id
    engine.seq += 1
    events.append(
        OrderListPlaced(
            engine.seq,
            ts,
            lst.id,
            lst.account,
            lst.market,
            lst.kind,
            command.side,
            lst.quantity,
            lst.price,
            lst.stop_price,
            lst.stop_limit_price,
            lst.entry_price,
            lst.client_order_id,
        )  # fmt: skip
    )
    if command.list_type == BRACKET:
        entry = placement.place_order(engine, _entry(command), ts, list_id=lst.id)  # funds checked above
        events.extend(entry.events)
        lst.entry_id = entry.order.id
        _join(engine, lst, entry.order.id)
        _updated(engine, lst, ts, events)
        return Outcome(events, entry.order)
    taken = _place_pair(engine, lst, command.quantity, ts, events)
    _updated(engine, lst, ts, events)
    return Outcome(events, taken)


def _place_pair(engine: Engine, lst: OrderList, lots: int, ts: int, events: list[Event]) -> Order:
    """The stop (holding nothing) and then the take-profit limit (holding for both) of one OCO."""
    take_profit_command, stop_command = _legs(lst, lots, lst.id)
    stop_outcome = conditional.place(engine, stop_command, ts, list_id=lst.id)
    events.extend(stop_outcome.events)
    hold = oco_hold(lst, lots, engine.markets[lst.market].spec)
    limit_outcome = placement.place_order(engine, take_profit_command, ts, list_id=lst.id, min_hold=hold)
    events.extend(limit_outcome.events)
    stop, take_profit = stop_outcome.order, limit_outcome.order
    _join(engine, lst, stop.id)
    _join(engine, lst, take_profit.id)
    lst.pairs.append((take_profit.id, stop.id))
    return take_profit


def _join(engine: Engine, lst: OrderList, order_id: int) -> None:
    lst.order_ids.append(order_id)
    engine.list_members[order_id] = lst.id


def _updated(engine: Engine, lst: OrderList, ts: int, events: list[Event]) -> None:
    engine.seq += 1
    events.append(OrderListUpdated(engine.seq, ts, lst.id, list(lst.order_ids), lst.unprotected, lst.status))


def _reject(engine: Engine, command: PlaceOrderList, ts: int, code: ErrorCode, message: str) -> Outcome:
    as_order = PlaceOrder(
        command.account, command.market, command.side, OrderType.LIMIT, TimeInForce.GTC,
        command.self_trade_prevention, command.price, command.quantity,
    )  # fmt: skip
    return placement._reject(engine, as_order, ts, code, message)


# -- what fills and triggers do to lists ---------------------------------------------------


def after_fills(engine: Engine, events: list[Event], start: int, ts: int) -> int:
    """React to the fills in ``events[start:]`` (and to what that adds); returns how far it has read."""
    members = engine.list_members
    position = start
    while position < len(events):
        bought: dict[int, int] = {}  # bracket list id -> lots its entry bought
        touched: list[int] = []
        end = len(events)
        for event in events[position:end]:
            kind = type(event)
            if kind is OrderExpired:  # self-trade prevention ended a take-profit: its stop has no cover left
                list_id = members.get(event.order_id)
                if list_id is not None:
                    for take_profit_id, stop_id in engine.order_lists[list_id].pairs:
                        if take_profit_id == event.order_id:
                            _cancel_pending(engine, stop_id, ts, OCO_EXPIRED, events)
                    if list_id not in touched:
                        touched.append(list_id)
                continue
            if kind is not OrderFilled:
                continue
            for order_id in (event.maker_order_id, event.taker_order_id):
                list_id = members.get(order_id)
                if list_id is None:
                    continue
                lst = engine.order_lists[list_id]
                if order_id == lst.entry_id:
                    bought[list_id] = bought.get(list_id, 0) + event.quantity
                else:
                    for take_profit_id, stop_id in lst.pairs:
                        if take_profit_id == order_id:
                            _cancel_pending(engine, stop_id, ts, OCO_FILLED, events)
                if list_id not in touched:
                    touched.append(list_id)
        position = end
        for list_id, lots in bought.items():
            _protect(engine, engine.order_lists[list_id], lots, ts, events)
        for list_id in touched:
            _check_done(engine, engine.order_lists[list_id], ts, events)
    return position


def _protect(engine: Engine, lst: OrderList, lots: int, ts: int, events: list[Event]) -> None:
    """Give the lots a bracket's entry bought an OCO, once they reach the market's minimums."""
    lst.unprotected += lots
    spec = engine.markets[lst.market].spec
    lots = lst.unprotected
    low = lst.stop_limit_price or lst.stop_price
    if lots < spec.min_lots or low * lots * spec.notional_unit < spec.min_notional_units:
        _updated(engine, lst, ts, events)
        return
    lst.unprotected = 0
    _place_pair(engine, lst, lots, ts, events)
    _updated(engine, lst, ts, events)


def on_trigger(engine: Engine, stop: Order, ts: int, events: list[Event]) -> None:
    """A list's stop-loss triggers: its take-profit is canceled first, which frees the base the stop sells."""
    lst = engine.order_lists[stop.list_id]
    for take_profit_id, stop_id in lst.pairs:
        if stop_id == stop.id:
            take_profit = engine.open_orders.get(take_profit_id)
            if take_profit is not None:
                engine.cancel_resting(take_profit, ts, OCO_TRIGGERED, events)


def after_trigger(engine: Engine, stop: Order, ts: int, events: list[Event]) -> None:
    _check_done(engine, engine.order_lists[stop.list_id], ts, events)


def cancel_list(engine: Engine, lst: OrderList, ts: int, reason: str, events: list[Event]) -> None:
    """Cancel every open order of ``lst``; the list is done."""
    for order_id in lst.order_ids:
        order = engine.open_orders.get(order_id)
        if order is not None:
            engine.cancel_resting(order, ts, reason, events)
        else:
            _cancel_pending(engine, order_id, ts, reason, events)
    _check_done(engine, lst, ts, events)


def _cancel_pending(engine: Engine, order_id: int, ts: int, reason: str, events: list[Event]) -> None:
    order = engine.pending_orders.get(order_id)
    if order is not None:
        conditional.cancel(engine, order, engine.accounts[order.account], ts, reason, events)


def _check_done(engine: Engine, lst: OrderList, ts: int, events: list[Event]) -> None:
    if lst.status == ALL_DONE:
        return
    if any(i in engine.open_orders or i in engine.pending_orders for i in lst.order_ids):
        return
    lst.status = ALL_DONE
    for order_id in lst.order_ids:
        engine.list_members.pop(order_id, None)
    _updated(engine, lst, ts, events)

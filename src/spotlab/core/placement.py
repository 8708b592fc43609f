"""Placing an order: validate, hold, match, settle, in one atomic step.

Invariants (on top of ``spotlab.core.engine``'s)
- Validation comes first and raises without touching anything; then the client
  order id (the same id for the same order returns the original, for a different
  order raises ``DUPLICATE_CLIENT_ORDER_ID``); then the checks that reject a
  well-formed order with an ``OrderRejected`` event (halted market, post-only that
  would trade, not enough funds). Until that point nothing has changed.
- The hold is exact where it can be: a market buy by quantity learns its cost
  (fees included) from the matching plan (``spotlab.core.matching.plan``) and
  holds exactly that, a market sell by amount holds exactly the base the plan
  sells, a market buy by amount holds the amount; limit buys hold their worst
  case (``spotlab.core.fees.buy_hold``; a buy OCO's limit holds for its
  stop-limit leg too, until it first fills); other sells hold their base quantity.
- Each fill settles both sides and the fee account at once; the taker's and the
  makers' holds shrink by exactly what they paid, and a buy's surplus hold is
  released as soon as it is no longer needed.
- Order of events: ``OrderPlaced``, then fills and self-trade expiries in matching
  order, then the taker's expiry if any, then one ``BalanceChanged`` per touched row.

Time in force: GTC rests what is left; IOC expires it; FOK expires the whole order
unless the plan fills it completely, before any fill. Market orders are always
immediate (IOC). LIMIT_MAKER is a GTC limit that is rejected if it would trade.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from spotlab.core import conditional
from spotlab.core.commands import PlaceOrder
from spotlab.core.events import Event, OrderExpired, OrderFilled, OrderPlaced, OrderRejected
from spotlab.core.fees import buy_hold
from spotlab.core.ledger import FEE_ACCOUNT, Row, hold, release
from spotlab.core.markets import FEE_SCALE, MarketSpec, MarketStatus
from spotlab.core.matching import BUDGET_SPENT, SELF_TRADE, execute, plan, would_cross
from spotlab.core.orders import (
    CONDITIONAL_TYPES,
    Action,
    Order,
    OrderType,
    Side,
    TimeInForce,
    transition,
)
from spotlab.core.outcome import Outcome
from spotlab.core.units import MAX_UNITS
from spotlab.errors import ErrorCode, SpotlabError

if TYPE_CHECKING:
    from spotlab.core.engine import Engine

_CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_UNCAPPED = 1 << 62  # lots cap for orders that stop on a budget

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET, LIMIT_MAKER = OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
FILL_PART, FILL_REST, EXPIRE = Action.FILL_PART, Action.FILL_REST, Action.EXPIRE


def place_order(
    engine: Engine,
    command: PlaceOrder,
    ts: int,
    parent_id: int = 0,
    stop_price: int = 0,
    list_id: int = 0,
    min_hold: int = 0,
) -> Outcome:
    """Apply ``command`` to ``engine`` at ``ts``: the ``PlaceOrder`` handler (see the module docstring).

    Conditional types go to ``spotlab.core.conditional``. A conditional's triggered child is placed
    here with ``parent_id`` and ``stop_price`` (its arrival price, so slippage is measured from the stop);
    the limit orders of order lists with ``list_id``, and a buy OCO's limit with ``min_hold``: at least that
    much is held (it covers the OCO's dearer stop-limit leg too) until the order first fills.
    """
    if command.stop_price or command.type in CONDITIONAL_TYPES or command.trailing_distance or command.trailing_bps:
        return conditional.place(engine, command, ts)
    market = engine.markets.get(command.market) or engine.market(command.market)
    account = engine.accounts.get(command.account) or engine.account(command.account)
    spec = market.spec
    validate(command, spec)

    client_order_id = command.client_order_id
    repeated = repeat_of(account, command)
    if repeated is not None:
        return repeated

    if market.status is not MarketStatus.TRADING:
        return _reject(
            engine, command, ts, ErrorCode.MARKET_HALTED, f"{spec.symbol} is halted; only cancels are accepted"
        )

    book = market.book
    side = command.side
    is_buy = side is BUY
    otype = command.type
    price = command.price
    if otype is LIMIT_MAKER and would_cross(book, side, price):
        best = (book.asks if is_buy else book.bids).best
        return _reject(
            engine,
            command,
            ts,
            ErrorCode.POST_ONLY_WOULD_TRADE,
            f"a post-only {side} at {spec.price(price)} would trade against the best "
            f"{'ask' if is_buy else 'bid'} at {spec.price(best.price)}",
        )

    # How much to hold, and for market orders the exact walk they will take.
    nu = spec.notional_unit
    quantity = command.quantity
    quote_quantity = command.quote_quantity
    stp = command.self_trade_prevention
    walk = None
    if otype is MARKET:
        if quote_quantity:
            rate = spec.taker_rate if is_buy else 0  # a buy's budget pays fees; a sell's is its gross proceeds
            walk = plan(book, side, account.id, stp, 0, _UNCAPPED, nu, quote_quantity, rate)
            amount = quote_quantity if is_buy else walk.lots * spec.lot_units
        else:
            walk = plan(book, side, account.id, stp, 0, quantity, nu, None, spec.taker_rate)
            amount = walk.cost if is_buy else quantity * spec.lot_units
    elif is_buy:
        amount = buy_hold(price, quantity, nu, spec.max_rate)
    else:
        amount = quantity * spec.lot_units
    if min_hold > amount:
        amount = min_hold
    held_asset = spec.quote if is_buy else spec.base
    rows = account.rows
    existing = rows.get(held_asset.code)
    available = existing[0] if existing is not None else 0
    if amount > available:
        return _reject(
            engine,
            command,
            ts,
            ErrorCode.INSUFFICIENT_FUNDS,
            f"this order needs {held_asset.to_decimal(amount)} {held_asset.code} "
            f"{'(fees included) ' if is_buy else ''}but {held_asset.to_decimal(available)} is available",
            needed=str(held_asset.to_decimal(amount)),
            available=str(held_asset.to_decimal(available)),
            asset=held_asset.code,
        )

    # Accepted: from here on the order exists.
    order = Order(
        engine.next_order_id,
        account.id,
        spec.symbol,
        side,
        otype,
        command.time_in_force,
        stp,
        price,
        quantity,
        quote_quantity,
        client_order_id,
        ts,
    )
    engine.next_order_id += 1
    base_row = rows.get(spec.base.code) or engine.row(account.id, spec.base.code)
    quote_row = rows.get(spec.quote.code) or engine.row(account.id, spec.quote.code)
    order.base_balance = base_row
    order.quote_balance = quote_row
    held_row = quote_row if is_buy else base_row
    hold(held_row, amount)
    order.hold = amount
    touched: dict[int, Row] = {id(held_row): held_row}
    if list_id:
        order.list_id = list_id
    if parent_id:
        order.parent_id = parent_id
        order.arrival_price = stop_price
    else:
        opposite_best = (book.asks if is_buy else book.bids).best
        order.arrival_price = opposite_best.price if opposite_best is not None else 0
    if client_order_id is not None:
        account.client_orders[client_order_id] = order
    engine.seq += 1
    events: list[Event] = [
        OrderPlaced(
            engine.seq,
            ts,
            order.id,
            order.account,
            order.market,
            side,
            otype,
            order.time_in_force,
            stp,
            price,
            quantity,
            quote_quantity,
            client_order_id,
            amount,
            order.arrival_price,
        )
    ]

    if walk is None:
        walk = plan(book, side, account.id, stp, price, quantity, nu)
    if walk.entries and not (order.time_in_force is FOK and walk.lots < quantity):
        if quote_quantity:
            order.remaining = walk.lots  # an order by amount trades what its amount bought in the walk
        execute(book, walk)
        _settle(engine, market, order, walk.entries, ts, touched, events)

    _finish(engine, account, book, spec, order, walk.stop, ts, touched, events)
    engine.balance_events(touched, ts, events)
    return Outcome(events, order)


def _settle(engine, market_state, taker: Order, entries, ts: int, touched, events: list[Event]) -> None:
    """Settle every fill of ``taker``: both sides and the fee account move together."""
    spec = market_state.spec
    trades = market_state.trades
    nu, lot_units = spec.notional_unit, spec.lot_units
    maker_rate, taker_rate, max_rate = spec.maker_rate, spec.taker_rate, spec.max_rate
    fee_row = None
    is_buy = taker.side is BUY
    taker_base, taker_quote = taker.base_balance, taker.quote_balance
    by_amount = taker.quantity == 0
    seq = engine.seq
    trade_id = market_state.trade_seq
    market = spec.symbol
    accounts = engine.accounts
    for maker, price, lots in entries:
        maker.updated = ts
        if lots == 0:  # expired by the taker's self-trade prevention
            maker.status = transition(maker.status, EXPIRE)
            maker.reason = SELF_TRADE
            released = engine.release_all(maker, touched)
            engine.close_order(maker, accounts[maker.account])
            seq += 1
            events.append(OrderExpired(seq, ts, maker.id, maker.account, market, maker.remaining, released, SELF_TRADE))
            continue
        if fee_row is None:
            fee_row = engine.fee_rows.get(spec.quote.code) or engine.row(FEE_ACCOUNT, spec.quote.code)
            touched[id(taker_base)] = taker_base
            touched[id(taker_quote)] = taker_quote
            touched[id(fee_row)] = fee_row
        maker_base, maker_quote = maker.base_balance, maker.quote_balance
        touched[id(maker_base)] = maker_base
        touched[id(maker_quote)] = maker_quote
        notional = price * lots * nu
        maker_fee = notional * maker_rate // FEE_SCALE
        taker_fee = notional * taker_rate // FEE_SCALE
        base = lots * lot_units
        if is_buy:
            cost = notional + taker_fee
            taker_quote[1] -= cost
            taker.hold -= cost
            taker_base[0] += base
            maker_base[1] -= base
            maker.hold -= base
            maker_quote[0] += notional - maker_fee
        else:
            taker_base[1] -= base
            taker.hold -= base
            taker_quote[0] += notional - taker_fee
            cost = notional + maker_fee
            maker_quote[1] -= cost
            maker.hold -= cost
            maker_base[0] += base
            if maker.remaining:  # trim the resting buy's hold to what its rest needs
                surplus = maker.hold - buy_hold(maker.price, maker.remaining, nu, max_rate)
                if surplus:
                    release(maker_quote, surplus)
                    maker.hold -= surplus
        fee_row[0] += maker_fee + taker_fee
        maker.filled += lots
        maker.filled_notional += notional
        maker.fees += maker_fee
        if maker.remaining:
            maker.status = transition(maker.status, FILL_PART)
        else:
            maker.status = transition(maker.status, FILL_REST)
            if maker.hold:
                release(maker_quote if maker.side is BUY else maker_base, maker.hold)
                maker.hold = 0
            engine.close_order(maker, accounts[maker.account])
        taker.filled += lots
        taker.filled_notional += notional
        taker.fees += taker_fee
        taker.remaining -= lots
        taker.status = transition(taker.status, FILL_REST if taker.remaining == 0 and not by_amount else FILL_PART)
        trade_id += 1
        seq += 1
        events.append(
            OrderFilled(
                seq,
                ts,
                market,
                trade_id,
                price,
                lots,
                notional,
                taker.side,
                maker.id,
                maker.account,
                maker_fee,
                taker.id,
                taker.account,
                taker_fee,
            )
        )
        trades.append((trade_id, ts, price, lots, taker.side))
    engine.seq = seq
    market_state.trade_seq = trade_id
    taker.updated = ts


def _finish(engine, account, book, spec: MarketSpec, order: Order, stop, ts: int, touched, events) -> None:
    """After matching: rest the order, or complete or expire it and release what it still holds."""
    if order.quantity and order.remaining == 0:
        reason = None  # FILLED by its last fill
    elif order.quantity == 0:  # by amount: filled once the amount is spent, else expired
        if stop == BUDGET_SPENT and order.filled:
            order.status = transition(order.status, Action.BUDGET_SPENT)
            reason = None
        elif stop == SELF_TRADE:
            reason = SELF_TRADE
        elif order.filled:
            reason = "the book ran out before the amount was spent"
        else:
            reason = "the amount buys less than one lot" if stop == BUDGET_SPENT else "no liquidity"
    elif order.time_in_force is FOK:
        reason = "fill or kill: the book could not fill the whole quantity at once"
    elif stop == SELF_TRADE:
        reason = SELF_TRADE
    elif order.type is not MARKET and order.time_in_force is GTC:
        book.add(order)
        engine.open_orders[order.id] = order
        account.open_orders[order.id] = order
        if order.side is BUY and order.filled:  # unfilled, it holds what it was placed with (see ``min_hold``)
            surplus = order.hold - buy_hold(order.price, order.remaining, spec.notional_unit, spec.max_rate)
            if surplus:
                release(order.quote_balance, surplus)
                order.hold -= surplus
        return
    elif order.type is MARKET:
        reason = "no more liquidity" if order.filled else "no liquidity"
    else:
        reason = "immediate or cancel: the unfilled rest expired"
    if reason is not None:
        order.status = transition(order.status, EXPIRE)
        order.reason = reason
    order.updated = ts
    released = engine.release_all(order, touched)
    engine.close_order(order, account)
    if reason is not None:
        engine.seq += 1
        events.append(
            OrderExpired(engine.seq, ts, order.id, order.account, order.market, order.remaining, released, reason)
        )


def validate(command: PlaceOrder, spec: MarketSpec) -> None:
    """Refuse what is not a valid order for ``spec`` (raises, changes nothing)."""
    otype = command.type
    quantity = command.quantity
    if quantity < 0 or command.quote_quantity < 0 or command.price < 0:
        raise SpotlabError(ErrorCode.INVALID_NUMBER, "price and quantities must not be negative")
    if quantity > MAX_UNITS or command.quote_quantity > MAX_UNITS or command.price > MAX_UNITS:
        _too_large(spec)
    if otype is MARKET:
        if command.price:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a market order takes no price; use a limit order")
        if command.time_in_force is not IOC:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"market orders are immediate (IOC); time in force {command.time_in_force} does not apply",
            )
        if (quantity > 0) == (command.quote_quantity > 0):
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                "a market order takes exactly one of quantity (base) or quote_quantity (quote amount)",
            )
        if quantity and quantity < spec.min_lots:
            _below_min_quantity(spec, quantity)
        if command.quote_quantity and command.quote_quantity < spec.min_notional_units:
            raise SpotlabError(
                ErrorCode.BELOW_MIN_NOTIONAL,
                f"{spec.symbol}: the quote amount {spec.quote.to_decimal(command.quote_quantity)} is below the "
                f"minimum notional {spec.min_notional} {spec.quote.code}",
                min_notional=str(spec.min_notional),
            )
    else:
        if command.price <= 0:
            raise SpotlabError(ErrorCode.INVALID_NUMBER, "a limit order needs a positive price")
        if quantity <= 0:
            raise SpotlabError(ErrorCode.INVALID_NUMBER, "a limit order needs a positive quantity")
        if command.quote_quantity:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "only market orders can be placed by quote amount")
        if otype is LIMIT_MAKER and command.time_in_force is not GTC:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a post-only (limit_maker) order rests: it takes GTC only")
        if quantity < spec.min_lots:
            _below_min_quantity(spec, quantity)
        notional = command.price * quantity * spec.notional_unit
        if notional > MAX_UNITS:
            _too_large(spec)
        if notional < spec.min_notional_units:
            raise SpotlabError(
                ErrorCode.BELOW_MIN_NOTIONAL,
                f"{spec.symbol}: price x quantity = {spec.quote.to_decimal(notional)} {spec.quote.code} is below "
                f"the minimum notional {spec.min_notional} {spec.quote.code}",
                min_notional=str(spec.min_notional),
                notional=str(spec.quote.to_decimal(notional)),
            )
    if command.client_order_id is not None:
        check_client_order_id(command.client_order_id)


def check_client_order_id(client_order_id: object) -> None:
    """Refuse a client order id (of an order or an order list) that is not 1-64 safe characters."""
    if not isinstance(client_order_id, str) or not _CLIENT_ORDER_ID.match(client_order_id):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"a client order id is 1-64 letters, digits, '_', '.', ':' or '-', got {client_order_id!r}",
        )


def repeat_of(account, command) -> Outcome | None:
    """The answer to a client order id the account used before: the original order (same parameters)
    or ``DUPLICATE_CLIENT_ORDER_ID``; ``None`` for a new one."""
    client_order_id = command.client_order_id
    prior = account.client_orders.get(client_order_id) if client_order_id is not None else None
    if prior is None:
        return None
    if prior.parameters() == parameters(command):
        return Outcome([], prior, duplicate=True)
    raise SpotlabError(
        ErrorCode.DUPLICATE_CLIENT_ORDER_ID,
        f"client order id {client_order_id!r} already names order {prior.id}, placed with other "
        "parameters; use a new client order id for a new order",
        client_order_id=client_order_id,
        order_id=prior.id,
    )


def parameters(command: PlaceOrder) -> tuple:
    """What ``Order.parameters`` gives for the order ``command`` would place."""
    return (
        command.market,
        command.side,
        command.type,
        command.time_in_force,
        command.self_trade_prevention,
        command.price,
        command.quantity,
        command.quote_quantity,
        command.stop_price,
        command.trailing_distance,
        command.trailing_bps,
        command.activation_price,
    )


def _too_large(spec: MarketSpec) -> None:
    raise SpotlabError(
        ErrorCode.INVALID_NUMBER,
        f"{spec.symbol}: the order is too large for the exchange to represent (its notional may not exceed "
        f"{spec.quote.to_decimal(MAX_UNITS)} {spec.quote.code})",
    )


def _below_min_quantity(spec: MarketSpec, quantity: int) -> None:
    raise SpotlabError(
        ErrorCode.BELOW_MIN_QUANTITY,
        f"{spec.symbol}: quantity {spec.quantity(quantity)} is below the minimum {spec.min_quantity}",
        min_quantity=str(spec.min_quantity),
    )


def _reject(engine: Engine, command: PlaceOrder, ts: int, code: ErrorCode, message: str, **details) -> Outcome:
    engine.seq += 1
    event = OrderRejected(
        engine.seq,
        ts,
        command.account,
        command.market,
        command.side,
        command.type,
        command.client_order_id,
        str(code),
        message,
    )
    return Outcome([event], error=SpotlabError(code, message, **details))

"""Events: immutable facts in the past tense, each with one global sequence number.

Invariants
- ``seq`` increases by exactly one from event to event across the whole exchange;
  ``ts`` is the time of the command that caused the event (UTC nanoseconds).
- Numbers are integers in the units of their market or asset: prices in ticks,
  quantities in lots, money in minor units. ``spotlab.exchange.views`` turns them
  into ``Decimal``.
- Events are the single source for streams, candles, the journal and tax; the
  event log stores them (msgpack, tagged by class name) beside the command that
  caused them.
- Only fields are added over time, at the end, with defaults; names never change.

Money moved by an event is stated in it (``hold``, ``released``, fees), and
``BalanceChanged`` gives each touched row's new value, once per command and row;
except that each order a conditional trigger places in a command (``OrderTriggered``
then that order's events) and each order-list step reports its rows again after its
own events, so the last ``BalanceChanged`` of a row in a command is its value then.
"""

from __future__ import annotations

import msgspec

from spotlab.core.markets import MarketStatus
from spotlab.core.orders import OrderType, SelfTradePrevention, Side, TimeInForce


class Event(msgspec.Struct, frozen=True, array_like=True, tag=True, tag_field="kind", gc=False):
    seq: int
    ts: int


class AssetListed(Event):
    asset: str
    precision: int
    withdrawal_fee: str
    min_withdrawal: str


class MarketListed(Event):
    market: str
    tick_size: str
    lot_size: str
    min_quantity: str
    min_notional: str
    maker_fee: str
    taker_fee: str
    status: MarketStatus


class MarketStatusChanged(Event):
    market: str
    status: MarketStatus


class AccountCreated(Event):
    account: str


class Deposited(Event):
    account: str
    asset: str
    amount: int


class Withdrawn(Event):
    account: str
    asset: str
    amount: int  # taken from the account; amount - fee left the exchange
    fee: int
    address: str | None = None


class OrderPlaced(Event):
    order_id: int
    account: str
    market: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    self_trade_prevention: SelfTradePrevention
    price: int  # 0 for market orders
    quantity: int  # 0 for orders by quote amount
    quote_quantity: int  # 0 unless by quote amount
    client_order_id: str | None
    hold: int  # minor units locked: quote for a buy, base for a sell
    arrival_price: int  # best opposite price when it arrived, 0 if none


class OrderRejected(Event):
    """A well-formed order that could not be accepted (funds, post-only, halted market)."""

    account: str
    market: str
    side: Side
    type: OrderType
    client_order_id: str | None
    code: str
    reason: str


class OrderFilled(Event):
    """One trade: a resting (maker) order and an incoming (taker) order met at the maker's price."""

    market: str
    trade_id: int
    price: int
    quantity: int
    notional: int  # quote minor units
    taker_side: Side
    maker_order_id: int
    maker_account: str
    maker_fee: int
    taker_order_id: int
    taker_account: str
    taker_fee: int


class OrderCanceled(Event):
    order_id: int
    account: str
    market: str
    remaining: int
    released: int
    reason: str


class OrderExpired(Event):
    order_id: int
    account: str
    market: str
    remaining: int
    released: int
    reason: str


class OrderReduced(Event):
    order_id: int
    account: str
    market: str
    quantity: int  # the new total quantity
    remaining: int
    released: int


class ConditionalOrderPlaced(Event):
    """A conditional order (stop-loss, take-profit) now waits outside the book, its funds held."""

    order_id: int
    account: str
    market: str
    side: Side
    type: OrderType  # stop_loss, stop_loss_limit, take_profit or take_profit_limit
    time_in_force: TimeInForce  # of the order it will place
    self_trade_prevention: SelfTradePrevention
    stop_price: int  # ticks: the last trade price that triggers it (a trailing stop's first stop, 0 if not yet active)
    price: int  # the limit of the order it will place; 0 for market
    quantity: int  # lots; 0 for a market buy by quote amount
    quote_quantity: int
    client_order_id: str | None
    hold: int
    trailing_distance: int = 0  # trailing stops: ticks, or
    trailing_bps: int = 0  # basis points of the peak
    activation_price: int = 0  # ticks; 0: trails from placement


class OrderTriggered(Event):
    """A conditional order's trigger was crossed by the last trade price: it places ``child_id``."""

    order_id: int
    account: str
    market: str
    stop_price: int
    last_price: int  # the last trade price that crossed the trigger
    child_id: int


class ConditionalOrderCanceled(Event):
    """A pending conditional order was canceled; its hold went back to available."""

    order_id: int
    account: str
    market: str
    released: int
    reason: str


class OrderListPlaced(Event):
    """An OCO or a bracket was accepted; its orders follow as their own events and carry ``list_id``."""

    list_id: int
    account: str
    market: str
    list_type: str  # "oco" or "bracket"
    side: Side  # an OCO's (its legs'), a bracket's entry's (buy)
    quantity: int
    price: int  # take-profit limit
    stop_price: int
    stop_limit_price: int  # 0: market stop-loss
    entry_price: int  # bracket entry limit, 0 for an OCO
    client_order_id: str | None = None  # the list's own (not its orders')


class OrderListUpdated(Event):
    """An order list's members or status changed (a bracket's exits placed, the list done)."""

    list_id: int
    order_ids: list[int]  # every order of the list so far, in placement order
    unprotected: int  # bracket: lots bought by the entry that no exit covers (below the market's minimums)
    status: str  # "EXECUTING" or "ALL_DONE"


class BalanceChanged(Event):
    account: str
    asset: str
    available: int
    locked: int


AnyEvent = (
    AssetListed
    | MarketListed
    | MarketStatusChanged
    | AccountCreated
    | Deposited
    | Withdrawn
    | OrderPlaced
    | OrderRejected
    | OrderFilled
    | OrderCanceled
    | OrderExpired
    | OrderReduced
    | BalanceChanged
    | ConditionalOrderPlaced
    | OrderTriggered
    | ConditionalOrderCanceled
    | OrderListPlaced
    | OrderListUpdated
)

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
``BalanceChanged`` gives each touched row's new value, once per command and row.
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
)

"""Orders, their vocabulary, and the lifecycle as an explicit transition table.

Invariants
- An order's status only changes through ``transition`` and the ``TRANSITIONS``
  table; anything not in the table raises ``ILLEGAL_TRANSITION``. FILLED, CANCELED,
  REJECTED and EXPIRED are terminal.
- Inside an order every number is an integer: price in ticks, quantities in lots,
  money in the quote asset's minor units, holds in the held asset's minor units
  (quote for a buy, base for a sell).
- ``filled + remaining == quantity`` for orders placed by base quantity; orders by
  quote amount (market buys "spend 100 USDT") have ``quantity == 0`` and stop on
  their ``quote_quantity`` budget instead.
- ``hold`` is what the ledger has locked for this order and not yet spent. While
  the order is open it always covers the worst case of what is left (see
  ``spotlab.core.fees.buy_hold``).

``Order`` is mutable engine state for open orders; once closed an order is kept as an
immutable ``OrderRecord``. Callers outside the engine get ``Decimal`` views
(``spotlab.exchange.views.OrderView``).

Conditional orders (``CONDITIONAL_TYPES``) are ``Order`` s too: NEW while pending
outside the book (``spotlab.core.conditional``), then TRIGGERED (terminal) when their
trigger is crossed and the order they place (``parent_id`` = their id) takes over.
"""

from __future__ import annotations

import operator
from enum import StrEnum
from typing import Any

import msgspec
from msgspec.structs import astuple

from spotlab.errors import ErrorCode, SpotlabError


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    LIMIT_MAKER = "limit_maker"  # post-only: refused if it would trade at once
    # conditional: wait outside the book until the last trade price crosses ``stop_price``
    STOP_LOSS = "stop_loss"  # then a market order
    STOP_LOSS_LIMIT = "stop_loss_limit"  # then a limit order at ``price``
    TAKE_PROFIT = "take_profit"  # then a market order
    TAKE_PROFIT_LIMIT = "take_profit_limit"  # then a limit order at ``price``
    TRAILING_STOP = "trailing_stop"  # a stop-loss whose stop follows the price in its favour; then a market order


class TimeInForce(StrEnum):
    GTC = "GTC"  # good till cancelled: the rest of the order rests in the book
    IOC = "IOC"  # immediate or cancel: what cannot fill at once expires
    FOK = "FOK"  # fill or kill: all at once or nothing, decided before any fill


class SelfTradePrevention(StrEnum):
    """What happens when an order would trade against an order of the same account.

    The taker's mode decides. The default is EXPIRE_MAKER: the resting order of
    one's own is expired and matching goes on, as on Binance since 2023.
    """

    NONE = "NONE"  # trade with yourself (both sides pay fees)
    EXPIRE_TAKER = "EXPIRE_TAKER"  # the incoming order's rest expires
    EXPIRE_MAKER = "EXPIRE_MAKER"  # the resting order expires, matching continues
    EXPIRE_BOTH = "EXPIRE_BOTH"  # both expire


DEFAULT_SELF_TRADE_PREVENTION = SelfTradePrevention.EXPIRE_MAKER
#: Why ``CancelAllOrders`` (and ``ReplaceQuotes``, for the orders it replaces) canceled an order.
CANCEL_ALL_REASON = "canceled with all of the account's orders in the market"


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    TRIGGERED = "TRIGGERED"  # a conditional order whose trigger was crossed: its child order took over


#: Conditional types and the type of the order each places when triggered.
CONDITIONAL_TYPES: dict[OrderType, OrderType] = {
    OrderType.STOP_LOSS: OrderType.MARKET,
    OrderType.STOP_LOSS_LIMIT: OrderType.LIMIT,
    OrderType.TAKE_PROFIT: OrderType.MARKET,
    OrderType.TAKE_PROFIT_LIMIT: OrderType.LIMIT,
    OrderType.TRAILING_STOP: OrderType.MARKET,
}


class Action(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    FILL_PART = "fill_part"  # a fill that leaves something
    FILL_REST = "fill_rest"  # a fill that completes the order
    BUDGET_SPENT = "budget_spent"  # an order by quote amount has spent what it could
    REDUCE = "reduce"
    CANCEL = "cancel"
    EXPIRE = "expire"
    TRIGGER = "trigger"  # a pending conditional order's trigger was crossed


NEW = OrderStatus.NEW
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
CANCELED = OrderStatus.CANCELED
REJECTED = OrderStatus.REJECTED
EXPIRED = OrderStatus.EXPIRED
TRIGGERED = OrderStatus.TRIGGERED

#: The whole order lifecycle. ``None`` is "not yet an order".
TRANSITIONS: dict[tuple[OrderStatus | None, Action], OrderStatus] = {
    (None, Action.ACCEPT): NEW,
    (None, Action.REJECT): REJECTED,
    (NEW, Action.FILL_PART): PARTIALLY_FILLED,
    (NEW, Action.FILL_REST): FILLED,
    (NEW, Action.REDUCE): NEW,
    (NEW, Action.CANCEL): CANCELED,
    (NEW, Action.EXPIRE): EXPIRED,
    (NEW, Action.TRIGGER): TRIGGERED,
    (PARTIALLY_FILLED, Action.FILL_PART): PARTIALLY_FILLED,
    (PARTIALLY_FILLED, Action.FILL_REST): FILLED,
    (PARTIALLY_FILLED, Action.BUDGET_SPENT): FILLED,
    (PARTIALLY_FILLED, Action.REDUCE): PARTIALLY_FILLED,
    (PARTIALLY_FILLED, Action.CANCEL): CANCELED,
    (PARTIALLY_FILLED, Action.EXPIRE): EXPIRED,
}

TERMINAL = frozenset({FILLED, CANCELED, REJECTED, EXPIRED, TRIGGERED})
OPEN = frozenset({NEW, PARTIALLY_FILLED})


def transition(status: OrderStatus | None, action: Action) -> OrderStatus:
    """The status after ``action``, or ``ILLEGAL_TRANSITION``."""
    try:
        return TRANSITIONS[status, action]
    except KeyError:
        raise SpotlabError(
            ErrorCode.ILLEGAL_TRANSITION,
            f"an order in status {status} cannot {action}",
            status=str(status),
            action=str(action),
        ) from None


class Order:
    """An order as the engine holds it (mutable, integers only)."""

    __slots__ = (
        "id",
        "account",
        "market",
        "side",
        "type",
        "time_in_force",
        "self_trade_prevention",
        "price",
        "quantity",
        "placed_quantity",
        "quote_quantity",
        "client_order_id",
        "status",
        "remaining",
        "filled",
        "filled_notional",
        "fees",
        "hold",
        "arrival_price",
        "created",
        "updated",
        "reason",
        "stop_price",
        "parent_id",
        "trailing_distance",
        "trailing_bps",
        "activation_price",
        "peak",
        "list_id",
        # book linkage (intrusive FIFO list of a price level)
        "prev",
        "next",
        "level",
        # the ledger rows this order moves: [available, locked] of its account
        "base_balance",
        "quote_balance",
    )

    def __init__(
        self,
        id: int,
        account: str,
        market: str,
        side: Side,
        type: OrderType,
        time_in_force: TimeInForce,
        self_trade_prevention: SelfTradePrevention,
        price: int,
        quantity: int,
        quote_quantity: int,
        client_order_id: str | None,
        created: int,
    ) -> None:
        self.id = id
        self.account = account
        self.market = market
        self.side = side
        self.type = type
        self.time_in_force = time_in_force
        self.self_trade_prevention = self_trade_prevention
        self.price = price
        self.quantity = quantity
        self.placed_quantity = quantity  # as placed; ``quantity`` drops when the order is reduced
        self.quote_quantity = quote_quantity
        self.client_order_id = client_order_id
        self.status = NEW
        self.remaining = quantity
        self.filled = 0
        self.filled_notional = 0
        self.fees = 0
        self.hold = 0
        self.arrival_price = 0
        self.created = created
        self.updated = created
        self.reason: str | None = None
        self.stop_price = 0  # ticks; a conditional order's trigger, 0 for others
        self.parent_id = 0  # the conditional order that placed this one when triggered, 0 if none
        self.trailing_distance = 0  # ticks: a trailing stop's distance from its peak (or ``trailing_bps``)
        self.trailing_bps = 0  # a trailing stop's distance in basis points of its peak
        self.activation_price = 0  # ticks: a trailing stop starts trailing once the price reaches it (0: at once)
        self.peak = 0  # ticks: the best last price in a trailing stop's favour since it started, 0 until then
        self.list_id = 0  # the order list (OCO, bracket) this order belongs to, 0 if none
        self.prev: Order | None = None
        self.next: Order | None = None
        self.level: Any = None
        self.base_balance: list[int] | None = None
        self.quote_balance: list[int] | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def parameters(self) -> tuple[Any, ...]:
        """What the client asked for when placing: a repeated client order id must ask for the same."""
        return _parameters(self)

    def __repr__(self) -> str:
        return (
            f"Order(id={self.id}, {self.account}, {self.market}, {self.side} {self.type} "
            f"{self.remaining}/{self.quantity} lots @ {self.price} ticks, {self.status})"
        )


class OrderRecord(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """An order as plain, immutable data: how closed orders are kept and how snapshots store orders.

    Closed orders become records because they never change again, and a record is
    invisible to the cyclic garbage collector (``gc=False``), which otherwise keeps
    re-scanning hundreds of thousands of remembered orders.
    """

    id: int
    account: str
    market: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    self_trade_prevention: SelfTradePrevention
    price: int
    quantity: int
    placed_quantity: int
    quote_quantity: int
    client_order_id: str | None
    status: OrderStatus
    remaining: int
    filled: int
    filled_notional: int
    fees: int
    hold: int
    arrival_price: int
    created: int
    updated: int
    reason: str | None
    stop_price: int = 0
    parent_id: int = 0
    trailing_distance: int = 0
    trailing_bps: int = 0
    activation_price: int = 0
    peak: int = 0
    list_id: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def parameters(self) -> tuple[Any, ...]:
        return _parameters(self)


#: The data fields of an order, in record order (``Order`` has these plus its book and ledger links).
FIELDS = OrderRecord.__struct_fields__
_parameters = operator.attrgetter(
    "market", "side", "type", "time_in_force", "self_trade_prevention", "price", "placed_quantity", "quote_quantity",
    "stop_price", "trailing_distance", "trailing_bps", "activation_price",
)  # fmt: skip


def record_of(order: Order) -> OrderRecord:
    """The immutable record of ``order`` as it is now (fields spelled out: 2.5x faster than an attrgetter)."""
    o = order
    return OrderRecord(
        o.id, o.account, o.market, o.side, o.type, o.time_in_force, o.self_trade_prevention, o.price, o.quantity,
        o.placed_quantity, o.quote_quantity, o.client_order_id, o.status, o.remaining, o.filled, o.filled_notional,
        o.fees, o.hold, o.arrival_price, o.created, o.updated, o.reason, o.stop_price, o.parent_id,
        o.trailing_distance, o.trailing_bps, o.activation_price, o.peak, o.list_id,
    )  # fmt: skip


def order_of(record: OrderRecord) -> Order:
    """A live (open) order rebuilt from its record, not yet linked into a book or ledger."""
    order = Order.__new__(Order)
    for name, value in zip(FIELDS, astuple(record), strict=True):
        setattr(order, name, value)
    order.prev = order.next = order.level = None
    return order

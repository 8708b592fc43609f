"""Commands: what callers ask the engine to do, in the imperative.

Invariants
- A command is immutable and carries integers only (ticks, lots, minor units);
  ``spotlab.exchange`` builds commands from ``Decimal`` input at the edge.
- The engine applies one command at a time; the same commands with the same
  timestamps always give the same events (determinism), which is what recovery
  relies on: the event log keeps each accepted command beside its events.
"""

from __future__ import annotations

import msgspec

from spotlab.core.markets import Asset, MarketSpec, MarketStatus
from spotlab.core.orders import OrderType, SelfTradePrevention, Side, TimeInForce


class Command(msgspec.Struct, frozen=True, array_like=True, tag=True, tag_field="kind", gc=False):
    pass


class ListAsset(Command):
    asset: str
    precision: int
    withdrawal_fee: str
    min_withdrawal: str

    @classmethod
    def of(cls, asset: Asset) -> ListAsset:
        return cls(asset.code, asset.precision, str(asset.withdrawal_fee), str(asset.min_withdrawal))


class ListMarket(Command):
    market: str
    tick_size: str
    lot_size: str
    min_quantity: str
    min_notional: str
    maker_fee: str
    taker_fee: str
    status: MarketStatus

    @classmethod
    def of(cls, spec: MarketSpec) -> ListMarket:
        d = spec.describe()
        return cls(
            spec.symbol, d["tick_size"], d["lot_size"], d["min_quantity"], d["min_notional"], d["maker_fee"],
            d["taker_fee"], spec.status,
        )  # fmt: skip


class SetMarketStatus(Command):
    market: str
    status: MarketStatus


class CreateAccount(Command):
    account: str


class Deposit(Command):
    account: str
    asset: str
    amount: int


class Withdraw(Command):
    account: str
    asset: str
    amount: int
    address: str | None = None  # where it goes (the API requires a whitelisted one); recorded in the event


class PlaceOrder(Command):
    account: str
    market: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    self_trade_prevention: SelfTradePrevention
    price: int = 0  # ticks; 0 for market orders
    quantity: int = 0  # lots; 0 for market orders by quote amount
    quote_quantity: int = 0  # quote minor units; only for market orders by quote amount
    client_order_id: str | None = None
    stop_price: int = 0  # ticks; the trigger of a conditional order (stop_loss..., take_profit...), else 0
    trailing_distance: int = 0  # ticks; a trailing stop's distance from its peak (or trailing_bps)
    trailing_bps: int = 0  # a trailing stop's distance in basis points (1/100 %) of its peak
    activation_price: int = 0  # ticks; a trailing stop starts trailing when the last price reaches it (0: at once)


class CancelOrder(Command):
    account: str
    order_id: int


class CancelAllOrders(Command):
    account: str
    market: str


class ReduceOrder(Command):
    account: str
    order_id: int
    quantity: int  # the new total quantity in lots, below the current one and above what has filled


class PlaceOrderList(Command):
    """An OCO (take-profit limit + stop, one cancels the other) or a bracket (an entry, then an OCO).

    An OCO sells ``quantity`` (a holding: limit above, stop-loss below the market) or buys it
    (limit below, stop-limit entry above); a bracket buys ``quantity`` at ``entry_price`` and, as
    the entry fills, sells what it bought through an OCO. ``client_order_id`` makes placing
    idempotent (``spotlab.core.order_lists``).
    """

    account: str
    market: str
    list_type: str  # "oco" or "bracket"
    side: Side  # an OCO's legs' side (sell or buy); a bracket's entry buys
    quantity: int  # lots
    price: int  # ticks: the take-profit limit
    stop_price: int  # ticks: the stop's trigger
    stop_limit_price: int = 0  # ticks: the stop's limit; 0 for a market stop-loss (sells only)
    entry_price: int = 0  # ticks: a bracket's entry limit (GTC)
    self_trade_prevention: SelfTradePrevention = SelfTradePrevention.EXPIRE_MAKER
    client_order_id: str | None = None  # the list's own id (idempotency key), apart from orders' client ids


class CancelOrderList(Command):
    account: str
    list_id: int


class Quote(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One GTC limit order of a ``ReplaceQuotes``."""

    side: Side
    price: int  # ticks
    quantity: int  # lots


class ReplaceQuotes(Command):
    """Cancel the account's resting orders in ``market`` and rest ``quotes`` (GTC limit orders, placed in this
    order) in their place, in one step, all or nothing (``spotlab.core.quotes``): a market maker's re-quote."""

    account: str
    market: str
    quotes: tuple[Quote, ...] = ()


AnyCommand = (
    ListAsset
    | ListMarket
    | SetMarketStatus
    | CreateAccount
    | Deposit
    | Withdraw
    | PlaceOrder
    | CancelOrder
    | CancelAllOrders
    | ReduceOrder
    | PlaceOrderList
    | CancelOrderList
    | ReplaceQuotes
)

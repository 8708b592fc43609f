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
)

"""Request and response models of the order endpoints (``spotlab.api.routes.orders``).

Invariants
- Request bodies forbid unknown fields; amounts are ``DecimalIn`` (decimal strings or
  JSON integers, never floats). Enumerations take the core's values
  (``spotlab.core.orders``), case-insensitively, and are passed on as enum members.
- Responses never show the account: a route only ever answers with the caller's own
  orders and fills. Money is a decimal string; markets are written ``BTC-USDT``.
- ``order_public`` / ``fill_public`` copy a view field by field without validating
  again: views are built by the exchange from integers, so they are already exact.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from starlette.concurrency import run_in_threadpool

from spotlab.api.schemas import (
    DecimalIn,
    DecimalOut,
    MarketId,
    Page,
    RequestModel,
    ResponseModel,
    market_id,
    symbol_of,
)
from spotlab.core.orders import OrderStatus, OrderType, SelfTradePrevention, Side, TimeInForce
from spotlab.exchange import Exchange
from spotlab.exchange.risk import RiskService
from spotlab.exchange.views import Fill, OrderView


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


SideIn = Annotated[Side, BeforeValidator(_lower)]


class PlainOrderType(StrEnum):
    """The order types ``POST /v1/orders`` takes today. The engine's conditional types (stop-loss,
    take-profit, trailing, OCO and bracket lists) are in the Python facade; their REST and WebSocket
    forms come with their history projection."""

    LIMIT = OrderType.LIMIT.value
    MARKET = OrderType.MARKET.value
    LIMIT_MAKER = OrderType.LIMIT_MAKER.value


OrderTypeIn = Annotated[PlainOrderType, BeforeValidator(_lower)]
TimeInForceIn = Annotated[TimeInForce, BeforeValidator(_upper)]
SelfTradePreventionIn = Annotated[SelfTradePrevention, BeforeValidator(_upper)]
OrderStatusIn = Annotated[OrderStatus, BeforeValidator(_upper)]
ClientOrderId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=36,
        pattern=r"^[A-Za-z0-9_-]+$",
        examples=["my-bot-000042"],
        description="Your id for the order (idempotency key): 1-36 of A-Z a-z 0-9 _ -",
    ),
]

_ORDER_EXAMPLE: dict[str, Any] = {
    "id": 1042,
    "client_order_id": "my-bot-000042",
    "market": "BTC-USDT",
    "side": "buy",
    "type": "limit",
    "time_in_force": "GTC",
    "self_trade_prevention": "EXPIRE_MAKER",
    "status": "PARTIALLY_FILLED",
    "price": "65000",
    "quantity": "0.5",
    "quote_quantity": None,
    "filled_quantity": "0.2",
    "remaining_quantity": "0.3",
    "filled_notional": "12999.95",
    "average_price": "64999.75",
    "fees": "12.99995",
    "fee_asset": "USDT",
    "reason": None,
    "created_at": "2024-01-01T12:00:00Z",
    "updated_at": "2024-01-01T12:00:00Z",
    "fills": [
        {
            "trade_id": 77,
            "price": "64999.5",
            "quantity": "0.1",
            "notional": "6499.95",
            "fee": "6.49995",
            "fee_asset": "USDT",
            "role": "taker",
            "time": "2024-01-01T12:00:00Z",
        },
        {
            "trade_id": 78,
            "price": "65000",
            "quantity": "0.1",
            "notional": "6500",
            "fee": "6.5",
            "fee_asset": "USDT",
            "role": "taker",
            "time": "2024-01-01T12:00:00Z",
        },
    ],
    "arrival_price": "64999.5",
    "slippage": "0.25",
    "slippage_bps": "0.04",
}

_ACCOUNT_FILL_EXAMPLE: dict[str, Any] = {
    "id": 20681,
    "trade_id": 77,
    "order_id": 1042,
    "market": "BTC-USDT",
    "side": "buy",
    "role": "taker",
    "price": "64999.5",
    "quantity": "0.1",
    "notional": "6499.95",
    "fee": "6.49995",
    "fee_asset": "USDT",
    "time": "2024-01-01T12:00:00Z",
}


class OrderCreate(RequestModel):
    """A new order. ``limit`` and ``limit_maker`` (post-only) need ``price`` and ``quantity``;
    ``market`` takes exactly one of ``quantity`` (base) or ``quote_quantity`` (quote to spend or receive)."""

    market: MarketId
    side: SideIn
    type: OrderTypeIn
    price: DecimalIn | None = None
    quantity: DecimalIn | None = None
    quote_quantity: DecimalIn | None = None
    time_in_force: TimeInForceIn | None = Field(None, description="GTC (default for limits), IOC or FOK")
    client_order_id: ClientOrderId | None = None
    self_trade_prevention: SelfTradePreventionIn | None = Field(None, description="Default EXPIRE_MAKER")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "market": "BTC-USDT",
                    "side": "buy",
                    "type": "limit",
                    "price": "65000",
                    "quantity": "0.5",
                    "time_in_force": "GTC",
                    "client_order_id": "my-bot-000042",
                },
                {"market": "BTC-USDT", "side": "buy", "type": "market", "quote_quantity": "100"},
            ]
        }
    }


class OrderReduce(RequestModel):
    """The order's new total quantity: below the current one, above what has filled."""

    quantity: DecimalIn

    model_config = {"json_schema_extra": {"examples": [{"quantity": "0.25"}]}}


class FillPublic(ResponseModel):
    """One of an order's trades, from that order's side."""

    trade_id: int
    price: DecimalOut
    quantity: DecimalOut
    notional: DecimalOut
    fee: DecimalOut
    fee_asset: str
    role: str = Field(description="maker or taker")
    time: datetime

    model_config = {"json_schema_extra": {"examples": [_ORDER_EXAMPLE["fills"][0]]}}


class OrderPublic(ResponseModel):
    """An order of the caller's. ``fills`` are the trades of the request that answered (placing it);
    ``slippage`` compares the taker fills' average with the best opposite price on arrival."""

    id: int
    client_order_id: str | None
    market: str
    side: str
    type: str
    time_in_force: str
    self_trade_prevention: str
    status: str = Field(description="NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED or REJECTED")
    price: DecimalOut | None
    quantity: DecimalOut | None
    quote_quantity: DecimalOut | None = None  # (defaults: OpenAPI examples leave nulls out)
    filled_quantity: DecimalOut
    remaining_quantity: DecimalOut
    filled_notional: DecimalOut
    average_price: DecimalOut | None
    fees: DecimalOut
    fee_asset: str
    reason: str | None = None
    created_at: datetime
    updated_at: datetime
    fills: list[FillPublic]
    arrival_price: DecimalOut | None
    slippage: DecimalOut | None = Field(description="Per unit, in the quote asset; positive is worse than arrival")
    slippage_bps: DecimalOut | None

    model_config = {"json_schema_extra": {"examples": [_ORDER_EXAMPLE]}}


class OrderPage(Page[OrderPublic]):
    model_config = {
        "json_schema_extra": {"examples": [{"items": [{**_ORDER_EXAMPLE, "fills": []}], "next_cursor": "djE6MTA0Mg"}]}
    }


class AccountFillPublic(ResponseModel):
    """One of the caller's trades: ``id`` orders them (newest first); ``trade_id`` is the market's trade."""

    id: int
    trade_id: int
    order_id: int
    market: str
    side: str
    role: str = Field(description="maker or taker")
    price: DecimalOut
    quantity: DecimalOut
    notional: DecimalOut
    fee: DecimalOut
    fee_asset: str
    time: datetime

    model_config = {"json_schema_extra": {"examples": [_ACCOUNT_FILL_EXAMPLE]}}


class AccountFillPage(Page[AccountFillPublic]):
    model_config = {"json_schema_extra": {"examples": [{"items": [_ACCOUNT_FILL_EXAMPLE], "next_cursor": None}]}}


def fill_public(fill: Fill) -> FillPublic:
    return FillPublic.model_construct(
        trade_id=fill.trade_id,
        price=fill.price,
        quantity=fill.quantity,
        notional=fill.notional,
        fee=fill.fee,
        fee_asset=fill.fee_asset,
        role=fill.role,
        time=fill.time,
    )


def order_public(view: OrderView) -> OrderPublic:
    return OrderPublic.model_construct(
        id=view.id,
        client_order_id=view.client_order_id,
        market=market_id(view.market),
        side=view.side,
        type=view.type,
        time_in_force=view.time_in_force,
        self_trade_prevention=view.self_trade_prevention,
        status=view.status,
        price=view.price,
        quantity=view.quantity,
        quote_quantity=view.quote_quantity,
        filled_quantity=view.filled_quantity,
        remaining_quantity=view.remaining_quantity,
        filled_notional=view.filled_notional,
        average_price=view.average_price,
        fees=view.fees,
        fee_asset=view.fee_asset,
        reason=view.reason,
        created_at=view.created_at,
        updated_at=view.updated_at,
        fills=[fill_public(fill) for fill in view.fills],
        arrival_price=view.arrival_price,
        slippage=view.slippage,
        slippage_bps=view.slippage_bps,
    )


def account_fill_public(fill: Any) -> AccountFillPublic:
    """From the history's per-account fill view (``spotlab.store.history``)."""
    return AccountFillPublic.model_construct(
        id=fill.id,
        trade_id=fill.trade_id,
        order_id=fill.order_id,
        market=market_id(fill.market),
        side=fill.side,
        role=fill.role,
        price=fill.price,
        quantity=fill.quantity,
        notional=fill.notional,
        fee=fill.fee,
        fee_asset=fill.fee_asset,
        time=fill.time,
    )


def place(exchange: Exchange, account: str, body: OrderCreate) -> Awaitable[OrderView]:
    """Place ``body`` for ``account`` (REST and WebSocket share this): awaits durability.

    An account whose risk profile has a guard on (``spotlab.exchange.risk``) has the order checked
    first, one guarded order of the account at a time; a refusal is ``RISK_LIMIT`` and changes nothing.
    """
    risk = RiskService.of(exchange)
    if risk is not None and risk.guarded(account):
        return _guarded_place(risk, exchange, account, body)
    return _place(exchange, account, body)


async def _guarded_place(risk: RiskService, exchange: Exchange, account: str, body: OrderCreate) -> OrderView:
    async with risk.lock(account):
        await risk.caught_up()
        refusals = await run_in_threadpool(
            risk.refusals, account, symbol_of(body.market), str(body.side), body.price, body.quantity,
            body.quote_quantity, risk.now_ns(),
        )  # fmt: skip
        if refusals:
            raise refusals[0].error()
        return await _place(exchange, account, body)


def _place(exchange: Exchange, account: str, body: OrderCreate) -> Awaitable[OrderView]:
    return exchange.aio.place_order(
        account,
        symbol_of(body.market),
        body.side,
        body.type,
        body.price,
        body.quantity,
        quote_quantity=body.quote_quantity,
        time_in_force=body.time_in_force,
        client_order_id=body.client_order_id,
        self_trade_prevention=body.self_trade_prevention,
    )

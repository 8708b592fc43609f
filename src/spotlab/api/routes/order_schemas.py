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

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from pydantic import BeforeValidator, Field

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
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange import Exchange
from spotlab.exchange.aio import Applied
from spotlab.exchange.edge import MAX_QUOTES
from spotlab.exchange.views import Fill, OrderListView, OrderView, QuotesView


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


SideIn = Annotated[Side, BeforeValidator(_lower)]


OrderTypeIn = Annotated[OrderType, BeforeValidator(_lower)]
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
    "stop_price": None,
    "parent_id": None,
    "list_id": None,
    "trailing_distance": None,
    "trailing_percent": None,
    "activation_price": None,
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
    ``market`` takes exactly one of ``quantity`` (base) or ``quote_quantity`` (quote to spend or receive).

    Conditional types wait outside the book, funds held, until the LAST TRADE PRICE reaches
    ``stop_price``: ``stop_loss`` and ``take_profit`` then place a market order (a sell by
    ``quantity``, a buy by ``quote_quantity``), ``stop_loss_limit`` and ``take_profit_limit`` a limit
    order at ``price``. ``trailing_stop`` takes ``trailing_distance`` (price) or ``trailing_percent``
    (of its best last price) and optionally ``activation_price``, and no ``stop_price``. A stop that
    would trigger at once is refused. The placed order names its trigger in ``parent_id``."""

    market: MarketId
    side: SideIn
    type: OrderTypeIn
    price: DecimalIn | None = None
    quantity: DecimalIn | None = None
    quote_quantity: DecimalIn | None = None
    time_in_force: TimeInForceIn | None = Field(None, description="GTC (default for limits), IOC or FOK")
    client_order_id: ClientOrderId | None = None
    self_trade_prevention: SelfTradePreventionIn | None = Field(None, description="Default EXPIRE_MAKER")
    stop_price: DecimalIn | None = Field(None, description="Conditional types: the last trade price that triggers")
    trailing_distance: DecimalIn | None = Field(None, description="trailing_stop: its distance from the best price")
    trailing_percent: DecimalIn | None = Field(
        None, description="trailing_stop: its distance in percent of the best price (steps of 0.01)"
    )
    activation_price: DecimalIn | None = Field(None, description="trailing_stop: trail once the last price is here")

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
                {"market": "BTC-USDT", "side": "sell", "type": "stop_loss", "quantity": "0.5", "stop_price": "62000"},
                {
                    "market": "BTC-USDT",
                    "side": "sell",
                    "type": "trailing_stop",
                    "quantity": "0.5",
                    "trailing_percent": "2.5",
                },
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
    client_order_id: str | None = Field(None, description="Your id for the order, if placed with one")
    market: str
    side: str
    type: str
    time_in_force: str
    self_trade_prevention: str
    status: str = Field(
        description="NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, REJECTED or TRIGGERED (a conditional order "
        "whose trigger placed its child order)"
    )
    price: DecimalOut | None
    quantity: DecimalOut | None
    quote_quantity: DecimalOut | None = None  # (defaults: OpenAPI examples leave nulls out)
    filled_quantity: DecimalOut
    remaining_quantity: DecimalOut
    filled_notional: DecimalOut
    average_price: DecimalOut | None = Field(None, description="Of the fills so far; null before the first")
    fees: DecimalOut
    fee_asset: str
    reason: str | None = None
    created_at: datetime
    updated_at: datetime
    fills: list[FillPublic]
    arrival_price: DecimalOut | None
    slippage: DecimalOut | None = Field(
        None, description="Per unit, in the quote asset; positive is worse than arrival; null without taker fills"
    )
    slippage_bps: DecimalOut | None = None
    stop_price: DecimalOut | None = Field(None, description="Conditional orders: the trigger (last trade price)")
    parent_id: int | None = Field(None, description="The conditional order whose trigger placed this order")
    list_id: int | None = Field(None, description="The order list (OCO, bracket) this order belongs to")
    trailing_distance: DecimalOut | None = None
    trailing_percent: DecimalOut | None = None
    activation_price: DecimalOut | None = None

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


class OrderListCreate(RequestModel):
    """An OCO or a bracket. ``oco`` (side ``sell``): sell ``quantity`` at ``take_profit_price`` (a resting limit
    above the market) or, once the last trade price falls to ``stop_price``, through a stop-loss (market, or a
    limit at ``stop_limit_price``). ``oco`` with side ``buy``: buy ``quantity`` at ``take_profit_price`` (a
    resting limit below the market) or, once the last trade price rises to ``stop_price``, with a limit at
    ``stop_limit_price`` (required: a market buy by quantity has no bounded cost to hold in advance). Either
    way one filling (even in part) or triggering cancels the other, and one hold covers both (a buy's: the
    dearer leg with its fee). ``bracket``: buy ``quantity`` with a GTC limit at ``entry_price``; what it buys
    gets a sell OCO at once (brackets are buy-entry only). ``client_order_id``: your id for the list; the same
    id with the same body answers 200 with the original list, with another body 409."""

    type: Literal["oco", "bracket"] = Field(description="oco or bracket")
    market: MarketId
    side: SideIn | None = Field(
        None, description="oco: sell (the default) or buy; bracket: buy (the default and the only side)"
    )
    quantity: DecimalIn
    take_profit_price: DecimalIn
    stop_price: DecimalIn
    stop_limit_price: DecimalIn | None = Field(None, description="A limit for the stop-loss; none: a market stop")
    entry_price: DecimalIn | None = Field(None, description="bracket: the entry's limit price (required)")
    self_trade_prevention: SelfTradePreventionIn | None = Field(None, description="Default EXPIRE_MAKER")
    client_order_id: ClientOrderId | None = Field(
        None, description="Your id for the list (idempotency key; apart from orders' client ids)"
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"type": "oco", "market": "BTC-USDT", "quantity": "0.5", "take_profit_price": "70000",
                 "stop_price": "62000"},
                {"type": "oco", "side": "buy", "market": "BTC-USDT", "quantity": "0.5", "take_profit_price": "62000",
                 "stop_price": "70000", "stop_limit_price": "70100", "client_order_id": "dip-or-breakout-1"},
                {"type": "bracket", "market": "BTC-USDT", "quantity": "0.5", "entry_price": "65000",
                 "take_profit_price": "70000", "stop_price": "62000", "stop_limit_price": "61900"},
            ]
        }
    }  # fmt: skip


_LIST_EXAMPLE: dict[str, Any] = {
    "id": 7,
    "type": "oco",
    "market": "BTC-USDT",
    "status": "EXECUTING",
    "quantity": "0.5",
    "take_profit_price": "70000",
    "stop_price": "62000",
    "stop_limit_price": None,
    "entry_price": None,
    "unprotected_quantity": "0",
    "orders": [{**_ORDER_EXAMPLE, "side": "sell", "price": "70000", "fills": [], "list_id": 7}],
    "side": "sell",
    "client_order_id": None,
}


class OrderListPublic(ResponseModel):
    """An OCO or a bracket of the caller's, with its orders as they are now (each has ``list_id``)."""

    id: int
    type: str = Field(description="oco or bracket")
    market: str
    status: str = Field(description="EXECUTING or ALL_DONE")
    quantity: DecimalOut
    take_profit_price: DecimalOut
    stop_price: DecimalOut
    stop_limit_price: DecimalOut | None = None
    entry_price: DecimalOut | None = None
    unprotected_quantity: DecimalOut = Field(
        description="bracket: bought quantity no exit covers yet (below the market's minimums)"
    )
    orders: list[OrderPublic]
    side: str = Field("sell", description="oco: its legs' side (sell or buy); bracket: its entry's (buy)")
    client_order_id: str | None = Field(None, description="The list's client id, if placed with one")

    model_config = {"json_schema_extra": {"examples": [_LIST_EXAMPLE]}}


class QuoteIn(RequestModel):
    """One quote: a GTC limit order."""

    side: SideIn
    price: DecimalIn
    quantity: DecimalIn

    model_config = {"json_schema_extra": {"examples": [{"side": "buy", "price": "64990", "quantity": "0.2"}]}}


class QuotesReplace(RequestModel):
    """The caller's new quotes in the market, placed in this order once its resting orders there are canceled:
    in one step, all or nothing. An empty list cancels them all."""

    quotes: list[QuoteIn] = Field(max_length=MAX_QUOTES, description=f"At most {MAX_QUOTES} GTC limit orders")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "quotes": [
                        {"side": "buy", "price": "64990", "quantity": "0.2"},
                        {"side": "buy", "price": "64980", "quantity": "0.3"},
                        {"side": "sell", "price": "65010", "quantity": "0.2"},
                        {"side": "sell", "price": "65020", "quantity": "0.3"},
                    ]
                }
            ]
        }
    }


_QUOTE_EXAMPLE = {
    **_ORDER_EXAMPLE,
    "client_order_id": None,
    "status": "NEW",
    "price": "64990",
    "quantity": "0.2",
    "filled_quantity": "0",
    "remaining_quantity": "0.2",
    "filled_notional": "0",
    "average_price": None,
    "fees": "0",
    "fills": [],
    "arrival_price": "65000",
    "slippage": None,
    "slippage_bps": None,
}


class QuotesPublic(ResponseModel):
    """A re-quote: the resting orders it canceled, then the quotes it placed (in the order given), each as it is
    after the re-quote: a quote that crossed the book shows its fills."""

    market: str
    canceled: list[OrderPublic]
    placed: list[OrderPublic]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "market": "BTC-USDT",
                    "canceled": [{**_QUOTE_EXAMPLE, "id": 1041, "status": "CANCELED", "price": "64980",
                                  "remaining_quantity": "0.2",
                                  "reason": "canceled with all of the account's orders in the market"}],
                    "placed": [{**_QUOTE_EXAMPLE, "id": 1042}],
                }
            ]
        }
    }  # fmt: skip


def quotes_json(view: QuotesView) -> bytes:
    """``QuotesPublic`` of ``view`` as JSON, built like ``order_json``."""
    return _JSON.encode(
        {
            "market": market_id(view.market),
            "canceled": [_order_fields(order) for order in view.canceled],
            "placed": [_order_fields(order) for order in view.placed],
        }
    )


def order_list_public(view: OrderListView) -> OrderListPublic:
    return OrderListPublic.model_construct(
        id=view.id,
        type=view.kind,
        market=market_id(view.market),
        status=view.status,
        quantity=view.quantity,
        take_profit_price=view.take_profit_price,
        stop_price=view.stop_price,
        stop_limit_price=view.stop_limit_price,
        entry_price=view.entry_price,
        unprotected_quantity=view.unprotected_quantity,
        orders=[order_public(order) for order in view.orders],
        side=view.side,
        client_order_id=view.client_order_id,
    )


def place_list(exchange: Exchange, account: str, body: OrderListCreate) -> Applied[OrderListView]:
    """Place the OCO or bracket ``body`` for ``account`` now (REST and WebSocket share this); await the result
    for the list once durable. The exchange checks the account's risk guards (``spotlab.exchange.risk``)."""
    market = symbol_of(body.market)
    side = body.side if body.side is not None else ("sell" if body.type == "oco" else "buy")
    if body.type == "oco":
        if body.entry_price is not None:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "an oco takes no entry_price (a bracket does)")
        return exchange.aio.place_oco(
            account, market, body.quantity, body.take_profit_price, body.stop_price,
            stop_limit_price=body.stop_limit_price, side=side, self_trade_prevention=body.self_trade_prevention,
            client_order_id=body.client_order_id,
        )  # fmt: skip
    if body.entry_price is None:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a bracket needs entry_price: the limit price of its entry")
    return exchange.aio.place_bracket(
        account, market, body.quantity, body.entry_price, body.take_profit_price, body.stop_price,
        stop_limit_price=body.stop_limit_price, side=side, self_trade_prevention=body.self_trade_prevention,
        client_order_id=body.client_order_id,
    )  # fmt: skip


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
        stop_price=view.stop_price,
        parent_id=view.parent_id,
        list_id=view.list_id,
        trailing_distance=view.trailing_distance,
        trailing_percent=view.trailing_percent,
        activation_price=view.activation_price,
    )


# -- the hot answer, without the model -------------------------------------------------------------------

_JSON = msgspec.json.Encoder()


def order_json(view: OrderView) -> bytes:
    """``order_public(view).model_dump_json()``, byte for byte, without building the models: the answer of order
    entry over REST and WebSocket, where building and dumping them cost as much as the exchange command.
    ``tests/api/test_order_json.py`` holds the two equal over every kind of order."""
    return _JSON.encode(_order_fields(view))


def orders_json(views: list[OrderView]) -> bytes:
    """A JSON list of ``order_json`` s."""
    return _JSON.encode([_order_fields(view) for view in views])


def _order_fields(view: OrderView) -> dict[str, Any]:
    amount = _amount
    return {  # OrderPublic's fields, in its order
        "id": view.id,
        "client_order_id": view.client_order_id,
        "market": market_id(view.market),
        "side": view.side,
        "type": view.type,
        "time_in_force": view.time_in_force,
        "self_trade_prevention": view.self_trade_prevention,
        "status": view.status,
        "price": amount(view.price),
        "quantity": amount(view.quantity),
        "quote_quantity": amount(view.quote_quantity),
        "filled_quantity": format(view.filled_quantity, "f"),
        "remaining_quantity": format(view.remaining_quantity, "f"),
        "filled_notional": format(view.filled_notional, "f"),
        "average_price": amount(view.average_price),
        "fees": format(view.fees, "f"),
        "fee_asset": view.fee_asset,
        "reason": view.reason,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "fills": [
            {
                "trade_id": fill.trade_id,
                "price": format(fill.price, "f"),
                "quantity": format(fill.quantity, "f"),
                "notional": format(fill.notional, "f"),
                "fee": format(fill.fee, "f"),
                "fee_asset": fill.fee_asset,
                "role": fill.role,
                "time": fill.time,
            }
            for fill in view.fills
        ],
        "arrival_price": amount(view.arrival_price),
        "slippage": amount(view.slippage),
        "slippage_bps": amount(view.slippage_bps),
        "stop_price": amount(view.stop_price),
        "parent_id": view.parent_id,
        "list_id": view.list_id,
        "trailing_distance": amount(view.trailing_distance),
        "trailing_percent": amount(view.trailing_percent),
        "activation_price": amount(view.activation_price),
    }


def _amount(value: Decimal | None) -> str | None:
    """A ``DecimalOut`` as it is written: a plain decimal string, never an exponent."""
    return None if value is None else format(value, "f")


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


def place(exchange: Exchange, account: str, body: OrderCreate) -> Applied[OrderView]:
    """Place ``body`` for ``account`` now (REST and WebSocket share this); await the result for the order once
    durable.

    The exchange checks the order against the account's risk profile (``spotlab.exchange.risk``)
    in the same step as placing it; a refusal is ``RISK_LIMIT`` and changes nothing.
    """
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
        stop_price=body.stop_price,
        trailing_distance=body.trailing_distance,
        trailing_percent=body.trailing_percent,
        activation_price=body.activation_price,
    )

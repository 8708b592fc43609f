"""The AsyncAPI 3.0 document of ``/v1/ws``, served at ``GET /v1/asyncapi.json``.

Invariants
- Client messages are documented from the very models that parse them (``spotlab.api.routes.ws``);
  server messages from the models below, which the WebSocket tests check every real message
  against (``SERVER_MESSAGES``), so the document cannot drift from what the server sends.
- Every message of the document has examples, and each example validates against its model
  (tested); amounts are decimal strings in the examples as on the wire.
- Perspective: the document describes the server, so an op the client sends is an operation
  with ``action: receive`` and a channel message one with ``action: send``.
- Built once per process (``document``); only ``servers`` follows the request's host.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.json_schema import models_json_schema

from spotlab.api.channels import CANDLE_CHANNEL, PRIVATE_CHANNELS, PUBLIC_CHANNELS
from spotlab.api.routes import ws
from spotlab.api.routes.order_schemas import (
    OrderCreate,
    OrderListCreate,
    OrderListPublic,
    OrderPublic,
    QuotesPublic,
    QuotesReplace,
)
from spotlab.api.schemas import FieldError
from spotlab.marketdata.candles import INTERVALS

router = APIRouter()

ASYNCAPI_PATH = "/v1/asyncapi.json"
_DECIMAL = r"^-?[0-9]{1,30}(\.[0-9]{1,30})?$"
_T = "2024-01-01T12:00:00.000000Z"

DecimalText = Annotated[str, Field(pattern=_DECIMAL, examples=["0.5"], description="A decimal number as a string")]
Time = Annotated[str, Field(examples=[_T], description="ISO-8601 UTC with microseconds")]
MarketText = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,12}-[A-Z0-9]{1,12}$", examples=["BTC-USDT"])]
Level = Annotated[tuple[DecimalText, DecimalText], Field(description='[price, quantity]; quantity "0": gone')]
RequestId = ws.RequestId | None


class ServerMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- answers to ops ---------------------------------------------------------------------------------


class Subscribed(ServerMessage):
    type: Literal["subscribed"]
    id: RequestId
    channel: str


class Unsubscribed(ServerMessage):
    type: Literal["unsubscribed"]
    id: RequestId
    channel: str


class Authenticated(ServerMessage):
    type: Literal["authenticated"]
    id: RequestId
    account: str
    scopes: list[Literal["read", "trade", "withdraw"]]
    via: Literal["token", "api_key"]


class Result(ServerMessage):
    """The answer to an order op: ``data`` is the order (a list of orders for ``cancel_all``, the order list for
    ``place_order_list`` and ``cancel_order_list``, the canceled and placed orders for ``replace_quotes``) exactly
    as REST answers it."""

    type: Literal["result"]
    id: RequestId
    op: Literal["place_order", "cancel_order", "cancel_all", "place_order_list", "cancel_order_list", "replace_quotes"]
    duplicate: bool | None = Field(
        None, description="place_order and place_order_list only: client_order_id repeated (REST's 200)"
    )
    data: OrderPublic | OrderListPublic | QuotesPublic | list[OrderPublic]


class Error(ServerMessage):
    """A refused or malformed message, with REST's problem code and HTTP status; the connection stays open."""

    type: Literal["error"]
    id: RequestId
    code: str = Field(examples=["INSUFFICIENT_FUNDS"])
    status: int = Field(examples=[409])
    detail: str
    channel: str | None = Field(None, description="subscribe: the channel refused")
    channels: list[str] | None = Field(
        None, description="Private channels ended because the credential expired or was revoked"
    )
    details: dict[str, Any] | None = Field(None, description="The figures behind the detail")
    errors: list[FieldError] | None = Field(None, description="VALIDATION_ERROR: per-field problems")


class Pong(ServerMessage):
    type: Literal["pong"]
    id: RequestId
    time: Time


class Heartbeat(ServerMessage):
    """Sent to a connection that was sent nothing for a heartbeat interval."""

    type: Literal["heartbeat"]
    time: Time


# -- public channels --------------------------------------------------------------------------------


class TradeEntry(ServerMessage):
    id: int
    price: DecimalText
    quantity: DecimalText
    taker_side: Literal["buy", "sell"]
    time: Time


class Trades(ServerMessage):
    """``trades:{market}``: the trades of one batch, oldest first."""

    type: Literal["trades"]
    channel: str
    market: MarketText
    sequence: int
    trades: list[TradeEntry]


class BookSnapshot(ServerMessage):
    """``book:{market}``: the whole book (every level, best first) at ``sequence``; sent on (re)subscribing."""

    type: Literal["snapshot"]
    channel: str
    market: MarketText
    sequence: int
    bids: list[Level]
    asks: list[Level]


class BookUpdate(ServerMessage):
    """``book:{market}``: changed levels with their new totals. Apply it only if ``previous_sequence`` is the
    sequence you hold; otherwise you missed one: subscribe again for a fresh snapshot."""

    type: Literal["update"]
    channel: str
    market: MarketText
    sequence: int
    previous_sequence: int
    bids: list[Level]
    asks: list[Level]


class Ticker(ServerMessage):
    """``ticker:{market}``: last trade, best bid and ask; sent when they or the market's status change."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["ticker"]
    channel: str
    market: MarketText
    status: str
    last_price: DecimalText | None
    last_quantity: DecimalText | None
    last_trade_time: Time | None
    best_bid: DecimalText | None
    best_bid_quantity: DecimalText | None
    best_ask: DecimalText | None
    best_ask_quantity: DecimalText | None
    sequence: int
    time: Time | None
    open: DecimalText | None = Field(None, description="24 h rolling, like GET /v1/markets/{market}/ticker")
    high: DecimalText | None = None
    low: DecimalText | None = None
    change: DecimalText | None = None
    change_percent: DecimalText | None = None
    base_volume: DecimalText | None = None
    quote_volume: DecimalText | None = None
    trade_count: int | None = None


class CandleEntry(ServerMessage):
    """One candle, as ``GET /v1/markets/{market}/candles`` gives it."""

    open_time: Time
    close_time: Time
    open: DecimalText
    high: DecimalText
    low: DecimalText
    close: DecimalText
    base_volume: DecimalText
    quote_volume: DecimalText
    trade_count: int
    closed: bool = Field(description="true in the last message of a candle: its period has ended")


class Candles(ServerMessage):
    """``candles:{market}:{interval}``: the open candle on subscribing (if the period has a trade), then per batch
    the candles that changed, oldest first: one that closed (``closed`` true, its final figures), then the open
    one. A period with no trade by its end is closed by the clock (within about a second)."""

    type: Literal["candles"]
    channel: str
    market: MarketText
    interval: Literal["1m", "3m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]
    sequence: int
    candles: list[CandleEntry]


# -- private channels -------------------------------------------------------------------------------


class FillEntry(ServerMessage):
    """One trade as seen by one of its sides (a self-trade appears twice)."""

    order_id: int
    side: Literal["buy", "sell"]
    role: Literal["maker", "taker"]
    fee: DecimalText
    trade_id: int
    market: MarketText
    price: DecimalText
    quantity: DecimalText
    notional: DecimalText
    fee_asset: str
    sequence: int
    time: Time


class OrderPlaced(ServerMessage):
    event: Literal["placed"]
    order_id: int
    market: MarketText
    client_order_id: str | None
    side: Literal["buy", "sell"]
    type: str
    time_in_force: str
    price: DecimalText | None
    quantity: DecimalText | None
    quote_quantity: DecimalText | None
    sequence: int
    time: Time


class OrderFilled(FillEntry):
    event: Literal["filled"]


class OrderClosed(ServerMessage):
    event: Literal["canceled", "expired"]
    order_id: int
    market: MarketText
    remaining_quantity: DecimalText
    reason: str | None
    sequence: int
    time: Time


class OrderReduced(ServerMessage):
    event: Literal["reduced"]
    order_id: int
    market: MarketText
    quantity: DecimalText
    remaining_quantity: DecimalText
    sequence: int
    time: Time


class OrderRejected(ServerMessage):
    event: Literal["rejected"]
    order_id: int | None
    market: MarketText
    client_order_id: str | None
    side: Literal["buy", "sell"]
    type: str
    code: str
    reason: str | None
    sequence: int
    time: Time


class ConditionalOrderPlaced(OrderPlaced):
    """A conditional order (stop-loss, take-profit, trailing) waits outside the book, its funds held."""

    event: Literal["conditional_placed"]
    stop_price: DecimalText | None = Field(description="null: a trailing stop not yet activated")
    trailing_distance: DecimalText | None
    trailing_percent: DecimalText | None
    activation_price: DecimalText | None


class OrderTriggered(ServerMessage):
    """The last trade price crossed a conditional order's stop: it placed ``child_order_id`` (a ``placed`` follows)."""

    event: Literal["triggered"]
    order_id: int
    market: MarketText
    stop_price: DecimalText
    last_price: DecimalText
    child_order_id: int
    sequence: int
    time: Time


class ConditionalOrderCanceled(ServerMessage):
    """A pending conditional order was canceled (by the caller, or by its OCO); its hold is released."""

    event: Literal["conditional_canceled"]
    order_id: int
    market: MarketText
    reason: str | None
    sequence: int
    time: Time


OrderUpdate = Annotated[
    OrderPlaced
    | OrderFilled
    | OrderClosed
    | OrderReduced
    | OrderRejected
    | ConditionalOrderPlaced
    | OrderTriggered
    | ConditionalOrderCanceled,
    Field(discriminator="event"),
]


class Orders(ServerMessage):
    """``orders``: the connection's order events of one batch, in order."""

    type: Literal["orders"]
    channel: Literal["orders"]
    sequence: int
    orders: list[OrderUpdate]


class Fills(ServerMessage):
    """``fills``: the connection's trades of one batch, in order."""

    type: Literal["fills"]
    channel: Literal["fills"]
    sequence: int
    fills: list[FillEntry]


class BalanceEntry(ServerMessage):
    asset: str
    available: DecimalText
    locked: DecimalText
    sequence: int


class Balances(ServerMessage):
    """``balances``: the connection's balances that changed in one batch, as they are now."""

    type: Literal["balances"]
    channel: Literal["balances"]
    sequence: int
    balances: list[BalanceEntry]


class Alert(ServerMessage):
    """``alerts``: one of the connection's alert rules fired on a closed candle (``/v1/alerts``)."""

    type: Literal["alert"]
    channel: Literal["alerts"]
    alert_id: int
    trigger_id: int
    market: MarketText
    interval: str
    rule: str
    candle_open_time: Time
    values: dict[str, DecimalText | None]
    time: Time


SERVER_MODELS = (Subscribed, Unsubscribed, Authenticated, Result, Error, Pong, Heartbeat)
SERVER_MODELS += (Trades, BookSnapshot, BookUpdate, Ticker, Orders, Fills, Balances)
SERVER_MODELS += (Candles,)
SERVER_MODELS += (Alert,)
#: Validates any message the server sends (discriminated by ``type``).
SERVER_MESSAGES: TypeAdapter = TypeAdapter(
    Annotated[
        Subscribed | Unsubscribed | Authenticated | Result | Error | Pong | Heartbeat | Trades | BookSnapshot
        | BookUpdate | Ticker | Orders | Fills | Balances | Alert | Candles,
        Field(discriminator="type"),
    ]
)  # fmt: skip


# -- examples ---------------------------------------------------------------------------------------

_ORDER = OrderPublic.model_config["json_schema_extra"]["examples"][0]
_LIST = OrderListPublic.model_config["json_schema_extra"]["examples"][0]
_FILL = {"order_id": 1042, "side": "buy", "role": "taker", "fee": "6.49995", "trade_id": 77, "market": "BTC-USDT",
         "price": "64999.5", "quantity": "0.1", "notional": "6499.95", "fee_asset": "USDT", "sequence": 981,
         "time": _T}  # fmt: skip
_PLACED = {"event": "placed", "order_id": 1042, "market": "BTC-USDT", "client_order_id": "my-bot-000042",
           "side": "buy", "type": "limit", "time_in_force": "GTC", "price": "65000", "quantity": "0.5",
           "quote_quantity": None, "sequence": 980, "time": _T}  # fmt: skip
_CANCELED = {"event": "canceled", "order_id": 1042, "market": "BTC-USDT", "remaining_quantity": "0.4",
             "reason": "canceled by the owner", "sequence": 990, "time": _T}  # fmt: skip

EXAMPLES: dict[type[BaseModel], list[dict[str, Any]]] = {
    Subscribed: [{"type": "subscribed", "id": 1, "channel": "book:BTC-USDT"}],
    Unsubscribed: [{"type": "unsubscribed", "id": 2, "channel": "book:BTC-USDT"}],
    Authenticated: [
        {"type": "authenticated", "id": 3, "account": "alice", "scopes": ["read", "trade"], "via": "api_key"}
    ],
    Result: [
        {"type": "result", "id": 7, "op": "place_order", "duplicate": False, "data": _ORDER},
        {"type": "result", "id": 9, "op": "cancel_all", "data": [{**_ORDER, "status": "CANCELED", "fills": []}]},
        {"type": "result", "id": 11, "op": "place_order_list", "duplicate": False, "data": _LIST},
        {
            "type": "result",
            "id": 13,
            "op": "replace_quotes",
            "data": QuotesPublic.model_config["json_schema_extra"]["examples"][0],
        },
    ],
    Error: [
        {
            "type": "error",
            "id": 7,
            "code": "INSUFFICIENT_FUNDS",
            "status": 409,
            "detail": "needs 32500 USDT available, has 100 USDT",
        },
        {
            "type": "error",
            "id": 1,
            "code": "UNKNOWN_MARKET",
            "status": 404,
            "channel": "book:NOPE-USDT",
            "detail": "no market 'NOPE-USDT' (write markets like BTC-USDT); markets: BTC-USDT",
            "details": {"market": "NOPE-USDT"},
        },
        {
            "type": "error",
            "id": None,
            "code": "VALIDATION_ERROR",
            "status": 422,
            "detail": 'invalid message: order.price: send amounts as strings, e.g. "0.1"',
            "errors": [
                {"field": "order.price", "message": 'send amounts as strings, e.g. "0.1"', "type": "value_error"}
            ],
        },
    ],
    Pong: [{"type": "pong", "id": 10, "time": _T}],
    Heartbeat: [{"type": "heartbeat", "time": _T}],
    Trades: [
        {
            "type": "trades",
            "channel": "trades:BTC-USDT",
            "market": "BTC-USDT",
            "sequence": 981,
            "trades": [{"id": 77, "price": "64999.5", "quantity": "0.1", "taker_side": "buy", "time": _T}],
        }
    ],
    BookSnapshot: [
        {
            "type": "snapshot",
            "channel": "book:BTC-USDT",
            "market": "BTC-USDT",
            "sequence": 975,
            "bids": [["64999.00", "1.20000"]],
            "asks": [["64999.50", "0.10000"], ["65000.00", "0.30000"]],
        }
    ],
    BookUpdate: [
        {
            "type": "update",
            "channel": "book:BTC-USDT",
            "market": "BTC-USDT",
            "sequence": 981,
            "previous_sequence": 975,
            "bids": [],
            "asks": [["64999.50", "0"]],
        }
    ],
    Ticker: [
        {
            "type": "ticker",
            "channel": "ticker:BTC-USDT",
            "market": "BTC-USDT",
            "status": "trading",
            "last_price": "64999.50",
            "last_quantity": "0.10000",
            "last_trade_time": _T,
            "best_bid": "64999.00",
            "best_bid_quantity": "1.20000",
            "best_ask": "65000.00",
            "best_ask_quantity": "0.30000",
            "sequence": 981,
            "time": _T,
            "open": "63100.00",
            "high": "65210.00",
            "low": "62950.50",
            "change": "1899.50",
            "change_percent": "3.01",
            "base_volume": "152.31000",
            "quote_volume": "9795114.41",
            "trade_count": 48211,
        }
    ],
    Orders: [
        {
            "type": "orders",
            "channel": "orders",
            "sequence": 990,
            "orders": [_PLACED, {"event": "filled", **_FILL}, _CANCELED],
        }
    ],
    Fills: [{"type": "fills", "channel": "fills", "sequence": 981, "fills": [_FILL]}],
    Balances: [
        {
            "type": "balances",
            "channel": "balances",
            "sequence": 982,
            "balances": [{"asset": "USDT", "available": "93493.55005", "locked": "0", "sequence": 982}],
        }
    ],
}
EXAMPLES |= {
    ws.SubscribeOp: [{"op": "subscribe", "id": 1, "channels": ["book:BTC-USDT", "trades:BTC-USDT"]}],
    ws.UnsubscribeOp: [{"op": "unsubscribe", "id": 2, "channels": ["book:BTC-USDT"]}],
    ws.AuthOp: [
        {"op": "auth", "id": 3, "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"},
        {
            "op": "auth",
            "id": 3,
            "key": "k_7f3a9c1e2b4d",
            "timestamp": "1704110400000",
            "signature": "5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592",
        },
    ],  # fmt: skip
    ws.PlaceOrderOp: [
        {"op": "place_order", "id": 7, "order": example}
        for example in OrderCreate.model_config["json_schema_extra"]["examples"]
    ],
    ws.CancelOrderOp: [{"op": "cancel_order", "id": 8, "order_id": 1042}],
    ws.CancelAllOp: [{"op": "cancel_all", "id": 9, "market": "BTC-USDT"}],
    ws.PlaceOrderListOp: [
        {"op": "place_order_list", "id": 11, "order_list": example}
        for example in OrderListCreate.model_config["json_schema_extra"]["examples"]
    ],
    ws.CancelOrderListOp: [{"op": "cancel_order_list", "id": 12, "list_id": 7}],
    ws.ReplaceQuotesOp: [
        {"op": "replace_quotes", "id": 13, "market": "BTC-USDT", **example}
        for example in QuotesReplace.model_config["json_schema_extra"]["examples"]
    ],
    ws.PingOp: [{"op": "ping", "id": 10}],
}


_CANDLE = {
    "open_time": "2024-01-01T12:00:00.000000Z",
    "close_time": "2024-01-01T12:01:00.000000Z",
    "open": "64990.00",
    "high": "65010.50",
    "low": "64980.00",
    "close": "65001.00",
    "base_volume": "1.25",
    "quote_volume": "81243.17",
    "trade_count": 42,
    "closed": False,
}
EXAMPLES[Candles] = [
    {"type": "candles", "channel": "candles:BTC-USDT:1m", "market": "BTC-USDT", "interval": "1m", "sequence": 981,
     "candles": [_CANDLE]},
    {"type": "candles", "channel": "candles:BTC-USDT:1m", "market": "BTC-USDT", "interval": "1m", "sequence": 990,
     "candles": [{**_CANDLE, "close": "65003.00", "trade_count": 43, "closed": True},
                 {**_CANDLE, "open_time": "2024-01-01T12:01:00.000000Z", "close_time": "2024-01-01T12:02:00.000000Z",
                  "open": "65004.00", "high": "65004.00", "low": "65004.00", "close": "65004.00",
                  "base_volume": "0.1", "quote_volume": "6500.4", "trade_count": 1}]},
]  # fmt: skip
EXAMPLES[Alert] = [
    {"type": "alert", "channel": "alerts", "alert_id": 7, "trigger_id": 42, "market": "BTC-USDT", "interval": "1h",
     "rule": "rsi(14) < 30 and close > ema(200)", "candle_open_time": "2024-01-01T11:00:00.000000Z",
     "values": {"rsi(14)": "28.4", "close": "42150.5", "ema(200)": "41800.25"}, "time": _T}
]  # fmt: skip


# -- the document -----------------------------------------------------------------------------------

#: message name -> model, in the order documented.
MESSAGES: dict[str, type[BaseModel]] = {
    "subscribe": ws.SubscribeOp,
    "unsubscribe": ws.UnsubscribeOp,
    "auth": ws.AuthOp,
    "placeOrder": ws.PlaceOrderOp,
    "cancelOrder": ws.CancelOrderOp,
    "cancelAll": ws.CancelAllOp,
    "placeOrderList": ws.PlaceOrderListOp,
    "cancelOrderList": ws.CancelOrderListOp,
    "replaceQuotes": ws.ReplaceQuotesOp,
    "ping": ws.PingOp,
    "subscribed": Subscribed,
    "unsubscribed": Unsubscribed,
    "authenticated": Authenticated,
    "result": Result,
    "error": Error,
    "pong": Pong,
    "heartbeat": Heartbeat,
    "trades": Trades,
    "bookSnapshot": BookSnapshot,
    "bookUpdate": BookUpdate,
    "ticker": Ticker,
    "candles": Candles,
    "orders": Orders,
    "fills": Fills,
    "balances": Balances,
    "alert": Alert,
}

#: operation -> (action, channel, its messages, reply messages): the server's point of view.
OPERATIONS: dict[str, tuple[str, str, list[str], list[str]]] = {
    "subscribe": ("receive", "connection", ["subscribe"], ["subscribed", "error"]),
    "unsubscribe": ("receive", "connection", ["unsubscribe"], ["unsubscribed", "error"]),
    "auth": ("receive", "connection", ["auth"], ["authenticated", "error"]),
    "placeOrder": ("receive", "connection", ["placeOrder"], ["result", "error"]),
    "cancelOrder": ("receive", "connection", ["cancelOrder"], ["result", "error"]),
    "cancelAll": ("receive", "connection", ["cancelAll"], ["result", "error"]),
    "placeOrderList": ("receive", "connection", ["placeOrderList"], ["result", "error"]),
    "cancelOrderList": ("receive", "connection", ["cancelOrderList"], ["result", "error"]),
    "replaceQuotes": ("receive", "connection", ["replaceQuotes"], ["result", "error"]),
    "ping": ("receive", "connection", ["ping"], ["pong", "error"]),
    "sendHeartbeat": ("send", "connection", ["heartbeat"], []),
    "sendTrades": ("send", "trades", ["trades"], []),
    "sendBook": ("send", "book", ["bookSnapshot", "bookUpdate"], []),
    "sendTicker": ("send", "ticker", ["ticker"], []),
    "sendCandles": ("send", CANDLE_CHANNEL, ["candles"], []),
    "sendOrders": ("send", "orders", ["orders"], []),
    "sendFills": ("send", "fills", ["fills"], []),
    "sendBalances": ("send", "balances", ["balances"], []),
    "sendAlerts": ("send", "alerts", ["alert"], []),
}

DESCRIPTION = """
One WebSocket at `/v1/ws` carries every channel; each frame is one JSON object. Send
`{"op": "subscribe", "channels": [...]}` to join channels, `{"op": "auth", ...}` to unlock the private ones and
order entry. Amounts are decimal strings; floats are refused. Errors carry REST's problem `code` and `status`.

* `book:{market}`: a snapshot, then updates; an update whose `previous_sequence` is not the `sequence` you hold
  means you missed one: subscribe again for a fresh snapshot.
* API-key auth: `signature` = hex HMAC-SHA256(secret, timestamp + "GET" + "/v1/ws"), timestamp in Unix ms within
  the server's window; each signature is accepted once.
* Close codes: 1008 slow consumer (your unread messages exceeded the server's buffer), 1009 message too big,
  1001 server shutting down, 1011 streams unavailable.
"""


@cache
def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document (without ``servers``): channels, operations, messages and schemas."""
    modes = {model: "validation" if model in ws.CLIENT_OPS else "serialization" for model in MESSAGES.values()}
    refs, definitions = models_json_schema(list(modes.items()), ref_template="#/components/schemas/{model}")
    messages = {name: _message(name, model, refs[(model, modes[model])]) for name, model in MESSAGES.items()}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "spotlab WebSocket API", "version": "1.0.0", "description": DESCRIPTION.strip()},
        "defaultContentType": "application/json",
        "channels": _channels(),
        "operations": {name: _operation(*spec) for name, spec in OPERATIONS.items()},
        "components": {"messages": messages, "schemas": definitions.get("$defs", {})},
    }


def served_document(host: str, secure: bool) -> dict[str, Any]:
    """``document()`` with the server the client reached: ``ws://host/v1/ws`` (``wss`` behind TLS)."""
    server = {"host": host, "pathname": ws.WS_PATH, "protocol": "wss" if secure else "ws"}
    return {**document(), "servers": {"spotlab": server}}


@router.get(ASYNCAPI_PATH, include_in_schema=False)
async def asyncapi_json(request: Request) -> dict[str, Any]:
    return served_document(request.url.netloc, request.url.scheme == "https")


def _message(name: str, model: type[BaseModel], schema_ref: dict[str, Any]) -> dict[str, Any]:
    message = {"name": name, "title": model.__name__, "contentType": "application/json", "payload": schema_ref}
    if model.__doc__:
        message["summary"] = " ".join(model.__doc__.split())
    message["examples"] = [{"payload": example} for example in EXAMPLES[model]]
    return message


def _channels() -> dict[str, Any]:
    channels: dict[str, Any] = {
        "connection": {
            "address": ws.WS_PATH,
            "title": "The socket: ops, their answers and heartbeats",
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in _connection_messages()},
        }
    }
    market = {"market": {"description": "A market id, e.g. BTC-USDT", "examples": ["BTC-USDT"]}}
    for channel in PUBLIC_CHANNELS + PRIVATE_CHANNELS:
        spec = next(spec for spec in OPERATIONS.values() if spec[0] == "send" and spec[1] == channel)
        entry: dict[str, Any] = {"address": f"{channel}:{{market}}" if channel in PUBLIC_CHANNELS else channel}
        if channel in PUBLIC_CHANNELS:
            entry["parameters"] = market
        else:
            entry["description"] = "Private: needs an authenticated connection; only its own account's events."
        entry["messages"] = {name: {"$ref": f"#/components/messages/{name}"} for name in spec[2]}
        channels[channel] = entry
    channels[CANDLE_CHANNEL] = {
        "address": f"{CANDLE_CHANNEL}:{{market}}:{{interval}}",
        "parameters": {**market, "interval": {"description": "A candle interval", "enum": list(INTERVALS)}},
        "messages": {"candles": {"$ref": "#/components/messages/candles"}},
    }
    return channels


def _connection_messages() -> list[str]:
    names: list[str] = []
    for _, channel, messages, replies in OPERATIONS.values():
        if channel == "connection":
            names += [name for name in messages + replies if name not in names]
    return names


def _operation(action: str, channel: str, messages: list[str], replies: list[str]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in messages],
    }
    if replies:
        operation["reply"] = {
            "channel": {"$ref": "#/channels/connection"},
            "messages": [{"$ref": f"#/channels/connection/messages/{name}"} for name in replies],
        }
    return operation

"""``/v1/ws``: the WebSocket API v1 (market data, private streams, order entry), one JSON object per text frame.

Client -> server (``id``: optional, an integer or a string of up to 64 characters, echoed in the answer):

- ``{"op": "subscribe", "id": 1, "channels": ["trades:BTC-USDT", "book:BTC-USDT"]}``: answered per channel
  by ``{"type": "subscribed", "id": 1, "channel": ...}`` followed by the channel's first message (``book``:
  a snapshot; ``ticker``: the ticker now; ``trades`` and private channels: nothing), or an ``error`` naming
  the ``channel``. Subscribing again to a channel held sends a fresh snapshot (how a book client resyncs).
  Channels: ``trades:{market}``, ``book:{market}``, ``ticker:{market}``; once authenticated ``orders``,
  ``fills``, ``balances`` (the connection's own account only). Book diffs carry ``previous_sequence``: a
  client holding another sequence has missed one and subscribes again.
- ``{"op": "unsubscribe", "id": 2, "channels": [...]}``: ``{"type": "unsubscribed", ...}`` per channel.
- ``{"op": "auth", "id": 3, "token": "<bearer token from POST /v1/auth/token>"}``, or with an API key
  ``{"op": "auth", "id": 3, "key": "<key id>", "timestamp": "<Unix ms>", "signature": "<hex>"}`` where
  ``signature = hex(HMAC-SHA256(secret, timestamp + "GET" + "/v1/ws"))`` (the REST scheme with method
  ``GET``, path ``/v1/ws`` and an empty body; the same time window, and each signature is accepted once).
  Answer: ``{"type": "authenticated", "id": 3, "account": ..., "scopes": [...], "via": "token"|"api_key"}``.
  A connection stays bound to its first account; authenticating again (a fresh token) is allowed for it.
- ``{"op": "place_order", "id": 7, "order": {<the body of POST /v1/orders>}}`` (``trade`` scope),
  ``{"op": "cancel_order", "id": 8, "order_id": 123}``, ``{"op": "cancel_all", "id": 9, "market": "BTC-USDT"}``:
  answered by ``{"type": "result", "id": 7, "op": "place_order", "duplicate": false, "data": {<the order,
  as REST answers it>}}`` (``cancel_all``: ``data`` is the list of canceled orders; ``duplicate`` only on
  ``place_order`` and ``place_order_list``: true where REST answers 200, a repeated ``client_order_id``).
- ``{"op": "place_order_list", "id": 11, "order_list": {<the body of POST /v1/order-lists>}}`` (an OCO or a
  bracket; ``trade`` scope, the same risk guards as REST) and ``{"op": "cancel_order_list", "id": 12,
  "list_id": 7}``: answered by ``{"type": "result", "id": 11, "op": "place_order_list", "duplicate": false,
  "data": {<the order list, as REST answers it>}}`` (``duplicate``: true when the list's ``client_order_id``
  repeats with the same body, and ``data`` is then the original list; ``cancel_order_list`` has none).
- ``{"op": "replace_quotes", "id": 13, "market": "BTC-USDT", "quotes": [{"side": "buy", "price": "64990",
  "quantity": "0.2"}, ...]}`` (``trade`` scope): the caller's resting orders in the market canceled and the
  quotes rested in their place, in one step, all or nothing; ``data`` is what ``PUT /v1/quotes/{market}``
  answers (``market``, ``canceled``, ``placed``).
- ``{"op": "ping", "id": 10}``: ``{"type": "pong", "id": 10, "time": ...}``.

Server -> client besides those: channel messages, ``{"type": "heartbeat", "time": ...}`` on a connection
sent nothing for a heartbeat interval, and errors ``{"type": "error", "id": 7, "code": "INSUFFICIENT_FUNDS",
"status": 409, "detail": "..."}`` with the codes and statuses of REST's problems (``details``: the figures;
``errors``: per-field problems of a ``VALIDATION_ERROR``). The shapes are in ``/v1/asyncapi.json``.

Invariants
- A bad message never drops the connection and never shows a stack trace: not JSON is
  ``MALFORMED_REQUEST``, an unknown op or a bad field ``VALIDATION_ERROR`` (floats for money too),
  a refusal its ``SpotlabError`` code, a bug ``INTERNAL_ERROR`` with the connection's request id.
  A refused op changes nothing. The only closes: a message over ``max_message_bytes`` (1009),
  a slow consumer (1008, by the hub), the server going away (1001), no streams running (1011).
- Isolation: orders, cancels and private channels act for the connection's authenticated
  account only; another account's order is ``ORDER_NOT_FOUND``, as over REST. The credential
  is checked again for each order op (an expired token or a revoked key stops trading; ``auth``
  again with a fresh one). Private channels end with the credential: every
  ``credential_check_seconds`` it is checked, and once expired or revoked they are unsubscribed
  with an ``error`` naming them (``channels``).
- Ordering: ops are handled in the order received; order ops reach the exchange in that order
  (each is applied before the next is read) and then await durability together, up to
  ``max_inflight`` per connection (more: reading pauses). A command's result is sent once its
  log record is durable, never before; results go out in the order the commands were applied,
  but a refusal (which changes nothing, so has nothing to make durable) is answered at once and
  may overtake results still awaiting durability: match answers by ``id``. One task per
  connection answers what awaits durability (``exchange.aio``'s ``Applied``), not one per op.
  If the store fails, everything awaiting is answered ``STORE_UNAVAILABLE``.
- Bounded memory: everything sent goes through the subscriber (``spotlab.api.streams``): its bounded queue,
  or, where the server provides ``spotlab.api.ws_frames`` (``spotlab serve`` does), straight to the socket
  as frames built once per fan-out, bounded by the transport's buffer;
  incoming frames are read one at a time and one over ``max_message_bytes`` closes the connection (the
  server's own frame limit, uvicorn's ``ws_max_size``, bounds what is read before that). Order ops are limited
  per connection (``order_ops_per_second``, burst ``order_ops_burst``; ``RATE_LIMITED`` beyond).
- Each connection counts in ``spotlab_websocket_connections`` while open, and when it ends, whatever
  the reason, the hub forgets its subscriber and its tasks are cancelled.

Configure with ``configure(app, WebSocketOptions(...))`` before the app starts; ``start_streams`` is
called by the app's lifespan.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, WebSocket
from pydantic import ConfigDict, Field, StrictInt, StrictStr, TypeAdapter, ValidationError, model_validator

from spotlab.accounts import Principal
from spotlab.accounts.signing import signature_matches
from spotlab.api.book_stream import decimal_text
from spotlab.api.channels import PRIVATE_CHANNELS, Streams
from spotlab.api.context import ApiContext
from spotlab.api.deps import check_first_use, check_timestamp
from spotlab.api.handlers import plain, status_of
from spotlab.api.routes.order_schemas import (
    OrderCreate,
    OrderListCreate,
    QuoteIn,
    order_json,
    order_list_public,
    orders_json,
    place,
    place_list,
    quotes_json,
)
from spotlab.api.schemas import MarketId, RequestModel, market_id, symbol_of
from spotlab.api.streams import DEFAULT_MAX_CHARS, DEFAULT_MAX_MESSAGES, encode, iso_time
from spotlab.api.ws_frames import sink_of
from spotlab.clock import Clock
from spotlab.core.units import MAX_UNITS
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange import Exchange
from spotlab.exchange.aio import Applied
from spotlab.exchange.edge import MAX_QUOTES
from spotlab.exchange.views import OrderListView, OrderView, QuotesView

log = logging.getLogger(__name__)
router = APIRouter()

WS_PATH = "/v1/ws"
CLOSE_MESSAGE_TOO_BIG = 1009
MAX_CHANNELS_PER_OP = 100
_MAX_REASON_BYTES = 123  # a close frame's reason


@dataclass(frozen=True, slots=True)
class WebSocketOptions:
    """Limits of ``/v1/ws``; the defaults suit a public server."""

    heartbeat_seconds: float | None = 20.0  # None: no heartbeats
    max_messages: int = DEFAULT_MAX_MESSAGES  # unread messages per connection before it is closed (1008)
    max_chars: int = DEFAULT_MAX_CHARS  # unread bytes per connection before it is closed (1008)
    # batch the exchange's records this long (see Streams): at most 50 messages per channel and second, as
    # exchanges' depth streams do (Binance: 100 ms), for up to 20 ms more delivery lag
    coalesce_seconds: float = 0.02
    max_message_bytes: int = 64 * 1024  # a bigger incoming message closes the connection (1009)
    max_subscriptions: int = 64  # channels per connection
    order_ops_per_second: float | None = 100.0  # place/cancel ops per connection; None: unlimited
    order_ops_burst: int = 200
    max_inflight: int = 256  # order ops awaiting durability per connection; more: reading pauses
    close_timeout_seconds: float = 5.0  # how long a close may wait for a stalled client
    credential_check_seconds: float = 5.0  # how often private subscriptions re-check their credential


def configure(app: Any, options: WebSocketOptions) -> None:
    """Use ``options`` for ``app``'s WebSocket (call before the app starts)."""
    app.state.websocket_options = options


def options_of(app: Any) -> WebSocketOptions:
    return getattr(app.state, "websocket_options", None) or WebSocketOptions()


def start_streams(app: Any, exchange: Exchange, clock: Clock) -> Streams:
    """The app's ``Streams`` (``ctx.hub``), following ``exchange``; call on the running loop, ``stop()`` it."""
    options = options_of(app)
    history = app.state.ctx.history
    streams = Streams(
        exchange,
        ticker=None if history is None else rolling_figures(history, clock),
        heartbeat_seconds=options.heartbeat_seconds,
        max_messages=options.max_messages,
        max_chars=options.max_chars,
        coalesce_seconds=options.coalesce_seconds,
        clock=clock,
        candles=None if history is None else history_candles(history, exchange),
    )
    streams.start()
    return streams


def history_candles(history: Any, exchange: Exchange) -> Callable[[], Any]:
    """The streams' candle seed: the history's candles once it has applied every event so far (a restart
    continues the open candle). Runs once, at start: waits for the projector at most a few seconds."""

    def seed() -> Any:
        history.wait(exchange.last_sequence, timeout=10)
        return history.candle_book()

    return seed


def rolling_figures(history: Any, clock: Clock) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """The ticker hook: the 24 h figures of the history's in-memory rolling window (no database read).

    The history projector follows the same durable events on its own thread, so these figures can
    trail the last trade of the message by one batch."""

    def enrich(symbol: str, payload: dict[str, Any]) -> dict[str, Any]:
        stats = history.ticker(symbol, clock.now_ns())
        for name in ("open", "high", "low", "change", "change_percent", "base_volume", "quote_volume"):
            value = getattr(stats, name)
            payload[name] = None if value is None else decimal_text(value)
        payload["trade_count"] = stats.trade_count
        return payload

    return enrich


# -- client messages --------------------------------------------------------------------------------


RequestId = Annotated[StrictInt, Field(ge=-(2**53), le=2**53)] | Annotated[StrictStr, Field(max_length=64)]
Channel = Annotated[str, Field(min_length=1, max_length=40, examples=["book:BTC-USDT"])]
Channels = Annotated[list[Channel], Field(min_length=1, max_length=MAX_CHANNELS_PER_OP)]


class Op(RequestModel):
    id: RequestId | None = Field(None, description="Your reference, echoed in the answer", examples=[7])


class SubscribeOp(Op):
    """Subscribe to channels; each is answered by ``subscribed`` and its first message, or an ``error``."""

    op: Literal["subscribe"]
    channels: Channels


class UnsubscribeOp(Op):
    """Stop channels; each is answered by ``unsubscribed``."""

    op: Literal["unsubscribe"]
    channels: Channels


class AuthOp(Op):
    """Authenticate the connection: a bearer ``token``, or an API ``key`` with ``timestamp`` and ``signature``
    (hex HMAC-SHA256 of ``timestamp + "GET" + "/v1/ws"`` with the key's secret)."""

    model_config = ConfigDict(extra="forbid", str_max_length=4096)

    op: Literal["auth"]
    token: str | None = Field(None, max_length=4096, description="A login token from POST /v1/auth/token")
    key: str | None = Field(None, max_length=64, description="An API key id")
    timestamp: str | None = Field(None, max_length=16, description="Unix time in milliseconds")
    signature: str | None = Field(None, max_length=128, description='hex HMAC-SHA256(secret, timestamp+"GET/v1/ws")')

    @model_validator(mode="after")
    def _one_credential(self) -> AuthOp:
        if (self.token is None) == (self.key is None):
            raise ValueError("send either token, or key with timestamp and signature")
        if self.key is not None and (not self.timestamp or not self.signature):
            raise ValueError("an API key needs timestamp and signature too")
        return self


class PlaceOrderOp(Op):
    """Place an order (``trade`` scope); ``order`` is the body of ``POST /v1/orders``."""

    op: Literal["place_order"]
    order: OrderCreate


class CancelOrderOp(Op):
    """Cancel one of the connection's orders (``trade`` scope)."""

    op: Literal["cancel_order"]
    order_id: Annotated[int, Field(ge=1, le=MAX_UNITS)]


class CancelAllOp(Op):
    """Cancel all of the connection's open orders in a market (``trade`` scope)."""

    op: Literal["cancel_all"]
    market: MarketId


class PlaceOrderListOp(Op):
    """Place an OCO or a bracket (``trade`` scope); ``order_list`` is the body of ``POST /v1/order-lists``."""

    op: Literal["place_order_list"]
    order_list: OrderListCreate


class CancelOrderListOp(Op):
    """Cancel the open orders of one of the connection's order lists (``trade`` scope)."""

    op: Literal["cancel_order_list"]
    list_id: Annotated[int, Field(ge=1, le=MAX_UNITS)]


class ReplaceQuotesOp(Op):
    """Replace the connection's quotes in a market in one step (``trade`` scope); ``quotes`` as in the body of
    ``PUT /v1/quotes/{market}``."""

    op: Literal["replace_quotes"]
    market: MarketId
    quotes: list[QuoteIn] = Field(max_length=MAX_QUOTES)


class PingOp(Op):
    """Ask for a ``pong`` (a liveness check of your own)."""

    op: Literal["ping"]


CLIENT_OPS = (
    SubscribeOp, UnsubscribeOp, AuthOp, PlaceOrderOp, CancelOrderOp, CancelAllOp, PlaceOrderListOp, CancelOrderListOp,
    ReplaceQuotesOp, PingOp,
)  # fmt: skip
ClientMessage = Annotated[
    SubscribeOp | UnsubscribeOp | AuthOp | PlaceOrderOp | CancelOrderOp | CancelAllOp | PlaceOrderListOp
    | CancelOrderListOp | ReplaceQuotesOp | PingOp,
    Field(discriminator="op"),
]  # fmt: skip
#: Parses (``validate_json``) and checks one client message.
CLIENT_MESSAGES: TypeAdapter = TypeAdapter(ClientMessage)


# -- answers ----------------------------------------------------------------------------------------


def error_message(op_id: Any, error: SpotlabError, **extra: Any) -> dict[str, Any]:
    """A refusal as REST would state it: code, HTTP status, detail and (if any) the figures."""
    message = {"type": "error", "id": op_id, "code": error.code.value, "status": status_of(error.code)}
    message["detail"] = error.message
    if error.details:
        message["details"] = {key: plain(value) for key, value in error.details.items()}
    return {**message, **extra}


def invalid_message(text: str, error: ValidationError) -> dict[str, Any]:
    """A message that failed to parse or validate: ``MALFORMED_REQUEST`` (not JSON) or ``VALIDATION_ERROR``."""
    problems = error.errors(include_url=False, include_input=False)
    op_id = _raw_id(text)
    if any(p["type"] == "json_invalid" for p in problems):
        detail = 'the message is not valid JSON; send one JSON object per text frame, e.g. {"op": "ping"}'
        return error_message(op_id, SpotlabError(ErrorCode.MALFORMED_REQUEST, detail))
    fields = [{"field": _field(p), "message": _text(p), "type": p["type"]} for p in problems]
    summary = "; ".join(f"{f['field']}: {f['message']}" if f["field"] else f["message"] for f in fields[:5])
    refusal = SpotlabError(ErrorCode.VALIDATION_ERROR, f"invalid message: {summary}")
    return error_message(op_id, refusal, errors=fields)


def result_text(op: Op, data_json: bytes, **extra: Any) -> str:
    """``{"type": "result", "id", "op", **extra, "data"}`` with ``data`` already serialised (once)."""
    head = encode({"type": "result", "id": op.id, "op": op.op, **extra})
    return f'{head[:-1]},"data":{data_json.decode()}}}'


def _field(problem: dict) -> str:
    location = problem.get("loc", ())
    if location and location[0] in _OP_NAMES:
        location = location[1:]
    if len(location) > 1 and location[0] == "id":
        location = location[:1]
    return ".".join(str(part) for part in location)


def _text(problem: dict) -> str:
    if problem["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return f'"op" must be one of {", ".join(_OP_NAMES)}'
    if problem["type"] == "dict_type" and not problem.get("loc"):
        return 'a message is a JSON object, e.g. {"op": "ping"}'
    return str(problem.get("msg", "invalid value")).removeprefix("Value error, ")


def _raw_id(text: str) -> Any:
    """The ``id`` of a message that did not validate, if it has a usable one (else ``None``)."""
    try:
        value = json.loads(text).get("id")
    except (ValueError, AttributeError, RecursionError):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**53:
        return value
    return value if isinstance(value, str) and len(value) <= 64 else None


def _close_reason(reason: str) -> str:
    return reason.encode()[:_MAX_REASON_BYTES].decode(errors="ignore")


_OP_NAMES = tuple(model.model_fields["op"].annotation.__args__[0] for model in CLIENT_OPS)


# -- order-op budget --------------------------------------------------------------------------------


class OpBudget:
    """A token bucket: ``rate`` ops per second, at most ``burst`` at once; ``rate=None`` is unlimited."""

    __slots__ = ("rate", "burst", "_tokens", "_at")

    def __init__(self, rate: float | None, burst: int, now: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._at = float(burst), now

    def take(self, now: float) -> None:
        """Spend one op, or raise ``RATE_LIMITED`` saying when the next one fits."""
        if self.rate is None:
            return
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return
        wait_ms = max(1, int((1 - self._tokens) / self.rate * 1000))
        raise SpotlabError(
            ErrorCode.RATE_LIMITED,
            f"order entry on this connection is limited to {self.rate:g} ops per second (burst {self.burst}); "
            f"retry in {wait_ms} ms",
            retry_after_ms=wait_ms,
        )


# -- the connection ---------------------------------------------------------------------------------


class Connection:
    """One socket: a sender draining the subscriber's queue, a receiver handling ops, in-flight order ops."""

    def __init__(self, websocket: WebSocket, ctx: ApiContext, streams: Streams, options: WebSocketOptions) -> None:
        self.websocket = websocket
        self.ctx = ctx
        self.streams = streams
        self.options = options
        self.subscriber = streams.connect()
        sink = sink_of(websocket.scope)
        if sink is not None:
            self.subscriber.write_through(sink.write)
        self.request_id = (websocket.scope.get("state") or {}).get("request_id", "-")
        self.credential: tuple[str, str] | None = None  # ("token", token) or ("api_key", key id)
        self.budget = OpBudget(options.order_ops_per_second, options.order_ops_burst, _now())
        # applied commands whose results wait for durability, oldest (lowest log index) first:
        # (applied, op, answer, perf_counter_ns when applying it began)
        self.awaiting: deque[tuple[Applied, Op, Callable[[Op, Any], str], int]] = deque()
        self.answering: asyncio.Task | None = None  # the task sending them once durable (while any await)
        self.room = asyncio.Event()  # set while fewer than max_inflight await
        self.room.set()
        self.peer_gone = False

    async def serve(self) -> None:
        """Run until the client leaves or the server closes the subscriber; then clean up and close."""
        loop = asyncio.get_running_loop()
        closed = loop.create_future()
        self.subscriber.on_close = lambda: closed.done() or closed.set_result(None)
        sender = loop.create_task(self._send_all(), name=f"ws sender {self.request_id}")
        receiver = loop.create_task(self._receive_all(), name=f"ws receiver {self.request_id}")
        watcher = loop.create_task(self._watch_credential(), name=f"ws credential {self.request_id}")
        try:
            await asyncio.wait((sender, receiver, closed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            code, reason = self.subscriber.close_code, self.subscriber.close_reason
            self.streams.disconnect(self.subscriber)
            tasks = (sender, receiver, watcher, *((self.answering,) if self.answering is not None else ()))
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if code is not None and not self.peer_gone:
            await self._close(code, reason)

    async def _send_all(self) -> None:
        next_message, send = self.subscriber.next, self.websocket.send_text
        try:
            while (message := await next_message()) is not None:
                await send(message)
        except Exception as error:  # noqa: BLE001 - a vanished client shows up as assorted errors
            log.debug("WebSocket %s: sending failed (%r); the client is gone", self.request_id, error)
            self.peer_gone = True

    async def _receive_all(self) -> None:
        receive, limit = self.websocket.receive, self.options.max_message_bytes
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.peer_gone = True
                return
            text = message.get("text")
            if text is None:
                text = self._decode(message.get("bytes") or b"")
                if text is None:
                    continue
            if len(text) > limit // 4 and len(text.encode()) > limit:
                reason = f"message too big: {len(text.encode())} bytes, the limit is {limit}"
                self.streams.hub.disconnect(self.subscriber, CLOSE_MESSAGE_TOO_BIG, reason)
                return
            await self.handle(text)

    async def _watch_credential(self) -> None:
        """Private channels end when the credential does: an expired token or a revoked key unsubscribes them."""
        while True:
            await asyncio.sleep(self.options.credential_check_seconds)
            private = [c for c in self.streams.channels(self.subscriber) if c in PRIVATE_CHANNELS]
            if self.credential is None or not private:
                continue
            try:
                self._principal()
            except SpotlabError as error:
                for channel in private:
                    self.streams.unsubscribe(self.subscriber, channel)
                detail = f"{error.message}; unsubscribed from {', '.join(private)}: authenticate again to resume"
                self.reply(error_message(None, SpotlabError(error.code, detail), channels=private))

    def _decode(self, data: bytes) -> str | None:
        try:
            return data.decode()
        except UnicodeDecodeError:
            self.reply(error_message(None, SpotlabError(ErrorCode.MALFORMED_REQUEST, "a frame must be UTF-8 JSON")))
            return None

    async def _close(self, code: int, reason: str) -> None:
        try:
            closing = self.websocket.close(code, _close_reason(reason))
            await asyncio.wait_for(closing, self.options.close_timeout_seconds)
        except Exception:  # noqa: BLE001 - the client is gone or stalled: nothing more to tell it
            log.debug("WebSocket %s: the close frame could not be sent", self.request_id)

    # -- ops ----------------------------------------------------------------------------------

    async def handle(self, text: str) -> None:
        """Parse, check and run one client message; every failure becomes an ``error`` message."""
        try:
            op = CLIENT_MESSAGES.validate_json(text)
        except ValidationError as error:
            self.reply(invalid_message(text, error))
            return
        try:
            await _HANDLERS[type(op)](self, op)
        except SpotlabError as error:
            self.reply(error_message(op.id, error))
        except Exception:  # a bug: logged with its trace, never shown to the client
            log.exception("WebSocket %s: op %r failed", self.request_id, op.op)
            self.reply(self._internal_error(op.id))

    def reply(self, payload: dict[str, Any]) -> None:
        self.deliver(encode(payload))

    def deliver(self, text: str) -> None:
        if not self.subscriber.deliver(text):
            self.streams.hub.disconnect(self.subscriber)  # fell behind: forgotten (the close code stays 1008)

    async def subscribe(self, op: SubscribeOp) -> None:
        if self.credential is not None and any(":" not in channel for channel in op.channels):
            self._principal()  # private channels: the credential must still be good
        for channel in op.channels:
            try:
                self._check_room(channel)
                ack = {"type": "subscribed", "id": op.id, "channel": channel}
                self.streams.subscribe(self.subscriber, channel, ack=ack)
            except SpotlabError as error:
                self.reply(error_message(op.id, error, channel=channel))

    async def unsubscribe(self, op: UnsubscribeOp) -> None:
        for channel in op.channels:
            self.streams.unsubscribe(self.subscriber, channel)
            self.reply({"type": "unsubscribed", "id": op.id, "channel": channel})

    async def authenticate(self, op: AuthOp) -> None:
        if op.token is not None:
            principal, credential = self.ctx.accounts.verify_token(op.token), ("token", op.token)
        else:
            principal = await verify_signed_auth(self.ctx, op.key, op.timestamp, op.signature)
            credential = ("api_key", op.key)
        self.subscriber.authenticate(principal.account)  # FORBIDDEN if bound to another account
        self.credential = credential
        scopes = sorted(principal.scopes)
        self.reply({"type": "authenticated", "id": op.id, "account": principal.account, "scopes": scopes,
                    "via": principal.via})  # fmt: skip

    async def place_order(self, op: PlaceOrderOp) -> None:
        account = self._trader()

        def start() -> Applied[OrderView]:
            return place(self.ctx.exchange, account, op.order)

        await self._spawn(op, start, self._placed)

    async def cancel_order(self, op: CancelOrderOp) -> None:
        account = self._trader()
        await self._spawn(op, lambda: self.ctx.exchange.aio.cancel_order(account, op.order_id), _one_order)

    async def cancel_all(self, op: CancelAllOp) -> None:
        account = self._trader()
        symbol = symbol_of(op.market)
        await self._spawn(op, lambda: self.ctx.exchange.aio.cancel_all_orders(account, symbol), _orders)

    async def place_order_list(self, op: PlaceOrderListOp) -> None:
        account = self._trader()

        def start() -> Applied[OrderListView]:
            return place_list(self.ctx.exchange, account, op.order_list)

        await self._spawn(op, start, _placed_list)

    async def cancel_order_list(self, op: CancelOrderListOp) -> None:
        account = self._trader()
        await self._spawn(op, lambda: self.ctx.exchange.aio.cancel_order_list(account, op.list_id), _order_list)

    async def replace_quotes(self, op: ReplaceQuotesOp) -> None:
        account = self._trader()
        symbol = symbol_of(op.market)
        quotes = [(quote.side, quote.price, quote.quantity) for quote in op.quotes]
        await self._spawn(op, lambda: self.ctx.exchange.aio.replace_quotes(account, symbol, quotes), self._requoted)

    async def ping(self, op: PingOp) -> None:
        self.reply({"type": "pong", "id": op.id, "time": iso_time(self.ctx.clock.now_ns())})

    # -- helpers ------------------------------------------------------------------------------

    def _principal(self) -> Principal:
        """The connection's principal, checked again now (expiry, revocation, scopes)."""
        if self.credential is None:
            raise SpotlabError(
                ErrorCode.UNAUTHENTICATED,
                'authenticate this connection first: {"op": "auth", "token": "<bearer token>"} or with an API key',
            )
        kind, value = self.credential
        if kind == "token":
            return self.ctx.accounts.verify_token(value)
        return self.ctx.accounts.key_principal(value)[0]

    def _trader(self) -> str:
        """The account an order op acts for, once it has the ``trade`` scope and fits the op budget."""
        principal = self._principal()
        principal.require("trade")
        self.budget.take(_now())
        return principal.account

    def _check_room(self, channel: str) -> None:
        held = self.subscriber.topics
        if channel not in held and len(held) >= self.options.max_subscriptions:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"at most {self.options.max_subscriptions} subscriptions per connection; unsubscribe one first",
                limit=self.options.max_subscriptions,
            )

    async def _spawn(self, op: Op, start: Callable[[], Applied[Any]], answer: Callable[[Op, Any], str]) -> None:
        """Apply an exchange command now (so commands keep the order received); its result goes out once durable.
        A refusal raises here (``handle`` answers it)."""
        while len(self.awaiting) >= self.options.max_inflight:  # back-pressure: read nothing more for now
            self.room.clear()
            await self.room.wait()
        began = time.perf_counter_ns()  # the command's latency counts its applying too, as REST's does
        applied = start()
        self.awaiting.append((applied, op, answer, began))
        if applied.durable:  # so is every command before it: all of them go out now
            self._send_durable(applied.index)
        elif self.answering is None:
            self.answering = asyncio.get_running_loop().create_task(
                self._answer_durable(), name=f"ws answers {self.request_id}"
            )

    async def _answer_durable(self) -> None:
        """Send the results awaiting durability as their records become durable, until none awaits."""
        exchange = self.ctx.exchange
        try:
            while self.awaiting:
                try:
                    await exchange.wait_durable_async(self.awaiting[0][0].index)
                except SpotlabError as error:  # the store failed: nothing awaiting will become durable
                    while self.awaiting:
                        self.deliver(encode(error_message(self.awaiting.popleft()[1].id, error)))
                    break
                self._send_durable(exchange.durable_index)
        finally:
            self.answering = None
            self.room.set()

    def _send_durable(self, durable: int) -> None:
        """Send, oldest first, every awaiting result whose record is at or below ``durable``."""
        awaiting, metrics = self.awaiting, self.ctx.metrics
        while awaiting and awaiting[0][0].index <= durable:
            applied, op, answer, began = awaiting.popleft()
            try:
                text = answer(op, applied.value)
            except Exception:  # a bug: logged with its trace, never shown to the client
                log.exception("WebSocket %s: op %r failed", self.request_id, op.op)
                text = encode(self._internal_error(op.id))
            else:
                if metrics is not None:
                    metrics.observe_command((time.perf_counter_ns() - began) / 1e9)
            self.deliver(text)
        if len(awaiting) < self.options.max_inflight:
            self.room.set()

    def _placed(self, op: Op, view: OrderView) -> str:
        metrics = self.ctx.metrics
        if metrics is not None and not view.duplicate:
            market = market_id(view.market)
            metrics.count_order(market, str(view.side), str(view.type))
            metrics.count_trades(market, len(view.fills))
        return result_text(op, order_json(view), duplicate=bool(view.duplicate))

    def _requoted(self, op: Op, view: QuotesView) -> str:
        if self.ctx.metrics is not None:
            self.ctx.metrics.count_placed(view.placed)
        return result_text(op, quotes_json(view))

    def _internal_error(self, op_id: Any) -> dict[str, Any]:
        detail = f"internal error; quote request id {self.request_id} when reporting it"
        return error_message(op_id, SpotlabError(ErrorCode.INTERNAL_ERROR, detail))


def _one_order(op: Op, view: OrderView) -> str:
    return result_text(op, order_json(view))


def _order_list(op: Op, view: OrderListView) -> str:
    return result_text(op, order_list_public(view).model_dump_json().encode())


def _placed_list(op: Op, view: OrderListView) -> str:
    return result_text(op, order_list_public(view).model_dump_json().encode(), duplicate=view.duplicate)


def _orders(op: Op, views: list[OrderView]) -> str:
    return result_text(op, orders_json(views))


def _now() -> float:
    return asyncio.get_running_loop().time()


_HANDLERS: dict[type, Callable[[Connection, Any], Awaitable[None]]] = {
    SubscribeOp: Connection.subscribe,
    UnsubscribeOp: Connection.unsubscribe,
    AuthOp: Connection.authenticate,
    PlaceOrderOp: Connection.place_order,
    CancelOrderOp: Connection.cancel_order,
    CancelAllOp: Connection.cancel_all,
    PlaceOrderListOp: Connection.place_order_list,
    CancelOrderListOp: Connection.cancel_order_list,
    ReplaceQuotesOp: Connection.replace_quotes,
    PingOp: Connection.ping,
}


async def verify_signed_auth(ctx: ApiContext, key_id: str, timestamp: str, signature: str) -> Principal:
    """An API key's ``auth``: the REST checks (window, signature, first use) over ``timestamp + "GET/v1/ws"``."""
    check_timestamp(ctx, timestamp)
    principal, secret = ctx.accounts.key_principal(key_id)
    if not signature_matches(secret, signature, timestamp, "GET", WS_PATH, b""):
        raise SpotlabError(
            ErrorCode.INVALID_SIGNATURE,
            'the signature does not match: hex HMAC-SHA256 of timestamp + "GET" + "/v1/ws" with the key\'s secret',
        )
    await check_first_use(ctx, key_id + ":" + signature.lower())  # as REST: a signature is accepted once
    return principal


@router.websocket(WS_PATH)
async def websocket_endpoint(websocket: WebSocket) -> None:
    """The WebSocket API (see the module docstring and ``/v1/asyncapi.json``)."""
    ctx: ApiContext = websocket.app.state.ctx
    await websocket.accept()
    if ctx.hub is None:
        await websocket.close(1011, "streams are not running on this server")
        return
    with ctx.metrics.websocket_connected() if ctx.metrics is not None else nullcontext():
        await Connection(websocket, ctx, ctx.hub, options_of(websocket.app)).serve()

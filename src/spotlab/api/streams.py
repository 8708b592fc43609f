"""The streaming core behind ``/v1/ws``: durable log records -> channel messages -> bounded subscriber queues.

Channels (market ids are written ``BTC-USDT``; the engine says ``BTC/USDT``):
- public: ``trades:{market}``, ``book:{market}`` (a snapshot, then diffs, see
  ``spotlab.api.book_stream``), ``ticker:{market}``;
- private: ``orders``, ``fills``, ``balances``, for a subscriber authenticated as an
  account (``Subscriber.authenticate``); they carry only that account's events.

Invariants
- Loop-confined: everything here runs on one asyncio loop's thread. The only entry
  from another thread is the exchange's record callback, which appends the batch to
  an inbox and schedules one drain (``loop.call_soon_threadsafe``) if none is pending;
  a drain processes every record waiting, in log order (``Streams.process``), so a
  busy exchange gets fewer, larger messages (see ``coalesce_seconds``).
- Per processed batch: at most one message per channel (and per account on a
  private channel), built only for channels that have subscribers, serialised once
  (JSON text) and then handed as the same ``str`` to every subscriber of it. Work is
  proportional to events + channels with subscribers + subscribers reached.
- Money and quantities are ``Decimal`` strings (plain digits), never floats; times are
  ISO-8601 UTC (``2024-01-01T00:00:00.000000Z``).
- Isolation: a private message is routed by the account named in the event to the
  topic ``{channel}@{account}``, which only subscribers authenticated as that account
  can join; a subscriber's account is set once and never changes.
- Bounded memory: a subscriber's queue holds at most ``max_messages`` messages and
  ``max_chars`` characters (bytes, for the ASCII JSON we send). A delivery that would
  exceed either closes the subscriber instead (``1008``, "slow consumer: ...") and drops
  its queue; the hub forgets it at once, and its sender task sees ``None`` from
  ``next()`` and closes the socket with ``close_code`` / ``close_reason``.
- Heartbeats: every ``heartbeat_seconds`` each connected subscriber that was sent
  nothing since the previous beat gets ``{"type": "heartbeat", "time": ...}``.

Use from the WebSocket endpoint (on the loop)::

    subscriber = streams.connect()                          # after accepting the socket
    # sender task:  while (message := await subscriber.next()) is not None: await ws.send_text(message)
    #               then await ws.close(subscriber.close_code, subscriber.close_reason)
    subscriber.authenticate("alice")                        # once the socket has authenticated
    streams.subscribe(subscriber, "book:BTC-USDT", ack={"type": "subscribed", "channel": "book:BTC-USDT"})
    streams.unsubscribe(subscriber, "book:BTC-USDT")
    streams.disconnect(subscriber)                          # when the socket ends, whatever the reason

Limitations: ``orders`` carries order events (placed, filled, canceled, expired,
reduced, rejected), not full order states; a client wanting totals asks REST. No
replay: a subscriber sees what is delivered after it subscribed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from spotlab.api.book_stream import BookStream, ShadowBook, channel_market, decimal_text, diff_message, snapshot_message
from spotlab.clock import Clock, WallClock, datetime_to_ns, ns_to_datetime
from spotlab.core.events import (
    BalanceChanged,
    MarketListed,
    MarketStatusChanged,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPlaced,
    OrderReduced,
    OrderRejected,
)
from spotlab.core.markets import MarketSpec
from spotlab.core.orders import Side
from spotlab.core.units import ratio_units
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.store.records import LogRecord

if TYPE_CHECKING:
    from spotlab.exchange.service import Exchange

log = logging.getLogger(__name__)

PUBLIC_CHANNELS = ("trades", "book", "ticker")
PRIVATE_CHANNELS = ("orders", "fills", "balances")
DEFAULT_MAX_MESSAGES = 1_000
DEFAULT_MAX_CHARS = 8 * 1024 * 1024
DEFAULT_HEARTBEAT_SECONDS = 20.0
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008

#: ``ticker(symbol, payload) -> payload``: enriches the ticker of ``symbol`` (``BTC/USDT``), e.g. with 24 h figures.
TickerHook = Callable[[str, dict[str, Any]], dict[str, Any]]

_encode = msgspec.json.Encoder().encode


def encode(payload: Mapping[str, Any]) -> str:
    """A message as compact JSON text, the form every subscriber is sent."""
    return _encode(payload).decode()


def iso_time(ns: int) -> str:
    """UTC nanoseconds as ISO-8601 with microseconds and ``Z``."""
    return ns_to_datetime(ns).isoformat(timespec="microseconds").replace("+00:00", "Z")


def private_topic(channel: str, account: str) -> str:
    return f"{channel}@{account}"


# -- subscribers --------------------------------------------------------------------------


class Subscriber:
    """One connection's outbound side: a bounded queue of JSON texts, read by one sender task."""

    __slots__ = ("_account", "max_messages", "max_chars", "topics", "close_code", "close_reason")
    __slots__ += ("_queue", "_chars", "_waiter", "_active")

    def __init__(
        self,
        account: str | None = None,
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        for name, value in (("max_messages", max_messages), ("max_chars", max_chars)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{name} must be a positive integer, got {value!r}")
        self._account = account
        self.max_messages = max_messages
        self.max_chars = max_chars
        self.topics: dict[str, str] = {}  # channel as the client wrote it -> hub topic
        self.close_code: int | None = None
        self.close_reason = ""
        self._queue: deque[str] | None = deque()
        self._chars = 0
        self._waiter: asyncio.Future | None = None
        self._active = False  # sent something since the last heartbeat round

    def authenticate(self, account: str) -> None:
        """Bind the subscriber to ``account`` (private channels); binding it to another account is refused."""
        if self._account is not None and self._account != account:
            raise SpotlabError(
                ErrorCode.FORBIDDEN,
                f"this connection is authenticated as {self._account!r}; open another for {account!r}",
            )
        self._account = account

    @property
    def account(self) -> str | None:
        """The account this connection authenticated as (private channels route by it); ``None`` before."""
        return self._account

    @property
    def closed(self) -> bool:
        return self._queue is None

    @property
    def pending(self) -> int:
        """Messages queued and not yet taken by the sender."""
        return len(self._queue) if self._queue is not None else 0

    @property
    def pending_chars(self) -> int:
        return self._chars

    def deliver(self, message: str) -> bool:
        """Queue ``message``; ``False`` if the subscriber is closed, or closes now because it is too far behind."""
        queue = self._queue
        if queue is None:
            return False
        if len(queue) >= self.max_messages:
            self.close(CLOSE_POLICY_VIOLATION, f"slow consumer: {len(queue)} messages unread")
            return False
        if self._chars + len(message) > self.max_chars:
            self.close(CLOSE_POLICY_VIOLATION, f"slow consumer: {self._chars} bytes unread")
            return False
        queue.append(message)
        self._chars += len(message)
        self._active = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        return True

    def idle_since_last_round(self) -> bool:
        """Whether nothing was queued since the last call (heartbeat rounds); starts a new round."""
        idle, self._active = not self._active, False
        return idle

    def send(self, payload: Mapping[str, Any]) -> bool:
        """Serialise and queue a message of the transport's own (a reply, an error) behind what is queued."""
        return self.deliver(encode(payload))

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Stop: drop the queue and wake the sender, which then closes the socket with ``code`` and ``reason``."""
        if self._queue is None:
            return
        self._queue = None
        self._chars = 0
        self.close_code = code
        self.close_reason = reason
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def next(self) -> str | None:
        """The next message to send, waiting for one; ``None`` once the subscriber is closed."""
        while True:
            queue = self._queue
            if queue is None:
                return None
            if queue:
                message = queue.popleft()
                self._chars -= len(message)
                return message
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> str:
        message = await self.next()
        if message is None:
            raise StopAsyncIteration
        return message

    def __repr__(self) -> str:
        state = f"closed {self.close_code}" if self.closed else f"{self.pending} pending"
        return f"Subscriber({self.account!r}, {sorted(self.topics)}, {state})"


class Hub:
    """Topics -> subscribers, and the fan-out: one serialisation per message, one queue put per subscriber."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[Subscriber, None]] = {}
        self._connected: dict[Subscriber, None] = {}

    def connect(self, subscriber: Subscriber) -> None:
        self._connected[subscriber] = None

    def disconnect(self, subscriber: Subscriber, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Forget ``subscriber`` everywhere and close it (a no-op if it already is)."""
        for channel in list(subscriber.topics):
            self.remove(subscriber, channel)
        self._connected.pop(subscriber, None)
        subscriber.close(code, reason)

    def disconnect_all(self, code: int, reason: str) -> None:
        for subscriber in list(self._connected):
            self.disconnect(subscriber, code, reason)

    def add(self, subscriber: Subscriber, channel: str, topic: str) -> None:
        subscriber.topics[channel] = topic
        self._topics.setdefault(topic, {})[subscriber] = None

    def remove(self, subscriber: Subscriber, channel: str) -> bool:
        topic = subscriber.topics.pop(channel, None)
        if topic is None:
            return False
        subscribers = self._topics.get(topic)
        if subscribers is not None:
            subscribers.pop(subscriber, None)
            if not subscribers:
                del self._topics[topic]
        return True

    def has(self, topic: str) -> bool:
        return topic in self._topics

    def count(self, topic: str) -> int:
        return len(self._topics.get(topic, ()))

    @property
    def connected(self) -> int:
        return len(self._connected)

    def publish(self, topic: str, payload: Mapping[str, Any]) -> int:
        """Serialise ``payload`` once and queue it for every subscriber of ``topic``; how many got it."""
        subscribers = self._topics.get(topic)
        if not subscribers:
            return 0
        return self.fan_out(list(subscribers), encode(payload))

    def fan_out(self, subscribers: list[Subscriber], message: str) -> int:
        """Queue ``message`` for each of ``subscribers``; the ones that fall behind are closed and forgotten."""
        dropped = [subscriber for subscriber in subscribers if not subscriber.deliver(message)]
        for subscriber in dropped:
            self.disconnect(subscriber)
        return len(subscribers) - len(dropped)

    def heartbeat(self, payload: Mapping[str, Any]) -> int:
        """Queue ``payload`` for every connected subscriber sent nothing since the last heartbeat round."""
        idle = []
        for subscriber in self._connected:
            if subscriber.idle_since_last_round():
                idle.append(subscriber)
        if not idle:
            return 0
        sent = self.fan_out(idle, encode(payload))
        for subscriber in idle:
            subscriber.idle_since_last_round()  # a heartbeat is not activity
        return sent


# -- messages -----------------------------------------------------------------------------


def trade_entry(event: OrderFilled, spec: MarketSpec) -> dict[str, Any]:
    return {
        "id": event.trade_id,
        "price": decimal_text(spec.price(event.price)),
        "quantity": decimal_text(spec.quantity(event.quantity)),
        "taker_side": str(event.taker_side),
        "time": iso_time(event.ts),
    }


def fill_entries(event: OrderFilled, spec: MarketSpec) -> list[tuple[str, dict[str, Any]]]:
    """``[(account, fill)]``: the trade seen by its maker and by its taker (the same account twice on a self-trade)."""
    maker_side = Side.SELL if event.taker_side is Side.BUY else Side.BUY
    common = {
        "trade_id": event.trade_id,
        "market": channel_market(event.market),
        "price": decimal_text(spec.price(event.price)),
        "quantity": decimal_text(spec.quantity(event.quantity)),
        "notional": decimal_text(spec.quote.to_decimal(event.notional)),
        "fee_asset": spec.quote.code,
        "sequence": event.seq,
        "time": iso_time(event.ts),
    }
    maker = {"order_id": event.maker_order_id, "side": str(maker_side), "role": "maker"}
    taker = {"order_id": event.taker_order_id, "side": str(event.taker_side), "role": "taker"}
    maker["fee"] = decimal_text(spec.quote.to_decimal(event.maker_fee))
    taker["fee"] = decimal_text(spec.quote.to_decimal(event.taker_fee))
    return [(event.maker_account, {**maker, **common}), (event.taker_account, {**taker, **common})]


def order_update(event: Any, spec: MarketSpec) -> dict[str, Any]:
    """An order event of one account as an ``orders`` update (a fill's update is its ``fill_entries`` entry)."""
    head = {"order_id": getattr(event, "order_id", None), "market": channel_market(event.market)}
    kind = type(event)
    if kind is OrderPlaced:
        body = {
            "event": "placed",
            "client_order_id": event.client_order_id,
            "side": str(event.side),
            "type": str(event.type),
            "time_in_force": str(event.time_in_force),
            "price": decimal_text(spec.price(event.price)) if event.price else None,
            "quantity": decimal_text(spec.quantity(event.quantity)) if event.quantity else None,
            "quote_quantity": decimal_text(spec.quote.to_decimal(event.quote_quantity))
            if event.quote_quantity
            else None,
        }
    elif kind is OrderCanceled or kind is OrderExpired:
        body = {
            "event": "canceled" if kind is OrderCanceled else "expired",
            "remaining_quantity": decimal_text(spec.quantity(event.remaining)),
            "reason": event.reason,
        }
    elif kind is OrderReduced:
        body = {
            "event": "reduced",
            "quantity": decimal_text(spec.quantity(event.quantity)),
            "remaining_quantity": decimal_text(spec.quantity(event.remaining)),
        }
    else:  # OrderRejected
        body = {
            "event": "rejected",
            "client_order_id": event.client_order_id,
            "side": str(event.side),
            "type": str(event.type),
            "code": event.code,
            "reason": event.reason,
        }
    return {"event": body.pop("event"), **head, **body, "sequence": event.seq, "time": iso_time(event.ts)}


_ORDER_EVENTS = (OrderPlaced, OrderCanceled, OrderExpired, OrderReduced, OrderRejected)


class _Market:
    """What the ticker of one market needs besides the shadow book."""

    __slots__ = ("symbol", "id", "spec", "status", "last_trade", "ts", "top")

    def __init__(self, symbol: str, spec: MarketSpec, status: str, last_trade: OrderFilled | None = None) -> None:
        self.symbol = symbol
        self.id = channel_market(symbol)
        self.spec = spec
        self.status = status
        self.last_trade = last_trade  # (price ticks, lots, ts) of the newest trade
        self.ts = 0  # time of the newest event of this market seen
        self.top: tuple | None = None  # (best bid, best ask) when the ticker was last sent


class _Batch:
    """What one processed batch has to say, per channel (and per account on private channels)."""

    def __init__(self) -> None:
        self.trades: dict[str, list[OrderFilled]] = {}
        self.tickers: dict[str, None] = {}  # markets whose last trade or status changed
        self.orders: dict[str, list[dict[str, Any]]] = {}
        self.fills: dict[str, list[dict[str, Any]]] = {}
        self.balances: dict[str, dict[str, dict[str, Any]]] = {}  # account -> asset -> newest row


# -- the exchange's streams ---------------------------------------------------------------


class Streams:
    """The exchange's channels: feeds the hub from durable log records, answers subscriptions with snapshots.

    ``ticker`` enriches ticker payloads (``TickerHook``); ``max_messages``/``max_chars`` are the default queue
    limits of ``connect``; ``coalesce_seconds`` is how long a drain waits after the first record it will carry
    (0: the next turn of the loop): a longer window gives fewer, larger messages (at most one per channel per
    window) for that much more delivery lag, the knob for many subscribers of a busy market.
    """

    def __init__(
        self,
        exchange: Exchange,
        *,
        ticker: TickerHook | None = None,
        heartbeat_seconds: float | None = DEFAULT_HEARTBEAT_SECONDS,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_chars: int = DEFAULT_MAX_CHARS,
        coalesce_seconds: float = 0.0,
        clock: Clock | None = None,
    ) -> None:
        self.exchange = exchange
        self.hub = Hub()
        self.books = BookStream({})
        self._ticker = ticker
        self._heartbeat_seconds = heartbeat_seconds
        self._coalesce_seconds = coalesce_seconds
        self._limits = {"max_messages": max_messages, "max_chars": max_chars}
        self._clock = clock or WallClock()
        self._markets: dict[str, _Market] = {}  # by engine symbol
        self._ids: dict[str, str] = {}  # channel market id -> engine symbol
        self._inbox: list[LogRecord] = []
        self._inbox_lock = threading.Lock()
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._heartbeats: asyncio.Task | None = None

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Begin following the exchange; call once, on the running loop (e.g. in the app's lifespan)."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self.exchange.subscribe_records(self._on_records)  # before the pictures: miss nothing
        self.books = BookStream.open(self.exchange)
        for view in self.exchange.markets():
            self._add_market(view.symbol, view.status)
        if self._heartbeat_seconds:
            self._heartbeats = self._loop.create_task(self._beat(self._heartbeat_seconds), name="stream heartbeats")

    def stop(self) -> None:
        """Stop following the exchange and close every subscriber (1001, going away)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            self._heartbeats = None
        self.hub.disconnect_all(CLOSE_GOING_AWAY, "server shutting down")

    # -- connections and subscriptions ------------------------------------------------

    def connect(self, account: str | None = None, **limits: int) -> Subscriber:
        """A new subscriber with this streams' queue limits (overridable: ``max_messages``, ``max_chars``)."""
        subscriber = Subscriber(account, **{**self._limits, **limits})
        self.hub.connect(subscriber)
        return subscriber

    def disconnect(self, subscriber: Subscriber) -> None:
        self.hub.disconnect(subscriber)

    def subscribe(self, subscriber: Subscriber, channel: str, ack: Mapping[str, Any] | None = None) -> None:
        """Subscribe to ``channel``: queue ``ack`` (if given), then the channel's initial message, then its updates.

        Subscribing again to a channel already held sends a fresh initial message (how a book client
        resyncs after a gap). Raises ``SpotlabError`` (nothing queued) for an unknown channel or market,
        or a private channel on a connection not authenticated.
        """
        topic, market = self._topic(subscriber, channel)
        if subscriber.closed:
            return
        if ack is not None and not subscriber.send(ack):
            self.hub.disconnect(subscriber)
            return
        self.hub.add(subscriber, channel, topic)
        first = self._initial_message(channel, market)
        if first is not None:
            self.hub.fan_out([subscriber], encode(first))

    def unsubscribe(self, subscriber: Subscriber, channel: str) -> bool:
        """Stop sending ``channel``; ``False`` if it was not subscribed."""
        return self.hub.remove(subscriber, channel)

    def channels(self, subscriber: Subscriber) -> list[str]:
        return sorted(subscriber.topics)

    def _topic(self, subscriber: Subscriber, channel: Any) -> tuple[str, _Market | None]:
        if not isinstance(channel, str):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a channel is a string, got {channel!r}")
        name, colon, market_id = channel.partition(":")
        if name in PRIVATE_CHANNELS and not colon:
            if subscriber.account is None:
                raise SpotlabError(
                    ErrorCode.UNAUTHENTICATED, f"authenticate on this connection before subscribing to {channel!r}"
                )
            return private_topic(name, subscriber.account), None
        if name in PUBLIC_CHANNELS and colon:
            symbol = self._ids.get(market_id)
            if symbol is None:
                known = ", ".join(sorted(self._ids)) or "none"
                raise SpotlabError(
                    ErrorCode.UNKNOWN_MARKET,
                    f"no market {market_id!r} (write markets like BTC-USDT); markets: {known}",
                    market=market_id,
                )
            return channel, self._markets[symbol]
        public = ", ".join(f"{c}:{{market}}" for c in PUBLIC_CHANNELS)
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown channel {channel!r}; channels are {public}, and {', '.join(PRIVATE_CHANNELS)} once authenticated",
        )

    def _initial_message(self, channel: str, market: _Market | None) -> dict[str, Any] | None:
        if market is None or channel.startswith("trades:"):
            return None
        book = self.books.books[market.symbol]
        if channel.startswith("book:"):
            return snapshot_message(book, market.spec)
        return self.ticker_payload(market, book)

    # -- tickers ----------------------------------------------------------------------

    def ticker_payload(self, market: _Market, book: ShadowBook) -> dict[str, Any]:
        """The ticker of ``market``: last trade, best bid and ask with sizes, status; then the ticker hook."""
        spec = market.spec
        last = market.last_trade
        bid, ask = book.best_bid(), book.best_ask()
        market.top = (bid, ask)
        payload = {
            "type": "ticker",
            "channel": f"ticker:{market.id}",
            "market": market.id,
            "status": str(market.status),
            "last_price": decimal_text(spec.price(last[0])) if last else None,
            "last_quantity": decimal_text(spec.quantity(last[1])) if last else None,
            "last_trade_time": iso_time(last[2]) if last else None,
            "best_bid": decimal_text(spec.price(bid[0])) if bid else None,
            "best_bid_quantity": decimal_text(spec.quantity(bid[1])) if bid else None,
            "best_ask": decimal_text(spec.price(ask[0])) if ask else None,
            "best_ask_quantity": decimal_text(spec.quantity(ask[1])) if ask else None,
            "sequence": book.applied,
            "time": iso_time(market.ts) if market.ts else None,
        }
        if self._ticker is None:
            return payload
        try:
            return self._ticker(market.symbol, payload)
        except Exception:  # a broken enrichment must not stop the plain ticker
            log.exception("the ticker hook %r raised for %s; sending the plain ticker", self._ticker, market.symbol)
            return payload

    def publish_ticker(self, symbol: str) -> int:
        """Send ``symbol``'s ticker now (for a component whose 24 h figures changed); how many got it."""
        market = self._markets.get(symbol)
        if market is None:
            raise SpotlabError(ErrorCode.UNKNOWN_MARKET, f"no market {symbol!r} in the streams", market=symbol)
        topic = f"ticker:{market.id}"
        if not self.hub.has(topic):
            return 0
        return self.hub.publish(topic, self.ticker_payload(market, self.books.books[symbol]))

    def _add_market(self, symbol: str, status: str) -> None:
        if symbol in self._markets:
            return
        recent = self.exchange.trades(symbol, limit=1)
        spec = self.exchange.market_spec(symbol)
        last = None
        if recent:  # the newest trade, back into integers
            trade = recent[0]
            price = ratio_units(trade.price, spec.tick_size, "a trade's price in ticks")
            lots = ratio_units(trade.quantity, spec.lot_size, "a trade's quantity in lots")
            last = (price, lots, datetime_to_ns(trade.time))
        market = _Market(symbol, spec, status, last)
        self._markets[symbol] = market
        self._ids[market.id] = symbol

    # -- the records ------------------------------------------------------------------

    def _on_records(self, records: list[LogRecord]) -> None:
        """On the store's writer thread: hand the batch to the loop, scheduling at most one drain at a time."""
        with self._inbox_lock:
            self._inbox.extend(records)
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._drain_later if self._coalesce_seconds else self._drain)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            log.debug("stream records dropped: the event loop is closed")

    def _drain_later(self) -> None:
        self._loop.call_later(self._coalesce_seconds, self._drain)

    def _drain(self) -> None:
        with self._inbox_lock:
            records, self._inbox = self._inbox, []
            self._scheduled = False
        try:
            self.process(records)
        except Exception:  # a bug here must not leave a book silently wrong: start the books afresh
            log.exception("streams failed on records %d-%d; books start afresh", records[0].index, records[-1].index)
            self.books = BookStream.open(self.exchange)  # its new sequences make every book client resync

    def process(self, records: list[LogRecord]) -> None:
        """Turn one batch of durable records into at most one message per channel, and fan them out."""
        changes = self.books.apply(records)
        batch = self._collect(records)
        hub = self.hub
        markets = self._markets
        for symbol, fills in batch.trades.items():
            market = markets[symbol]
            topic = f"trades:{market.id}"
            if hub.has(topic):
                trades = [trade_entry(event, market.spec) for event in fills]
                message = {"type": "trades", "channel": topic, "market": market.id, "sequence": fills[-1].seq}
                hub.publish(topic, {**message, "trades": trades})
        for change in changes:
            market = markets[change.market]
            if hub.has(f"book:{market.id}"):
                hub.publish(f"book:{market.id}", diff_message(change, market.spec))
            book = self.books.books[change.market]
            if (book.best_bid(), book.best_ask()) != market.top:
                batch.tickers[change.market] = None
        for symbol in batch.tickers:
            self.publish_ticker(symbol)
        self._publish_private(batch)

    def _collect(self, records: list[LogRecord]) -> _Batch:
        """One pass over the events: trades per market, and private updates for accounts someone listens to."""
        batch = _Batch()
        has = self.hub.has
        markets = self._markets
        for record in records:
            for event in record.events:
                kind = type(event)
                if kind is BalanceChanged:
                    if has(private_topic("balances", event.account)):
                        batch.balances.setdefault(event.account, {})[event.asset] = self._balance_entry(event)
                elif kind is OrderFilled:
                    self._collect_fill(event, markets[event.market], batch)
                elif kind in _ORDER_EVENTS:
                    markets[event.market].ts = event.ts
                    if has(private_topic("orders", event.account)):
                        update = order_update(event, markets[event.market].spec)
                        batch.orders.setdefault(event.account, []).append(update)
                elif kind is MarketStatusChanged:
                    market = markets[event.market]
                    market.status, market.ts = event.status, event.ts
                    batch.tickers[event.market] = None
                elif kind is MarketListed:
                    self._add_market(event.market, event.status)
        return batch

    def _collect_fill(self, event: OrderFilled, market: _Market, batch: _Batch) -> None:
        market.last_trade = (event.price, event.quantity, event.ts)
        market.ts = event.ts
        batch.trades.setdefault(event.market, []).append(event)
        batch.tickers[event.market] = None
        has = self.hub.has
        accounts = (event.maker_account, event.taker_account)
        if not any(has(private_topic(c, a)) for c in ("fills", "orders") for a in accounts):
            return
        for account, fill in fill_entries(event, market.spec):
            if has(private_topic("fills", account)):
                batch.fills.setdefault(account, []).append(fill)
            if has(private_topic("orders", account)):
                batch.orders.setdefault(account, []).append({"event": "filled", **fill})

    def _balance_entry(self, event: BalanceChanged) -> dict[str, Any]:
        asset = self.exchange.asset_spec(event.asset)
        available, locked = asset.to_decimal(event.available), asset.to_decimal(event.locked)
        return {"asset": event.asset, "available": decimal_text(available), "locked": decimal_text(locked),
                "sequence": event.seq}  # fmt: skip

    def _publish_private(self, batch: _Batch) -> None:
        """One message per channel and account: ``{"type": c, "channel": c, "sequence": last seq, c: [entries]}``."""
        balances = {account: list(rows.values()) for account, rows in batch.balances.items()}
        for channel, per_account in (("orders", batch.orders), ("fills", batch.fills), ("balances", balances)):
            for account, entries in per_account.items():
                sequence = max(entry["sequence"] for entry in entries)
                message = {"type": channel, "channel": channel, "sequence": sequence, channel: entries}
                self.hub.publish(private_topic(channel, account), message)

    # -- heartbeats -------------------------------------------------------------------

    def heartbeat(self) -> int:
        """Send a heartbeat to every connection idle since the last round; how many got one."""
        return self.hub.heartbeat({"type": "heartbeat", "time": iso_time(self._clock.now_ns())})

    async def _beat(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.heartbeat()

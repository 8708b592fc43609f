"""The exchange's channels: durable log records -> channel messages -> the hub (``spotlab.api.streams``).

Channels (market ids are written ``BTC-USDT``; the engine says ``BTC/USDT``):
- public: ``trades:{market}``, ``book:{market}`` (a snapshot, then diffs, see
  ``spotlab.api.book_stream``), ``ticker:{market}``, ``candles:{market}:{interval}``
  (the open candle on subscribing, then its updates, then a last message with it
  ``closed``; see ``Streams`` for where the candles come from);
- private: ``orders``, ``fills``, ``balances``, for a subscriber authenticated as an
  account (``Subscriber.authenticate``); they carry only that account's events. ``alerts``
  (private too) is published by ``spotlab.api.routes.alerts`` when an alert rule fires.

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
  can join.
- Bounded memory and slow consumers: see ``spotlab.api.streams``; every subscriber
  made by ``Streams.connect`` has this streams' queue limits.
- Heartbeats: every ``heartbeat_seconds`` each connected subscriber that was sent
  nothing since the previous beat gets ``{"type": "heartbeat", "time": ...}``.

The message shapes are documented (as pydantic models, with examples) in
``spotlab.api.asyncapi``; the WebSocket tests check real messages against them.

Limitations: ``orders`` carries order events (placed, filled, canceled, expired,
reduced, rejected), not full order states; a client wanting totals asks REST. No
replay: a subscriber sees what is delivered after it subscribed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from spotlab.api.book_stream import BookStream, ShadowBook, channel_market, decimal_text, diff_message, snapshot_message
from spotlab.api.streams import (
    CLOSE_GOING_AWAY,
    DEFAULT_HEARTBEAT_SECONDS,
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_MESSAGES,
    Hub,
    Subscriber,
    encode,
    iso_time,
    private_topic,
)
from spotlab.clock import Clock, WallClock, datetime_to_ns
from spotlab.core.events import (
    BalanceChanged,
    ConditionalOrderCanceled,
    ConditionalOrderPlaced,
    MarketListed,
    MarketStatusChanged,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPlaced,
    OrderReduced,
    OrderRejected,
    OrderTriggered,
)
from spotlab.core.markets import MarketSpec
from spotlab.core.orders import Side
from spotlab.core.units import ratio_units
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.candles import INTERVALS, Candle, CandleBook
from spotlab.store.records import LogRecord

if TYPE_CHECKING:
    from spotlab.exchange.service import Exchange

log = logging.getLogger(__name__)

PUBLIC_CHANNELS = ("trades", "book", "ticker")
CANDLE_CHANNEL = "candles"  # candles:{market}:{interval}
PRIVATE_CHANNELS = ("orders", "fills", "balances", "alerts")  # alerts: published by spotlab.api.routes.alerts

#: ``ticker(symbol, payload) -> payload``: enriches the ticker of ``symbol`` (``BTC/USDT``), e.g. with 24 h figures.
TickerHook = Callable[[str, dict[str, Any]], dict[str, Any]]
#: ``() -> (seq, book)``: the candles as of event ``seq`` (``History.candle_book`` once caught up), to continue.
CandleSeed = Callable[[], tuple[int, CandleBook]]


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
    elif kind is ConditionalOrderPlaced:
        body = _conditional_placed(event, spec)
    elif kind is OrderTriggered:
        body = {
            "event": "triggered",
            "stop_price": decimal_text(spec.price(event.stop_price)),
            "last_price": decimal_text(spec.price(event.last_price)),
            "child_order_id": event.child_id,
        }
    elif kind is ConditionalOrderCanceled:
        body = {"event": "conditional_canceled", "reason": event.reason}
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


def _conditional_placed(event: ConditionalOrderPlaced, spec: MarketSpec) -> dict[str, Any]:
    """A pending conditional order (stop-loss, take-profit, trailing): it waits outside the book."""

    def price(ticks: int) -> str | None:
        return decimal_text(spec.price(ticks)) if ticks else None

    return {
        "event": "conditional_placed",
        "client_order_id": event.client_order_id,
        "side": str(event.side),
        "type": str(event.type),
        "time_in_force": str(event.time_in_force),
        "price": price(event.price),
        "quantity": decimal_text(spec.quantity(event.quantity)) if event.quantity else None,
        "quote_quantity": decimal_text(spec.quote.to_decimal(event.quote_quantity)) if event.quote_quantity else None,
        "stop_price": price(event.stop_price),
        "trailing_distance": price(event.trailing_distance),
        "trailing_percent": decimal_text(Decimal(event.trailing_bps).scaleb(-2)) if event.trailing_bps else None,
        "activation_price": price(event.activation_price),
    }


def candle_entry(candle: Candle, spec: MarketSpec) -> dict[str, Any]:
    return {
        "open_time": iso_time(candle.open_time),
        "close_time": iso_time(candle.close_time),
        "open": decimal_text(spec.price(candle.open)),
        "high": decimal_text(spec.price(candle.high)),
        "low": decimal_text(spec.price(candle.low)),
        "close": decimal_text(spec.price(candle.close)),
        "base_volume": decimal_text(spec.quantity(candle.base_volume)),
        "quote_volume": decimal_text(spec.quote.to_decimal(candle.quote_volume)),
        "trade_count": candle.trade_count,
        "closed": candle.closed,
    }


_ORDER_EVENTS = (
    OrderPlaced, OrderCanceled, OrderExpired, OrderReduced, OrderRejected, ConditionalOrderPlaced, OrderTriggered,
    ConditionalOrderCanceled,
)  # fmt: skip


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

    Candles: a ``CandleBook`` fed by the ``OrderFilled`` events of the same records, seeded at ``start`` by
    ``candles`` (``CandleSeed``: the history's candles, so a restart continues the open candle; events at or
    below its sequence number are skipped). Every ``candle_check_seconds`` the clock closes candles whose
    period ended, once every event stamped before that time has been processed (as ``spotlab.store.history``).
    A batch sends one ``candles`` message per channel: the candles it closed, then the open one it changed.
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
        candles: CandleSeed | None = None,
        candle_check_seconds: float | None = 1.0,
    ) -> None:
        self.exchange = exchange
        self.hub = Hub()
        self.books = BookStream({})
        self.candles = CandleBook()
        self._candle_seed = candles
        self._candle_check_seconds = candle_check_seconds
        self._candles_after = 0  # events at or below this seq are in the seed
        self._seq = 0  # the newest event processed (or seeded)
        self._candle_checks: asyncio.Task | None = None
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
        if self._candle_seed is not None:
            self._candles_after, self.candles = self._candle_seed()
            self._seq = self._candles_after
        else:  # no history: candles start with the trades from now on
            self._seq = self._candles_after = self.exchange.last_sequence
        if self._heartbeat_seconds:
            self._heartbeats = self._loop.create_task(self._beat(self._heartbeat_seconds), name="stream heartbeats")
        if self._candle_check_seconds:
            self._candle_checks = self._loop.create_task(
                self._check_candles(self._candle_check_seconds), name="stream candle closes"
            )

    def stop(self) -> None:
        """Stop following the exchange and close every subscriber (1001, going away)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            self._heartbeats = None
        if self._candle_checks is not None:
            self._candle_checks.cancel()
            self._candle_checks = None
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
        if name == CANDLE_CHANNEL:
            market_id, _, interval = market_id.partition(":")
            if interval not in INTERVALS:
                raise SpotlabError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{channel!r}: write candles:{{market}}:{{interval}}, the interval one of {', '.join(INTERVALS)}",
                )
        if name in PRIVATE_CHANNELS and not colon:
            if subscriber.account is None:
                raise SpotlabError(
                    ErrorCode.UNAUTHENTICATED, f"authenticate on this connection before subscribing to {channel!r}"
                )
            return private_topic(name, subscriber.account), None
        if (name in PUBLIC_CHANNELS or name == CANDLE_CHANNEL) and colon:
            symbol = self._ids.get(market_id)
            if symbol is None:
                known = ", ".join(sorted(self._ids)) or "none"
                raise SpotlabError(
                    ErrorCode.UNKNOWN_MARKET,
                    f"no market {market_id!r} (write markets like BTC-USDT); markets: {known}",
                    market=market_id,
                )
            return channel, self._markets[symbol]
        public = ", ".join([f"{c}:{{market}}" for c in PUBLIC_CHANNELS] + [f"{CANDLE_CHANNEL}:{{market}}:{{interval}}"])
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown channel {channel!r}; channels are {public}, and {', '.join(PRIVATE_CHANNELS)} once authenticated",
        )

    def _initial_message(self, channel: str, market: _Market | None) -> dict[str, Any] | None:
        if market is None or channel.startswith("trades:"):
            return None
        if channel.startswith("candles:"):
            interval = channel.rpartition(":")[2]
            candle = self.candles.current(market.symbol, interval)
            if candle is None or candle.closed:
                return None
            return self._candle_message(market, interval, [candle])
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
            with self.hub.batch():  # one write per socket for everything this drain publishes
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
        self._seq = max(self._seq, records[-1].events[-1].seq) if records and records[-1].events else self._seq
        self._process_candles(batch)

    # -- candles ----------------------------------------------------------------------

    def _process_candles(self, batch: _Batch) -> None:
        after = self._candles_after
        trades = [
            (e.market, e.ts, e.price, e.quantity, e.notional)
            for fills in batch.trades.values()
            for e in fills
            if e.seq > after
        ]
        if not trades:
            return
        try:
            updated, closed = self.candles.add_many(trades)
        except ValueError:  # the log's times go back: cannot happen with the exchange's clock; keep streaming
            log.exception("candles: a trade out of time order; the candle channels may be off until restart")
            return
        self._publish_candles(closed + updated)

    def _publish_candles(self, candles: list[Candle]) -> None:
        """One message per ``candles:{market}:{interval}`` channel with subscribers: its candles, oldest first."""
        per_topic: dict[str, list[Candle]] = {}
        has = self.hub.has
        for candle in candles:
            market = self._markets.get(candle.market)
            if market is None:
                continue
            topic = f"{CANDLE_CHANNEL}:{market.id}:{candle.interval}"
            if has(topic):
                per_topic.setdefault(topic, []).append(candle)
        for topic, entries in per_topic.items():
            market = self._markets[entries[0].market]
            self.hub.publish(topic, self._candle_message(market, entries[0].interval, entries))

    def _candle_message(self, market: _Market, interval: str, candles: list[Candle]) -> dict[str, Any]:
        return {
            "type": "candles",
            "channel": f"{CANDLE_CHANNEL}:{market.id}:{interval}",
            "market": market.id,
            "interval": interval,
            "sequence": self._seq,
            "candles": [candle_entry(candle, market.spec) for candle in candles],
        }

    def close_candles(self) -> int:
        """Close the candles whose period has ended by the clock, if every event stamped before now was processed.

        Returns how many closed. (Called every ``candle_check_seconds``.)
        """
        now = self._clock.now_ns()
        if self._seq < self.exchange.last_sequence:
            return 0  # an event stamped before ``now`` may still be on its way
        closed = self.candles.close_until(now)
        if closed:
            self._publish_candles(closed)
        return len(closed)

    async def _check_candles(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                self.close_candles()
            except Exception:  # keep checking: a closed exchange at shutdown, a bug in one round
                log.exception("candles: the periodic close check failed")

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

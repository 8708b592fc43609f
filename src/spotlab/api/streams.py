"""The transport-independent fan-out behind ``/v1/ws``: bounded subscriber queues and the hub.

What goes into the queues (the exchange's channels, built from durable log records)
is ``spotlab.api.channels.Streams``; this module only moves JSON texts to connections.

Invariants
- Loop-confined: everything here runs on one asyncio loop's thread.
- Serialise once: the hub turns a message into JSON text once (``encode``) and hands
  the same ``str`` to every subscriber of its topic.
- Money and quantities are ``Decimal`` strings (plain digits), never floats; times are
  ISO-8601 UTC (``2024-01-01T00:00:00.000000Z``).
- Isolation: a subscriber's account is set once and never changes; private topics are
  ``{channel}@{account}`` (``private_topic``) and only its own account's are joined.
- Bounded memory: a subscriber's queue holds at most ``max_messages`` messages and
  ``max_chars`` characters (bytes, for the ASCII JSON we send). A delivery that would
  exceed either closes the subscriber instead (``1008``, "slow consumer: ...") and drops
  its queue; the hub forgets it at once, its ``on_close`` callback runs (the transport
  stops a send blocked on a stalled socket), and its sender sees ``None`` from
  ``next()`` and closes the socket with ``close_code`` / ``close_reason``.
- Heartbeats (``Hub.heartbeat``): a round queues ``{"type": "heartbeat", ...}`` for each
  connected subscriber that was sent nothing since the previous round.

Use from the WebSocket endpoint (on the loop), with ``streams`` a ``spotlab.api.channels.Streams``::

    subscriber = streams.connect()                          # after accepting the socket
    subscriber.on_close = stop_sending                      # optional: told once when it closes
    # sender task:  while (message := await subscriber.next()) is not None: await ws.send_text(message)
    #               then await ws.close(subscriber.close_code, subscriber.close_reason)
    subscriber.authenticate("alice")                        # once the socket has authenticated
    streams.subscribe(subscriber, "book:BTC-USDT", ack={"type": "subscribed", "channel": "book:BTC-USDT"})
    streams.unsubscribe(subscriber, "book:BTC-USDT")
    streams.disconnect(subscriber)                          # when the socket ends, whatever the reason
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from spotlab.clock import ns_to_datetime
from spotlab.errors import ErrorCode, SpotlabError

DEFAULT_MAX_MESSAGES = 1_000
DEFAULT_MAX_CHARS = 8 * 1024 * 1024
DEFAULT_HEARTBEAT_SECONDS = 20.0
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008

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

    __slots__ = ("_account", "max_messages", "max_chars", "topics", "close_code", "close_reason", "on_close")
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
        self.on_close: Callable[[], None] | None = None  # called once, when the subscriber closes
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
        """Stop: drop the queue, wake the sender (it closes the socket with ``code``, ``reason``), call ``on_close``."""
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
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()

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


def __getattr__(name: str) -> Any:
    """``Streams`` and ``TickerHook`` moved to ``spotlab.api.channels``; old imports keep working."""
    if name in ("Streams", "TickerHook"):
        from spotlab.api import channels

        return getattr(channels, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

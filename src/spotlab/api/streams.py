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
- Write-through (``Subscriber.write_through``): where the server lets the application write
  whole frames to a connection (``spotlab.api.ws_frames``), a message is framed once per
  fan-out (``text_frame``) and written at once to every such subscriber, with no queue and no
  sender task. The bound is then the transport's buffer: a write that leaves more than
  ``max_chars`` bytes unsent closes the subscriber (``1008``, "slow consumer: N bytes
  unsent"); ``max_messages`` does not apply (nothing is queued here). Inside ``Hub.batch``
  (one drain of the exchange's records) each such subscriber's frames go out in one write.
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
import struct
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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


_FIN_TEXT = 0x81  # FIN bit set, opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented WebSocket text frame carrying ``payload``, as a server sends it (RFC 6455)."""
    size = len(payload)
    if size < 126:
        header = bytes((_FIN_TEXT, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, size)
    return header + payload


def iso_time(ns: int) -> str:
    """UTC nanoseconds as ISO-8601 with microseconds and ``Z``."""
    return ns_to_datetime(ns).isoformat(timespec="microseconds").replace("+00:00", "Z")


def private_topic(channel: str, account: str) -> str:
    return f"{channel}@{account}"


# -- subscribers --------------------------------------------------------------------------


class Subscriber:
    """One connection's outbound side: a bounded queue of JSON texts, read by one sender task."""

    __slots__ = ("_account", "max_messages", "max_chars", "topics", "close_code", "close_reason", "on_close")
    __slots__ += ("_queue", "_chars", "_waiter", "_active", "_sink", "_held")

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
        self._sink: Callable[[bytes], int | None] | None = None
        self._held: list[bytes] | None = None  # frames held for one write (``Hub.batch``)

    def write_through(self, sink: Callable[[bytes], int | None]) -> None:
        """From now on write each message at once as a frame through ``sink`` instead of queueing it.

        ``sink(frame)`` writes whole frames and returns the bytes its transport still buffers, or
        ``None`` when the connection no longer takes frames (``spotlab.api.ws_frames.FrameSink``).
        Only before anything is queued, so nothing overtakes what waits in the queue.
        """
        if self._queue:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "write_through before anything is queued")
        self._sink = sink

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

    def deliver(self, message: str, frame: bytes | None = None) -> bool:
        """Queue ``message`` (or write it, see ``write_through``; ``frame`` is its ``text_frame`` if made already).

        ``False`` if the subscriber is closed, or closes now because it is too far behind.
        """
        queue = self._queue
        if queue is None:
            return False
        sink = self._sink
        if sink is not None:
            if frame is None:
                frame = text_frame(message.encode())
            self._active = True
            held = self._held
            if held is not None:
                held.append(frame)
                return True
            return self._write(sink, frame)
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

    def _write(self, sink: Callable[[bytes], int | None], frames: bytes) -> bool:
        buffered = sink(frames)
        if buffered is None:  # the connection is closing: nothing more goes out
            self.close(CLOSE_GOING_AWAY, "the connection is closing")
            return False
        if buffered > self.max_chars:
            self.close(CLOSE_POLICY_VIOLATION, f"slow consumer: {buffered} bytes unsent")
            return False
        return True

    @property
    def writes_through(self) -> bool:
        return self._sink is not None

    def hold(self) -> None:
        """Write-through only: keep the frames delivered from now on for one write at ``flush``."""
        if self._sink is not None and self._held is None:
            self._held = []

    def flush(self) -> bool:
        """Write the frames held since ``hold`` in one go; ``False`` if that closed the subscriber."""
        held, self._held = self._held, None
        if not held or self._queue is None:
            return self._queue is not None
        return self._write(self._sink, held[0] if len(held) == 1 else b"".join(held))

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
        self._holding: dict[Subscriber, None] | None = None  # inside ``batch``: subscribers holding frames

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Inside: a subscriber writing through holds what it is sent; at the end, one write each.

        What one drain of the exchange's records publishes (trades, a book diff, a ticker...) then
        reaches each socket in one write, so a client reads them in one go. Subscribers that
        fall behind on that write are closed and forgotten, as in ``fan_out``.
        """
        if self._holding is not None:  # nested: the outer batch writes
            yield
            return
        holding = self._holding = {}
        try:
            yield
        finally:
            self._holding = None
            dropped = [subscriber for subscriber in holding if not subscriber.flush()]
            for subscriber in dropped:
                self.disconnect(subscriber)

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
        frame = text_frame(message.encode())  # framed once for every subscriber writing through
        holding = self._holding
        if holding is not None:
            for subscriber in subscribers:
                if subscriber.writes_through and subscriber not in holding:
                    subscriber.hold()
                    holding[subscriber] = None
        dropped = [subscriber for subscriber in subscribers if not subscriber.deliver(message, frame)]
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

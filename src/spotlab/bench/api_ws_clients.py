"""The WebSocket clients of ``spotlab bench api``: subscribers, a paced order load, pipelined order entry.

Each runs on its own uvloop event loop; the subscribers and the paced load run in their
own processes (``python -m spotlab.bench.api_ws_clients subscribe|load ...``) so that
they neither share a loop with each other nor with the harness. Protocol: ``/v1/ws``
(see ``spotlab.api.routes.ws``).

- ``subscribe``: opens ``connections`` sockets, each subscribed to ``trades:BTC-USDT`` and
  ``book:BTC-USDT``; prints ``READY`` once every subscription is acknowledged, reads
  ``START <from_ns> <until_ns>`` on stdin, counts what arrives in that window and writes
  its tally as JSON to ``--out`` (then prints ``DONE``). Delivery lag of a trade = wall-clock receive time - the trade's
  ``time`` (the exchange's clock when it matched; one machine, one clock), in a histogram
  of 0.1 ms buckets. Book diffs carry no time: they are counted, and each socket checks
  that they chain (``previous_sequence`` = the sequence it holds), which proves none was lost.
  Each process also measures how late its own event loop wakes up (``loop_lags``): a busy
  client reads late, and that part of a lag is the client's, not the server's.
- ``load``: places orders (``api_load.OrderFlow``) over ``connections`` authenticated sockets
  at ``rate`` orders per second for ``seconds``, paced every 10 ms; counts results and errors.
- ``pipelined_orders``: order entry as fast as the server answers, ``window`` ops in flight
  per socket; latency from sending an op to its result.

Invariants
- A socket closed by the server (e.g. 1008, slow consumer) is counted, never retried.
- Only messages received inside the window count; lags are never negative in the figures
  (a receive before the trade's time would be clock skew, counted as 0 and reported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from spotlab.bench.api_load import Latencies, OrderFlow

MARKET = "BTC-USDT"
CHANNELS = [f"trades:{MARKET}", f"book:{MARKET}"]
BUCKET_NS = 100_000  # 0.1 ms
BUCKETS = 100_000  # up to 10 s; later lags land in the last bucket
CONNECT_OPTIONS = {"compression": None, "max_size": 2**24, "ping_interval": None, "open_timeout": 60}


# -- lag histogram ----------------------------------------------------------------------------


@dataclass
class LagHistogram:
    """Counts of delivery lags in ``BUCKET_NS`` buckets; ``max_ns`` exact."""

    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    total: int = 0
    max_ns: int = 0
    negative: int = 0

    def add(self, lag_ns: int, times: int = 1) -> None:
        if lag_ns < 0:
            self.negative += times
            lag_ns = 0
        self.counts[min(lag_ns // BUCKET_NS, BUCKETS - 1)] += times
        self.total += times
        if lag_ns > self.max_ns:
            self.max_ns = lag_ns

    def merge(self, other: LagHistogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total
        self.max_ns = max(self.max_ns, other.max_ns)
        self.negative += other.negative

    def percentile_ms(self, p: float) -> float | None:
        """The upper edge of the bucket holding the ``p``-th percentile (nearest rank)."""
        if not self.total:
            return None
        rank = max(1, -(-p * self.total // 100))
        seen = 0
        for bucket, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return (bucket + 1) * BUCKET_NS / 1e6
        return self.max_ns / 1e6

    def to_json(self) -> dict[str, Any]:
        sparse = {str(i): c for i, c in enumerate(self.counts) if c}
        return {"counts": sparse, "total": self.total, "max_ns": self.max_ns, "negative": self.negative}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LagHistogram:
        histogram = cls(total=data["total"], max_ns=data["max_ns"], negative=data["negative"])
        for index, count in data["counts"].items():
            histogram.counts[int(index)] = count
        return histogram


# -- subscribers ------------------------------------------------------------------------------


@dataclass
class SubscriberTally:
    """What the subscribers of one process received inside the window."""

    lags: LagHistogram = field(default_factory=LagHistogram)
    loop_lags: LagHistogram = field(default_factory=LagHistogram)  # the client's own lateness
    trade_messages: int = 0
    trades: int = 0
    book_messages: int = 0
    book_levels: int = 0
    other_messages: int = 0
    bytes: int = 0
    gaps: int = 0
    closed: int = 0
    close_codes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = {name: value for name, value in self.__dict__.items() if not name.endswith("lags")}
        return {**data, "lags": self.lags.to_json(), "loop_lags": self.loop_lags.to_json()}


class ParsedOnce:
    """Facts of a channel message, parsed once per process and kept by its ``sequence``: every socket
    of the process receives the same message, so the others only look them up."""

    def __init__(self, extract) -> None:
        self._extract = extract
        self._by_sequence: dict[int, Any] = {}

    def of(self, text: str) -> Any:
        sequence = _sequence(text)
        facts = self._by_sequence.get(sequence)
        if facts is None:
            facts = self._by_sequence[sequence] = self._extract(json.loads(text))
            if len(self._by_sequence) > 10_000:
                self._by_sequence.pop(next(iter(self._by_sequence)))
        return facts


def trade_times(message: dict[str, Any]) -> list[int]:
    """The ``time`` of each trade of a ``trades`` message, in nanoseconds since the epoch."""
    return [_iso_ns(trade["time"]) for trade in message["trades"]]


def diff_facts(message: dict[str, Any]) -> tuple[int, int, int]:
    """``(previous_sequence, sequence, levels changed)`` of a book diff."""
    return message["previous_sequence"], message["sequence"], len(message["bids"]) + len(message["asks"])


def _iso_ns(text: str) -> int:
    moment = datetime.fromisoformat(text)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


class LeanSubscriber(asyncio.Protocol):
    """One subscriber socket on websockets' sans-I/O protocol, handled inside ``data_received``.

    The instrument must not be the bottleneck: 1,000 sockets at tens of messages per second
    each are more than an asyncio client with a task wake-up per message keeps up with on
    this machine, so the subscribers read frames straight off the transport (websockets parses
    them, handshake included) and count them where they arrive. All frames of one read
    share one receive time.
    """

    def __init__(self, url: str, ready: asyncio.Future, window: list[int], tally: SubscriberTally, caches: tuple):
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.protocol = ClientProtocol(parse_uri(url), max_size=2**24)
        self.ready, self.window, self.tally = ready, window, tally
        self.trades_cache, self.diffs_cache = caches
        self.transport: asyncio.Transport | None = None
        self.acknowledged, self.book_sequence, self.subscribed = 0, None, False
        self.closed_counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Opcode
        from websockets.http11 import Response

        received = time.time_ns()
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Response):
                if event.status_code != 101:
                    self._fail(RuntimeError(f"handshake refused: {event.status_code}"))
                    return
                protocol.send_text(json.dumps({"op": "subscribe", "id": 1, "channels": CHANNELS}).encode())
            elif event.opcode is Opcode.TEXT:
                text = event.data.decode()
                if self.subscribed:
                    self._count(text, received)
                else:
                    self._subscribing(text)
            elif event.opcode is Opcode.CLOSE:
                self._closed(protocol.close_rcvd.code if protocol.close_rcvd is not None else None)
        self._flush()  # pongs and the closing handshake

    def _subscribing(self, text: str) -> None:
        message = json.loads(text)
        if message["type"] == "subscribed":
            self.acknowledged += 1
        elif message["type"] == "snapshot":
            self.book_sequence = message["sequence"]
        elif message["type"] == "error":
            self._fail(RuntimeError(f"subscribing failed: {message}"))
            return
        if self.acknowledged == len(CHANNELS) and self.book_sequence is not None:
            self.subscribed = True
            if not self.ready.done():
                self.ready.set_result(None)

    def _count(self, text: str, received: int) -> None:
        window, tally = self.window, self.tally
        if received > window[1]:
            return
        counted = window[0] <= received
        if text.startswith('{"type":"trades"'):
            times = self.trades_cache.of(text)
            if counted:
                tally.trade_messages += 1
                tally.trades += len(times)
                tally.bytes += len(text)
                add_lag = tally.lags.add
                for trade_time in times:
                    add_lag(received - trade_time)
        elif text.startswith('{"type":"update"'):
            previous, sequence, levels = self.diffs_cache.of(text)
            if previous != self.book_sequence:
                tally.gaps += 1
            self.book_sequence = sequence
            if counted:
                tally.book_messages += 1
                tally.book_levels += levels
                tally.bytes += len(text)
        elif counted:
            tally.other_messages += 1

    def _closed(self, code: int | None) -> None:
        if self.closed_counted or not self.subscribed or time.time_ns() > self.window[1]:
            return
        self.closed_counted = True
        self.tally.closed += 1
        key = str(code if code is not None else "none")
        self.tally.close_codes[key] = self.tally.close_codes.get(key, 0) + 1

    def _fail(self, error: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(error)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before subscribing: {exc!r}"))
        self._closed(None)


async def _loop_lag(window: list[int], histogram: LagHistogram, period: float = 0.01) -> None:
    """How late this process's event loop wakes from a ``period`` sleep: the share of a delivery
    lag that is the client's own (a busy client reads late), reported beside the lags."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + period
        await asyncio.sleep(period)
        late_ns = int((loop.time() - due) * 1e9)
        received = time.time_ns()
        if received > window[1]:
            return
        if received >= window[0]:
            histogram.add(late_ns)


def _sequence(text: str) -> int:
    start = text.index('"sequence":') + 11
    end = start
    while text[end].isdigit():
        end += 1
    return int(text[start:end])


async def subscribe_main(url: str, connections: int, grace_seconds: float = 0.5) -> dict[str, Any]:
    """Connect, print READY, wait for START on stdin, count, return the tally (see the module docstring)."""
    from websockets.uri import parse_uri

    loop = asyncio.get_running_loop()
    address = parse_uri(url)
    window = [2**62, 2**62]  # nothing counts until START
    tally, caches = SubscriberTally(), (ParsedOnce(trade_times), ParsedOnce(diff_facts))
    sockets: list[LeanSubscriber] = []
    for batch_start in range(0, connections, 50):  # a few at a time: the server's accept queue is finite
        readies = []
        for _ in range(batch_start, min(connections, batch_start + 50)):
            ready = loop.create_future()
            _, socket = await loop.create_connection(
                lambda ready=ready: LeanSubscriber(url, ready, window, tally, caches), address.host, address.port
            )
            sockets.append(socket)
            readies.append(ready)
        await asyncio.wait_for(asyncio.gather(*readies), 60)
    print("READY", flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    _, start_ns, until_ns = line.split()
    window[0], window[1] = int(start_ns), int(until_ns)
    lag_task = asyncio.create_task(_loop_lag(window, tally.loop_lags))
    await asyncio.sleep(max(0.0, (window[1] - time.time_ns()) / 1e9) + grace_seconds)
    lag_task.cancel()
    await asyncio.gather(lag_task, return_exceptions=True)
    for socket in sockets:
        socket.transport.close()
    return tally.to_json()


# -- order entry ------------------------------------------------------------------------------


@dataclass
class EntryTally:
    sent: int = 0
    results: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: Latencies = field(default_factory=Latencies)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "results": self.results,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "results_per_second": round(self.results / self.seconds, 1) if self.seconds else 0.0,
            **self.latencies.summary(),
        }


async def _authenticated(url: str, token: str):
    from websockets.asyncio.client import connect

    socket = await connect(url, **CONNECT_OPTIONS)
    await socket.send(json.dumps({"op": "auth", "id": 0, "token": token}))
    answer = json.loads(await socket.recv())
    if answer.get("type") != "authenticated":
        raise RuntimeError(f"WebSocket auth failed: {answer}")
    return socket


class _Entry:
    """One authenticated socket sending ``place_order`` ops and matching answers by id."""

    def __init__(self, socket: Any, tally: EntryTally) -> None:
        self.socket = socket
        self.tally = tally
        self.sent_at: dict[int, int] = {}
        self.next_id = 1
        self.answered = asyncio.Event()

    async def send(self, order: dict[str, Any]) -> None:
        op_id = self.next_id
        self.next_id += 1
        self.sent_at[op_id] = time.perf_counter_ns()
        self.tally.sent += 1
        await self.socket.send(json.dumps({"op": "place_order", "id": op_id, "order": order}))

    async def read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for text in self.socket:
                message = json.loads(text)
                sent = self.sent_at.pop(message.get("id"), None)
                if sent is None:
                    continue
                if message["type"] == "result":
                    self.tally.results += 1
                    self.tally.latencies.add(time.perf_counter_ns() - sent)
                else:
                    code = message.get("code", message["type"])
                    self.tally.errors[code] = self.tally.errors.get(code, 0) + 1
                self.answered.set()
        except ConnectionClosed:
            return


async def paced_load(url: str, tokens: list[str], rate: float, seconds: float, tag: str) -> dict[str, Any]:
    """``rate`` orders per second over one socket per token, paced in 10 ms ticks, for ``seconds``."""
    tally = EntryTally()
    entries = [_Entry(await _authenticated(url, token), tally) for token in tokens]
    readers = [asyncio.create_task(entry.read()) for entry in entries]
    flow = OrderFlow(len(entries), tag)
    start = time.monotonic()
    tick, due = 0.01, 0.0
    while (elapsed := time.monotonic() - start) < seconds:
        due = max(due, rate * elapsed - 2 * rate * tick)  # after a stall, catch up at most two ticks
        while due < rate * elapsed:
            index, order = flow.next_order()
            await entries[index].send(order)
            due += 1
        await asyncio.sleep(tick)
    tally.seconds = time.monotonic() - start
    await asyncio.sleep(0.5)  # the last answers
    for entry in entries:
        await entry.socket.close()
    await asyncio.gather(*readers, return_exceptions=True)
    return tally.to_json()


async def pipelined_orders(
    url: str, tokens: list[str], *, connections: int, window: int, seconds: float, tag: str, warmup: float = 0.0
) -> dict[str, Any]:
    """Order entry with ``window`` ops in flight on each of ``connections`` sockets, for ``seconds``."""
    tally = EntryTally()
    entries = [_Entry(await _authenticated(url, tokens[i % len(tokens)]), tally) for i in range(connections)]
    readers = [asyncio.create_task(entry.read()) for entry in entries]
    flow = OrderFlow(len(tokens), tag)
    measuring = warmup <= 0
    started = time.monotonic()
    deadline = started + warmup + seconds

    async def keep_full(entry: _Entry) -> None:
        while time.monotonic() < deadline:
            while len(entry.sent_at) < window:
                await entry.send(flow.next_order()[1])
            entry.answered.clear()
            await entry.answered.wait()

    feeders = [asyncio.create_task(keep_full(entry)) for entry in entries]
    if not measuring:
        await asyncio.sleep(warmup)
        tally.results, tally.errors, tally.latencies = 0, {}, Latencies()
    measured_from = time.monotonic()
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    results_at_deadline = tally.results
    tally.seconds = time.monotonic() - measured_from
    await asyncio.gather(*feeders, return_exceptions=True)
    for entry in entries:
        await entry.socket.close()
    await asyncio.gather(*readers, return_exceptions=True)
    tally.results = results_at_deadline
    return tally.to_json()


# -- command line (the subprocesses) ----------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    import uvloop

    parser = argparse.ArgumentParser(description="WebSocket benchmark clients (spawned by spotlab bench api).")
    commands = parser.add_subparsers(dest="command", required=True)
    subscribe = commands.add_parser("subscribe")
    subscribe.add_argument("--url", required=True)
    subscribe.add_argument("--connections", type=int, required=True)
    subscribe.add_argument("--out", required=True, help="Write the result (JSON) here.")
    load = commands.add_parser("load")
    load.add_argument("--url", required=True)
    load.add_argument("--tokens-file", required=True)
    load.add_argument("--rate", type=float, required=True)
    load.add_argument("--seconds", type=float, required=True)
    load.add_argument("--tag", default="load")
    load.add_argument("--out", required=True, help="Write the result (JSON) here.")
    args = parser.parse_args(argv)
    if args.command == "subscribe":
        result = uvloop.run(subscribe_main(args.url, args.connections))
    else:
        with open(args.tokens_file) as lines:
            tokens = [line.strip() for line in lines if line.strip()]
        result = uvloop.run(paced_load(args.url, tokens, args.rate, args.seconds, args.tag))
    with open(args.out, "w") as out:
        json.dump(result, out)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()

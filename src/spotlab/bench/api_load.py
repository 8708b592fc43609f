"""Load generators of the API benchmarks: the order flow, a keep-alive HTTP client, latency figures.

- ``OrderFlow``: the benchmark's orders, the same mix as ``bench/wrk/orders.lua``:
  BTC-USDT GTC limit orders of 0.001 BTC, buys at mid - 15 .. mid + 5 ticks, sells at
  mid - 5 .. mid + 15 ticks (seeded), a unique ``client_order_id`` each, spread over
  the accounts' tokens in turn; roughly a quarter cross and trade, the rest rest.
- ``http_orders(url, tokens, ...)``: ``connections`` keep-alive HTTP/1.1 connections on
  asyncio (uvloop), each with one request in flight (as wrk does), for ``seconds``;
  the Python stand-in for wrk (the smoke test, and machines without wrk).
- ``Latencies``: nearest-rank percentiles of nanosecond samples.

Invariants
- Every figure counts completed answers only; a non-2xx answer counts as an error,
  never as a success. Latency is from writing a request to reading its last byte.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

MID_CENTS = 6_000_000  # 60,000.00 USDT
QUANTITY = "0.001"
MARKET = "BTC-USDT"


class OrderFlow:
    """The seeded order mix (see the module docstring); ``next_order()`` gives ``(token index, body dict)``."""

    def __init__(self, accounts: int, tag: str, seed: int = 42, mid_cents: int = MID_CENTS) -> None:
        if accounts < 1:
            raise ValueError(f"an order flow needs at least one account, got {accounts}")
        self.accounts = accounts
        self.tag = tag
        self.mid = mid_cents
        self.counter = 0
        self._random = random.Random(seed)

    def next_order(self) -> tuple[int, dict[str, Any]]:
        self.counter += 1
        draw = self._random.randint
        if draw(1, 2) == 1:
            side, cents = "buy", self.mid + draw(-15, 5)
        else:
            side, cents = "sell", self.mid + draw(-5, 15)
        body = {
            "market": MARKET,
            "side": side,
            "type": "limit",
            "price": f"{cents // 100}.{cents % 100:02d}",
            "quantity": QUANTITY,
            "time_in_force": "GTC",
            "client_order_id": f"{self.tag}-{self.counter}",
        }
        return self.counter % self.accounts, body


@dataclass
class Latencies:
    """Latency samples in nanoseconds; percentiles by nearest rank."""

    samples: list[int] = field(default_factory=list, repr=False)

    def add(self, nanoseconds: int) -> None:
        self.samples.append(nanoseconds)

    def extend(self, other: Latencies) -> None:
        self.samples.extend(other.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def percentile_ms(self, p: float) -> float | None:
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
        return ordered[rank - 1] / 1e6

    def max_ms(self) -> float | None:
        return max(self.samples) / 1e6 if self.samples else None

    def summary(self) -> dict[str, float | None]:
        return {
            "p50_ms": _round(self.percentile_ms(50)),
            "p99_ms": _round(self.percentile_ms(99)),
            "max_ms": _round(self.max_ms()),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class LoadResult:
    """What a load run saw: answers by status, latencies, and the measured seconds."""

    seconds: float
    statuses: dict[int, int]
    latencies: Latencies
    socket_errors: int = 0

    @property
    def ok(self) -> int:
        return sum(count for status, count in self.statuses.items() if 200 <= status < 300)

    @property
    def errors(self) -> int:
        return sum(self.statuses.values()) - self.ok + self.socket_errors

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


# -- the HTTP client ------------------------------------------------------------------------------


def order_request(host: str, token: str, body: dict[str, Any]) -> bytes:
    """One ``POST /v1/orders`` request, keep-alive, as bytes."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a ``Content-Length`` (what uvicorn sends here)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _connection(
    host: str, port: int, tokens: list[str], flow: OrderFlow, deadline: float, result: LoadResult
) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        result.socket_errors += 1
        return
    perf = time.perf_counter_ns
    try:
        while time.monotonic() < deadline:
            index, body = flow.next_order()
            start = perf()
            writer.write(order_request(host, tokens[index], body))
            status, _ = await read_response(reader)
            result.latencies.add(perf() - start)
            result.statuses[status] = result.statuses.get(status, 0) + 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        result.socket_errors += 1
    finally:
        writer.close()


async def http_orders_async(
    url: str, tokens: list[str], *, connections: int, seconds: float, tag: str, seed: int = 42
) -> LoadResult:
    """Place orders over ``connections`` keep-alive connections for ``seconds`` (one request in flight each)."""
    host, port = _host_port(url)
    flow = OrderFlow(len(tokens), tag, seed)
    result = LoadResult(seconds, {}, Latencies())
    start = time.monotonic()
    deadline = start + seconds
    await asyncio.gather(*(_connection(host, port, tokens, flow, deadline, result) for _ in range(connections)))
    result.seconds = time.monotonic() - start
    return result


def http_orders(url: str, tokens: list[str], *, connections: int, seconds: float, tag: str, seed: int = 42):
    """``http_orders_async`` on a fresh uvloop event loop."""
    import uvloop

    return uvloop.run(http_orders_async(url, tokens, connections=connections, seconds=seconds, tag=tag, seed=seed))


def _host_port(url: str) -> tuple[str, int]:
    rest = url.split("://", 1)[1].split("/", 1)[0]
    host, _, port = rest.rpartition(":")
    return host, int(port)

"""The simulator benchmark's probes: an open-loop reader of order books, and the machine's CPU pressure and steal.

- ``book_load(url, markets, rate, start, end, connections)``: ``GET /v1/markets/{market}/book`` at a fixed
  ``rate`` (requests a second), rotating over ``markets``, from ``start`` to ``end`` (``time.monotonic()``
  instants), over ``connections`` keep-alive HTTP/1.1 connections. Request ``i`` is due at
  ``start + i / rate`` whatever happened to the ones before (open loop), and its latency is measured from
  that due time to the last byte of the answer: a server that stalls is charged for every request that
  should have been sent meanwhile (no coordinated omission). ``late`` records how late the client itself
  sent each request (its own event loop's delay, part of the latency).
- ``MachineSample.take()`` and ``machine_window(a, b)``: ``/proc/pressure/cpu`` (the share of wall time in
  which some runnable task waited for a CPU), ``/proc/stat`` (the hypervisor's steal, ``vmstat``'s ``st``,
  and the busy share of all CPUs) and the load average between two samples.

Invariants
- Only a 200 answer is a success; anything else, and every socket error, is counted as an error. Every
  success is a JSON book of the requested market; ``two_sided`` counts those with bids and asks.
- Latencies are nanosecond samples (``spotlab.bench.api_load.Latencies``, nearest-rank percentiles).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spotlab.bench.api_load import Latencies, _host_port, read_response


@dataclass
class BookLoad:
    """What the book reader saw between its ``start`` and ``end``."""

    rate: float
    seconds: float = 0.0
    sent: int = 0
    ok: int = 0
    errors: int = 0
    two_sided: int = 0  # 200 answers whose book had both bids and asks
    latencies: Latencies = field(default_factory=Latencies)
    late: Latencies = field(default_factory=Latencies)  # how late the client sent each request
    sequences: dict[str, list[int]] = field(default_factory=dict)  # market -> [first, last] book sequence seen
    cpu_seconds: float = 0.0  # this process's CPU time over the run (the client's own footprint)

    def summary(self) -> dict[str, Any]:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        lat = self.latencies
        return {
            "rate": self.rate,
            "seconds": round(self.seconds, 3),
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "two_sided": self.two_sided,
            "p50_ms": ms(lat.percentile_ms(50)),
            "p90_ms": ms(lat.percentile_ms(90)),
            "p99_ms": ms(lat.percentile_ms(99)),
            "max_ms": ms(lat.max_ms()),
            "client_late_p50_ms": ms(self.late.percentile_ms(50)),
            "client_late_p99_ms": ms(self.late.percentile_ms(99)),
            "book_updates_seen": sum(last - first for first, last in self.sequences.values()),
            "client_cpu_cores": round(self.cpu_seconds / self.seconds, 3) if self.seconds else None,
        }


def market_id(market: str) -> str:
    return market.replace("/", "-")


async def book_load_async(
    url: str, markets: list[str], rate: float, start: float, end: float, connections: int = 8, tick=None
) -> BookLoad:
    """Read books at ``rate`` a second from ``start`` to ``end`` (monotonic); ``tick(now)`` is called about
    every 0.25 s (progress)."""
    if rate <= 0 or connections < 1 or not markets:
        raise ValueError("book_load needs a positive rate, at least one connection and one market")
    host, port = _host_port(url)
    result = BookLoad(rate)
    times = os.times()
    cpu_before = times.user + times.system
    idle: asyncio.Queue = asyncio.Queue()
    opened = []
    for _ in range(connections):
        reader, writer = await asyncio.open_connection(host, port)
        opened.append(writer)
        idle.put_nowait((reader, writer))
    requests = [
        f"GET /v1/markets/{market_id(m)}/book HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode() for m in markets
    ]
    pending: set[asyncio.Task] = set()

    async def one(index: int, due: float) -> None:
        connection = await idle.get()
        reader, writer = connection
        result.late.add(int((time.monotonic() - due) * 1e9))
        try:
            writer.write(requests[index % len(markets)])
            status, body = await read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            reader, writer = await asyncio.open_connection(host, port)  # replace the broken connection
            opened.append(writer)
            idle.put_nowait((reader, writer))
            return
        result.latencies.add(int((time.monotonic() - due) * 1e9))
        idle.put_nowait(connection)
        if status != 200:
            result.errors += 1
            return
        result.ok += 1
        book = json.loads(body)
        if book["bids"] and book["asks"]:
            result.two_sided += 1
        seen = result.sequences.setdefault(book["market"], [book["sequence"], book["sequence"]])
        seen[1] = max(seen[1], book["sequence"])

    index, next_tick = 0, 0.0
    while True:
        due = start + index / rate
        if due >= end:
            break
        now = time.monotonic()
        if tick is not None and now >= next_tick:
            tick(now)
            next_tick = now + 0.25
        if due > now:
            await asyncio.sleep(due - now)
        task = asyncio.create_task(one(index, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
        index += 1
    result.sent = index
    if pending:
        await asyncio.wait(pending, timeout=30)
    result.seconds = end - start
    times = os.times()
    result.cpu_seconds = times.user + times.system - cpu_before
    for writer in opened:
        writer.close()
    return result


def book_load(url: str, markets: list[str], rate: float, start: float, end: float, connections: int = 8, tick=None):
    """``book_load_async`` on a fresh uvloop event loop."""
    import uvloop

    return uvloop.run(book_load_async(url, markets, rate, start, end, connections, tick))


# -- the machine ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MachineSample:
    monotonic: float
    pressure_some_us: int | None  # /proc/pressure/cpu "some" total, microseconds
    cpu_ticks: tuple[int, ...]  # /proc/stat "cpu": user nice system idle iowait irq softirq steal
    load: tuple[float, float, float]

    @classmethod
    def take(cls) -> MachineSample:
        pressure = None
        try:
            for line in Path("/proc/pressure/cpu").read_text().splitlines():
                if line.startswith("some"):
                    pressure = int(line.rsplit("total=", 1)[1])
        except (OSError, ValueError, IndexError):
            pass
        try:
            first = Path("/proc/stat").read_text().splitlines()[0].split()
            ticks = tuple(int(x) for x in first[1:9])
        except (OSError, ValueError):
            ticks = ()
        return cls(time.monotonic(), pressure, ticks, os.getloadavg())


def machine_window(a: MachineSample, b: MachineSample) -> dict[str, Any]:
    """CPU pressure, steal and busy share between two samples (shares of wall time / of all CPU time)."""
    wall = b.monotonic - a.monotonic
    out: dict[str, Any] = {"seconds": round(wall, 3), "load_average": [round(x, 2) for x in b.load]}
    if a.pressure_some_us is not None and b.pressure_some_us is not None and wall > 0:
        out["cpu_pressure_some"] = round((b.pressure_some_us - a.pressure_some_us) / 1e6 / wall, 4)
    if len(a.cpu_ticks) == len(b.cpu_ticks) == 8:
        delta = [y - x for x, y in zip(a.cpu_ticks, b.cpu_ticks, strict=True)]
        total = sum(delta)
        if total > 0:
            out["steal"] = round(delta[7] / total, 4)
            out["busy"] = round((total - delta[3] - delta[4]) / total, 4)
    return out

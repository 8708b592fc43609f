"""``spotlab bench api`` (WebSocket parts): fan-out to many subscribers, and order entry vs REST.

Fan-out
- One server (``spotlab.bench.api_serve``: ``spotlab serve`` with WebSocket order entry
  unlimited per connection and the hub's ``coalesce_seconds`` as chosen), a durable SQLite
  store, 16 funded accounts.
- ``subscribers`` sockets, spread over ``subscriber_processes`` client processes, each
  subscribed to ``trades:BTC-USDT`` and ``book:BTC-USDT`` (``api_ws_clients subscribe``).
- One load process (``api_ws_clients load``) placing the benchmark's order mix over
  WebSocket order entry at ``order_rate`` orders per second: the market's public events
  (trades, plus book levels changed) come from it. The load is external to the server.
- Measured over ``seconds`` after ``warmup_seconds``: trade delivery lag (receive time -
  the trade's ``time``) over every delivery to every subscriber, messages delivered per
  second (all subscribers), the market's public events per second (orders accepted, each of
  which changes the book, plus trades printed, as one subscriber counts them; the book
  levels changed per second as the coalesced diffs carry them are reported beside), book
  diffs that did not chain (must be 0), sockets closed by the server (must be 0).

Order entry
- A fresh server of the same kind per run; ``connections`` sockets with ``window`` ops in
  flight each (``api_ws_clients.pipelined_orders``, run in this process) against REST at the
  same concurrency (``connections x window`` wrk connections, one request in flight each,
  ``bench/wrk/orders.lua``); rounds alternate which goes first, and the figure is the median
  of the per-round ratios WebSocket / REST.

Invariants
- The load comes from outside the server process; client processes are killed when a run
  ends, however it ends. A client that ends without its result fails the run.
- Only what arrived inside the measured window counts, in every client alike.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spotlab.bench.api_rest import RestOptions, run_wrk, wrk_available
from spotlab.bench.api_servers import Server, exchange_server, order_counts, prepare_accounts, write_tokens
from spotlab.bench.api_ws_clients import LagHistogram, pipelined_orders

CLIENTS = "spotlab.bench.api_ws_clients"


@dataclass(frozen=True)
class FanoutOptions:
    subscribers: int = 1000
    subscriber_processes: int = 2
    order_rate: float = 1900.0
    seconds: float = 15.0
    warmup_seconds: float = 3.0
    coalesce_seconds: float | None = None  # None: the server's default
    load_connections: int = 4
    accounts: int = 16
    workdir: Path | None = None


@dataclass(frozen=True)
class EntryOptions:
    rounds: int = 3
    seconds: float = 10.0
    warmup_seconds: float = 2.0
    connections: int = 4
    window: int = 16
    accounts: int = 16
    rest_load: str = "wrk"  # "wrk" or "none"
    workdir: Path | None = None


# -- fan-out ----------------------------------------------------------------------------------


def run_fanout(options: FanoutOptions, say=print) -> dict[str, Any]:
    """A fresh server and accounts, then ``fanout_on`` it."""
    base = Path(tempfile.mkdtemp(prefix="spotlab-bench-ws-", dir=options.workdir))
    try:
        with exchange_server(base / "server", websocket=True, coalesce_seconds=options.coalesce_seconds) as server:
            tokens = prepare_accounts(server.url, options.accounts)
            return fanout_on(server, tokens, options, base, say)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def fanout_on(server: Server, tokens: list[str], options: FanoutOptions, workdir: Path, say=print) -> dict[str, Any]:
    """Subscribers, then the paced load, on a running server (``options.coalesce_seconds`` is the server's)."""
    tokens_file = write_tokens(tokens[: options.load_connections], workdir)
    subscribers = _start_subscribers(server.ws_url, options, workdir)
    try:
        say(f"fan-out: {options.subscribers} subscribers connected and subscribed")
        start = time.time_ns() + int(options.warmup_seconds * 1e9)
        until = start + int(options.seconds * 1e9)
        for client in subscribers:
            client.process.stdin.write(f"START {start} {until}\n")
            client.process.stdin.flush()
        load = _spawn_load(server.ws_url, tokens_file, options, workdir).result(options.seconds + 120)
        tallies = [client.result(60) for client in subscribers]
    finally:
        for client in subscribers:
            client.process.kill()
    connections_gauge = _gauge(server.url, "spotlab_websocket_connections")
    return fanout_summary(options, load, tallies, connections_gauge, order_counts(server.url))


@dataclass
class _Client:
    """A client subprocess and the file it writes its result to."""

    process: subprocess.Popen
    out: Path

    def result(self, timeout: float) -> dict[str, Any]:
        output, _ = self.process.communicate(timeout=timeout)
        if "DONE" not in output.split():
            code = self.process.returncode
            raise RuntimeError(f"a benchmark client ended without a result (exit {code}): {output[-2000:]}")
        return json.loads(self.out.read_text())


def _client(arguments: list[str], out: Path, stdin: bool = False) -> _Client:
    command = [sys.executable, "-m", CLIENTS, *arguments, "--out", str(out)]
    stdin_pipe = subprocess.PIPE if stdin else None
    return _Client(subprocess.Popen(command, stdin=stdin_pipe, stdout=subprocess.PIPE, text=True), out)


def _start_subscribers(ws_url: str, options: FanoutOptions, workdir: Path) -> list[_Client]:
    per_process = _split(options.subscribers, options.subscriber_processes)
    clients = [
        _client(["subscribe", "--url", ws_url, "--connections", str(count)], workdir / f"subscribers-{i}.json", True)
        for i, count in enumerate(per_process)
    ]
    for client in clients:
        line = client.process.stdout.readline()
        if line.strip() != "READY":
            for other in clients:
                other.process.kill()
            raise RuntimeError(f"a subscriber process did not get ready: {line!r}")
    return clients


def _spawn_load(ws_url: str, tokens_file: Path, options: FanoutOptions, workdir: Path) -> _Client:
    seconds = options.warmup_seconds + options.seconds + 0.2  # past the window's end
    arguments = ["load", "--url", ws_url, "--tokens-file", str(tokens_file), "--rate", str(options.order_rate),
                 "--seconds", str(seconds)]  # fmt: skip
    return _client(arguments, workdir / "load.json")


def _split(total: int, parts: int) -> list[int]:
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _gauge(url: str, name: str) -> float | None:
    import httpx

    for line in httpx.get(url + "/metrics", timeout=10.0).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def fanout_summary(
    options: FanoutOptions,
    load: dict[str, Any],
    tallies: list[dict[str, Any]],
    connections_gauge: float | None,
    accepted: dict[int, int],
) -> dict[str, Any]:
    lags, loop_lags = LagHistogram(), LagHistogram()
    totals: dict[str, int] = {}
    for tally in tallies:
        lags.merge(LagHistogram.from_json(tally["lags"]))
        loop_lags.merge(LagHistogram.from_json(tally["loop_lags"]))
        for name, value in tally.items():
            if isinstance(value, int):
                totals[name] = totals.get(name, 0) + value
    seconds = options.seconds
    per_subscriber = max(1, options.subscribers)
    trades_per_second = totals.get("trades", 0) / per_subscriber / seconds
    levels_per_second = totals.get("book_levels", 0) / per_subscriber / seconds
    messages = totals.get("trade_messages", 0) + totals.get("book_messages", 0) + totals.get("other_messages", 0)
    orders_per_second = load["results"] / load["seconds"] if load["seconds"] else 0.0
    return {
        "subscribers": options.subscribers,
        "subscriber_processes": options.subscriber_processes,
        "coalesce_seconds": options.coalesce_seconds,
        "order_rate_target": options.order_rate,
        "orders_per_second": round(orders_per_second, 1),
        "load": load,
        "seconds": seconds,
        "trades_per_second": round(trades_per_second, 1),
        "book_levels_per_second": round(levels_per_second, 1),
        "events_per_second": round(orders_per_second + trades_per_second, 1),
        "trade_messages_per_second_per_subscriber": round(
            totals.get("trade_messages", 0) / per_subscriber / seconds, 1
        ),
        "book_messages_per_second_per_subscriber": round(totals.get("book_messages", 0) / per_subscriber / seconds, 1),
        "messages_delivered_per_second": round(messages / seconds, 1),
        "megabytes_delivered_per_second": round(totals.get("bytes", 0) / seconds / 1e6, 2),
        "lag_p50_ms": lags.percentile_ms(50),
        "lag_p99_ms": lags.percentile_ms(99),
        "lag_max_ms": round(lags.max_ns / 1e6, 3),
        "lag_samples": lags.total,
        "lag_negative": lags.negative,
        "client_loop_late_p50_ms": loop_lags.percentile_ms(50),
        "client_loop_late_p99_ms": loop_lags.percentile_ms(99),
        "book_gaps": totals.get("gaps", 0),
        "sockets_closed_by_server": totals.get("closed", 0),
        "websocket_connections_at_end": connections_gauge,
        "rest_orders_accepted": accepted,
    }


# -- order entry ------------------------------------------------------------------------------


def entry_websocket(server: Server, tokens: list[str], options: EntryOptions, tag: str) -> dict[str, Any]:
    """Pipelined WebSocket order entry on a running server (see ``api_ws_clients.pipelined_orders``)."""
    import uvloop

    return uvloop.run(
        pipelined_orders(server.ws_url, tokens, connections=options.connections, window=options.window,
                         seconds=options.seconds, tag=tag, warmup=options.warmup_seconds)
    )  # fmt: skip


def entry_rest(server: Server, tokens: list[str], options: EntryOptions, workdir: Path, tag: str) -> dict[str, Any]:
    """wrk with ``connections x window`` connections on a running server, after a warm-up."""
    rest = RestOptions(seconds=options.seconds, connections=options.connections * options.window, threads=1)
    tokens_file = write_tokens(tokens, workdir)
    run_wrk(server.url, tokens_file, rest, options.warmup_seconds, tag + "w")
    return run_wrk(server.url, tokens_file, rest, options.seconds, tag + "m").summary()


def run_entry(options: EntryOptions, say=print) -> dict[str, Any]:
    if options.rest_load == "wrk" and not wrk_available():
        raise RuntimeError("the REST side of the order-entry comparison needs wrk: apt-get install -y wrk")
    base = Path(tempfile.mkdtemp(prefix="spotlab-bench-entry-", dir=options.workdir))
    concurrency = options.connections * options.window
    rounds = []
    try:
        for number in range(1, options.rounds + 1):
            order = ("websocket", "rest") if number % 2 else ("rest", "websocket")
            figures: dict[str, Any] = {}
            for side in order:
                if side == "rest" and options.rest_load == "none":
                    continue
                with exchange_server(base / f"round{number}-{side}", websocket=True) as server:
                    tokens = prepare_accounts(server.url, options.accounts)
                    if side == "websocket":
                        figures[side] = entry_websocket(server, tokens, options, tag=f"e{number}")
                        rate = figures[side]["results_per_second"]
                    else:
                        figures[side] = entry_rest(server, tokens, options, base, tag=f"e{number}")
                        rate = figures[side]["requests_per_second"]
                say(f"order entry round {number} {side:9s}: {rate:8.0f} orders/s (concurrency {concurrency})")
            ratio = None
            if "rest" in figures and figures["rest"]["requests_per_second"]:
                ratio = round(figures["websocket"]["results_per_second"] / figures["rest"]["requests_per_second"], 3)
            rounds.append({"round": number, "order": list(order), **figures, "ratio": ratio})
    finally:
        shutil.rmtree(base, ignore_errors=True)
    ratios = [r["ratio"] for r in rounds if r["ratio"] is not None]
    return {
        "connections": options.connections,
        "window": options.window,
        "concurrency": concurrency,
        "seconds": options.seconds,
        "rounds": rounds,
        "median_websocket_orders_per_second": statistics.median(r["websocket"]["results_per_second"] for r in rounds),
        "median_ratio": statistics.median(ratios) if ratios else None,
    }

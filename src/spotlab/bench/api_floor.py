"""``spotlab bench api`` (``floor`` part): server CPU per order, bare and real, REST and WebSocket.

Why
- Two targets pull against each other: REST ``POST /v1/orders`` at >= 0.7 x the bare endpoint's
  requests/s, and WebSocket order entry at >= 3 x REST's orders/s. Together they ask WebSocket
  entry for >= 2.1 x the bare REST endpoint's rate. The server is one Python process (about one
  core), so that is only possible if a WebSocket order costs the server at most 1/2.1 of the
  CPU of a bare REST request. This part measures the floor: what a WebSocket order costs when
  the server does nothing with it (``spotlab.bench.api_bare``'s ``/v1/ws``) against what a bare
  REST order costs (its ``POST /v1/orders``), and the real server's figures beside them.

What is measured, per round
- **bare REST**: ``wrk`` (``bench/wrk/orders.lua``, as the ``rest`` part) on the bare app's
  ``POST /v1/orders``; without ``wrk``, the Python load of ``api_load``.
- **bare WS**: ``api_ws_clients.pipelined_orders`` (as the ``entry`` part: ``connections``
  sockets, ``window`` ops in flight each) on the bare app's ``/v1/ws``.
- **real WS** and **real REST** (``real=True``): the same two loads on the real server
  (``api_servers.exchange_server(websocket=True)``, durable SQLite, funded accounts), a fresh
  server per side as in the ``entry`` part.
- REST runs with ``connections x window`` connections, so both protocols have the same number
  of orders in flight. One bare server serves both bare sides of a round; rounds alternate
  which side goes first.
- The figure: the server process's CPU time (``utime + stime`` of ``/proc/<pid>/stat``, which
  the kernel sums over all the process's threads, living and ended) over the measured run,
  divided by the orders the server handled: µs of server CPU per order. The clients share
  the machine's cores, so orders/s moves with what else runs; CPU per order barely does.
  Orders/s and the server's CPU share (CPU seconds / wall seconds, 1.0 = one core) are
  reported beside it: a share well below 1.0 means the client, not the server, set the pace.
- Summary: the median over rounds of each side's µs/order, and the median of the per-round
  ratio ``bare REST µs / bare WS µs`` (how many more orders one core serves over WebSocket
  than over bare REST). The targets together need that ratio >= 2.1: if the real REST route
  reached 0.7 x the bare endpoint, WebSocket entry would need 3 x that rate. The verdict
  text is ``spotlab.bench.api``'s, which holds the targets.

Invariants
- A measured window starts after an unmeasured warm-up and once the server has gone quiet,
  and ends once it has gone quiet again, so work finished after the last answer (durability,
  the history projector) is counted; idle CPU in the settling is at most a clock tick per poll.
- Orders handled: REST, the answers ``wrk`` counted (in flight at its end: at most
  ``connections``, not counted); WebSocket, the ops sent (every op sent is read and handled by
  the server, including the last window's, answered after the client's deadline).
- Needs Linux's ``/proc``; a server that is not running raises ``RuntimeError``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spotlab.bench.api_rest import DUMMY_TOKEN, RestOptions
from spotlab.bench.api_rest import _load as rest_run
from spotlab.bench.api_servers import Server, bare_server, exchange_server, prepare_accounts
from spotlab.bench.api_ws_clients import pipelined_orders

SIDES = ("bare_rest", "bare_ws", "real_ws", "real_rest")
SIDE_NAMES = {"bare_rest": "bare REST", "bare_ws": "bare WS", "real_ws": "real WS", "real_rest": "real REST"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
QUIET_POLL_SECONDS = 0.1
QUIET_LIMIT_SECONDS = 3.0


@dataclass(frozen=True)
class FloorOptions:
    rounds: int = 3
    seconds: float = 4.0  # wrk takes whole seconds
    warmup_seconds: float = 1.0
    connections: int = 4  # WebSocket sockets; REST gets connections x window connections
    window: int = 16
    accounts: int = 16
    real: bool = True  # also the real server's WebSocket entry and REST
    rest_load: str = "wrk"  # "wrk" or "python"
    workdir: Path | None = None

    def __post_init__(self) -> None:
        if self.rest_load not in ("wrk", "python"):
            raise ValueError(f"rest_load must be 'wrk' or 'python', got {self.rest_load!r}")
        if self.rounds < 1 or self.seconds <= 0 or self.connections < 1 or self.window < 1 or self.accounts < 1:
            raise ValueError("rounds, seconds, connections, window and accounts must be positive")

    @property
    def in_flight(self) -> int:
        return self.connections * self.window


# -- server CPU -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` so far, all its threads included."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        raise RuntimeError(f"no /proc/{pid}/stat: the server is not running, or this is not Linux") from None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 (state) is fields[0]
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 (utime) and 15 (stime)


def quiet_cpu_seconds(pid: int) -> float:
    """``cpu_seconds`` once the process has used at most one clock tick in a poll (or after the limit)."""
    deadline = time.monotonic() + QUIET_LIMIT_SECONDS
    before = cpu_seconds(pid)
    while True:
        time.sleep(QUIET_POLL_SECONDS)
        now = cpu_seconds(pid)
        if now - before <= 1 / CLOCK_TICKS or time.monotonic() > deadline:
            return now
        before = now


class Window:
    """The server's CPU and the wall time between two quiet points (``cpu``, ``wall``: seconds)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu = self.wall = 0.0
        self._cpu = self._wall = 0.0

    def __enter__(self) -> Window:
        self._cpu = quiet_cpu_seconds(self.pid)
        self._wall = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = quiet_cpu_seconds(self.pid) - self._cpu
        self.wall = time.monotonic() - self._wall


def figures(orders: int, orders_per_second: float, errors: int, window: Window, **extra: Any) -> dict[str, Any]:
    return {
        "orders": orders,
        "orders_per_second": round(orders_per_second, 1),
        "errors": errors,
        "server_cpu_seconds": round(window.cpu, 3),
        "server_cpu_share": round(window.cpu / window.wall, 3) if window.wall else None,
        "server_cpu_us_per_order": round(window.cpu / orders * 1e6, 2) if orders else None,
        **extra,
    }


# -- the two loads ------------------------------------------------------------------------------


def measure_rest(server: Server, tokens: list[str], options: FloorOptions, workdir: Path, tag: str) -> dict[str, Any]:
    """wrk (or the Python load) on ``POST /v1/orders`` after a warm-up; server CPU over the measured run."""
    rest = RestOptions(seconds=options.seconds, connections=options.in_flight, load=options.rest_load)
    if options.warmup_seconds > 0:
        rest_run(server, tokens, workdir, rest, options.warmup_seconds, tag + "w")
    with Window(server.pid) as window:
        run = rest_run(server, tokens, workdir, rest, options.seconds, tag + "m")
    errors = run.non_2xx + run.socket_errors
    return figures(run.requests, run.per_second, errors, window, p50_ms=run.p50_ms, p99_ms=run.p99_ms)


def measure_ws(server: Server, tokens: list[str], options: FloorOptions, tag: str) -> dict[str, Any]:
    """Pipelined WebSocket order entry after a warm-up; server CPU over the measured run."""
    import uvloop

    def entry(seconds: float, run_tag: str) -> dict[str, Any]:
        load = pipelined_orders(
            server.ws_url, tokens, connections=options.connections, window=options.window, seconds=seconds, tag=run_tag
        )
        return uvloop.run(load)

    if options.warmup_seconds > 0:
        entry(options.warmup_seconds, tag + "w")
    with Window(server.pid) as window:
        tally = entry(options.seconds, tag + "m")
    errors = sum(tally["errors"].values())
    return figures(tally["sent"], tally["results_per_second"], errors, window, p50_ms=tally["p50_ms"],
                   p99_ms=tally["p99_ms"])  # fmt: skip


# -- rounds -------------------------------------------------------------------------------------


def run_floor(options: FloorOptions, say=print) -> dict[str, Any]:
    """All rounds; returns ``{"rounds": [...], "median_ratio": ..., ...}`` (see the module docstring)."""
    base = Path(tempfile.mkdtemp(prefix="spotlab-bench-floor-", dir=options.workdir))
    rounds = []
    try:
        for number in range(1, options.rounds + 1):
            row = {"round": number, **bare_round(number, options, base, say)}
            if options.real:
                row.update(real_round(number, options, base, say))
            row["ratio"] = cost_ratio(row["bare_rest"], row["bare_ws"])
            rounds.append(row)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return summary(options, rounds)


def bare_round(number: int, options: FloorOptions, base: Path, say) -> dict[str, Any]:
    """Both bare sides on one bare server, REST first in odd rounds."""
    order = ("bare_rest", "bare_ws") if number % 2 else ("bare_ws", "bare_rest")
    tokens = [DUMMY_TOKEN] * options.accounts
    workdir = base / f"round{number}-bare"
    out: dict[str, Any] = {}
    with bare_server(workdir) as server:
        for side in order:
            out[side] = measure_side(side, server, tokens, options, workdir, f"f{number}")
            say(describe(number, side, out[side]))
    return out


def real_round(number: int, options: FloorOptions, base: Path, say) -> dict[str, Any]:
    """Both real sides, a fresh server and accounts each, WebSocket first in odd rounds."""
    order = ("real_ws", "real_rest") if number % 2 else ("real_rest", "real_ws")
    out: dict[str, Any] = {}
    for side in order:
        workdir = base / f"round{number}-{side}"
        with exchange_server(workdir, websocket=True) as server:
            tokens = prepare_accounts(server.url, options.accounts)
            out[side] = measure_side(side, server, tokens, options, workdir, f"f{number}")
        say(describe(number, side, out[side]))
    return out


def measure_side(side: str, server, tokens: list[str], options: FloorOptions, workdir: Path, tag: str) -> dict:
    """One side's run: wrk (or the Python load) on REST for ``*_rest``, the pipelined WebSocket client else."""
    if side.endswith("_rest"):
        return measure_rest(server, tokens, options, workdir, tag)
    return measure_ws(server, tokens, options, tag)


def cost_ratio(side: dict[str, Any] | None, other: dict[str, Any] | None) -> float | None:
    """``side``'s µs/order over ``other``'s: how many of ``other``'s orders one core serves in the CPU of one
    of ``side``'s (``cost_ratio(bare_rest, bare_ws)``: bare WebSocket orders per bare REST order)."""
    if not side or not other:
        return None
    numerator, denominator = side["server_cpu_us_per_order"], other["server_cpu_us_per_order"]
    return round(numerator / denominator, 3) if numerator and denominator else None


def summary(options: FloorOptions, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    medians = {}
    for side in SIDES:
        values = [row[side]["server_cpu_us_per_order"] for row in rounds if row.get(side)]
        values = [value for value in values if value is not None]
        medians[side] = round(statistics.median(values), 2) if values else None
    ratios = [row["ratio"] for row in rounds if row["ratio"] is not None]
    return {
        "connections": options.connections,
        "window": options.window,
        "in_flight": options.in_flight,
        "rest_load": options.rest_load,
        "seconds": options.seconds,
        "warmup_seconds": options.warmup_seconds,
        "real": options.real,
        "rounds": rounds,
        "median_us_per_order": medians,
        "median_ratio": round(statistics.median(ratios), 3) if ratios else None,
        "derived": derived(medians),
    }


def derived(medians: dict[str, float | None]) -> dict[str, float | None]:
    """The targets' ratios as one core's CPU would bound them (from the median µs/order; the ``api``
    module judges them against the targets)."""

    def per(side: str, other: str) -> float | None:
        a, b = medians.get(side), medians.get(other)
        return round(a / b, 3) if a and b else None

    return {
        "real_ws_vs_bare_rest": per("bare_rest", "real_ws"),  # the two targets together: rest x entry ratio
        "real_rest_vs_bare_rest": per("bare_rest", "real_rest"),  # as the REST target's ratio
        "real_ws_vs_real_rest": per("real_rest", "real_ws"),  # as the entry target's ratio
    }


def describe(number: int, side: str, run: dict[str, Any]) -> str:
    return (
        f"floor round {number} {SIDE_NAMES[side]:9s}: {run['server_cpu_us_per_order']} µs server CPU/order, "
        f"{run['orders_per_second']:8.0f} orders/s, server CPU share {run['server_cpu_share']}, "
        f"{run['errors']} errors"
    )

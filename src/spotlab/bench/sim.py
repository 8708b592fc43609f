"""``spotlab bench sim``: the market simulator at >= 1,000 orders/s on 8 markets while the API stays responsive.

Target (the issue): the simulator sustains at least 1,000 orders a second across 8 markets on this
machine while ``GET /v1/markets/{market}/book`` answers with a p99 under 50 ms.

Each run starts a fresh server process (``spotlab.bench.sim_serve``: the API and the simulator in one
process on the embedded SQLite store in a temp data dir, as ``spotlab demo`` runs them) in one of two
modes, and reads books from this process meanwhile (``spotlab.bench.sim_load``):

- ``paced``: the simulator offers ``orders_per_second`` orders a second (1,000 by default);
- ``flat``: the simulator runs flat out (``Simulator.run(stop, speed=0)``): its ceiling, and the API's
  latency when the simulator takes all the CPU it can.

After ``warmup`` seconds the server counts ``seconds`` of its simulator's work (``Simulator.stats()``:
orders placed, cancels, trades) while this process sends ``book_rate`` book requests a second, open
loop, rotating over the markets. The machine's CPU pressure and steal are sampled over the measured
window, and over ``idle_seconds`` before each server starts (what the rest of the machine was doing).

Invariants
- "Orders" are orders placed: ``PlaceOrder`` commands the agents sent (the refused ones included, and
  reported apart); cancels are reported beside them, not counted as orders.
- A run is a pass when, in the same window, the simulator met the orders target and the book p99 was
  under its target with no failed request. The orders target: flat out, orders/s >= 1,000; paced, an
  offered rate >= 1,000 delivered to within 0.5 % (``KEPT_UP``: the pacer sends whole steps, so the
  count in a window is the rate give or take one step). ``met`` is true when every paced run passes.
- Every server is stopped (SIGINT, then SIGKILL) when its run ends, even on error, and its data dir
  (in a temp directory under ``workdir``) is removed; a failure raises with the tail of its log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from spotlab.bench.api_servers import BENCH_SETTINGS, Server, free_port, stop, wait_ready
from spotlab.bench.sim_load import MachineSample, book_load, machine_window
from spotlab.sim.simulator import DEFAULT_MARKETS

TARGET_ORDERS_PER_SECOND = 1_000
TARGET_BOOK_P99_MS = 50.0
#: A paced run keeps up when it delivers this share of the rate it offers. The pacer sends whole steps
#: (about 22 orders on 8 markets), so a run that keeps up lands within a step of the rate: 0.1 % of 30 s.
KEPT_UP = 0.995
MODES = ("paced", "flat")
SETUP_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Options:
    modes: tuple[str, ...] = MODES
    rounds: int = 1
    markets: int = 8
    orders_per_second: float = TARGET_ORDERS_PER_SECOND
    seconds: float = 30.0
    warmup: float = 5.0
    book_rate: float = 100.0
    connections: int = 8
    idle_seconds: float = 2.0
    seed: int = 0
    workdir: Path | None = None
    switch_interval: float | None = None  # the server's sys.setswitchinterval (None: Python's 5 ms)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.modes) - set(MODES))
        if unknown or not self.modes:
            raise ValueError(f"modes are {', '.join(MODES)}; got {', '.join(self.modes) or 'none'}")
        if not 1 <= self.markets <= len(DEFAULT_MARKETS):
            raise ValueError(f"markets must be within 1..{len(DEFAULT_MARKETS)}, got {self.markets}")
        if self.rounds < 1 or self.connections < 1:
            raise ValueError("rounds and connections must be at least 1")
        if not (self.orders_per_second > 0 and self.seconds > 0 and self.book_rate > 0):
            raise ValueError("orders_per_second, seconds and book_rate must be positive")
        if self.warmup < 0.5 or self.idle_seconds < 0:
            raise ValueError("warmup must be at least 0.5 s (the reader lines up with the server in it), idle >= 0")
        if self.switch_interval is not None and not self.switch_interval > 0:
            raise ValueError(f"switch_interval must be positive seconds, got {self.switch_interval}")


@contextmanager
def sim_server(workdir: Path, options: Options, orders_per_second: float) -> Iterator[tuple[Server, Path]]:
    """``spotlab.bench.sim_serve`` on a fresh data dir in ``workdir``; yields it with its status file."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="sim-", dir=workdir))
    port, status = free_port(), data_dir / "status.json"
    command = [
        sys.executable, "-m", "spotlab.bench.sim_serve", "--port", str(port), "--data-dir", str(data_dir),
        "--status", str(status), "--markets", str(options.markets), "--orders-per-second", str(orders_per_second),
        "--warmup", str(options.warmup), "--seconds", str(options.seconds), "--seed", str(options.seed),
    ]  # fmt: skip
    if options.switch_interval is not None:
        command += ["--switch-interval", str(options.switch_interval)]
    log_path = data_dir / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, env={**os.environ, **BENCH_SETTINGS}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server("simulator", f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_ready(server)
        yield server, status
    finally:
        stop(process)


def wait_phase(server: Server, status: Path, phases: tuple[str, ...], timeout: float) -> dict[str, Any]:
    """The server's status once it reaches one of ``phases`` (a failure or an exit raises, with its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status.exists():
            current = json.loads(status.read_text())
            if current["phase"] == "failed":
                raise RuntimeError(f"the simulator failed: {current['error']}\n{server.log_tail()}")
            if current["phase"] in phases:
                return current
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.log_tail()}")
        time.sleep(0.05)
    raise RuntimeError(f"the server did not reach {'/'.join(phases)} within {timeout:g} s:\n{server.log_tail()}")


def simulator_figures(start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    """What the simulator did between two of the server's snapshots."""
    a, b = start["stats"], end["stats"]
    seconds = end["monotonic"] - start["monotonic"]

    def rate(key: str) -> float:
        return round((b[key] - a[key]) / seconds, 1)

    return {
        "seconds": round(seconds, 3),
        "orders_placed": b["orders_placed"] - a["orders_placed"],
        "cancels_sent": b["cancels_sent"] - a["cancels_sent"],
        "refused": b["refused"] - a["refused"],
        "trades": b["trades"] - a["trades"],
        "steps": b["steps"] - a["steps"],
        "orders_per_second": rate("orders_placed"),
        "cancels_per_second": rate("cancels_sent"),
        "trades_per_second": rate("trades"),
        "market_seconds_per_second": rate("sim_seconds"),  # the equivalent ``speed``
        "simulator_busy_share": round((b["busy_seconds"] - a["busy_seconds"]) / seconds, 4),
        "server_cpu_cores": round((end["process_cpu_seconds"] - start["process_cpu_seconds"]) / seconds, 3),
        "simulator_thread_cpu_cores": round(
            (end["simulator_cpu_seconds"] - start["simulator_cpu_seconds"]) / seconds, 3
        ),
        "refused_by_code": {
            code: count - a["refused_by_code"].get(code, 0)
            for code, count in b["refused_by_code"].items()
            if count - a["refused_by_code"].get(code, 0)
        },
    }


def one_run(options: Options, mode: str, workdir: Path, progress: Progress | None) -> dict[str, Any]:
    """One server in ``mode``: its simulator's figures, the book latencies and the machine over the window."""
    idle_start = MachineSample.take()
    time.sleep(options.idle_seconds)
    idle = machine_window(idle_start, MachineSample.take())
    rate = options.orders_per_second if mode == "paced" else 0.0
    markets = list(DEFAULT_MARKETS[: options.markets])
    label = f"{mode}" + (f" at {rate:,.0f} orders/s" if rate else " (flat out)")
    task = progress.add_task(label, total=options.warmup + options.seconds) if progress else None
    with sim_server(workdir, options, rate) as (server, status):
        window = wait_phase(server, status, ("warmup", "done"), SETUP_TIMEOUT_SECONDS)
        start, end = window["measure_start"], window["measure_end"]
        began = start - options.warmup

        def tick(now: float) -> None:
            if progress is not None:
                progress.update(task, completed=min(now - began, options.warmup + options.seconds))

        while time.monotonic() < start - 0.3:  # the warm-up, with the bar moving
            tick(time.monotonic())
            time.sleep(0.25)
        time.sleep(max(0.0, start - time.monotonic()))
        first = MachineSample.take()
        load = book_load(server.url, markets, options.book_rate, start, end, options.connections, tick)
        last = MachineSample.take()
        done = wait_phase(server, status, ("done",), options.seconds + 30.0)
        tick(end)
    book = load.summary()
    simulator = simulator_figures(done["start"], done["end"])
    achieved = simulator["orders_per_second"]
    if rate:  # it offers exactly ``rate``: the question is whether it kept up
        orders_met = rate >= TARGET_ORDERS_PER_SECOND and achieved >= rate * KEPT_UP
    else:
        orders_met = achieved >= TARGET_ORDERS_PER_SECOND
    p99 = book["p99_ms"]
    latency_met = p99 is not None and p99 < TARGET_BOOK_P99_MS and book["errors"] == 0
    return {
        "mode": mode,
        "target_orders_per_second": rate or None,
        "markets": markets,
        "simulator": simulator,
        "book": book,
        "machine": machine_window(first, last),
        "machine_idle_before": idle,
        "orders_met": orders_met,
        "latency_met": latency_met,
        "passed": orders_met and latency_met,
    }


def run(options: Options, console: Console | None = None) -> dict[str, Any]:
    """Every mode, ``rounds`` times (modes alternate within a round), and the verdict."""
    runs: list[dict[str, Any]] = []
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
               TimeRemainingColumn())  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="spotlab-bench-sim-", dir=options.workdir) as scratch:
        progress = Progress(*columns, console=console, refresh_per_second=4, disable=console is None)
        with progress:
            for number in range(options.rounds):
                order = options.modes if number % 2 == 0 else tuple(reversed(options.modes))
                for mode in order:
                    result = one_run(options, mode, Path(scratch), progress)
                    runs.append({"round": number + 1, **result})
    paced = [r for r in runs if r["mode"] == "paced"]
    return {
        "options": {
            **{f.name: getattr(options, f.name) for f in fields(options) if f.name != "workdir"},
            "modes": list(options.modes),
        },
        "target_orders_per_second": TARGET_ORDERS_PER_SECOND,
        "target_book_p99_ms": TARGET_BOOK_P99_MS,
        "runs": runs,
        "met": bool(paced) and all(r["passed"] for r in paced),
    }


def _run_name(r: dict[str, Any]) -> str:
    mode = f"paced {r['target_orders_per_second']:,.0f}/s" if r["mode"] == "paced" else "flat out"
    return f"{r['round']}. {mode}"


def tables(figures: dict[str, Any]) -> list[Table]:
    """The simulator's figures, then the book latencies with the verdict, one row per run."""
    markets = figures["options"]["markets"]
    switch = figures["options"]["switch_interval"]
    tuned = "" if switch is None else f", switch interval {switch:g} s"
    simulator = Table(title=f"the simulator on {markets} markets, in the API's process (SQLite store{tuned})")
    for column in ("run", "orders/s", "cancels/s", "trades/s", "refused", "speed x", "server CPU", "sim thread CPU"):
        simulator.add_column(column, justify="left" if column == "run" else "right")
    book = Table(title=f"GET /v1/markets/{{market}}/book meanwhile (target p99 < {TARGET_BOOK_P99_MS:g} ms)")
    for column in ("run", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "CPU pressure", "steal", "met"):
        book.add_column(column, justify="left" if column == "run" else "right")
    for r in figures["runs"]:
        sim, load, machine = r["simulator"], r["book"], r["machine"]
        simulator.add_row(
            _run_name(r), f"{sim['orders_per_second']:,.0f}", f"{sim['cancels_per_second']:,.0f}",
            f"{sim['trades_per_second']:,.0f}", f"{sim['refused']:,}", f"{sim['market_seconds_per_second']:,.0f}",
            f"{sim['server_cpu_cores']:.2f}", f"{sim['simulator_thread_cpu_cores']:.2f}",
        )  # fmt: skip
        verdict = "yes" if r["passed"] else ("NO: orders" if not r["orders_met"] else "NO: latency")
        book.add_row(
            _run_name(r), f"{load['ok'] / load['seconds']:,.0f}", _ms(load["p50_ms"]), _ms(load["p90_ms"]),
            _ms(load["p99_ms"]), _ms(load["max_ms"]), str(load["errors"]), _share(machine.get("cpu_pressure_some")),
            _share(machine.get("steal")), verdict,
        )  # fmt: skip
    return [simulator, book]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"

"""``spotlab bench engine``: commands/s and latency of the exchange against a bare book.

What is measured (every phase runs the same ``spotlab.bench.workload`` commands;
account setup and the prefilled book are applied first and not measured)
- **bare book**: ``BareBook.apply`` per command; the fair reference.
- **memory**: ``Exchange.apply`` on an in-memory exchange (nothing waits).
  The bare book and the in-memory exchange each run twice from the same start: a
  plain loop gives commands/s (and the ratio), then a loop with ``perf_counter_ns``
  around each call gives the per-command latencies (the timer itself costs about
  0.1-0.2 µs a command, which would flatter the ratio if it were in the throughput).
  Afterwards the exchange's book must hold exactly the bare book's orders in the
  same queue order, and both must have printed the same number of trades.
- **sqlite / postgres**: a pipelined driver submits with ``Exchange.apply`` and
  counts a command as done when its record is durable. A listener on the store's
  durable batches (``on_durable``, on the writer thread) stamps each batch with
  ``perf_counter_ns``; a command's latency is from just before its ``apply`` to the
  stamp of the batch that made it durable. At most ``window`` commands are in
  flight: when the window is full the driver blocks in ``wait_durable`` on the
  oldest one (the back-pressure a crowd of clients would feel). Throughput is the
  number of commands over the time from the first submit to the last durable stamp.
- **restart**: the SQLite store of the run is reopened with ``Exchange.open`` three
  ways: as closed (snapshot at close), as after a crash (the close snapshot deleted:
  the last periodic snapshot plus the records after it) and from the log alone (all
  snapshots deleted: every record replayed).
- **memory with resting orders**: a fresh subprocess places ``resting`` non-crossing
  limit orders over 20,000 price levels and reports the growth of its resident set
  (``VmRSS``) after a full garbage collection: through an in-memory ``Exchange``
  (whose store keeps the whole event log in memory), through a SQLite-durable
  ``Exchange`` (the log goes to disk; snapshots every 250,000 records; at most
  about two windows of records wait for the writer, as when clients wait for their
  acknowledgements), and through the engine alone (no store at all).

The timing harness touches one private attribute, ``exchange._store`` (to listen to
durable batches); the memory probe's engine-only mode uses ``exchange._engine``.
"""

from __future__ import annotations

import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from spotlab.bench.bare_book import BareBook
from spotlab.bench.report import memory_table, phase_table, restart_table, target_table, verdicts
from spotlab.bench.workload import Workload, WorkloadSpec, describe, generate

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=bench_engine"
DEFAULT_WINDOW = 1_000  # as if each of 1,000 clients had one command in flight
DEFAULT_RESTING = 1_000_000
STORES = ("memory", "sqlite", "postgres")
CHUNK = 10_000


@dataclass
class Phase:
    """One measured run of the workload's commands."""

    name: str
    commands: int
    seconds: float
    latencies_ns: list[int] = field(repr=False)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.commands / self.seconds

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile latency in microseconds (nearest rank)."""
        ordered = self._sorted()
        rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
        return ordered[rank - 1] / 1000

    @property
    def max_us(self) -> float:
        return self._sorted()[-1] / 1000

    def _sorted(self) -> list[int]:
        if not hasattr(self, "_ordered"):
            self._ordered = sorted(self.latencies_ns)
        return self._ordered

    def summary(self) -> dict[str, Any]:
        return {
            "commands": self.commands,
            "seconds": round(self.seconds, 3),
            "commands_per_second": round(self.per_second),
            "p50_us": round(self.percentile(50), 1),
            "p99_us": round(self.percentile(99), 1),
            "max_us": round(self.max_us, 1),
            **self.notes,
        }


# -- the phases -----------------------------------------------------------------------


def _untimed(apply: Callable[[Any], Any], commands: list, advance: Callable[[int], None]) -> float:
    """Apply every command in a plain loop; the seconds it took."""
    n = len(commands)
    start = time.perf_counter_ns()
    for first in range(0, n, CHUNK):
        for command in commands[first : first + CHUNK]:
            apply(command)
        advance(min(CHUNK, n - first))
    return (time.perf_counter_ns() - start) / 1e9


def _timed(apply: Callable[[Any], Any], commands: list, advance: Callable[[int], None]) -> tuple[float, list[int]]:
    """Apply every command, timing each with ``perf_counter_ns``; ``(seconds, latencies)``."""
    perf = time.perf_counter_ns
    n = len(commands)
    latencies = [0] * n
    start = perf()
    for first in range(0, n, CHUNK):
        last = min(n, first + CHUNK)
        for i in range(first, last):
            command = commands[i]
            t0 = perf()
            apply(command)
            latencies[i] = perf() - t0
        advance(last - first)
    return (perf() - start) / 1e9, latencies


def run_bare(
    workload: Workload, advance_plain: Callable[[int], None], advance_timed: Callable[[int], None]
) -> tuple[Phase, BareBook]:
    def fresh() -> BareBook:
        book = BareBook(workload.market.notional_unit, workload.market.taker_rate)
        for command in workload.prefill:
            book.apply(command)
        return book

    seconds = _untimed(fresh().apply, workload.commands, advance_plain)
    book = fresh()
    timed_seconds, latencies = _timed(book.apply, workload.commands, advance_timed)
    phase = Phase("bare book", len(workload.commands), seconds, latencies)
    phase.notes.update(timed_pass_seconds=round(timed_seconds, 3), resting_at_end=len(book), trades=book.trades)
    return phase, book


def run_memory(
    workload: Workload,
    bare: BareBook | None,
    advance_plain: Callable[[int], None],
    advance_timed: Callable[[int], None],
) -> Phase:
    from spotlab.exchange.service import Exchange

    exchange = Exchange.open(None)
    try:
        _setup(exchange, workload)
        gc_time = _GcTimer()
        with gc_time:
            seconds = _untimed(exchange.apply, workload.commands, advance_plain)
        events = exchange.stats()["events"]
    finally:
        exchange.close()
    del exchange
    gc.collect()
    exchange = Exchange.open(None)
    try:
        _setup(exchange, workload)
        timed_seconds, latencies = _timed(exchange.apply, workload.commands, advance_timed)
        phase = Phase("memory", len(workload.commands), seconds, latencies)
        phase.notes.update(
            timed_pass_seconds=round(timed_seconds, 3),
            events=events,
            gc_seconds=round(gc_time.seconds, 3),
            gc_full_collections=gc_time.full,
        )
        if bare is not None:
            phase.notes["same_book_as_bare"] = _same_book(exchange, bare, workload)
        return phase
    finally:
        exchange.close()


def profile_memory(workload: Workload, path: Path | None, top: int = 25) -> str:
    """Run the in-memory phase again under cProfile; returns the top ``top`` functions by tottime."""
    from spotlab.exchange.service import Exchange

    exchange = Exchange.open(None)
    try:
        _setup(exchange, workload)
        apply = exchange.apply
        profiler = cProfile.Profile()
        profiler.enable()
        for command in workload.commands:
            apply(command)
        profiler.disable()
    finally:
        exchange.close()
    if path is not None:
        profiler.dump_stats(path)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def run_durable(workload: Workload, name: str, url: str, window: int, advance: Callable[[int], None]) -> Phase:
    """The pipelined group-commit driver (see the module docstring)."""
    from spotlab.exchange.service import DEFAULT_SNAPSHOT_EVERY, Exchange

    exchange = Exchange.open(url)
    try:
        last_setup = _setup(exchange, workload)
        exchange.wait_durable(last_setup)
        perf = time.perf_counter_ns
        marks: list[tuple[int, int]] = []  # (last index of a durable batch, when it was seen durable)
        durable = [last_setup]

        def on_durable(batch) -> None:
            if batch:
                last = batch[-1].index
                marks.append((last, perf()))
                durable[0] = last

        exchange._store.on_durable(on_durable)
        commands = workload.commands
        n = len(commands)
        base = last_setup + 1  # the index the first measured command's record gets
        submitted = [0] * n
        apply, wait = exchange.apply, exchange.wait_durable
        waits = 0
        index = last_setup
        gc_time = _GcTimer()
        with gc_time:
            start = perf()
            for first in range(0, n, CHUNK):
                last = min(n, first + CHUNK)
                for i in range(first, last):
                    if base + i - durable[0] > window:
                        wait(base + i - window)
                        waits += 1
                    submitted[i] = perf()
                    _, index = apply(commands[i])
                advance(last - first)
            if index != base + n - 1:
                raise RuntimeError(f"expected one record per command: last index {index}, expected {base + n - 1}")
            wait(index)
            while not marks or marks[-1][0] < index:  # the listener runs just after waiters are released
                time.sleep(0.0005)
            end = marks[-1][1]
        latencies: list[int] = []
        previous = last_setup
        for last, stamp in marks:
            for idx in range(max(previous + 1, base), last + 1):
                latencies.append(stamp - submitted[idx - base])
            previous = last
        stats = exchange.stats()
        phase = Phase(name, n, (end - start) / 1e9, latencies)
        commits_during = sum(1 for last, _ in marks if last >= base)
        phase.notes.update(
            events=stats["events"],
            commits=commits_during,
            records_per_commit=round(n / max(1, commits_during), 1),
            window=window,
            window_waits=waits,
            snapshots_during_run=index // DEFAULT_SNAPSHOT_EVERY - last_setup // DEFAULT_SNAPSHOT_EVERY,
            gc_seconds=round(gc_time.seconds, 3),
            gc_full_collections=gc_time.full,
        )
        return phase
    finally:
        exchange.close()


def run_restart(path: Path) -> dict[str, Any]:
    """Reopen the SQLite store of the run: as closed, as after a crash, and from the log alone."""
    from spotlab.exchange.service import Exchange

    url = f"sqlite:///{path}"
    with sqlite3.connect(path) as conn:  # the log holds segments of records: the last one tells the totals
        last_index, last_seq = conn.execute("SELECT max(last_idx), max(last_seq) FROM log").fetchone()
    result: dict[str, Any] = {"records": last_index, "events": last_seq}
    cases = (
        ("clean", "as closed: the snapshot taken at close", None),
        ("crash", "as after a crash: the last periodic snapshot, then the records after it", "newest"),
        ("log_only", "from the log alone: every record replayed", "all"),
    )
    for key, label, drop in cases:
        with sqlite3.connect(path) as conn:
            if drop == "newest":
                conn.execute("DELETE FROM snapshots WHERE idx = (SELECT max(idx) FROM snapshots)")
            elif drop == "all":
                conn.execute("DELETE FROM snapshots")
            conn.commit()
            row = conn.execute("SELECT max(idx) FROM snapshots").fetchone()
        snapshot_index = row[0] or 0
        gc.collect()
        start = time.perf_counter()
        exchange = Exchange.open(url)
        seconds = time.perf_counter() - start
        result[key] = {
            "what": label,
            "seconds": round(seconds, 3),
            "snapshot_index": snapshot_index,
            "records_replayed": last_index - snapshot_index,
        }
        exchange.close()
    return result


def run_resting_memory(orders: int, mode: str) -> dict[str, Any]:
    """Place ``orders`` resting orders in a fresh process and report its memory growth."""
    code = f"from spotlab.bench.engine import _resting_probe; _resting_probe({orders}, {mode!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _resting_probe(orders: int, mode: str, accounts: int = 1_000, levels_per_side: int = 10_000) -> None:
    """Subprocess body of ``run_resting_memory``: prints one JSON line."""
    from spotlab.bench.workload import BUY, GTC, LIMIT, SELL, STP_NONE, WorkloadSpec, setup_commands
    from spotlab.core.commands import PlaceOrder
    from spotlab.exchange.service import Exchange

    spec = WorkloadSpec(accounts=accounts)
    tmp = tempfile.mkdtemp(prefix="spotlab-probe-") if mode == "sqlite" else None
    exchange = Exchange.open(f"sqlite:///{tmp}/probe.sqlite" if tmp else None)
    market = exchange._engine.markets[spec.market].spec
    last_index = [0]
    if mode == "engine":
        engine = exchange._engine
        clock = time.time_ns

        def apply(command):
            return engine.apply(command, clock())
    else:

        def apply(command):
            outcome, index = exchange.apply(command)
            if tmp is not None and index % DEFAULT_WINDOW == 0:
                exchange.wait_durable(index - DEFAULT_WINDOW)  # clients wait for acks: a bounded backlog
            last_index[0] = index
            return outcome

    for command in setup_commands(spec, market):
        apply(command)
    rng = random.Random(7)
    mid = 6_000_000
    names = [command.account for command in setup_commands(spec, market)[::3]]
    gc.collect()
    before = _rss()
    start = time.perf_counter()
    for _ in range(orders):
        buy = rng.random() < 0.5
        distance = 1 + rng.randrange(levels_per_side)
        outcome = apply(
            PlaceOrder(
                names[rng.randrange(accounts)],
                spec.market,
                BUY if buy else SELL,
                LIMIT,
                GTC,
                STP_NONE,
                mid - distance if buy else mid + distance,
                rng.randint(10, 500),
            )
        )
        if outcome.error is not None:
            raise outcome.error
    if mode == "sqlite":
        exchange.wait_durable(last_index[0])
    seconds = time.perf_counter() - start
    gc.collect()
    after = _rss()
    resting = len(exchange._engine.markets[spec.market].book)
    if tmp is not None:
        exchange.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(
            {
                "mode": mode,
                "resting_orders": resting,
                "rss_before_bytes": before,
                "rss_after_bytes": after,
                "growth_bytes": after - before,
                "bytes_per_order": round((after - before) / max(1, resting)),
                "peak_rss_bytes": _peak_rss(),
                "seconds": round(seconds, 2),
            }
        )
    )


# -- helpers ---------------------------------------------------------------------------


def _setup(exchange, workload: Workload) -> int:
    """Apply the unmeasured setup and prefill; returns the last record index."""
    index = 0
    for command in workload.setup + workload.prefill:
        outcome, index = exchange.apply(command)
        if outcome.error is not None:
            raise outcome.error
    return index


def _same_book(exchange, bare: BareBook, workload: Workload) -> bool:
    """Whether the exchange's book holds exactly the bare book's orders (id, price, remaining, queue order)."""
    spec = workload.market
    view = exchange.order_book_orders(spec.symbol)
    bids, asks = bare.level3()

    def engine_side(orders):
        return [(o.order_id, int(o.price / spec.tick_size), int(o.quantity / spec.lot_size)) for o in orders]

    trades = exchange.trades(spec.symbol, limit=1)
    last_trade = trades[0].id if trades else 0
    return engine_side(view.bids) == bids and engine_side(view.asks) == asks and last_trade == bare.trades


class _GcTimer:
    """Total time spent in the garbage collector while active, and how many full collections ran."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._started = 0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter_ns()
        else:
            self.seconds += (time.perf_counter_ns() - self._started) / 1e9
            if info.get("generation") == 2:
                self.full += 1

    def __enter__(self) -> _GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)


def _status_field(name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {name} in /proc/self/status")


def _rss() -> int:
    return _status_field("VmRSS")


def _peak_rss() -> int:
    return _status_field("VmHWM")


def start_results(console: Console) -> dict[str, Any]:
    """The results' header (machine, command, load at the start); warns when the machine is busy."""
    results: dict[str, Any] = {"machine": machine(), "command": " ".join(["spotlab", *sys.argv[1:]])}
    load = os.getloadavg()
    results["machine"]["load_average_at_start"] = [round(x, 2) for x in load]
    if load[0] > 0.5:
        console.print(
            f"[yellow]warning: the 1-minute load average is {load[0]:.2f}; other work on this machine will "
            "distort the figures[/yellow]"
        )
    return results


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        **_git_state(),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _git_state() -> dict[str, Any]:
    """The commit the code comes from and which engine files differ from it (the figures depend on both)."""
    root = Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src/spotlab/core", "src/spotlab/exchange", "src/spotlab/store"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {"git_commit": commit, "git_changed_engine_files": [line[3:] for line in dirty if line.strip()]}


# -- the run ---------------------------------------------------------------------------


@dataclass
class Options:
    commands: int = 1_000_000
    accounts: int = 1_000
    seed: int = 42
    stores: tuple[str, ...] = STORES
    postgres_url: str = DEFAULT_POSTGRES_URL
    window: int = DEFAULT_WINDOW
    resting: int = DEFAULT_RESTING
    skip_memory_test: bool = False
    skip_restart: bool = False
    json_path: Path | None = None
    profile_path: Path | None = None
    workdir: Path | None = None


def run(options: Options, console: Console | None = None) -> dict[str, Any]:
    """Run every phase the options ask for, print the tables, return (and optionally save) the results."""
    console = console or Console()
    unknown = set(options.stores) - set(STORES)
    if unknown:
        raise ValueError(f"unknown store(s) {', '.join(sorted(unknown))}; choose from {', '.join(STORES)}")
    results = start_results(console)
    phases: list[Phase] = []
    profile_text = None
    workdir = Path(tempfile.mkdtemp(prefix="spotlab-bench-", dir=options.workdir))
    try:
        with _progress(console) as progress:

            def task(label: str, total: int) -> Callable[[int], None]:
                task_id = progress.add_task(label, total=total)
                return lambda step: progress.advance(task_id, step)

            spec = WorkloadSpec(commands=options.commands, accounts=options.accounts, seed=options.seed)
            workload = generate(spec, task("generate workload", options.commands))
            results["workload"] = {
                "commands": options.commands,
                "accounts": options.accounts,
                "seed": options.seed,
                "mix": dict(workload.counts),
                "prefill_orders": len(workload.prefill),
                "resting_at_end": workload.resting_at_end,
                "trades": workload.trades,
            }
            bare_phase, bare = run_bare(
                workload, task("bare book: throughput", options.commands), task("bare book: latency", options.commands)
            )
            phases.append(bare_phase)
            if "memory" in options.stores:
                phases.append(
                    run_memory(
                        workload,
                        bare,
                        task("memory: throughput", options.commands),
                        task("memory: latency", options.commands),
                    )
                )
            del bare
            sqlite_path = workdir / "bench.sqlite"
            if "sqlite" in options.stores:
                phases.append(
                    run_durable(
                        workload,
                        "sqlite",
                        f"sqlite:///{sqlite_path}",
                        options.window,
                        task("sqlite (durable)", options.commands),
                    )
                )
            if "postgres" in options.stores:
                from spotlab.store.postgres import drop_schema

                drop_schema(options.postgres_url)
                try:
                    phases.append(
                        run_durable(
                            workload,
                            "postgres",
                            options.postgres_url,
                            options.window,
                            task("postgres (durable)", options.commands),
                        )
                    )
                finally:
                    drop_schema(options.postgres_url)
            if "sqlite" in options.stores and not options.skip_restart:
                restart_task = task("restart (sqlite)", 3)
                results["restart"] = run_restart(sqlite_path)
                restart_task(3)
            if not options.skip_memory_test:
                probe_task = task(f"{options.resting:,} resting orders (subprocesses)", 3)
                results["resting_memory"] = {}
                for mode in ("exchange", "sqlite", "engine"):
                    results["resting_memory"][mode] = run_resting_memory(options.resting, mode)
                    probe_task(1)
            if options.profile_path is not None:
                profile_text = profile_memory(workload, options.profile_path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["phases"] = {phase.name: phase.summary() for phase in phases}
    results["targets"] = verdicts(results)
    console.print(f"workload: {describe(workload)}")
    console.print(phase_table(phases))
    if "restart" in results:
        console.print(restart_table(results["restart"]))
    if "resting_memory" in results:
        console.print(memory_table(results["resting_memory"]))
    console.print(target_table(results["targets"]))
    if profile_text is not None:
        console.print(profile_text, markup=False, highlight=False)
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {options.json_path}")
    return results


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )

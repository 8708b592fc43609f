"""``spotlab bench api``: the API benchmarks, their targets and the tables they print.

Parts (``--parts``, comma-separated; by default all but ``floor``)
- ``rest``: REST order placement vs a bare FastAPI endpoint (``spotlab.bench.api_rest``);
  target: the real route at >= 0.7 x the bare endpoint's requests/s (median ratio of rounds).
- ``fanout``: 1,000 WebSocket subscribers to a busy market's trades and book
  (``spotlab.bench.api_ws``); target: p99 trade delivery lag <= 100 ms at >= 2,000 public
  events/s (orders placed + trades: every order changes the book, every trade prints).
- ``entry``: WebSocket order entry vs REST at the same concurrency (``spotlab.bench.api_ws``);
  target: >= 3 x REST's orders/s (median ratio of rounds).
- ``floor``: server CPU per order, bare REST vs a bare WebSocket endpoint, and the real server's
  WebSocket entry and REST beside them (``spotlab.bench.api_floor``). Not a target: a reference
  that says whether the two targets above can hold together (they need the bare ratio >= 2.1).
  Not among the default parts; it takes the order-entry part's sockets, window, accounts and
  workdir (``--ws-connections``, ``--ws-window``), its own rounds and durations (``FloorOptions``).

Every part starts its own servers (real uvicorn subprocesses on 127.0.0.1, durable SQLite
stores in a temporary directory) and clients; see each module's docstring for the method.
Results are printed and, with ``json_path``, saved with the machine, the commit and the
load average (the runner warns when the 1-minute load average is above 0.5 at the start).

Invariants
- A target is judged only from a part that ran; a missing ``wrk`` never fails the run:
  the REST part falls back to the Python load, the order-entry part drops its REST side
  (and has no ratio), the floor part's REST sides use the Python load, and the output says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from spotlab.bench.api_floor import SIDE_NAMES, SIDES, FloorOptions, run_floor
from spotlab.bench.api_rest import RestOptions, run_rest, wrk_available
from spotlab.bench.api_ws import EntryOptions, FanoutOptions, run_entry, run_fanout
from spotlab.bench.engine import start_results
from spotlab.bench.report import target_table

PARTS = ("rest", "fanout", "entry", "floor")
DEFAULT_PARTS = ("rest", "fanout", "entry")
TARGETS = {"rest_ratio": 0.7, "fanout_p99_ms": 100.0, "fanout_events_per_second": 2000.0, "entry_ratio": 3.0}
#: What the REST and entry targets together ask of WebSocket entry, in bare REST requests (the floor's reference).
FLOOR_NEEDED_RATIO = round(TARGETS["rest_ratio"] * TARGETS["entry_ratio"], 3)


@dataclass
class ApiOptions:
    parts: tuple[str, ...] = DEFAULT_PARTS
    rest: RestOptions = field(default_factory=RestOptions)
    fanout: FanoutOptions = field(default_factory=FanoutOptions)
    entry: EntryOptions = field(default_factory=EntryOptions)
    floor: FloorOptions | None = None  # None: FloorOptions' defaults with the entry part's sockets and window
    json_path: Path | None = None

    def __post_init__(self) -> None:
        unknown = set(self.parts) - set(PARTS)
        if unknown or not self.parts:
            raise ValueError(
                f"unknown part(s) {', '.join(sorted(unknown)) or '(none)'}; choose from {', '.join(PARTS)}"
            )


def run(options: ApiOptions, console: Console | None = None) -> dict[str, Any]:
    """Run the parts asked for, print their tables, return (and optionally save) the results."""
    console = console or Console()
    results = start_results(console)
    say = console.print
    if "rest" in options.parts:
        if options.rest.load == "wrk" and not wrk_available():
            say("[yellow]wrk is missing (apt-get install -y wrk): the REST part uses the Python load instead[/yellow]")
            options.rest = replace(options.rest, load="python")
        results["rest"] = run_rest(options.rest, say)
        console.print(rest_table(results["rest"]))
    if "fanout" in options.parts:
        results["fanout"] = run_fanout(options.fanout, say)
        console.print(fanout_table(results["fanout"]))
    if "entry" in options.parts:
        if options.entry.rest_load == "wrk" and not wrk_available():
            say("[yellow]wrk is missing (apt-get install -y wrk): order entry runs without its REST side[/yellow]")
            options.entry = replace(options.entry, rest_load="none")
        results["entry"] = run_entry(options.entry, say)
        console.print(entry_table(results["entry"]))
    if "floor" in options.parts:
        floor = options.floor or floor_options(options.entry)
        if floor.rest_load == "wrk" and not wrk_available():
            say("[yellow]wrk is missing (apt-get install -y wrk): the floor's REST sides use the Python load[/yellow]")
            floor = replace(floor, rest_load="python")
        results["floor"] = run_floor(floor, say)
        results["floor"]["needed_ratio"] = FLOOR_NEEDED_RATIO
        results["floor"]["verdict"] = floor_verdict(results["floor"])
        console.print(floor_table(results["floor"]))
        for line in results["floor"]["verdict"]:
            say(f"floor (a reference, not a target): {line}")
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = verdicts(results)
    if results["targets"]:
        console.print(target_table(results["targets"]))
    if options.json_path is not None:
        options.json_path.parent.mkdir(parents=True, exist_ok=True)
        options.json_path.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"results written to {options.json_path}")
    return results


def floor_options(entry: EntryOptions) -> FloorOptions:
    """The floor part's defaults, with the same orders in flight (sockets x window) as order entry."""
    return FloorOptions(connections=entry.connections, window=entry.window, accounts=entry.accounts,
                        workdir=entry.workdir)  # fmt: skip


# -- targets ----------------------------------------------------------------------------------


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the parts that ran: measured, met, margin (the shape ``report.target_table`` prints)."""
    out = []

    def verdict(name: str, measured: float | None, target: float, at_least: bool, unit: str = "") -> None:
        if measured is None:
            return
        met = measured >= target if at_least else measured <= target
        goal = f"{'>=' if at_least else '<='} {target:,} {unit}".strip()
        margin = f"{(measured / target - 1) * 100:+.0f} %"
        out.append({"target": name, "goal": goal, "measured": measured, "met": met, "margin": margin})

    if "rest" in results:
        verdict("REST orders vs bare endpoint (median ratio)", results["rest"]["median_ratio"], TARGETS["rest_ratio"],
                True, "x")  # fmt: skip
    if "fanout" in results:
        fanout = results["fanout"]
        verdict(f"fan-out to {fanout['subscribers']:,}: events/s", fanout["events_per_second"],
                TARGETS["fanout_events_per_second"], True, "/s")  # fmt: skip
        verdict("fan-out: p99 trade delivery lag", fanout["lag_p99_ms"], TARGETS["fanout_p99_ms"], False, "ms")
    if "entry" in results:
        verdict("WebSocket order entry vs REST (median ratio)", results["entry"]["median_ratio"],
                TARGETS["entry_ratio"], True, "x")  # fmt: skip
    return out


def floor_verdict(floor: dict[str, Any]) -> list[str]:
    """Plain sentences: what the floor part says about the REST and entry targets (a reference, not a target)."""
    ratio, needed = floor["median_ratio"], FLOOR_NEEDED_RATIO
    if ratio is None:
        return ["no ratio: a bare side measured no orders"]
    outcome = (
        "so the WebSocket path itself leaves room for both targets; what an order costs beyond it decides"
        if ratio >= needed
        else "so even an order that does nothing cannot meet both targets on one core"
    )
    lines = [
        f"The targets together need WebSocket entry at >= {needed} x the bare REST endpoint's rate (real REST at "
        f"{TARGETS['rest_ratio']} x bare, WebSocket at {TARGETS['entry_ratio']:g} x that). On one core, a bare "
        f"WebSocket order that does no exchange work costs 1/{ratio} of a bare REST request's server CPU (median of "
        f"rounds; needs >= {needed}), {outcome}."
    ]
    budgets = real_budgets(floor["median_us_per_order"], floor["derived"])
    return lines + ([budgets] if budgets else [])


def real_budgets(medians: dict[str, float | None], ratios: dict[str, float | None]) -> str | None:
    """What a real order may cost in server CPU for the targets, from the bare REST request's µs, and what it costs."""
    bare, real_ws, real_rest = medians["bare_rest"], medians["real_ws"], medians["real_rest"]
    if not bare or not real_ws:
        return None
    rest_target, entry_target = TARGETS["rest_ratio"], TARGETS["entry_ratio"]
    text = (
        f"Budgets from the bare REST request's {bare} µs: a real WebSocket order may cost "
        f"{bare / FLOOR_NEEDED_RATIO:.1f} µs (measured {real_ws}: {ratios['real_ws_vs_bare_rest']} x bare REST's rate "
        f"by CPU, needs >= {FLOOR_NEEDED_RATIO})"
    )
    if real_rest:
        text += (
            f", a real REST order {bare / rest_target:.1f} µs (measured {real_rest}: "
            f"{ratios['real_rest_vs_bare_rest']} x, needs >= {rest_target}); real WebSocket entry is "
            f"{ratios['real_ws_vs_real_rest']} x real REST by CPU (needs >= {entry_target:g})"
        )
    return text + "."


# -- tables -----------------------------------------------------------------------------------


def rest_table(rest: dict[str, Any]) -> Table:
    table = Table(
        title=f"REST POST /v1/orders ({rest['load']}, {rest['connections']} connections, {rest['seconds']} s)"
    )
    for column in ("round", "server", "requests/s", "p50 ms", "p99 ms", "non-2xx", "socket errors", "ratio"):
        table.add_column(column, justify="right")
    for entry in rest["rounds"]:
        for target in entry["order"]:
            run = entry[target]
            ratio = entry["ratio"] if target == "exchange" else None
            table.add_row(str(entry["round"]), target, f"{run['requests_per_second']:,.0f}", str(run["p50_ms"]),
                          str(run["p99_ms"]), str(run["non_2xx"]), str(run["socket_errors"]),
                          "" if ratio is None else f"{ratio:.3f}")  # fmt: skip
    table.add_row("median", "", "", "", "", "", "", f"{rest['median_ratio']}")
    return table


def fanout_table(fanout: dict[str, Any]) -> Table:
    title = f"WebSocket fan-out: {fanout['subscribers']:,} subscribers, coalesce_seconds={fanout['coalesce_seconds']}"
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name in (
        "orders_per_second", "trades_per_second", "events_per_second", "book_levels_per_second",
        "trade_messages_per_second_per_subscriber",
        "book_messages_per_second_per_subscriber", "messages_delivered_per_second", "megabytes_delivered_per_second",
        "lag_p50_ms", "lag_p99_ms", "lag_max_ms", "lag_samples", "client_loop_late_p50_ms", "client_loop_late_p99_ms",
        "book_gaps", "sockets_closed_by_server",
    ):  # fmt: skip
        table.add_row(name.replace("_", " "), f"{fanout[name]}")
    return table


def entry_table(entry: dict[str, Any]) -> Table:
    title = f"order entry at concurrency {entry['concurrency']} ({entry['connections']} sockets x {entry['window']})"
    table = Table(title=title)
    for column in ("round", "side", "orders/s", "p50 ms", "p99 ms", "errors", "ratio"):
        table.add_column(column, justify="right")
    for row in entry["rounds"]:
        for side in row["order"]:
            if side not in row:
                continue
            figures = row[side]
            rate = figures.get("results_per_second", figures.get("requests_per_second"))
            errors = figures["non_2xx"] if "non_2xx" in figures else sum(figures["errors"].values())
            ratio = row["ratio"] if side == "websocket" else None
            table.add_row(str(row["round"]), side, f"{rate:,.0f}", str(figures["p50_ms"]), str(figures["p99_ms"]),
                          str(errors), "" if ratio is None else f"{ratio:.3f}")  # fmt: skip
    table.add_row("median", "", "", "", "", "", f"{entry['median_ratio']}")
    return table


def floor_table(floor: dict[str, Any]) -> Table:
    title = (
        f"server CPU per order ({floor['in_flight']} in flight: REST {floor['rest_load']} x {floor['in_flight']}, "
        f"WS {floor['connections']} sockets x {floor['window']}; {floor['seconds']} s per run)"
    )
    table = Table(title=title)
    for column in ("round", "side", "µs CPU/order", "orders/s", "server CPU share", "errors", "bare REST/WS"):
        table.add_column(column, justify="right")
    for row in floor["rounds"]:
        for side in SIDES:
            if side not in row:
                continue
            run = row[side]
            ratio = row["ratio"] if side == "bare_ws" else None
            table.add_row(str(row["round"]), SIDE_NAMES[side], f"{run['server_cpu_us_per_order']}",
                          f"{run['orders_per_second']:,.0f}", f"{run['server_cpu_share']}", str(run["errors"]),
                          "" if ratio is None else f"{ratio:.3f}")  # fmt: skip
    for side in SIDES:
        median = floor["median_us_per_order"][side]
        if median is not None:
            ratio = floor["median_ratio"] if side == "bare_ws" else None
            table.add_row("median", SIDE_NAMES[side], f"{median}", "", "", "", "" if ratio is None else f"{ratio}")
    return table

"""The engine benchmark's report: its targets, the verdict on each, and the tables it prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from spotlab.bench.engine import Phase

#: The targets of the issue, on a 2-core machine (1 GB = 10^9 bytes of resident-set growth).
TARGETS = {
    "memory_per_second": 100_000,
    "memory_vs_bare": 0.3,
    "sqlite_per_second": 50_000,
    "postgres_per_second": 20_000,
    "restart_seconds": 10.0,
    "resting_memory_bytes": 1_000_000_000,
}


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what was measured, whether it is met and by how much it is missed."""
    phases = results["phases"]
    out: list[dict[str, Any]] = []

    def at_least(name: str, measured: float | None, target: float, unit: str) -> None:
        if measured is None:
            return
        met = measured >= target
        out.append(
            {
                "target": name,
                "goal": f">= {target:,} {unit}",
                "measured": measured,
                "met": met,
                "margin": f"{(measured / target - 1) * 100:+.0f} %",
            }
        )

    def at_most(name: str, measured: float | None, target: float, unit: str) -> None:
        if measured is None:
            return
        met = measured <= target
        out.append(
            {
                "target": name,
                "goal": f"<= {target:,} {unit}",
                "measured": measured,
                "met": met,
                "margin": f"{(measured / target - 1) * 100:+.0f} %",
            }
        )

    memory = phases.get("memory")
    bare = phases["bare book"]
    if memory:
        at_least("in memory, commands/s", memory["commands_per_second"], TARGETS["memory_per_second"], "/s")
        ratio = round(memory["commands_per_second"] / bare["commands_per_second"], 3)
        at_least("in memory vs bare book", ratio, TARGETS["memory_vs_bare"], "x")
    if "sqlite" in phases:
        at_least(
            "SQLite-durable, commands/s", phases["sqlite"]["commands_per_second"], TARGETS["sqlite_per_second"], "/s"
        )
    if "postgres" in phases:
        at_least(
            "PostgreSQL-durable, commands/s",
            phases["postgres"]["commands_per_second"],
            TARGETS["postgres_per_second"],
            "/s",
        )
    restart = results.get("restart")
    if restart:
        for key in ("clean", "crash", "log_only"):
            at_most(
                f"restart ({key.replace('_', ' ')}), {restart['events']:,} events",
                restart[key]["seconds"],
                TARGETS["restart_seconds"],
                "s",
            )
    resting = results.get("resting_memory")
    if resting:
        for mode, probe in resting.items():
            at_most(
                f"memory, {probe['resting_orders']:,} resting orders ({mode})",
                probe["growth_bytes"],
                TARGETS["resting_memory_bytes"],
                "bytes",
            )
    return out


def phase_table(phases: list[Phase]) -> Table:
    table = Table(title="spotlab bench engine: the same commands through each path")
    for column in ("path", "commands", "seconds", "commands/s", "p50 µs", "p99 µs", "max µs", "vs bare", "notes"):
        table.add_column(column, justify="left" if column in ("path", "notes") else "right")
    bare = phases[0]
    for phase in phases:
        notes = ", ".join(f"{k}={v}" for k, v in phase.notes.items())
        table.add_row(
            phase.name,
            f"{phase.commands:,}",
            f"{phase.seconds:.2f}",
            f"{phase.per_second:,.0f}",
            f"{phase.percentile(50):,.1f}",
            f"{phase.percentile(99):,.1f}",
            f"{phase.max_us:,.0f}",
            f"{phase.per_second / bare.per_second:.3f}",
            notes,
        )
    return table


def restart_table(restart: dict[str, Any]) -> Table:
    table = Table(
        title=f"restart: Exchange.open on the SQLite store ({restart['records']:,} records, "
        f"{restart['events']:,} events)"
    )
    for column in ("case", "seconds", "snapshot at record", "records replayed"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for key in ("clean", "crash", "log_only"):
        case = restart[key]
        table.add_row(
            case["what"], f"{case['seconds']:.2f}", f"{case['snapshot_index']:,}", f"{case['records_replayed']:,}"
        )
    return table


def memory_table(resting: dict[str, Any]) -> Table:
    table = Table(title="memory with resting orders (fresh subprocess, VmRSS growth)")
    for column in ("mode", "resting orders", "growth MB", "bytes/order", "peak RSS MB", "seconds"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for mode, probe in resting.items():
        table.add_row(
            mode,
            f"{probe['resting_orders']:,}",
            f"{probe['growth_bytes'] / 1e6:,.0f}",
            f"{probe['bytes_per_order']:,}",
            f"{probe['peak_rss_bytes'] / 1e6:,.0f}",
            f"{probe['seconds']}",
        )
    return table


def target_table(verdicts: list[dict[str, Any]]) -> Table:
    table = Table(title="targets")
    for column in ("target", "goal", "measured", "met", "margin"):
        table.add_column(column, justify="left" if column in ("target", "goal") else "right")
    for v in verdicts:
        measured = v["measured"]
        text = f"{measured:,}" if isinstance(measured, int) else f"{measured:,.3f}"
        table.add_row(v["target"], v["goal"], text, "yes" if v["met"] else "NO", v["margin"])
    return table

"""``spotlab journal ACCOUNT``: the account's round trips and their statistics, as tables in the terminal.

A thin shell over ``Exchange.journal_service`` (``spotlab.journal``). It opens the store the way
``spotlab serve`` does (``--store`` URL, else the SQLite file in ``--data-dir``; the same
``SPOTLAB_*`` variables), so it reads the same journal the API serves. SQLite is locked by the
process that has it open: stop ``spotlab serve`` first, or read ``GET /v1/journal/...`` instead.

``--json FILE`` (``-`` for stdout) writes the round trips and statistics as JSON (money as
decimal strings, times as UTC nanoseconds ``*_ns``), for scripts. Errors are ``error CODE: message`` with
exit status 2 (``spotlab.cli.main``, or this module's ``main`` when run as ``python -m``).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from spotlab.errors import SpotlabError

console = Console(width=max(Console().width, 160))


def register(app: typer.Typer) -> None:
    app.command("journal")(journal)


def journal(
    account: Annotated[str, typer.Argument(help="The account whose journal to show.")],
    data_dir: Annotated[
        Optional[Path], typer.Option(help="Data directory of the embedded store [SPOTLAB_DATA_DIR; spotlab-data].")
    ] = None,
    store: Annotated[
        Optional[str], typer.Option(help="Store URL, e.g. postgresql://user@host/db [SPOTLAB_STORE; SQLite file].")
    ] = None,
    market: Annotated[Optional[str], typer.Option(help="Only this market, e.g. BTC/USDT.")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="Only this strategy tag (or untagged).")] = None,
    status: Annotated[Optional[str], typer.Option(help="Only open or closed round trips.")] = None,
    group_by: Annotated[str, typer.Option(help="Statistics by all, strategy, market, weekday or hour (UTC).")] = "all",
    last: Annotated[int, typer.Option(help="Show the newest N round trips (0: all).")] = 50,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write JSON here (- : stdout).")] = None,
) -> None:
    """Show an account's round trips (entry to flat, per market) and their statistics."""
    from spotlab.exchange import Exchange
    from spotlab.settings import Settings

    flags = {"data_dir": data_dir, "store": store}
    settings = Settings(**{name: value for name, value in flags.items() if value is not None})
    symbol = None if market is None else market.replace("-", "/")
    with Exchange.open(settings.resolved_store()) as exchange:
        service = exchange.journal_service
        trips = service.round_trips(account, market=symbol, strategy=strategy, status=status)
        stats = service.statistics(account, group_by, market=symbol, strategy=strategy)
    shown = trips[-last:] if last > 0 else trips
    if json_out is not None and str(json_out) == "-":
        print(json.dumps(_as_json(trips, stats, group_by), indent=2))
        return
    _show_trips(account, shown, len(trips))
    _show_stats(stats, group_by)
    if json_out is not None:
        json_out.write_text(json.dumps(_as_json(trips, stats, group_by), indent=2) + "\n")
        console.print(f"written to {json_out}")


# -- tables --------------------------------------------------------------------------------------


def _money(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return format(value.normalize(), "f")


def _duration(ns: int | None) -> str:
    if ns is None:
        return "-"
    days, rest = divmod(ns // 1_000_000_000, 86_400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}d {clock}" if days else clock


def _time(ns: int | None) -> str:
    from spotlab.clock import ns_to_datetime

    return "-" if ns is None else ns_to_datetime(ns).strftime("%Y-%m-%d %H:%M")


def _ratio(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:.2f} %" if percent else f"{value:.2f}"


def _show_trips(account: str, trips: list, total: int) -> None:
    title = f"journal of {account}: {total} round trip{'s' if total != 1 else ''}"
    if len(trips) < total:
        title += f" (newest {len(trips)} shown)"
    table = Table(title=title, title_justify="left")
    columns = ("#", "id", "status", "entry (UTC)", "held", "quantity", "entry price", "exit price", "fees", "pnl",
               "strategy", "conf.", "notes")  # fmt: skip
    for column in columns:
        right = column in ("#", "quantity", "entry price", "exit price", "fees", "pnl", "conf.")
        table.add_column(column, justify="right" if right else "left", no_wrap=column != "notes")
    from spotlab.journal.stats import strategy_tag

    for trip in trips:
        note = trip.annotation
        pnl = _money(trip.pnl)
        if trip.pnl is not None:
            pnl = f"[green]{pnl}[/]" if trip.pnl > 0 else f"[red]{pnl}[/]" if trip.pnl < 0 else pnl
        table.add_row(
            str(trip.number), trip.id, trip.status, _time(trip.entry_time_ns), _duration(trip.holding_ns),
            _money(trip.quantity), _money(trip.entry_price), _money(trip.exit_price), _money(trip.fees),
            f"{pnl} {trip.quote}", strategy_tag(trip), str(note.confidence) if note and note.confidence else "",
            (note.notes or "")[:60] if note else "",
        )  # fmt: skip
    console.print(table)


_STATS_ROWS = (
    ("trades", "Round trips", str),
    ("wins", "Wins", str),
    ("losses", "Losses", str),
    ("win_rate", "Win rate", lambda v: _ratio(v, percent=True)),
    ("average_win", "Average win", _money),
    ("average_loss", "Average loss", _money),
    ("profit_factor", "Profit factor", _ratio),
    ("expectancy", "Expectancy", _money),
    ("net_pnl", "Net P&L", _money),
    ("gross_pnl", "Gross P&L (before fees)", _money),
    ("fees", "Fees", _money),
    ("fee_drag", "Fee drag (fees / gross)", lambda v: _ratio(v, percent=True)),
    ("average_holding_ns", "Average holding time", _duration),
    ("trades_per_day", "Trades per day traded", _ratio),
    ("most_trades_in_a_day", "Most trades in a day", str),
    ("largest_losing_streak", "Largest losing streak", str),
)


def _show_stats(stats: list, group_by: str) -> None:
    if not stats:
        console.print("no closed round trips yet: no statistics")
        return
    table = Table(title=f"statistics by {group_by}", title_justify="left")
    table.add_column("figure")
    for row in stats:
        table.add_column(f"{row.group} ({row.currency})" if group_by != "all" else row.currency, justify="right")
    for name, label, show in _STATS_ROWS:
        table.add_row(label, *(show(getattr(row, name)) for row in stats))
    console.print(table)


# -- JSON ----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


def _as_json(trips: list, stats: list, group_by: str) -> dict[str, Any]:
    return {"round_trips": [_plain(trip) for trip in trips], "group_by": group_by, "stats": [_plain(s) for s in stats]}


def main() -> None:
    """``python -m spotlab.cli_journal journal ...``: the command without the rest of ``spotlab``."""
    app = typer.Typer(no_args_is_help=True)
    app.callback()(lambda: None)
    register(app)
    try:
        app()
    except SpotlabError as error:
        print(f"error {error.code}: {error.message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

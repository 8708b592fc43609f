"""``spotlab data ...``: the historical data catalogue from the terminal (import, export, resample, list;
``download`` is registered by ``cli_download``).

Every subcommand is a thin shell over ``spotlab.marketdata``; errors are printed as
``error CODE: message`` with exit status 2, never as a stack trace.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

data_app = typer.Typer(help="Historical candles and trades: import, export, download.", no_args_is_help=True)


FORMAT_HELP = "auto, binance, csv, ccxt, freqtrade-json, freqtrade-feather, trades-csv, trades-json"
DataDir = Annotated[
    Optional[Path], typer.Option(help="Data directory; the catalogue is <data-dir>/history [SPOTLAB_DATA_DIR].")
]
Exchange = Annotated[str, typer.Option(help="Source exchange name the dataset is filed under.")]
Market = Annotated[str, typer.Option(help="Market, e.g. BTC/USDT (or BTC-USDT).")]


def _store(data_dir: Path | None):
    from spotlab.marketdata.datastore import DataStore

    return DataStore((data_dir or Path(os.environ.get("SPOTLAB_DATA_DIR") or "spotlab-data")) / "history")


def _time(text: str | None) -> int | None:
    """``2024-01-01``, ``2024-01-01T12:00`` (UTC unless a zone is given) or epoch ms."""
    from spotlab.errors import ErrorCode, SpotlabError
    from spotlab.marketdata.datastore import to_epoch_ms

    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        message = f"time {text!r} is not a date like 2024-01-31 or epoch ms"
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, message) from None
    return to_epoch_ms(value if value.tzinfo else value.replace(tzinfo=UTC))


@data_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The file to import (.gz allowed for CSV and JSON).")],
    market: Market,
    interval: Annotated[Optional[str], typer.Option(help="Candle interval, e.g. 1m (not for trades).")] = None,
    format: Annotated[str, typer.Option("--format", help=FORMAT_HELP)] = "auto",
    exchange: Exchange = "file",
    sort: Annotated[bool, typer.Option(help="Sort rows that are out of time order (each move is reported).")] = False,
    drop_duplicates: Annotated[
        bool, typer.Option(help="Drop rows that repeat an earlier row exactly (each drop is reported).")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Import candles or trades into the catalogue: validated first; a file with errors is refused."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from spotlab.errors import ErrorCode, SpotlabError
    from spotlab.marketdata.transfer import import_file

    store = _store(data_dir)
    size = file.stat().st_size if file.is_file() else 0
    bar = Progress(
        TextColumn(f"reading {file.name}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True, disable=size < 8 << 20,
    )  # fmt: skip
    task = bar.add_task("read", total=size)
    with bar:
        result = import_file(
            store, file, market=market, interval=interval, fmt=format, exchange=exchange, sort=sort,
            drop_duplicates=drop_duplicates, progress=lambda n: bar.advance(task, n),
        )  # fmt: skip
    out = Console(width=max(Console().width, 120))
    out.print(f"format: {result.format} ({result.kind})", highlight=False)
    for note in result.notes:
        out.print(f"note: {note}", highlight=False)
    for line in result.report.lines():
        out.print(line, highlight=False, markup=False)
    if result.written is None:
        fixes = "--sort" if "row out of time order" in result.report.errors else ""
        if any(kind.startswith("identical duplicate") for kind in result.report.errors):
            fixes += (" and " if fixes else "") + "--drop-duplicates"
        hint = f"; {fixes} would fix what can be fixed" if fixes else ""
        count = sum(issue.count for issue in result.report.errors.values())
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{file.name} has {count} error(s); nothing imported{hint}")
    written = result.written
    out.print(f"imported: {written.rows_added} row(s) added, {written.rows_present} already present", highlight=False)


@data_app.command("export")
def export(
    market: Market,
    output: Annotated[Path, typer.Option(help="File to write (.gz compresses CSV and JSON).")],
    format: Annotated[str, typer.Option("--format", help=FORMAT_HELP.removeprefix("auto, "))],
    interval: Annotated[Optional[str], typer.Option(help="Candle interval (not for trades).")] = None,
    exchange: Exchange = "file",
    start: Annotated[Optional[str], typer.Option(help="First time included (UTC date/time or epoch ms).")] = None,
    end: Annotated[Optional[str], typer.Option(help="First time excluded.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Export a dataset to a file; in the layout it was imported from, the file comes back byte for byte."""
    from spotlab.marketdata.transfer import export_file

    rows = export_file(
        _store(data_dir), output, market=market, interval=interval, fmt=format, exchange=exchange,
        start=_time(start), end=_time(end),
    )  # fmt: skip
    Console().print(f"exported {rows} row(s) to {output}", highlight=False)


@data_app.command("resample")
def resample(
    market: Market,
    source: Annotated[str, typer.Option("--from", help="Stored interval to build from, or 'trades'.")],
    target: Annotated[str, typer.Option("--to", help="Interval to build, e.g. 1h.")],
    exchange: Exchange = "file",
    start: Annotated[Optional[str], typer.Option(help="First time included (UTC date/time or epoch ms).")] = None,
    end: Annotated[Optional[str], typer.Option(help="First time excluded.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Build higher-interval candles from stored candles or trades, and store them."""
    from spotlab.marketdata.transfer import resample_dataset

    written = resample_dataset(
        _store(data_dir), market=market, source=source, target=target, exchange=exchange,
        start=_time(start), end=_time(end),
    )  # fmt: skip
    Console().print(
        f"{target} candles from {source}: {written.rows_added} added, {written.rows_present} already present",
        highlight=False,
    )


@data_app.command("list")
def list_(data_dir: DataDir = None) -> None:
    """List the datasets in the catalogue."""
    datasets = _store(data_dir).datasets()
    if not datasets:
        Console().print("the catalogue is empty (spotlab data import FILE ... adds to it)")
        return
    table = Table(title="spotlab data")
    for column in ("exchange", "market", "interval", "rows", "first (UTC)", "last (UTC)"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for info in datasets:
        table.add_row(info.exchange, info.market, info.interval, str(info.rows), _when(info.first), _when(info.last))
    Console(width=max(Console().width, 120)).print(table)


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"

"""The ``spotlab`` command.

Every subcommand is a thin shell over the Python facade; errors are printed as
``error CODE: message`` with exit status 2, never as a stack trace.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from spotlab.errors import SpotlabError

app = typer.Typer(help="spotlab: a self-hosted crypto spot exchange and day-trading lab.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (their figures go into BENCHMARKS.md).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
console = Console(width=max(Console().width, 120))


@app.command()
def markets(
    catalogue: Annotated[
        Optional[Path], typer.Option(help="A TOML file of extra assets and markets to add to the default catalogue.")
    ] = None,
) -> None:
    """List the market catalogue: tick and lot sizes, minimums and fees."""
    from spotlab.catalogue import load_catalogue

    cat = load_catalogue(catalogue)
    table = Table(title="spotlab markets")
    for column in (
        "market",
        "tick size",
        "lot size",
        "min quantity",
        "min notional",
        "maker fee",
        "taker fee",
        "status",
    ):
        table.add_column(column, justify="left" if column == "market" else "right")
    for spec in cat.markets.values():
        table.add_row(
            spec.symbol,
            plain(spec.tick_size),
            plain(spec.lot_size),
            plain(spec.min_quantity),
            f"{plain(spec.min_notional)} {spec.quote.code}",
            f"{plain(spec.maker_fee * 100)}%",
            f"{plain(spec.taker_fee * 100)}%",
            str(spec.status),
        )
    console.print(table)


@bench_app.command("engine")
def bench_engine(
    commands: Annotated[int, typer.Option(help="Measured commands in the mixed workload.")] = 1_000_000,
    accounts: Annotated[int, typer.Option(help="Accounts the commands are spread over.")] = 1_000,
    seed: Annotated[int, typer.Option(help="Seed of the workload generator (same seed, same commands).")] = 42,
    stores: Annotated[
        str, typer.Option(help="Comma-separated paths to measure besides the bare book: memory, sqlite, postgres.")
    ] = "memory,sqlite,postgres",
    postgres_url: Annotated[
        str, typer.Option(help="PostgreSQL store URL; its schema is dropped before and after the run.")
    ] = "postgresql://postgres@127.0.0.1:5432/test?schema=bench_engine",
    window: Annotated[
        int, typer.Option(help="Durable runs: most commands in flight (applied, not yet durable).")
    ] = 1_000,
    resting: Annotated[int, typer.Option(help="Resting orders for the memory test.")] = 1_000_000,
    skip_memory_test: Annotated[bool, typer.Option(help="Skip the memory test with resting orders.")] = False,
    skip_restart: Annotated[bool, typer.Option(help="Skip reopening the SQLite store after the run.")] = False,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write the results as JSON here.")] = None,
    profile: Annotated[
        Optional[Path],
        typer.Option(help="Run the in-memory path once more under cProfile, save the stats here, print the top 25."),
    ] = None,
    workdir: Annotated[
        Optional[Path], typer.Option(help="Directory for the SQLite store (default: the system temp directory).")
    ] = None,
) -> None:
    """The engine benchmark: a mixed workload on BTC/USDT through a bare book, memory, SQLite and PostgreSQL."""
    from spotlab.bench.engine import Options, run

    chosen = tuple(part.strip() for part in stores.split(",") if part.strip())
    try:
        options = Options(
            commands=commands,
            accounts=accounts,
            seed=seed,
            stores=chosen,
            postgres_url=postgres_url,
            window=window,
            resting=resting,
            skip_memory_test=skip_memory_test,
            skip_restart=skip_restart,
            json_path=json_path,
            profile_path=profile,
            workdir=workdir,
        )
        run(options, console)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def plain(number) -> str:
    """A Decimal without exponent notation or trailing zeros: 1E-8 -> 0.00000001, 0.100 -> 0.1."""
    text = format(number.normalize(), "f")
    return text


def main() -> None:
    try:
        app()
    except SpotlabError as error:
        Console(stderr=True).print(f"error {error.code}: {error.message}")
        sys.exit(2)


if __name__ == "__main__":
    main()

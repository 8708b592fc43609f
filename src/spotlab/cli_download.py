"""``spotlab data download``: closed candles from a real exchange through CCXT into the data catalogue.

A thin shell over ``spotlab.marketdata.download``: parses the flags, shows a progress bar on
stderr once the first page is stored (stdout keeps only the summary line, so it pipes cleanly)
and prints what was stored.
Errors are ``error CODE: message`` with exit status 2 (``spotlab.cli.main``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from spotlab.cli_data import DataDir, data_app


@data_app.command("download")
def download(
    exchange: Annotated[str, typer.Option(help="CCXT exchange id, e.g. binance.")],
    market: Annotated[str, typer.Option(help="Market as the exchange lists it in CCXT, e.g. BTC/USDT.")],
    interval: Annotated[str, typer.Option(help="Candle interval: 1m, 5m, 1h, 1d, ...")] = "1m",
    since: Annotated[
        Optional[str], typer.Option(help="UTC date or time of the first candle, e.g. 2024-01-01 (first download).")
    ] = None,
    until: Annotated[
        Optional[str],
        typer.Option(help="Stop at this UTC date or time (default: now); only closed candles are stored."),
    ] = None,
    data_dir: DataDir = None,
    api_url: Annotated[
        Optional[str], typer.Option(help="Send the exchange's API calls to this http(s)://host:port (a mirror).")
    ] = None,
    retries: Annotated[int, typer.Option(help="Retries of a rate-limited or failed request, with back-off.")] = 5,
) -> None:
    """Download closed candles through CCXT, resuming after the last stored candle; rate-limit aware."""
    from spotlab.marketdata.datastore import DataStore
    from spotlab.marketdata.download import download_candles, open_exchange, parse_time

    since_ms = parse_time(since) if since is not None else None
    until_ms = parse_time(until) if until is not None else None
    root = (data_dir or Path(os.environ.get("SPOTLAB_DATA_DIR") or "spotlab-data")) / "history"
    client = open_exchange(exchange, api_url=api_url)
    bar = Progress(
        TextColumn(f"{exchange} {market} {interval}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True),
    )  # fmt: skip
    task = bar.add_task("download", total=None)

    def on_page(progress) -> None:
        if not bar.live.is_started:
            bar.start()  # only once the first page is in: a refusal prints no empty bar
        bar.update(task, completed=progress.candles, total=max(progress.expected, progress.candles))

    try:
        result = download_candles(
            client, DataStore(root), market, interval, since=since_ms, until=until_ms, retries=retries, on_page=on_page
        )
        bar.update(task, total=result.candles, completed=result.candles)  # the expected count was an upper bound
    finally:
        if bar.live.is_started:
            bar.stop()
    span = ""
    if result.first_open_time is not None:
        span = f" from {iso(result.first_open_time)} to {iso(result.last_open_time)} (open times)"
    where = "resumed after the stored candles" if result.resumed else "new"
    typer.echo(
        f"stored {result.candles} {interval} candles of {exchange} {market} in {result.pages} pages{span}; "
        f"{where}; catalogue {root}"
    )


def iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")

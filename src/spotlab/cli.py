"""The ``spotlab`` command.

Every subcommand is a thin shell over the Python facade; errors are printed as
``error CODE: message`` with exit status 2, never as a stack trace.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

import spotlab.cli_download  # noqa: F401  (registers ``spotlab data download``)
from spotlab import cli_backtest, cli_demo, cli_journal, cli_paper, cli_tax
from spotlab.cli_data import data_app
from spotlab.errors import SpotlabError

app = typer.Typer(help="spotlab: a self-hosted crypto spot exchange and day-trading lab.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (their figures go into BENCHMARKS.md).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(data_app, name="data")
cli_backtest.register(app)
cli_demo.register(app)
cli_paper.register(app)
cli_journal.register(app)
cli_tax.register(app)
cli_tax.register_bench(bench_app)
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


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Interface to listen on [SPOTLAB_HOST; 127.0.0.1].")] = None,
    port: Annotated[Optional[int], typer.Option(help="TCP port [SPOTLAB_PORT; 8000].")] = None,
    data_dir: Annotated[
        Optional[Path], typer.Option(help="Data directory of the embedded store [SPOTLAB_DATA_DIR; spotlab-data].")
    ] = None,
    store: Annotated[
        Optional[str], typer.Option(help="Store URL, e.g. postgresql://user@host/db [SPOTLAB_STORE; SQLite file].")
    ] = None,
    secret_key: Annotated[
        Optional[str], typer.Option(help="Server secret [SPOTLAB_SECRET_KEY; created in the data directory].")
    ] = None,
    redis_url: Annotated[
        Optional[str], typer.Option(help="Share rate limits through Redis [SPOTLAB_REDIS_URL].")
    ] = None,
    tls_cert: Annotated[Optional[Path], typer.Option(help="PEM certificate: serve HTTPS [SPOTLAB_TLS_CERT].")] = None,
    tls_key: Annotated[Optional[Path], typer.Option(help="PEM private key [SPOTLAB_TLS_KEY].")] = None,
    cors_origin: Annotated[
        Optional[list[str]], typer.Option(help="Allow this origin through CORS (repeatable) [SPOTLAB_CORS_ORIGINS].")
    ] = None,
    log_level: Annotated[Optional[str], typer.Option(help="Log level [SPOTLAB_LOG_LEVEL; info].")] = None,
) -> None:
    """Run the exchange and its API (REST, WebSocket, /docs, /metrics) with uvicorn."""
    import uvicorn

    from spotlab.api.app import create_app
    from spotlab.api.gc_policy import GcPolicy
    from spotlab.api.logs import configure_logging
    from spotlab.api.ws_frames import FrameWebSocketProtocol
    from spotlab.exchange import Exchange
    from spotlab.settings import Settings

    flags = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "store": store,
        "secret_key": secret_key,
        "redis_url": redis_url,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "cors_origins": cors_origin or None,
        "log_level": log_level,
    }
    settings = Settings(**{name: value for name, value in flags.items() if value is not None})
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise SpotlabError("INVALID_ARGUMENT", "TLS needs both --tls-cert and --tls-key")
    configure_logging(settings.log_level)
    exchange = Exchange.open(settings.resolved_store())  # fails here, clearly, if the store is locked or down
    scheme = "https" if settings.tls_cert else "http"
    console.print(
        f"spotlab API on {scheme}://{settings.host}:{settings.port}  (docs: /docs, store: {settings.resolved_store()})",
        soft_wrap=True,  # never break the URLs: people copy them
    )
    collector = GcPolicy().install()  # short collector pauses (see spotlab.api.gc_policy)
    try:
        uvicorn.run(
            create_app(settings, exchange=exchange),
            host=settings.host,
            port=settings.port,
            ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
            ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
            log_config=None,
            access_log=False,
            ws_ping_interval=20,
            ws_ping_timeout=20,
            ws=FrameWebSocketProtocol,  # fan-out writes each message's frame once to every socket
            ws_per_message_deflate=False,  # compressing each message once per subscriber costs more than it saves
            server_header=False,
        )
    finally:
        collector.uninstall()
        exchange.close()


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


@bench_app.command("api")
def bench_api(
    parts: Annotated[
        str,
        typer.Option(help="Comma-separated parts: rest, fanout, entry (the default); floor (server CPU per order)."),
    ] = "rest,fanout,entry",
    rounds: Annotated[int, typer.Option(help="REST: rounds (each measures both servers, alternating).")] = 3,
    seconds: Annotated[float, typer.Option(help="REST: measured seconds per server and round.")] = 15.0,
    warmup: Annotated[float, typer.Option(help="Unmeasured warm-up seconds before each measurement.")] = 3.0,
    connections: Annotated[int, typer.Option(help="REST: wrk connections (one request in flight each).")] = 64,
    threads: Annotated[int, typer.Option(help="REST: wrk threads.")] = 1,
    accounts: Annotated[int, typer.Option(help="Funded accounts the orders are spread over.")] = 16,
    load: Annotated[str, typer.Option(help="REST load generator: wrk, or python (the asyncio client).")] = "wrk",
    subscribers: Annotated[int, typer.Option(help="Fan-out: WebSocket subscribers.")] = 1000,
    subscriber_processes: Annotated[int, typer.Option(help="Fan-out: client processes they are spread over.")] = 2,
    order_rate: Annotated[float, typer.Option(help="Fan-out: orders/s the load places over WebSocket.")] = 1900.0,
    fanout_seconds: Annotated[float, typer.Option(help="Fan-out: measured seconds.")] = 15.0,
    coalesce_seconds: Annotated[
        Optional[float], typer.Option(help="Fan-out: the hub's coalesce_seconds (default: the server's default).")
    ] = None,
    ws_connections: Annotated[int, typer.Option(help="Order entry: WebSocket connections.")] = 4,
    ws_window: Annotated[int, typer.Option(help="Order entry: ops in flight per connection.")] = 16,
    entry_rounds: Annotated[int, typer.Option(help="Order entry: rounds (WebSocket and REST, alternating).")] = 3,
    entry_seconds: Annotated[float, typer.Option(help="Order entry: measured seconds per side and round.")] = 10.0,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write the results as JSON here.")] = None,
    workdir: Annotated[
        Optional[Path], typer.Option(help="Directory for the servers' stores (default: the system temp directory).")
    ] = None,
) -> None:
    """The API benchmarks: REST orders vs a bare FastAPI endpoint, WebSocket fan-out, WebSocket order entry."""
    from spotlab.bench.api import ApiOptions, run
    from spotlab.bench.api_rest import RestOptions
    from spotlab.bench.api_ws import EntryOptions, FanoutOptions

    try:
        options = ApiOptions(
            parts=tuple(part.strip() for part in parts.split(",") if part.strip()),
            rest=RestOptions(rounds=rounds, seconds=seconds, warmup_seconds=warmup, connections=connections,
                             threads=threads, accounts=accounts, load=load, workdir=workdir),
            fanout=FanoutOptions(subscribers=subscribers, subscriber_processes=subscriber_processes,
                                 order_rate=order_rate, seconds=fanout_seconds, warmup_seconds=warmup,
                                 coalesce_seconds=coalesce_seconds, accounts=accounts, workdir=workdir),
            entry=EntryOptions(rounds=entry_rounds, seconds=entry_seconds, warmup_seconds=warmup,
                               connections=ws_connections, window=ws_window, accounts=accounts, workdir=workdir),
            json_path=json_path,
        )  # fmt: skip
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    run(options, console)


def plain(number) -> str:
    """A Decimal without exponent notation or trailing zeros: 1E-8 -> 0.00000001, 0.100 -> 0.1."""
    text = format(number.normalize(), "f")
    return text


@bench_app.command("indicators")
def bench_indicators(
    bars: Annotated[int, typer.Option(help="Bars in the series every indicator runs over.")] = 1_000_000,
    repeats: Annotated[int, typer.Option(help="Runs per indicator and side; the best counts.")] = 3,
    streaming_bars: Annotated[int, typer.Option(help="Bars fed one at a time to each streaming form.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed of the random walk.")] = 42,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write the results as JSON here.")] = None,
) -> None:
    """Every indicator beside TA-Lib on one long series (target <= 3 x), and streaming updates (<= 5 us/bar)."""
    import json

    from spotlab.bench.engine import start_results
    from spotlab.bench.indicators import TARGET_RATIO, TARGET_STREAMING_US, Options, run

    try:
        import talib
    except ImportError:
        raise SpotlabError(
            "INVALID_ARGUMENT", "the indicator benchmark compares with TA-Lib: pip install -e '.[test]'"
        ) from None
    results = start_results(console)
    results["indicators"] = run(Options(bars, repeats, streaming_bars, seed), talib)
    table = Table(title=f"indicators on {bars:,} bars, best of {repeats} (target <= {TARGET_RATIO:g} x TA-Lib)")
    for column in ("indicator", "spotlab ms", "TA-Lib ms", "ratio", "equal", "met"):
        table.add_column(column, justify="left" if column == "indicator" else "right")
    for row in results["indicators"]["vectorised"]:
        met = "yes" if row["ratio"] <= TARGET_RATIO else "NO"
        table.add_row(row["indicator"], f"{row['spotlab_ms']:,}", f"{row['talib_ms']:,}", f"{row['ratio']:g}",
                      str(row["equal"]), met)  # fmt: skip
    console.print(table)
    table = Table(title=f"streaming updates (target <= {TARGET_STREAMING_US:g} us per bar)")
    for column in ("indicator", "us per bar", "met"):
        table.add_column(column, justify="left" if column == "indicator" else "right")
    for row in results["indicators"]["streaming"]:
        table.add_row(row["indicator"], f"{row['us_per_bar']:g}", "yes" if row["us_per_bar"] <= 5 else "NO")
    console.print(table)
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"results written to {json_path}")


@bench_app.command("candles")
def bench_candles(
    trades: Annotated[int, typer.Option(help="Synthetic trades resampled at every interval.")] = 1_000_000,
    repeats: Annotated[int, typer.Option(help="Runs per interval; the best counts.")] = 3,
    incremental_trades: Annotated[int, typer.Option(help="Trades fed one at a time to the builder.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic trades.")] = 42,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write the results as JSON here.")] = None,
) -> None:
    """Candle building from trades: the vectorised resampler per interval and the incremental builder (target
    >= 500,000 trades/s)."""
    import json

    from spotlab.bench.candles import TARGET_TRADES_PER_SECOND, Options, run
    from spotlab.bench.engine import start_results

    results = start_results(console)
    results["candles"] = figures = run(Options(trades, repeats, incremental_trades, seed))
    target = TARGET_TRADES_PER_SECOND
    table = Table(title=f"candles from {trades:,} trades, best of {repeats} (target >= {target:,} trades/s)")
    for column in ("path", "candles", "ms", "trades/s", "met"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for row in figures["vectorised"]:
        met = "yes" if row["trades_per_second"] >= target else "NO"
        table.add_row(f"vectorised {row['interval']}", f"{row['candles']:,}", f"{row['ms']:,}",
                      f"{row['trades_per_second']:,}", met)  # fmt: skip
    every = figures["vectorised_all_intervals"]
    table.add_row("vectorised, all 9 intervals", "", f"{every['ms']:,}", f"{every['trades_per_second']:,}",
                  "yes" if every["trades_per_second"] >= target else "NO")  # fmt: skip
    for one in figures["incremental"]:
        met = "yes" if one["trades_per_second"] >= target else "NO"
        table.add_row(f"incremental {one['call']}, 9 intervals ({one['trades']:,} trades)", "", f"{one['ms']:,}",
                      f"{one['trades_per_second']:,}", met)  # fmt: skip
    console.print(table)
    console.print(f"both paths give the same candles: {figures['equal']}")
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"results written to {json_path}")


@bench_app.command("pending-stops")
def bench_pending_stops(
    commands: Annotated[int, typer.Option(help="Workload commands applied per side and round.")] = 300_000,
    pending: Annotated[int, typer.Option(help="Stop orders pending on one side.")] = 100_000,
    rounds: Annotated[int, typer.Option(help="Rounds; each times both sides, alternating who goes first.")] = 3,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write the results as JSON here.")] = None,
) -> None:
    """Matching with and without pending stop orders (target: at most 20 % slower with 100,000 pending)."""
    import json

    from spotlab.bench.engine import start_results
    from spotlab.bench.pending_stops import Options, run

    results = start_results(console)
    results["pending_stops"] = figures = run(Options(commands, pending, rounds))
    table = Table(title=f"engine alone, {figures['commands']:,} workload commands, with and without {pending:,} stops")
    for column in ("round", "without (commands/s)", "with (commands/s)", "slowdown"):
        table.add_column(column, justify="right")
    for row in figures["rounds"]:
        table.add_row(str(row["round"]), f"{row['without']['commands_per_second']:,}",
                      f"{row['with']['commands_per_second']:,}", f"{row['slowdown']:.1%}")  # fmt: skip
    table.add_row("mean", f"{figures['mean_without']:,}", f"{figures['mean_with']:,}", f"{figures['slowdown']:.1%}")
    console.print(table)
    met = "met" if figures["met"] else "NOT met"
    console.print(f"target: at most {figures['target_slowdown']:.0%} slower: {met}")
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"results written to {json_path}")


@bench_app.command("backtest")
def bench_backtest(
    bars: Annotated[int, typer.Option(help="Synthetic 1-minute bars of the timed runs.")] = 200_000,
    fast: Annotated[int, typer.Option(help="Fast SMA period.")] = 10,
    slow: Annotated[int, typer.Option(help="Slow SMA period.")] = 30,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds, each timing every framework; median counts.")] = 3,
    grid_bars: Annotated[int, typer.Option(help="Bars of each grid trial.")] = 20_000,
    grid_size: Annotated[int, typer.Option(help="Parameter sets in the grid.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic bars.")] = 7,
    competitors: Annotated[bool, typer.Option(help="Also time backtesting.py and backtrader.")] = True,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write the results as JSON here.")] = None,
) -> None:
    """An SMA crossover on 1-minute bars through the backtester vs backtesting.py and backtrader (targets: >= 50,000
    bars/s, >= 10 x backtrader, >= 3 x backtesting.py), and a grid of parameter sets on one core and on two."""
    import json

    from spotlab.bench.backtest import Options, run
    from spotlab.bench.engine import start_results

    results = start_results(console)
    results["backtest"] = figures = run(Options(bars, fast, slow, rounds, grid_bars, grid_size, seed, competitors))
    title = f"SMA({fast})/SMA({slow}) crossover, {bars:,} 1-minute bars, median of {rounds} interleaved rounds"
    table = Table(title=title)
    for column in ("framework", "bars/s", "median s", "trades", "final equity", "spotlab is", "target", "met"):
        table.add_column(column, justify="left" if column == "framework" else "right")
    for row in figures["frameworks"]:
        ratio = figures["ratios"].get(row["framework"])
        if ratio is None:
            target = figures["target_bars_per_second"]
            shown = ("", f">= {target:,} bars/s", "yes" if figures["met_bars_per_second"] else "NO")
        else:
            shown = (f"{ratio['ratio']:g} x", f">= {ratio['target']:g} x", "yes" if ratio["met"] else "NO")
        table.add_row(row["framework"], f"{row['bars_per_second']:,}", f"{row['median_seconds']:g}",
                      str(row["trades"]), f"{row['final_equity']:,.2f}", *shown)  # fmt: skip
    console.print(table)
    for name, why in figures["skipped"].items():
        console.print(f"{name} not timed: {why}", style="yellow", markup=False)
    floor = figures["floor"]
    table = Table(title="the floor: a per-bar Python strategy and one exchange command per order, nothing else")
    for column in ("part", "seconds"):
        table.add_column(column, justify="left" if column == "part" else "right")
    table.add_row(
        f"Python: the rule called at each of {bars:,} bars, integer valuation", f"{floor['python_seconds']:g}"
    )
    table.add_row(
        f"exchange: {floor['engine_orders']:,} market orders, one command each", f"{floor['engine_seconds']:g}"
    )
    table.add_row("floor", f"{floor['total_seconds']:g}")
    for name, budget in floor["budgets"].items():
        fits = "fits" if budget["floor_fits"] else "does NOT fit"
        table.add_row(f"time for >= {budget['target']:g} x {name} (its median / {budget['target']:g}): floor {fits}",
                      f"{budget['budget_seconds']:g}")  # fmt: skip
    console.print(table)
    grid = figures["grid"]
    table = Table(title=f"grid_search: {grid['parameter_sets']} parameter sets x {grid['bars']:,} bars")
    for column in ("workers", "wall s", "CPU s", "CPU / wall", "bars/s"):
        table.add_column(column, justify="right")
    for row in grid["runs"]:
        table.add_row(str(row["workers"]), f"{row['wall_seconds']:g}", f"{row['cpu_seconds']:g}",
                      f"{row['cpu_per_wall']:g}", f"{row['bars_per_second']:,}")  # fmt: skip
    console.print(table)
    met = "met" if grid["met"] else "NOT met"
    console.print(f"two workers: {grid['speedup']:g} x faster (target >= {grid['target_speedup']:g} x: {met}); "
                  f"the same trials both ways: {grid['same_trials']}")  # fmt: skip
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"results written to {json_path}")


@bench_app.command("sim")
def bench_sim(
    modes: Annotated[str, typer.Option(help="Comma-separated: paced (at --orders-per-second), flat (flat out).")] = (
        "paced,flat"
    ),
    rounds: Annotated[int, typer.Option(help="Rounds; each runs every mode on a fresh server, alternating.")] = 1,
    markets: Annotated[int, typer.Option(help="Markets simulated (the first N of the catalogue).")] = 8,
    orders_per_second: Annotated[float, typer.Option(help="Paced mode: orders placed a second.")] = 1000.0,
    seconds: Annotated[float, typer.Option(help="Measured seconds per run.")] = 30.0,
    warmup: Annotated[float, typer.Option(help="Unmeasured seconds after the simulator starts.")] = 5.0,
    book_rate: Annotated[float, typer.Option(help="GET /v1/markets/{market}/book requests a second.")] = 100.0,
    connections: Annotated[int, typer.Option(help="Keep-alive connections of the book reader.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the simulated market.")] = 0,
    idle_seconds: Annotated[float, typer.Option(help="Seconds the machine is sampled idle before each run.")] = 2.0,
    switch_interval: Annotated[
        Optional[float], typer.Option(help="Experiment: the server's sys.setswitchinterval (default: Python's 5 ms).")
    ] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write the results as JSON here.")] = None,
    workdir: Annotated[
        Optional[Path], typer.Option(help="Directory for the servers' data dirs (default: the system temp directory).")
    ] = None,
) -> None:
    """The simulator on 8 markets with the API in one process (targets: >= 1,000 orders/s, book p99 < 50 ms)."""
    import json

    from spotlab.bench.engine import start_results
    from spotlab.bench.sim import Options, run, tables

    try:
        options = Options(
            tuple(m.strip() for m in modes.split(",") if m.strip()), rounds, markets, orders_per_second, seconds,
            warmup, book_rate, connections, idle_seconds, seed, workdir, switch_interval,
        )  # fmt: skip
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    results = start_results(console)
    results["sim"] = figures = run(options, console)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2) + "\n")
    for table in tables(figures):
        console.print(table)
    met = "met" if figures["met"] else "NOT met"
    console.print(f"target (every paced run: >= {figures['target_orders_per_second']:,} orders/s with book p99 < "
                  f"{figures['target_book_p99_ms']:g} ms): {met}")  # fmt: skip
    if json_path is not None:
        console.print(f"results written to {json_path}")


def main() -> None:
    try:
        app()
    except SpotlabError as error:
        print(f"error {error.code}: {error.message}", file=sys.stderr)  # plain: no wrapping, no markup
        sys.exit(2)
    except ValidationError as error:  # settings from flags or SPOTLAB_* variables
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "settings"
            print(f"error INVALID_ARGUMENT: {where}: {problem['msg']}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

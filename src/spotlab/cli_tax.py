"""``spotlab tax report|export ACCOUNT`` and ``spotlab bench tax``: tax reports in the terminal, and their benchmark.

A thin shell over ``Exchange.tax_report`` and ``Exchange.account_history`` (``spotlab.tax``). It opens the
store the way ``spotlab serve`` does (``--store`` URL, else the SQLite file in ``--data-dir``; the same
``SPOTLAB_*`` variables), so it reports from the same event log the API serves. SQLite is locked by the
process that has it open: stop ``spotlab serve`` first, or read ``GET /v1/tax/report`` instead.

- ``spotlab tax report ACCOUNT --year 2022 [--method fifo] [--currency USD]`` prints the year's lines,
  the totals by asset and term and what is left open (summed by asset) as tables. ``--csv FILE`` writes
  the Form 8949-style CSV, ``--audit FILE`` the audit CSV, ``--json FILE`` (``-``: stdout, and nothing
  else) the report exactly as ``GET /v1/tax/report`` answers it (one model, ``spotlab.api.routes.tax``).
  Specific identification needs a lot selection: use ``Exchange.tax_report(..., select=...)`` in Python.
- ``spotlab tax export ACCOUNT --tool koinly|cointracker --output FILE`` (``-``: stdout) writes the whole
  history in that tool's CSV layout (``spotlab.tax.exports``).
- ``spotlab bench tax`` times ``spotlab.bench.tax`` (a report over a million synthetic fills per method,
  target <= 10 s) and prints a table; ``--json FILE`` writes the results (bench/results/tax.json).

Errors are ``error CODE: message`` with exit status 2 (``spotlab.cli.main``, or this module's ``main``
when run as ``python -m spotlab.cli_tax``); a refused command writes no file.
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

from spotlab.errors import ErrorCode, SpotlabError

console = Console(width=max(Console().width, 140))
tax_app = typer.Typer(
    help="Tax reports: realised gains per tax year, Form 8949 CSV, tax tools' exports.", no_args_is_help=True
)
TOOLS = ("koinly", "cointracker")

DataDir = Annotated[
    Optional[Path], typer.Option(help="Data directory of the embedded store [SPOTLAB_DATA_DIR; spotlab-data].")
]
Store = Annotated[
    Optional[str], typer.Option(help="Store URL, e.g. postgresql://user@host/db [SPOTLAB_STORE; SQLite file].")
]


def register(app: typer.Typer) -> None:
    """Add ``spotlab tax report`` and ``spotlab tax export`` to ``app``."""
    app.add_typer(tax_app, name="tax")


def register_bench(bench_app: typer.Typer) -> None:
    """Add ``spotlab bench tax`` to the ``bench`` sub-app."""
    bench_app.command("tax")(bench_tax_command)


def _open(data_dir: Path | None, store: str | None):
    from spotlab.exchange import Exchange
    from spotlab.settings import Settings

    flags = {"data_dir": data_dir, "store": store}
    settings = Settings(**{name: value for name, value in flags.items() if value is not None})
    return Exchange.open(settings.resolved_store())


@tax_app.command("report")
def report(
    account: Annotated[str, typer.Argument(help="The account to report on.")],
    year: Annotated[int, typer.Option(help="The tax year (method uk: the UK tax year ending in it).")],
    method: Annotated[str, typer.Option(help="fifo, lifo, hifo (US rules) or uk (share pooling).")] = "fifo",
    currency: Annotated[str, typer.Option(help="The reporting currency (a listed asset).")] = "USD",
    data_dir: DataDir = None,
    store: Store = None,
    csv_out: Annotated[Optional[Path], typer.Option("--csv", help="Write the Form 8949-style CSV here.")] = None,
    audit_out: Annotated[Optional[Path], typer.Option("--audit", help="Write the audit CSV here.")] = None,
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Write the report as JSON here (- : stdout).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show the first N lines (0: all); the files get every line.")] = 100,
) -> None:
    """Show an account's realised gains and losses for one tax year, with totals by asset and term."""
    if str(method).lower() == "specific":
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            "specific identification needs a lot selection: use Exchange.tax_report(..., select=...) in Python",
        )
    with _open(data_dir, store) as exchange:
        taxes = exchange.tax_report(account, year=year, method=method, currency=currency)
    to_stdout = json_out is not None and str(json_out) == "-"
    files = [(csv_out, taxes.form_8949_csv, "Form 8949 CSV"), (audit_out, taxes.audit_csv, "audit CSV")]
    if json_out is not None and not to_stdout:
        files.append((json_out, lambda: json.dumps(_as_json(taxes), indent=2) + "\n", "JSON"))
    if to_stdout:  # the JSON and nothing else on stdout, for scripts
        print(json.dumps(_as_json(taxes), indent=2))
    else:
        _show_lines(account, taxes, limit)
        _show_totals(taxes)
        _show_open_lots(taxes)
    for path, text, what in files:
        if path is not None:
            path.write_text(text())
            if not to_stdout:
                console.print(f"{what} written to {path}")


@tax_app.command("export")
def export(
    account: Annotated[str, typer.Argument(help="The account whose history to export.")],
    tool: Annotated[str, typer.Option(help="koinly (Universal template) or cointracker.")],
    output: Annotated[Path, typer.Option(help="The CSV file to write (- : stdout).")],
    data_dir: DataDir = None,
    store: Store = None,
) -> None:
    """Write an account's whole history (fills, deposits, withdrawals) as the CSV a crypto tax tool imports."""
    from spotlab.tax.exports import cointracker_csv, koinly_universal_csv

    name = tool.lower()
    if name not in TOOLS:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"unknown tax tool {tool!r}; choose one of {', '.join(TOOLS)}")
    write = koinly_universal_csv if name == "koinly" else cointracker_csv
    with _open(data_dir, store) as exchange:
        fills, transfers = exchange.account_history(account)
    text = write(fills, transfers)
    if str(output) == "-":
        sys.stdout.write(text)
        return
    output.write_text(text)
    console.print(f"{len(fills):,} fills and {len(transfers):,} transfers of {account} written to {output} ({name})")


# -- tables --------------------------------------------------------------------------------------


def _quantity(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _gain(value: Decimal) -> str:
    text = format(value, "f")
    return f"[green]{text}[/]" if value > 0 else f"[red]{text}[/]" if value < 0 else text


def _show_lines(account: str, taxes, limit: int) -> None:
    lines = taxes.lines
    shown = lines[:limit] if limit > 0 else lines
    title = (f"{account}: tax year {taxes.year} ({taxes.start} - {taxes.end}), {taxes.method}, in {taxes.currency}: "
             f"{len(lines):,} line{'s' if len(lines) != 1 else ''}")  # fmt: skip
    if len(shown) < len(lines):
        title += f" (first {len(shown):,} shown)"
    table = Table(title=title, title_justify="left")
    right = ("quantity", "proceeds", "cost basis", "gain")
    for column in ("asset", *right[:1], "acquired", "sold", *right[1:], "term / rule", "lot", "disposal"):
        table.add_column(column, justify="right" if column in right else "left")
    for line in shown:
        table.add_row(
            line.asset, _quantity(line.quantity), str(line.date_acquired or "various"), str(line.date_sold),
            format(line.proceeds, "f"), format(line.cost_basis, "f"), _gain(line.gain), line.term or line.rule,
            line.lot_id, line.disposal_id,
        )  # fmt: skip
    console.print(table)


def _show_totals(taxes) -> None:
    if not taxes.lines:
        console.print(f"no disposals in tax year {taxes.year}: nothing realised")
        return
    table = Table(title=f"totals by asset and term ({taxes.currency})", title_justify="left")
    for column in ("asset", "term", "lines", "quantity", "proceeds", "cost basis", "gain"):
        table.add_column(column, justify="left" if column in ("asset", "term") else "right")
    for total in taxes.totals:
        table.add_row(total.asset, total.term or "-", f"{total.lines:,}", _quantity(total.quantity),
                      format(total.proceeds, "f"), format(total.cost_basis, "f"), _gain(total.gain))  # fmt: skip
    table.add_row("all", "", f"{len(taxes.lines):,}", "", "", "", _gain(taxes.gain), style="bold")
    console.print(table)


def _show_open_lots(taxes) -> None:
    """What the whole history leaves open, summed by asset (a long history has many lots)."""
    sums: dict[str, list] = {}
    for lot in taxes.open_lots:
        found = sums.setdefault(lot.asset, [0, Decimal(0), Decimal(0)])
        found[0] += 1
        found[1] += lot.quantity
        found[2] += lot.cost_basis
    if not sums:
        console.print("no open lots")
        return
    table = Table(title="open lots now, by asset", title_justify="left")
    for column in ("asset", "lots", "quantity", "cost basis"):
        table.add_column(column, justify="left" if column == "asset" else "right")
    for asset, (lots, quantity, cost) in sorted(sums.items()):
        table.add_row(asset, f"{lots:,}", _quantity(quantity), format(cost, "f"))
    console.print(table)


def _as_json(taxes) -> dict[str, Any]:
    """The report as ``GET /v1/tax/report`` answers it (the API's response model, so the two never drift)."""
    from spotlab.api.routes.tax import report_public

    return report_public(taxes).model_dump(mode="json")


# -- the benchmark -------------------------------------------------------------------------------


def bench_tax_command(
    fills: Annotated[int, typer.Option(help="Synthetic fills in the account's history.")] = 1_000_000,
    repeats: Annotated[int, typer.Option(help="Reports per method; the best counts (the first is cold).")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic history.")] = 42,
    methods: Annotated[str, typer.Option(help="Comma-separated: fifo, lifo, hifo, uk.")] = "fifo,lifo,hifo,uk",
    year: Annotated[int, typer.Option(help="The tax year reported (the history starts 2024-01-01).")] = 2025,
    json_path: Annotated[
        Optional[Path], typer.Option("--json", help="Also write the results as JSON here (bench/results/tax.json).")
    ] = None,
) -> None:
    """A tax report over a million fills, per method (target <= 10 s each), and its Form 8949 CSV."""
    from spotlab.bench.engine import start_results
    from spotlab.bench.tax import TARGET_SECONDS, Options, run
    from spotlab.tax.report import REPORT_METHODS

    chosen = tuple(name.strip().lower() for name in methods.split(",") if name.strip())
    unknown = [name for name in chosen if name not in REPORT_METHODS or name == "specific"]
    if not chosen or unknown or fills < 1 or repeats < 1:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"the tax benchmark needs --fills >= 1, --repeats >= 1 and methods among fifo, lifo, hifo, uk; "
            f"got fills={fills}, repeats={repeats}, methods={methods!r}",
        )
    results = start_results(console)
    results["tax"] = figures = run(Options(fills=fills, repeats=repeats, seed=seed, methods=chosen, year=year))
    title = (f"tax report over {figures['fills']:,} fills ({figures['eth_btc_fills']:,} ETH/BTC, "
             f"{figures['deposits']:,} deposits), year {year}, best of {repeats} "
             f"(target <= {TARGET_SECONDS:g} s)")  # fmt: skip
    table = Table(title=title, title_justify="left")
    for column in ("method", "seconds", "fills/s", "lines in year", "open lots", "8949 CSV s", "target s", "met"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for row in figures["methods"]:
        table.add_row(row["method"], f"{row['seconds']:.3f}", f"{row['fills_per_second']:,}",
                      f"{row['lines_in_year']:,}", f"{row['open_lots']:,}", f"{row['csv_seconds']:.3f}",
                      f"{TARGET_SECONDS:g}", "yes" if row["met"] else "NO")  # fmt: skip
    console.print(table)
    met = all(row["met"] for row in figures["methods"])
    console.print(f"target (every method <= {TARGET_SECONDS:g} s): {'met' if met else 'NOT met'}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"results written to {json_path}")


def main() -> None:
    """``python -m spotlab.cli_tax tax ...`` / ``bench tax``: the commands without the rest of ``spotlab``."""
    app = typer.Typer(no_args_is_help=True)
    app.callback()(lambda: None)
    register(app)
    bench_app = typer.Typer(no_args_is_help=True)
    app.add_typer(bench_app, name="bench")
    register_bench(bench_app)
    try:
        app()
    except SpotlabError as error:
        print(f"error {error.code}: {error.message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

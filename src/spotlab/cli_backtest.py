"""``spotlab backtest`` and ``spotlab strategies``: run a built-in strategy over history, search its parameters.

A thin shell over ``spotlab.backtest``: the flags become ``run_backtest``'s arguments (or a grid, an
Optuna study or a walk-forward analysis over them), the result is a metrics table on stdout and,
with ``--report DIR``, the HTML/JSON/CSV report. Errors are ``error CODE: message`` with exit
status 2 (``spotlab.cli.main``).

Bars come from files (``--data FILE --market BTC/USDT``, once per market, any layout ``spotlab data
import`` reads) or from the data catalogue (``--source binance --market BTC/USDT``).
Parameters are ``--param name=value`` and are parsed by the parameter's declared type.
"""

from __future__ import annotations

import json
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from spotlab.backtest.search import MINIMISED
from spotlab.errors import ErrorCode, SpotlabError

console = Console(width=max(Console().width, 120))


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
    app.command("optimize")(optimize)
    app.command("strategies")(strategies)


def strategies() -> None:
    """List the built-in strategies and their parameters."""
    from spotlab.strategy.builtin import STRATEGIES

    for name, cls in STRATEGIES.items():
        doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip()
        table = Table(title=f"{name}: {doc.splitlines()[0] if doc else cls.__name__}", title_justify="left")
        for column in ("parameter", "type", "default", "meaning"):
            table.add_column(column)
        for pname, param in cls.parameters().items():
            table.add_row(pname, param.type.__name__, str(param.default), param.description)
        console.print(table)


# -- the options both commands take -------------------------------------------------------------

StrategyName = Annotated[str, typer.Option("--strategy", help="A built-in strategy (spotlab strategies lists them).")]
Markets = Annotated[list[str], typer.Option("--market", help="Market, e.g. BTC/USDT; once per market.")]
Data = Annotated[
    list[str],
    typer.Option(
        "--data",
        help="Per --market (same order), or once for all: a candle file (Binance klines, headered CSV, CCXT JSON, "
        "feather) or the name of a source in the data catalogue (spotlab data list), e.g. binance.",
    ),
]
Interval = Annotated[str, typer.Option(help="Candle interval of the bars: 1m, 5m, 1h, 1d, ...")]
Start = Annotated[Optional[str], typer.Option(help="First bar (UTC date or time, e.g. 2025-01-01).")]
End = Annotated[Optional[str], typer.Option(help="Stop before this UTC date or time.")]
Balances = Annotated[list[str], typer.Option("--balance", help="Starting balance ASSET=AMOUNT; repeatable.")]
Params = Annotated[list[str], typer.Option("--param", help="Strategy parameter name=value; repeatable.")]
Currency = Annotated[str, typer.Option(help="Report currency (equity and metrics are valued in it).")]
Spread = Annotated[Optional[str], typer.Option(help="Fill model: the spread of the ladder a bar implies, in bps.")]
PathOrder = Annotated[
    Optional[str], typer.Option("--path", help="Fill model: open-high-low-close, open-low-high-close, nearest-first.")
]
Latency = Annotated[int, typer.Option(help="Fill model: orders reach the exchange this many bars later (0 or 1).")]
Risk = Annotated[list[str], typer.Option("--risk", help="Risk profile field=value, e.g. max_trades_per_day=3.")]
JsonOut = Annotated[Optional[Path], typer.Option("--json", help="Write the results as JSON to this file (- : stdout).")]
DataDir = Annotated[Optional[Path], typer.Option(help="Data directory of the catalogue [SPOTLAB_DATA_DIR].")]


def backtest(
    strategy: StrategyName,
    market: Markets,
    data: Data,
    interval: Interval = "1h",
    start: Start = None,
    end: End = None,
    balance: Balances = ["USDT=10000"],  # noqa: B006
    param: Params = [],  # noqa: B006
    currency: Currency = "USDT",
    spread_bps: Spread = None,
    path: PathOrder = None,
    latency_bars: Latency = 0,
    risk: Risk = [],  # noqa: B006
    report: Annotated[
        Optional[Path],
        typer.Option(help="Write the HTML report to this .html file; a directory gets report.html/.json and CSVs."),
    ] = None,
    json_out: JsonOut = None,
    data_dir: DataDir = None,
    trades: Annotated[
        list[Path],
        typer.Option(
            help="A trades file per --market (same order) to replay inside its bars, where the data has them."
        ),
    ] = [],  # noqa: B006
) -> None:
    """Backtest a built-in strategy through the real matching engine, fees and risk guards."""
    from spotlab.backtest import run_backtest, trades_from_file

    cls, bars, balances, params, options = _inputs(
        strategy, market, data, interval, start, end, balance, param, currency, spread_bps, path, latency_bars, risk,
        data_dir,
    )  # fmt: skip
    if trades:
        if len(trades) != len(bars):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{len(trades)} --trades for {len(bars)} --market(s)")
        options["trades"] = {market: trades_from_file(path) for market, path in zip(bars, trades, strict=True)}
    result = run_backtest(cls(**params), bars, balances, progress=True, **options)
    _show_run(result)
    if report is not None:
        if report.suffix.lower() in (".html", ".htm"):
            from spotlab.backtest import report as reports
            from spotlab.backtest.report_data import report_data

            report.parent.mkdir(parents=True, exist_ok=True)
            written = reports.write_html(report_data(result), report)
        else:
            written = result.write_report(report)
        console.print(f"report written to {written}")
    if json_out is not None:
        _write_json(json_out, _run_json(result))


def optimize(
    strategy: StrategyName,
    market: Markets,
    data: Data,
    grid: Annotated[
        list[str],
        typer.Option(help="Values to search: name=v1,v2,... or name=lo:hi[:step] (integers); repeatable."),
    ],
    method: Annotated[str, typer.Option(help="grid (every combination) or optuna (a seeded TPE study).")] = "grid",
    trials: Annotated[int, typer.Option(help="Optuna: number of trials.")] = 50,
    seed: Annotated[int, typer.Option(help="Optuna: the sampler's seed.")] = 0,
    objective: Annotated[str, typer.Option(help="The metric to maximise (max_drawdown, volatility: minimised).")] = (
        "sharpe"
    ),
    workers: Annotated[Optional[int], typer.Option(help="Local processes (default: one per core).")] = None,
    ray: Annotated[Optional[str], typer.Option(help="Run the trials on this Ray cluster address.")] = None,
    walk_forward: Annotated[
        Optional[str], typer.Option(help="Walk-forward analysis IN:OUT, e.g. 30d:10d: out-of-sample results only.")
    ] = None,
    interval: Interval = "1h",
    start: Start = None,
    end: End = None,
    balance: Balances = ["USDT=10000"],  # noqa: B006
    param: Params = [],  # noqa: B006
    currency: Currency = "USDT",
    spread_bps: Spread = None,
    path: PathOrder = None,
    latency_bars: Latency = 0,
    risk: Risk = [],  # noqa: B006
    json_out: JsonOut = None,
    data_dir: DataDir = None,
) -> None:
    """Search a strategy's parameters (grid or Optuna, on every core or a Ray cluster), or walk forward."""
    cls, bars, balances, params, options = _inputs(
        strategy, market, data, interval, start, end, balance, param, currency, spread_bps, path, latency_bars, risk,
        data_dir,
    )  # fmt: skip
    if method not in ("grid", "optuna"):
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"--method must be grid or optuna, got {method!r}")
    space = _space(cls, grid, method)
    fixed = {name: value for name, value in params.items() if name not in space}
    shared = {"objective": objective, "workers": workers, "ray_address": ray, "params": fixed, **options}
    if walk_forward is not None:
        from spotlab.backtest.walk_forward import walk_forward as run_walk_forward

        in_sample, _, out_of_sample = walk_forward.partition(":")
        wf = run_walk_forward(cls, space, bars, balances, in_sample=in_sample, out_of_sample=out_of_sample,
                              method=method, trials=trials, seed=seed, **shared)  # fmt: skip
        _show_walk_forward(wf)
        if json_out is not None:
            _write_json(json_out, _walk_forward_json(wf))
        return
    from spotlab.backtest.search import grid_search, optuna_search

    if method == "grid":
        found = grid_search(cls, space, bars, balances, **shared)
    else:
        found = optuna_search(cls, space, bars, balances, trials=trials, seed=seed, **shared)
    _show_search(found)
    if json_out is not None:
        _write_json(json_out, _search_json(found))


def _inputs(strategy, market, data, interval, start, end, balance, param, currency, spread_bps, path, latency_bars,
            risk, data_dir):  # fmt: skip
    from spotlab.backtest import FillModel
    from spotlab.risk.profile import RiskProfile
    from spotlab.strategy.builtin import STRATEGIES

    cls = _strategy_class(strategy, STRATEGIES)
    bars = _bars(market, data, interval, start, end, data_dir)
    balances = dict(_pair(item, "--balance") for item in balance)
    params = {name: _typed(cls, name, value) for name, value in (_pair(p, "--param") for p in param)}
    model_options: dict[str, Any] = {"latency_bars": latency_bars}
    if spread_bps is not None:
        model_options["spread_bps"] = _decimal(spread_bps, "--spread-bps")
    if path is not None:
        model_options["path"] = path
    options: dict[str, Any] = {"fill_model": FillModel(**model_options), "report_currency": currency}
    if risk:
        options["risk_profile"] = RiskProfile.from_dict(dict(_pair(item, "--risk") for item in risk))
    return cls, bars, balances, params, options


# -- parsing ------------------------------------------------------------------------------------


def _strategy_class(name: str, registry: dict[str, type]) -> type:
    cls = registry.get(name.replace("-", "_"))
    if cls is None:
        import difflib

        near = difflib.get_close_matches(name, registry, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f"; one of {', '.join(registry)}"
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"unknown strategy {name!r}{hint}")
    return cls


def _pair(item: str, flag: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{flag} takes name=value, got {item!r}")
    return name.strip(), value.strip()


def _typed(cls: type, name: str, text: str) -> Any:
    """``text`` as the declared type of ``cls``'s parameter ``name`` (unknown names pass through: the
    strategy refuses them with a "did you mean")."""
    declared = cls.parameters().get(name)
    if declared is None:
        return text
    kind = declared.type
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if kind is Decimal:
            return Decimal(text)
        return text  # str, and timedelta as interval text ("1d")
    except (ValueError, InvalidOperation):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"parameter {name!r} takes {kind.__name__}, got {text!r}", parameter=name
        ) from None


def _space(cls: type, items: list[str], search: str) -> dict[str, Any]:
    """``--grid`` values: ``name=v1,v2`` (a list), or ``name=lo:hi[:step]`` (an inclusive integer range)."""
    if not items:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a search needs at least one --grid name=values")
    space: dict[str, Any] = {}
    for item in items:
        name, text = _pair(item, "--grid")
        if ":" in text:
            parts = text.split(":")
            try:
                low, high, *step = (int(p) for p in parts)
            except ValueError:
                raise SpotlabError(
                    ErrorCode.INVALID_ARGUMENT, f"--grid {name}: lo:hi[:step] takes integers, got {text!r}"
                ) from None
            values: Any = range(low, high + 1, step[0] if step else 1)
            space[name] = values if search == "optuna" else list(values)
        else:
            space[name] = [_typed(cls, name, v) for v in text.split(",") if v]
    return space


def _bars(markets, data, interval, start, end, data_dir) -> dict[str, Any]:
    """``--data`` per market (or one for all): a file if the path exists, else a catalogue source name."""
    from spotlab.backtest.bars import bars_from_datastore, bars_from_file
    from spotlab.marketdata.download import parse_time

    symbols = [m.replace("-", "/").upper() for m in markets]
    if len(data) not in (1, len(symbols)):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"{len(data)} --data for {len(symbols)} --market(s): give one each, or one"
        )
    sources = data if len(data) == len(symbols) else data * len(symbols)
    start_ns, end_ns = (None if t is None else parse_time(t) * 1_000_000 for t in (start, end))
    bars: dict[str, Any] = {}
    for symbol, source in zip(symbols, sources, strict=True):
        if Path(source).exists():
            series = bars_from_file(source, symbol, interval)
        elif any(sep in source for sep in "/\\."):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"no such file: {source}")
        else:
            from spotlab.marketdata.datastore import DataStore

            root = (data_dir or Path(os.environ.get("SPOTLAB_DATA_DIR") or "spotlab-data")) / "history"
            series = bars_from_datastore(DataStore(root), source, symbol, interval)
        series = [b for b in series if (start_ns is None or b.open_time_ns >= start_ns)
                  and (end_ns is None or b.open_time_ns < end_ns)]  # fmt: skip
        if not series:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{symbol}: no bars in {source} between --start and --end")
        bars[symbol] = series
    return bars


def _decimal(text: str, flag: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{flag} takes a number, got {text!r}") from None


# -- showing ----------------------------------------------------------------------------------------


def _write_json(path: Path, document: dict[str, Any]) -> None:
    text = json.dumps(document, indent=2) + "\n"
    if str(path) == "-":
        sys.stdout.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    console.print(f"results written to {path}")


def _run_json(result) -> dict[str, Any]:
    """``metrics`` (``Metrics.to_dict()``: Decimals as exact strings, ratios as numbers, ``max_drawdown`` a
    positive fraction, ``trades`` the number of round trips), ``trades`` (the round trips), the strategy, its
    parameters and the exchange's refusals."""
    from spotlab.backtest.report import trade_record

    return {
        "strategy": type(result.strategy).__name__,
        "parameters": _plain(result.strategy.params),
        "metrics": result.metrics.to_dict() if result.metrics is not None else {},
        "trades": [trade_record(trip) for trip in result.trades],
        "refusals": [
            {"time": _iso(t), "where": where, "code": str(e.code), "message": e.message}
            for t, where, e in result.refusals
        ],  # fmt: skip
    }


def _search_json(found) -> dict[str, Any]:
    return {
        "objective": found.objective,
        "best": _plain(found.best.params) if any(t.score is not None for t in found.trials) else None,
        "trials": [{"number": t.number, "params": _plain(t.params), "score": t.score, "error": t.error,
                    "metrics": t.metrics.to_dict() if t.metrics is not None else None} for t in found.trials],
    }  # fmt: skip


def _walk_forward_json(wf) -> dict[str, Any]:
    return {
        "objective": wf.objective, "out_of_sample_return": wf.out_of_sample_return,
        "in_sample_mean": wf.in_sample_mean, "out_of_sample_mean": wf.out_of_sample_mean,
        "windows": [{"in_sample_start": _iso(w.in_sample_start_ns), "out_of_sample_start": _iso(w.in_sample_end_ns),
                     "out_of_sample_end": _iso(w.out_of_sample_end_ns), "params": _plain(w.best_params),
                     "in_sample_score": w.in_sample_score, "out_of_sample_score": w.out_of_sample.score,
                     "out_of_sample_metrics": w.out_of_sample.metrics.to_dict()} for w in wf.windows],
    }  # fmt: skip


def _show_run(result) -> None:
    metrics = result.metrics
    table = Table(title=repr(result.strategy), title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value in metrics.rows() if metrics is not None else []:
        table.add_row(label, value)
    console.print(table)
    if result.refusals:
        _, where, error = result.refusals[0]
        console.print(f"{len(result.refusals)} order(s) refused by the exchange; first, in {where}: "
                      f"{error.code}: {error.message}", markup=False)  # fmt: skip


def _show_search(found) -> None:
    ranked = sorted((t for t in found.trials if t.score is not None), key=lambda t: t.score,
                    reverse=found.objective not in MINIMISED)  # fmt: skip
    table = Table(title=f"{len(found.trials)} trials by {found.objective} (best first)", title_justify="left")
    for column in ("#", "parameters", found.objective, "total return", "trades"):
        table.add_column(column, justify="right" if column != "parameters" else "left")
    for t in ranked[:20]:
        table.add_row(str(t.number), _params_text(t.params), f"{t.score:.4g}", f"{t.metrics.total_return:.2%}",
                      str(t.metrics.trades))  # fmt: skip
    console.print(table)
    refused = [t for t in found.trials if t.error is not None]
    if refused:
        console.print(f"{len(refused)} trial(s) refused; first: {refused[0].error}", markup=False)


def _show_walk_forward(wf) -> None:
    from spotlab.clock import ns_to_datetime

    table = Table(title=f"walk-forward by {wf.objective}: out-of-sample periods only", title_justify="left")
    for column in ("tested from", "to", "parameters (chosen in-sample)", "in-sample", "out-of-sample", "return"):
        table.add_column(column)
    for w in wf.windows:
        oos = w.out_of_sample
        table.add_row(ns_to_datetime(w.in_sample_end_ns).strftime("%Y-%m-%d %H:%M"),
                      ns_to_datetime(w.out_of_sample_end_ns).strftime("%Y-%m-%d %H:%M"), _params_text(w.best_params),
                      f"{w.in_sample_score:.4g}", "n/a" if oos.score is None else f"{oos.score:.4g}",
                      f"{oos.metrics.total_return:.2%}")  # fmt: skip
    console.print(table)
    oos_mean = "n/a" if wf.out_of_sample_mean is None else f"{wf.out_of_sample_mean:.4g}"
    console.print(f"out-of-sample return, compounded: {wf.out_of_sample_return:.2%}; mean {wf.objective}: "
                  f"in-sample {wf.in_sample_mean:.4g}, out-of-sample {oos_mean}")  # fmt: skip


def _iso(time_ns: int) -> str:
    from spotlab.backtest.report import format_time

    return format_time(time_ns)


def _params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in params.items()}

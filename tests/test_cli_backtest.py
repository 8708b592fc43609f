"""``spotlab backtest``, ``spotlab optimize`` and ``spotlab strategies``, run as users run them: a real
subprocess on real data."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal

from spotlab.backtest import bars_from_file, run_backtest
from spotlab.strategy.builtin.swing import Swing
from tests.shared_data import DATA
from tests.test_cli import run

SOL = str(DATA / "backtesting.py" / "SOLUSDT_1h.csv")
SWING = ("--strategy", "swing", "--market", "SOL/USDT", "--data", SOL)
METRIC_KEYS = {"total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate", "profit_factor",
               "expectancy", "trades", "fees_paid", "buy_and_hold_return"}  # fmt: skip


def test_a_backtest_writes_the_metrics_and_trades_of_the_same_run_as_the_python_api(tmp_path):
    out = tmp_path / "out.json"
    result = run("backtest", *SWING, "--param", "fast=12", "--param", "slow=48", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "Sharpe ratio" in result.stdout  # the table is printed as well
    written = json.loads(out.read_text())
    assert METRIC_KEYS <= set(written["metrics"])
    bars = {"SOL/USDT": bars_from_file(SOL, "SOL/USDT", "1h")}
    same = run_backtest(Swing(fast=12, slow=48), bars, {"USDT": Decimal(10000)}, progress=False)
    assert written["metrics"] == same.metrics.to_dict() and written["refusals"] == []
    assert len(written["trades"]) == written["metrics"]["trades"] == len(same.trades)
    assert [Decimal(t["pnl"]) for t in written["trades"]] == [trip.pnl for trip in same.trades]  # exact
    assert written["parameters"]["fast"] == 12


def test_start_and_end_cut_the_bars_and_a_binance_kline_file_is_read(tmp_path):
    shutil.copyfile(DATA / "quantedge-ta" / "btcusdt-1h.csv", tmp_path / "btc.csv")  # Binance klines, µs times
    out = tmp_path / "out.json"
    result = run("backtest", "--strategy", "buy_and_hold", "--market", "BTC/USDT", "--data", str(tmp_path / "btc.csv"),
                 "--start", "2025-01-10", "--end", "2025-01-20", "--json", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["start"].startswith("2025-01-10T00:00:00") and metrics["end"].startswith("2025-01-20T00:00:00")


def test_a_report_is_one_html_file_or_a_folder_of_exports(tmp_path):
    result = run("backtest", *SWING, "--param", "fast=12", "--param", "slow=48", "--report", str(tmp_path / "r.html"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    result = run("backtest", *SWING, "--report", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    for name in ("report.html", "report.json", "trades.csv", "equity.csv", "fills.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_optimize_runs_a_grid_and_keeps_the_fixed_parameters(tmp_path):
    out = tmp_path / "grid.json"
    result = run("optimize", *SWING, "--grid", "fast=6,12", "--grid", "slow=48:96:48", "--param", "fraction=0.5",
                 "--objective", "total_return", "--workers", "1", "--json", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(out.read_text())
    assert [t["params"] for t in found["trials"]] == [
        {"fraction": "0.5", "fast": 6, "slow": 48}, {"fraction": "0.5", "fast": 6, "slow": 96},
        {"fraction": "0.5", "fast": 12, "slow": 48}, {"fraction": "0.5", "fast": 12, "slow": 96},
    ]  # fmt: skip
    best = max(found["trials"], key=lambda t: t["score"])
    assert found["best"] == best["params"] and "4 trials by total_return" in result.stdout


def test_optimize_walks_forward_and_reports_the_out_of_sample_periods(tmp_path):
    out = tmp_path / "wf.json"
    result = run("optimize", *SWING, "--grid", "fast=6,12", "--param", "slow=48", "--walk-forward", "10d:5d",
                 "--workers", "1", "--objective", "total_return", "--json", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    wf = json.loads(out.read_text())
    assert len(wf["windows"]) == 6
    growth = 1.0
    for window in wf["windows"]:
        assert window["params"]["slow"] == 48 and window["params"]["fast"] in (6, 12)
        assert window["out_of_sample_start"] < window["out_of_sample_end"]
        growth *= 1 + window["out_of_sample_score"]
    assert abs(wf["out_of_sample_return"] - (growth - 1)) < 1e-12


def test_mistakes_get_a_plain_error_and_a_hint():
    cases = [
        (("backtest", "--strategy", "swimg", "--market", "SOL/USDT", "--data", SOL), "did you mean 'swing'"),
        (("backtest", *SWING, "--param", "fats=3"), "did you mean 'fast'"),
        (("backtest", *SWING, "--param", "fast=x"), "takes int"),
        (("backtest", "--strategy", "swing", "--market", "SOL/USDT", "--data", "nowhere/sol.csv"), "no such file"),
        (("backtest", *SWING, "--start", "2030-01-01"), "no bars"),
        (("optimize", *SWING, "--grid", "fast=3,4", "--objective", "sharp"), "did you mean 'sharpe'"),
        (("optimize", *SWING, "--grid", "fast=3,4", "--method", "random"), "grid or optuna"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, args


def test_strategies_lists_every_builtin_with_its_parameters():
    result = run("strategies")
    assert result.returncode == 0, result.stderr
    for name in ("buy_and_hold", "dca", "swing", "momentum", "range_trading", "breakout", "scalping",
                 "triangular_arbitrage", "take_profit_percent"):  # fmt: skip
        assert name in result.stdout


def test_a_backtest_replays_trades_inside_the_bars_where_the_data_has_them(tmp_path):
    out = tmp_path / "out.json"
    xrp = DATA / "freqtrade"
    result = run("backtest", "--strategy", "swing", "--market", "ETH/BTC", "--data", str(xrp / "XRP_ETH-1m.csv"),
                 "--trades", str(xrp / "XRP_ETH-trades.csv"), "--interval", "1m", "--param", "fast=5",
                 "--param", "slow=20", "--balance", "BTC=1", "--currency", "BTC", "--json", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr  # XRP/ETH's prices played as ETH/BTC: any market's tape works
    assert json.loads(out.read_text())["metrics"]["trades"] >= 1
    bad = run("backtest", *SWING, "--trades", SOL, "--interval", "1h")
    assert bad.returncode == 2 and "holds candles, not trades" in bad.stderr

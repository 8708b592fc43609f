"""The README's examples run as written: its Python blocks in order, its shell commands for real."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spotlab.api.app import create_app
from spotlab.settings import Settings
from tests.api.live import running
from tests.shared_data import DATA

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_python_examples_run_in_order(tmp_path, monkeypatch, capsys):
    """The API examples talk to a real server on 127.0.0.1, as ``spotlab serve`` would run it."""
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(DATA / "quantedge-ta" / "btcusdt-1h.csv", tmp_path / "btcusdt-1h.csv")  # the backtest's bars
    settings = Settings(data_dir=tmp_path / "server", password_memory_kib=1024, password_time_cost=1)
    with running(create_app(settings)) as url:
        monkeypatch.setenv("SPOTLAB_URL", url)
        namespace: dict = {}
        python = blocks("python")
        assert len(python) >= 5
        for number, code in enumerate(python, 1):
            exec(compile(code, f"README.md python block {number}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "Balance(available=" in out
    assert "201 NEW" in out and "200 True" in out and "422 VALIDATION_ERROR body.price" in out
    assert "SCOPE_REQUIRED" in out
    assert "NEW [['64000.00', '0.01000']] True" in out
    assert "NEW 47500.00 0.30000000" in out and "TRIGGERED True 0.09000 49000.00" in out  # conditional orders
    assert "True True 521.52100000" in out  # a buy OCO's one hold, and its client id repeated
    assert "3 [('buy', '30100.00', 'NEW'), ('sell', '69900.00', 'NEW')]" in out and "INSUFFICIENT_FUNDS 2" in out
    assert "57.92" in out  # the indicators example
    assert "403 RISK_LIMIT max_trades_per_day: 2 orders traded today" in out and "0.06991 99.880417 risk" in out
    assert "RISK_LIMIT require_stop_loss" in out and "BTC/USDT 0.10000000 60060" in out  # the facade's guards
    assert "[('limit', 'buy', 'FILLED'), ('stop_loss', 'sell', 'NEW'), ('limit', 'sell', 'NEW')]" in out
    assert "65000.00 65000.00 64000.00 64000.00 0.02000 2" in out  # the candle of erin's sell
    assert "201 whsec_" in out and "422 INVALID_ARGUMENT {'position': 8}" in out
    assert "neutral ['trend', 'long_trend', 'rsi', 'macd']" in out and "BTC-USDT 1290.00000000 USDT" in out
    assert "9842.83326531 49 97.79504859" in out and "-1.57% vs buy and hold 9.46%" in out  # the backtest
    assert "BTC/USD closed 1.00000 38000.000 42600.000 4277.60000000" in out and "breakout 1 1.0" in out
    assert "BTC 0.60000 2021-02-05 2022-02-05 24501.60 22891.20 1610.40 short" in out  # the tax report
    assert "{'period': 12} -0.98%" in out and (tmp_path / "ema-report" / "report.html").stat().st_size > 100_000


def test_the_readme_data_commands_run_as_written(tmp_path):
    """The historical-data block, run by bash on a real Binance 1h file (January 2025, microsecond times)."""
    shutil.copyfile(DATA / "quantedge-ta" / "btcusdt-1h.csv", tmp_path / "btcusdt-1h.csv")
    script = blocks("bash")[0]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"], "SPOTLAB_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "identical" in result.stdout
    assert (tmp_path / "copy.csv").read_bytes() == (tmp_path / "btcusdt-1h.csv").read_bytes()
    listed = result.stdout[result.stdout.rindex("identical") :]
    assert "BTC/USDT" in listed and "744" in listed and "186" in listed  # 744 hours, 186 four-hour candles


def test_the_readme_names_the_two_commands():
    shell = blocks("sh")
    assert "pip install -e . && spotlab demo" in shell[0]
    assert "pip install -e '.[test]' && pytest" in shell[1]


@pytest.mark.slow
def test_the_readme_run_command_works(tmp_path):
    """``spotlab demo`` starts, serves, moves and stops on Ctrl-C (tests/test_demo.py checks the resume)."""
    from tests.test_demo import Demo, free_port, trades, wait_for

    demo = Demo(tmp_path / "data", free_port())
    try:
        assert wait_for(lambda: trades(demo.url))
    finally:
        assert "stopped after" in demo.stop()


@pytest.mark.slow
def test_the_readme_backtest_commands_run_as_written(tmp_path):
    """The backtest block, run by bash on the real SOL/USDT 1h file: the strategies, a run with its report and
    JSON, a grid, an Optuna study and a walk-forward analysis."""
    shutil.copyfile(DATA / "backtesting.py" / "SOLUSDT_1h.csv", tmp_path / "SOLUSDT_1h.csv")
    script = blocks("bash")[1]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert (
        "Sharpe ratio" in out
        and (tmp_path / "swing.html").exists()
        and "sharpe" in (tmp_path / "swing.json").read_text()
    )
    assert "triangular_arbitrage" in out and "6 trials by sharpe" in out and "20 trials by sharpe" in out
    assert "walk-forward by total_return" in out and "out-of-sample return, compounded" in out

"""Backtests on real candles (../shared/data): buy and hold on BTCUSDT, the swing strategy on SOLUSDT."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from spotlab.backtest import bars_from_file, run_backtest
from spotlab.strategy.builtin import BuyAndHold, Swing
from tests.shared_data import DATA

D = Decimal
BTC_FILE = DATA / "quantedge-ta" / "btcusdt-1h.csv"
SOL_FILE = DATA / "backtesting.py" / "SOLUSDT_1h.csv"


@pytest.fixture(scope="module")
def btc():
    return bars_from_file(BTC_FILE, "BTC/USDT", "1h")


@pytest.fixture(scope="module")
def sol():
    return bars_from_file(SOL_FILE, "SOL/USDT", "1h")


def test_the_btc_file_is_january_2025_in_hourly_bars(btc):
    assert len(btc) == 744
    assert btc[0].open_time_ns == 1_735_689_600_000_000_000  # the file's 1735689600000000 microseconds
    assert (btc[0].open, btc[0].close) == (D("93576"), D("94401.14"))


def test_buy_and_hold_ends_worth_its_btc_at_the_last_close_plus_the_leftover_quote(btc):
    started = time.perf_counter()
    result = run_backtest(BuyAndHold(), {"BTC/USDT": btc}, {"USDT": D(10000)}, progress=False)
    elapsed = time.perf_counter() - started
    result.exchange.check_invariants()
    final = result.final_balances
    assert result.equity[-1].equity == final["BTC"].total * btc[-1].close + final["USDT"].total
    assert len(result.equity) == 1 + 744  # the start, then one point per close
    assert result.equity[0].time_ns == btc[0].open_time_ns and result.equity[0].equity == D(10000)
    [fill] = result.fills
    assert (fill.side, fill.role, fill.time_ns) == ("buy", "taker", btc[0].close_time_ns)
    assert fill.fee == (fill.notional * D("0.001")).quantize(D("0.00000001"), rounding="ROUND_DOWN")
    assert final["BTC"].total == fill.quantity
    assert final["USDT"].total == D(10000) - fill.notional - fill.fee
    assert result.metrics is not None and result.metrics.trades == 0
    assert elapsed < 5, f"744 bars took {elapsed:.2f} s (about 0.2 s expected)"


def test_swing_on_solusdt_runs_and_trades(sol):
    result = run_backtest(Swing(fast=12, slow=48), {"SOL/USDT": sol}, {"USDT": D(10000)}, progress=False)
    result.exchange.check_invariants()
    assert len(result.equity) == 1 + len(sol) == 1001
    assert len(result.trades) >= 3
    for trip in result.trades:
        assert trip.exit_time_ns > trip.entry_time_ns
        assert trip.fees > 0
    rates = {"maker": D("0.001"), "taker": D("0.001")}
    for fill in result.fills:
        assert fill.fee == (fill.notional * rates[fill.role]).quantize(D("0.00000001"), rounding="ROUND_DOWN")


def test_swing_with_a_stop_sizes_each_entry_to_risk_one_percent_and_protects_it_with_an_oco(sol):
    strategy = Swing(fast=12, slow=48, stop_percent=D(3), take_profit_percent=D(6))
    result = run_backtest(strategy, {"SOL/USDT": sol}, {"USDT": D(10000)}, progress=False)
    result.exchange.check_invariants()
    assert strategy.entries >= 3
    assert any(order.list_id is not None for order in result.orders)  # the OCOs
    worst = min(trip.pnl for trip in result.trades)
    assert worst > -D(10000) * D("0.02")  # a stop-out costs about 1 % (gaps and slippage aside), never 2 %


def test_the_same_run_twice_gives_the_same_records_and_state(sol):
    runs = [
        run_backtest(Swing(fast=12, slow=48, stop_percent=D(3)), {"SOL/USDT": sol[:400]}, {"USDT": D(5000)},
                     progress=False)
        for _ in range(2)
    ]  # fmt: skip
    assert runs[0].records() == runs[1].records()
    assert runs[0].exchange.state_hash() == runs[1].exchange.state_hash()

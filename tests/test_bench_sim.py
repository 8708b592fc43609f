"""The simulator benchmark: its pacer, its arithmetic, and a tiny end-to-end run through ``spotlab bench sim``."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from spotlab.bench.sim import Options, simulator_figures
from spotlab.bench.sim_load import MachineSample, machine_window
from spotlab.bench.sim_serve import run_paced
from spotlab.clock import WallClock
from spotlab.exchange import Exchange
from spotlab.sim import SimConfig, Simulator


def test_the_pacer_offers_the_asked_orders_per_second_give_or_take_one_step():
    clock = WallClock()
    exchange = Exchange.open(None, clock=clock)
    simulator = Simulator(exchange, SimConfig(markets=("BTC/USDT", "ETH/USDT")), clock)
    simulator.setup()
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    began = time.monotonic()
    timer.start()
    run_paced(simulator, stop, orders_per_second=1_000)
    elapsed = time.monotonic() - began
    exchange.close()
    placed, steps = simulator.venue.placed, simulator.steps
    per_step = placed / steps
    assert placed <= 1_000 * elapsed + per_step * 2  # never ahead of the schedule by more than a step
    assert placed >= 1_000 * (elapsed - 0.1)  # and not behind it (this costs the simulator ~5 % of a core)


def snapshot(at: float, placed: int, cancels: int, trades: int, steps: int, refused: dict[str, int], cpu: float):
    stats = {"orders_placed": placed, "cancels_sent": cancels, "trades": trades, "steps": steps,
             "sim_seconds": float(steps), "busy_seconds": at / 2, "refused": sum(refused.values()),
             "refused_by_code": refused}  # fmt: skip
    return {"monotonic": at, "stats": stats, "process_cpu_seconds": cpu, "simulator_cpu_seconds": cpu / 4}


def test_the_simulator_figures_are_the_differences_between_two_snapshots_per_second():
    first = snapshot(10.0, 500, 50, 20, 25, {"INSUFFICIENT_FUNDS": 1}, 3.0)
    last = snapshot(20.0, 10_500, 1_050, 520, 475, {"INSUFFICIENT_FUNDS": 4, "ORDER_NOT_OPEN": 2}, 8.0)
    figures = simulator_figures(first, last)
    assert figures["orders_placed"] == 10_000 and figures["orders_per_second"] == 1_000.0
    assert figures["cancels_per_second"] == 100.0 and figures["trades_per_second"] == 50.0
    assert figures["market_seconds_per_second"] == 45.0  # 450 one-second steps in 10 s: speed 45
    assert figures["server_cpu_cores"] == 0.5 and figures["simulator_thread_cpu_cores"] == 0.125
    assert figures["refused"] == 5 and figures["refused_by_code"] == {"INSUFFICIENT_FUNDS": 3, "ORDER_NOT_OPEN": 2}


def test_pressure_and_steal_are_shares_of_the_window():
    cpu = (100, 0, 50, 800, 0, 0, 0, 50)  # user nice system idle iowait irq softirq steal
    first = MachineSample(1.0, 1_000_000, cpu, (0.5, 0.5, 0.5))
    later = tuple(x + d for x, d in zip(cpu, (150, 0, 50, 150, 0, 0, 0, 50), strict=True))
    last = MachineSample(3.0, 1_500_000, later, (1.0, 0.6, 0.5))
    window = machine_window(first, last)
    assert window["cpu_pressure_some"] == 0.25  # 0.5 s of stalls in 2 s
    assert window["steal"] == 0.125 and window["busy"] == 0.625  # of 400 ticks: 50 stolen, 150 idle


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"modes": ("paced", "fast")}, "modes"),
        ({"markets": 10}, "markets"),
        ({"book_rate": 0}, "positive"),
        ({"warmup": 0.1}, "warmup"),
        ({"switch_interval": 0.0}, "switch_interval"),
    ],
)
def test_options_refuse_what_cannot_be_run(change, message):
    with pytest.raises(ValueError, match=message):
        Options(**change)


@pytest.mark.slow
def test_a_tiny_run_reports_sane_figures_for_both_modes(tmp_path):
    out = tmp_path / "sim.json"
    command = [sys.executable, "-m", "spotlab.cli", "bench", "sim", "--markets", "2", "--seconds", "2",
               "--warmup", "0.5", "--idle-seconds", "0", "--orders-per-second", "200", "--book-rate", "50",
               "--connections", "2", "--workdir", str(tmp_path), "--json", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())["sim"]
    paced, flat = figures["runs"]
    assert (paced["mode"], flat["mode"]) == ("paced", "flat") and paced["markets"] == ["BTC/USDT", "ETH/USDT"]
    for run in (paced, flat):
        sim, book = run["simulator"], run["book"]
        assert sim["orders_placed"] > 0 and sim["trades"] >= 0 and sim["steps"] > 0
        assert book["sent"] == book["ok"] == 100 and book["errors"] == 0 and book["two_sided"] == 100
        assert 0 < book["p50_ms"] <= book["p90_ms"] <= book["p99_ms"] <= book["max_ms"]
        assert "cpu_pressure_some" in run["machine"] or "steal" in run["machine"]
    assert 190 <= paced["simulator"]["orders_per_second"] <= 215  # paced at 200 a second
    assert flat["simulator"]["orders_per_second"] > paced["simulator"]["orders_per_second"]
    assert paced["orders_met"] is False and figures["met"] is False  # 200 a second is below the 1,000 target
    assert "orders/s" in result.stdout and "p99 ms" in result.stdout

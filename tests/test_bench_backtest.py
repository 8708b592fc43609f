"""The backtest benchmark runs end to end at a tiny size: our bars/s, the competitors' (same run, same trades,
give or take one), the ratios and targets, and the grid on one and two workers giving the same trials."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from spotlab.bench.backtest import missing_competitors, synthetic_bars


def test_the_synthetic_bars_are_seeded_one_minute_bars_on_the_tick():
    bars = synthetic_bars(500, seed=3)
    assert bars == synthetic_bars(500, seed=3) and bars != synthetic_bars(500, seed=4)
    assert all(b.close_time_ns - b.open_time_ns == 60_000_000_000 for b in bars)
    assert all(a.close == b.open and a.close_time_ns == b.open_time_ns for a, b in zip(bars, bars[1:]))
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) and b.volume > 0 for b in bars)
    assert all(price == price.quantize(b.open.__class__("0.01")) for b in bars for price in (b.high, b.low))


@pytest.mark.slow
def test_the_backtest_benchmark_reports_every_framework_the_ratios_and_the_grid(tmp_path):
    missing = missing_competitors()
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[test]' (the bench compares with them)")
    out = tmp_path / "backtest.json"
    command = [sys.executable, "-m", "spotlab.cli", "bench", "backtest", "--bars", "3000", "--rounds", "2",
               "--grid-bars", "1500", "--grid-size", "4", "--json", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())["backtest"]
    rows = {row["framework"]: row for row in figures["frameworks"]}
    assert list(rows) == ["spotlab", "backtesting.py", "backtrader"] and figures["skipped"] == {}
    for row in rows.values():
        assert row["bars_per_second"] > 0 and len(row["rounds_seconds"]) == 2
        assert abs(row["trades"] - rows["spotlab"]["trades"]) <= 1 and row["trades"] > 10  # the same rules
    for name, target in (("backtrader", 10), ("backtesting.py", 3)):
        ratio = figures["ratios"][name]
        expected = rows["spotlab"]["bars_per_second"] / rows[name]["bars_per_second"]
        assert ratio["target"] == target and ratio["ratio"] == pytest.approx(expected, abs=0.006)  # 2 decimals
        assert ratio["met"] == (ratio["ratio"] >= target)
    floor = figures["floor"]
    assert floor["python_entries"] == rows["spotlab"]["entries"]  # the same rule makes the same entries
    assert (
        floor["engine_orders"] >= 2 * rows["spotlab"]["entries"] - 1 and floor["engine_fills"] == floor["engine_orders"]
    )
    assert floor["total_seconds"] == pytest.approx(floor["python_seconds"] + floor["engine_seconds"], abs=0.0002)
    for name, target in (("backtrader", 10), ("backtesting.py", 3)):
        budget = floor["budgets"][name]
        assert budget["budget_seconds"] == pytest.approx(rows[name]["median_seconds"] / target, abs=0.0001)
        assert budget["floor_fits"] == (floor["total_seconds"] <= budget["budget_seconds"])
    assert figures["met_bars_per_second"] == (rows["spotlab"]["bars_per_second"] >= 50_000)
    grid = figures["grid"]
    assert grid["parameter_sets"] == 4 and [run["workers"] for run in grid["runs"]] == [1, 2]
    assert grid["same_trials"] is True and all(run["cpu_seconds"] > 0 for run in grid["runs"])
    assert "spotlab is" in result.stdout and "two workers" in result.stdout and "the floor" in result.stdout

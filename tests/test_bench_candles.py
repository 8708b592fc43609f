"""The candle benchmark runs end to end on a few trades and checks that both candle paths agree."""

from __future__ import annotations

import json
import subprocess
import sys

from spotlab.marketdata.candles import INTERVALS


def test_the_candle_benchmark_measures_every_interval_and_the_incremental_builder(tmp_path):
    out = tmp_path / "candles.json"
    command = [sys.executable, "-m", "spotlab.cli", "bench", "candles", "--trades", "20000", "--repeats", "1",
               "--incremental-trades", "3000", "--json", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    results = json.loads(out.read_text())
    figures = results["candles"]
    assert figures["equal"] is True  # a fast but wrong path would show here
    assert [row["interval"] for row in figures["vectorised"]] == list(INTERVALS)
    assert all(row["candles"] > 0 and row["trades_per_second"] > 0 for row in figures["vectorised"])
    assert figures["vectorised"][0]["candles"] > figures["vectorised"][-1]["candles"]  # minutes outnumber weeks
    assert [row["call"] for row in figures["incremental"]] == ["add_many", "add"]
    assert all(row["trades"] == 3000 and row["intervals"] == 9 for row in figures["incremental"])
    assert results["machine"]["cpus"] > 0 and "bench candles" in results["command"]

"""The indicator benchmark runs end to end on a short series and checks its own results against TA-Lib."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_indicator_benchmark_measures_every_indicator_beside_talib(tmp_path):
    out = tmp_path / "indicators.json"
    command = [sys.executable, "-m", "spotlab.cli", "bench", "indicators", "--bars", "5000", "--repeats", "1",
               "--streaming-bars", "2000", "--json", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())["indicators"]
    names = {row["indicator"] for row in figures["vectorised"]}
    assert {"SMA(20)", "EMA(20)", "RSI(14)", "MACD(12,26,9)", "ADX(14)", "OBV"} <= names
    assert all(row["equal"] for row in figures["vectorised"])  # a fast but wrong indicator would show here
    assert all(row["talib_ms"] > 0 and row["ratio"] > 0 for row in figures["vectorised"])
    assert len(figures["streaming"]) == len(figures["vectorised"])

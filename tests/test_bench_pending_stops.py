"""The pending-stops benchmark runs end to end on a small workload: both sides, no stop triggered."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_pending_stops_benchmark_times_both_sides_on_the_same_trades(tmp_path):
    out = tmp_path / "pending.json"
    command = [sys.executable, "-m", "spotlab.cli", "bench", "pending-stops", "--commands", "3000", "--pending",
               "500", "--rounds", "2", "--json", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())["pending_stops"]
    assert figures["pending"] == 500 and figures["commands"] == 3000 and len(figures["rounds"]) == 2
    for row in figures["rounds"]:
        assert row["without"]["pending"] == 0 and row["with"]["pending"] == 500
        assert row["without"]["trades"] == row["with"]["trades"] > 0  # the same trades on both sides
        assert row["without"]["commands_per_second"] > 0 and row["with"]["commands_per_second"] > 0
    assert "target" in result.stdout

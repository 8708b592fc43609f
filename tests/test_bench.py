"""``spotlab bench engine`` runs end to end (tiny sizes: this checks the harness, not the speed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import require_postgres


@pytest.mark.slow
def test_the_engine_benchmark_runs_every_phase_and_reports_targets(tmp_path, pg_url):
    require_postgres()
    out = tmp_path / "engine.json"
    result = subprocess.run(
        [sys.executable, "-m", "spotlab.cli", "bench", "engine", "--commands", "3000", "--accounts", "50",
         "--resting", "3000", "--postgres-url", pg_url, "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["phases"]) == {"bare book", "memory", "sqlite", "postgres"}
    assert report["phases"]["memory"]["same_book_as_bare"] is True
    for phase in report["phases"].values():
        assert phase["commands"] == 3000 and phase["commands_per_second"] > 0
    assert report["restart"]["clean"]["records_replayed"] == 0
    assert report["restart"]["log_only"]["records_replayed"] == report["restart"]["records"]
    assert {"exchange", "sqlite", "engine"} <= set(report["resting_memory"])
    assert any("in memory" in target["target"] for target in report["targets"])

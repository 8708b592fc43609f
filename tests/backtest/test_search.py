"""Parameter search and walk-forward analysis: every trial a real backtest, deterministic wherever it runs."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from spotlab.backtest import bars_from_file, run_backtest
from spotlab.backtest.search import grid_search, optuna_search
from spotlab.backtest.walk_forward import walk_forward
from spotlab.errors import SpotlabError
from spotlab.strategy.builtin.swing import Swing
from tests.conftest import REQUIRE_SERVICES
from tests.shared_data import DATA

BALANCES = {"USDT": D(10000)}
DAY_NS = 86_400 * 1_000_000_000


@pytest.fixture(scope="module")
def sol():
    """Real SOL/USDT 1h candles, 2024-09-20 to 2024-11-01 (1,000 bars)."""
    return {"SOL/USDT": bars_from_file(DATA / "backtesting.py" / "SOLUSDT_1h.csv", "SOL/USDT", "1h")}


GRID = {"fast": [6, 12, 24], "slow": [24, 48]}


def test_a_grid_runs_every_combination_and_its_best_is_the_highest_score(sol):
    found = grid_search(Swing, GRID, sol, BALANCES, objective="total_return", workers=1, progress=False)
    assert [t.params for t in found.trials] == [
        {"fast": 6, "slow": 24}, {"fast": 6, "slow": 48}, {"fast": 12, "slow": 24},
        {"fast": 12, "slow": 48}, {"fast": 24, "slow": 24}, {"fast": 24, "slow": 48},
    ]  # fmt: skip
    refused = found.trials[4]  # fast must be below slow: refused before it runs, not a crash
    assert refused.score is None and "fast (24) must be below slow (24)" in refused.error
    scored = [t for t in found.trials if t.score is not None]
    assert found.best.score == max(t.score for t in scored)
    # a trial's score is the figure of a plain backtest with the same parameters
    alone = run_backtest(Swing(**found.best.params), sol, BALANCES, progress=False)
    assert found.best.score == alone.metrics.total_return
    assert found.best.metrics == alone.metrics


def test_a_grid_on_local_processes_gives_the_same_trials_as_in_process(sol):
    here = grid_search(Swing, GRID, sol, BALANCES, workers=1, progress=False)
    pooled = grid_search(Swing, GRID, sol, BALANCES, workers=2, progress=False)
    assert pooled.trials == here.trials


def test_an_optuna_study_is_seeded_and_draws_inside_the_space(sol):
    space = {"fast": range(4, 20, 2), "slow": [30, 60, 90], "stop_percent": (D("0"), D("5"), D("0.5"))}
    first = optuna_search(Swing, space, sol, BALANCES, trials=8, seed=7, workers=2, progress=False)
    again = optuna_search(Swing, space, sol, BALANCES, trials=8, seed=7, workers=2, progress=False)
    assert [t.params for t in first.trials] == [t.params for t in again.trials]
    assert [t.score for t in first.trials] == [t.score for t in again.trials]
    assert len(first.trials) == 8 and [t.number for t in first.trials] == list(range(8))
    for trial in first.trials:
        assert trial.params["fast"] in range(4, 20, 2) and trial.params["slow"] in (30, 60, 90)
        stop = trial.params["stop_percent"]
        assert isinstance(stop, D) and D(0) <= stop <= D(5) and stop % D("0.5") == 0  # on the step, never a float
    assert first.best.score == max(t.score for t in first.trials if t.score is not None)


def test_mistakes_are_refused_with_a_hint(sol):
    with pytest.raises(SpotlabError, match="did you mean 'sharpe'"):
        grid_search(Swing, GRID, sol, BALANCES, objective="sharp", progress=False)
    with pytest.raises(SpotlabError, match="give the strategy's class"):
        grid_search(Swing(), GRID, sol, BALANCES, progress=False)
    with pytest.raises(SpotlabError, match="cannot search 'fast'"):
        optuna_search(Swing, {"fast": 5.5}, sol, BALANCES, trials=1, progress=False)
    found = grid_search(Swing, {"fats": [3]}, sol, BALANCES, workers=1, progress=False)
    assert "did you mean 'fast'" in found.trials[0].error
    with pytest.raises(SpotlabError, match="no trial has a sharpe figure"):
        found.best  # noqa: B018


def test_walk_forward_tests_each_winner_only_on_data_it_did_not_see(sol):
    wf = walk_forward(Swing, {"fast": [6, 12], "slow": [48]}, sol, BALANCES, in_sample="10d",
                      out_of_sample="5d", objective="total_return", workers=1, progress=False)  # fmt: skip
    first_open = sol["SOL/USDT"][0].open_time_ns
    assert len(wf.windows) == 6  # 41.7 days of bars: windows start every 5 days while 15 days fit
    for k, window in enumerate(wf.windows):
        assert window.in_sample_start_ns == first_open + k * 5 * DAY_NS
        assert window.in_sample_end_ns - window.in_sample_start_ns == 10 * DAY_NS
        assert window.out_of_sample_end_ns - window.in_sample_end_ns == 5 * DAY_NS
        # the winner, run alone on the out-of-sample bars, gives the reported out-of-sample figures
        tested = {"SOL/USDT": [b for b in sol["SOL/USDT"]
                               if window.in_sample_end_ns <= b.open_time_ns < window.out_of_sample_end_ns]}  # fmt: skip
        warm = {"SOL/USDT": [b for b in sol["SOL/USDT"]
                             if window.in_sample_start_ns <= b.open_time_ns < window.in_sample_end_ns]}  # fmt: skip
        alone = run_backtest(Swing(**window.best_params), tested, BALANCES, warmup=warm, progress=False)
        assert window.out_of_sample.score == alone.metrics.total_return
    growth = 1.0
    for window in wf.windows:
        growth *= 1 + window.out_of_sample.score
    assert wf.out_of_sample_return == growth - 1  # the tested periods compounded, one after the other
    with pytest.raises(SpotlabError, match="less than one window"):
        walk_forward(Swing, {"fast": [6]}, sol, BALANCES, in_sample="40d", out_of_sample="5d", progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_cluster():
    """A local Ray head node started with ``ray start --block`` (a real cluster of one machine) in a process group
    of its own, stopped afterwards by ending that group: other Ray clusters on the machine are left alone."""
    ray_bin = Path(sys.executable).parent / "ray"
    if not ray_bin.exists() and shutil.which("ray") is None:
        if REQUIRE_SERVICES:
            pytest.fail("Ray is not installed (pip install -e '.[test]'); SPOTLAB_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip("Ray is not installed: pip install -e '.[test]'")
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    command = [str(ray_bin), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
               "--include-dashboard=false", "--node-ip-address=127.0.0.1", f"--temp-dir={temp}"]  # fmt: skip
    head = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        _wait_for_port(port, head, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        ray.shutdown()
        _end_group(head)
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ray start exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"Ray's head node did not listen on {port} within {timeout} s")


def _end_group(process: subprocess.Popen) -> None:
    """SIGTERM to the head's process group (``--block`` then stops what it started), SIGKILL to what is left."""
    group = os.getpgid(process.pid)
    os.killpg(group, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


@pytest.mark.slow
def test_a_grid_on_a_ray_cluster_gives_the_same_trials(sol, ray_cluster):
    here = grid_search(Swing, GRID, sol, BALANCES, workers=1, progress=False)
    on_ray = grid_search(Swing, GRID, sol, BALANCES, ray_address=ray_cluster, progress=False)
    assert on_ray.trials == here.trials

"""The tax benchmark's history is valid and its reports agree with each other (a small run; the real one is
``python -m spotlab.bench.tax``)."""

from __future__ import annotations

from spotlab.bench.tax import Options, run, synthetic_history


def test_a_small_benchmark_run_reports_every_method_with_the_same_proceeds():
    results = run(Options(fills=3_000, year=2024, deposit_every=500))
    assert results["fills"] == 3_000 and results["eth_btc_fills"] > 100
    by_method = {row["method"]: row for row in results["methods"]}
    assert set(by_method) == {"fifo", "lifo", "hifo", "uk"}
    assert all(row["lines_in_year"] > 0 and row["met"] for row in by_method.values())
    # which lots are sold depends on the method; what the sales fetched (net of fees) does not
    assert len({row["proceeds"] for row in by_method.values()}) == 1


def test_the_history_is_seeded():
    first, second = synthetic_history(Options(fills=200)), synthetic_history(Options(fills=200))
    assert first == second
    assert synthetic_history(Options(fills=200, seed=7))[0] != first[0]

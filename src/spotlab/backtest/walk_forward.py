"""Walk-forward analysis: optimise on a window, test the winner on the period after it, roll on.

    wf = walk_forward(Swing, {"fast": range(5, 30, 5)}, bars, {"USDT": "10000"},
                      in_sample="30d", out_of_sample="10d")
    wf.out_of_sample_return, [w.best_params for w in wf.windows]

The guard against curve fitting: a parameter set chosen on past data is judged only on data it
has not seen. The out-of-sample results are reported apart from the in-sample ones.

Windows
- The first window starts at the earliest bar's open time. Window k optimises on
  ``[start + k x step, + in_sample)`` and tests on the ``out_of_sample`` period right after it;
  ``step`` defaults to ``out_of_sample``, so the tested periods follow each other without overlap.
  The last window is the last whose out-of-sample period ends by the last bar's close.
- A bar belongs to a period when it opens and closes inside it (no bar is seen by both periods).
- Each period's backtest starts afresh from ``balances`` (positions are not carried across).
- The tested period's run is warmed up with its in-sample bars (``run_backtest(warmup=...)``): the
  strategy sees them as history, so its indicators are warm at the first tested bar, as they would
  be live; nothing trades on them.
- The search in each window is ``grid_search`` (``space`` a grid) or ``optuna_search``
  (``method="optuna"``), with the given ``objective``; the winner is its ``best``.

Results
- ``windows``: per window its periods, the winning parameters, the in-sample score and the
  out-of-sample metrics (``Metrics``) and score.
- ``out_of_sample_return``: the compounded return of the tested periods one after the other,
  ``prod(1 + total_return_k) - 1``; ``in_sample_mean`` and ``out_of_sample_mean``: the mean scores
  (their ratio, the walk-forward efficiency, shows how much of the in-sample edge survived).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from spotlab.backtest.search import SearchResult, Trial, evaluate, grid_search, make_job, optuna_search
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.candles import interval_ns


@dataclass(frozen=True, slots=True)
class Window:
    in_sample_start_ns: int
    in_sample_end_ns: int  # = the out-of-sample start
    out_of_sample_end_ns: int
    best_params: dict[str, Any]
    in_sample_score: float
    out_of_sample: Trial  # its score and metrics; score None if undefined there


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    objective: str
    windows: list[Window]

    @property
    def out_of_sample_return(self) -> float:
        growth = 1.0
        for window in self.windows:
            growth *= 1.0 + window.out_of_sample.metrics.total_return
        return growth - 1.0

    @property
    def in_sample_mean(self) -> float:
        return sum(w.in_sample_score for w in self.windows) / len(self.windows)

    @property
    def out_of_sample_mean(self) -> float | None:
        scores = [w.out_of_sample.score for w in self.windows if w.out_of_sample.score is not None]
        return sum(scores) / len(scores) if scores else None


def walk_forward(
    strategy: type,
    space: Mapping[str, Any],
    bars: Mapping[str, Sequence[Any]],
    balances: Mapping[str, Any],
    *,
    in_sample: timedelta | str,
    out_of_sample: timedelta | str,
    step: timedelta | str | None = None,
    method: str = "grid",
    objective: str = "sharpe",
    trials: int = 30,
    seed: int = 0,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool = True,
    params: Mapping[str, Any] | None = None,
    **options: Any,
) -> WalkForwardResult:
    """Rolling in-sample optimisation and out-of-sample tests (see the module docstring)."""
    if method not in ("grid", "optuna"):
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"method must be 'grid' or 'optuna', got {method!r}")
    is_ns, oos_ns = _span(in_sample, "in_sample"), _span(out_of_sample, "out_of_sample")
    step_ns = oos_ns if step is None else _span(step, "step")
    if any(not isinstance(series, list | tuple) for series in bars.values()):
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "walk_forward takes bars as lists (see spotlab.backtest.bars)")
    first = min(series[0].open_time_ns for series in bars.values() if series)
    last = max(series[-1].close_time_ns for series in bars.values() if series)
    windows: list[Window] = []
    start = first
    while start + is_ns + oos_ns <= last:
        split, end = start + is_ns, start + is_ns + oos_ns
        inside = _between(bars, start, split)
        search_options = dict(
            objective=objective, workers=workers, ray_address=ray_address, progress=progress, params=params
        )
        if method == "grid":
            found: SearchResult = grid_search(strategy, space, inside, balances, **search_options, **options)
        else:
            found = optuna_search(strategy, space, inside, balances, trials=trials, seed=seed, **search_options,
                                  **options)  # fmt: skip
        best = found.best
        warmed = {**options, "warmup": inside}  # the tested period starts with warm indicators
        job = make_job(strategy, _between(bars, split, end), balances, objective, warmed, params)
        tested = evaluate(job, len(windows), best.params)
        if tested.error is not None:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"the out-of-sample run failed: {tested.error}")
        windows.append(Window(start, split, end, best.params, best.score, tested))
        start += step_ns
    if not windows:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"the bars span {_days(last - first)} days, less than one window of in_sample + out_of_sample "
            f"({_days(is_ns + oos_ns)} days)",
        )
    return WalkForwardResult(objective, windows)


def _between(bars: Mapping[str, Sequence[Any]], start: int, end: int) -> dict[str, list[Any]]:
    return {market: [b for b in series if b.open_time_ns >= start and b.close_time_ns <= end]
            for market, series in bars.items()}  # fmt: skip


def _span(value: timedelta | str, name: str) -> int:
    if isinstance(value, timedelta):
        ns = (value // timedelta(microseconds=1)) * 1000
    elif isinstance(value, str) and value[-1:] == "d" and value[:-1].isdigit():
        ns = int(value[:-1]) * 86_400 * 1_000_000_000
    elif isinstance(value, str):
        ns = interval_ns(value)
    else:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{name} must be a timedelta or like '30d', got {value!r}")
    if ns <= 0:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{name} must be positive, got {value!r}")
    return ns


def _days(ns: int) -> str:
    return str(Decimal(ns) / Decimal(86_400 * 1_000_000_000))

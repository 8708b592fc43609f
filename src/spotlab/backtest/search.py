"""Parameter search: a grid or an Optuna study over a strategy's parameters, every trial a full backtest.

    found = grid_search(Swing, {"fast": range(5, 30, 5), "slow": [50, 100]}, bars, {"USDT": "10000"})
    found.best.params, found.best.score

What a search does
- Each trial builds the strategy with one parameter set (``Strategy(**params)``: a misspelled or
  out-of-range parameter is refused before anything runs) and runs ``run_backtest`` on the same bars,
  balances and fill model. Its score is one figure of ``spotlab.backtest.metrics.Metrics``
  (``objective``, default ``"sharpe"``); higher is better, except for ``max_drawdown`` and
  ``volatility``, which are minimised. A trial whose figure is undefined (``None``: no trades, fewer
  than two days, ...) scores nothing and cannot be best.
- Where the trials run: in this process (``workers=1``), on the local cores (``workers=None``: one
  process per core; the bars are sent to each worker once), or on a Ray cluster when
  ``ray_address`` is given (``"auto"``, ``"ray://host:10001"`` or ``"host:6379"``; the bars go to
  the object store once). A progress bar on stderr counts finished trials (``progress=False``: off).
- Grid: every combination, in the order of ``itertools.product`` over the grid's keys as given.
- Optuna: ``space`` maps a parameter to ``range(lo, hi, step)`` (integers), a ``(low, high)`` pair of
  floats, a ``(low, high, step)`` triple of ``Decimal`` (prices, amounts: drawn on the step, never a
  float), or a list of choices. Trials are asked in batches of ``workers`` and told their scores
  before the next batch (Optuna's ask-and-tell), with a seeded TPE sampler.

Invariants
- Deterministic: a grid gives the same trials wherever it runs; an Optuna study with the same seed,
  trial count and batch size gives the same trials (backtests are deterministic themselves).
- Trials are independent: each runs on a fresh in-memory exchange; nothing is shared but inputs.
- ``SearchResult.trials`` is in trial-number order; ``best`` is the highest score, the lowest
  number among equals.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing import get_context
from typing import Any

from spotlab.backtest.metrics import Metrics
from spotlab.errors import ErrorCode, SpotlabError

#: Figures where lower is better; every other objective is maximised.
MINIMISED = frozenset({"max_drawdown", "volatility"})


@dataclass(frozen=True, slots=True)
class Trial:
    number: int
    params: dict[str, Any]
    score: float | None  # the objective's figure; None if undefined or the trial was refused
    metrics: Metrics | None = None  # the run's statistics (None if the trial was refused)
    error: str | None = None  # why the trial was refused (bad parameters)


@dataclass(frozen=True, slots=True)
class SearchResult:
    objective: str
    trials: list[Trial]

    @property
    def best(self) -> Trial:
        scored = [t for t in self.trials if t.score is not None]
        if not scored:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"no trial has a {self.objective} figure (no trades, or too short a period); "
                "try another objective or more data",
            )
        sign = -1 if self.objective in MINIMISED else 1
        return min(scored, key=lambda t: (-sign * t.score, t.number))


@dataclass(frozen=True, slots=True)
class Job:
    """What every trial shares: the strategy class, the bars and balances, ``run_backtest``'s options."""

    strategy: type
    bars: Mapping[str, Any]
    balances: Mapping[str, Any]
    objective: str
    options: Mapping[str, Any]
    fixed: Mapping[str, Any]  # parameters every trial gets (the searched ones vary)


def grid_search(
    strategy: type,
    grid: Mapping[str, Iterable[Any]],
    bars: Mapping[str, Any],
    balances: Mapping[str, Any],
    *,
    objective: str = "sharpe",
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool = True,
    params: Mapping[str, Any] | None = None,
    **options: Any,
) -> SearchResult:
    """Every combination of ``grid`` (parameter -> values); ``params`` are fixed parameters every trial
    gets; ``options`` go to ``run_backtest``."""
    job = make_job(strategy, bars, balances, objective, options, params)
    names = list(grid)
    combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*(list(grid[n]) for n in names))]
    if not combos:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "the grid is empty: give each parameter at least one value")
    with _Runner(job, workers, ray_address, progress, len(combos)) as runner:
        trials = runner.run(list(enumerate(combos)))
    return SearchResult(objective, trials)


def optuna_search(
    strategy: type,
    space: Mapping[str, Any],
    bars: Mapping[str, Any],
    balances: Mapping[str, Any],
    *,
    trials: int = 50,
    seed: int = 0,
    objective: str = "sharpe",
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool = True,
    params: Mapping[str, Any] | None = None,
    **options: Any,
) -> SearchResult:
    """An Optuna study (seeded TPE) of ``trials`` backtests over ``space`` (see the module docstring)."""
    import optuna

    job = make_job(strategy, bars, balances, objective, options, params)
    if trials < 1:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"trials must be at least 1, got {trials}")
    suggest = {name: _suggester(name, spec) for name, spec in space.items()}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "minimize" if objective in MINIMISED else "maximize"
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    done: list[Trial] = []
    with _Runner(job, workers, ray_address, progress, trials) as runner:
        while len(done) < trials:
            batch = [study.ask() for _ in range(min(runner.width, trials - len(done)))]
            asked = [(t.number, {name: draw(t) for name, draw in suggest.items()}) for t in batch]
            results = runner.run(asked)
            for optuna_trial, result in zip(batch, results, strict=True):
                if result.score is None:
                    study.tell(optuna_trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(optuna_trial, result.score)
            done.extend(results)
    return SearchResult(objective, done)


# -- one trial ---------------------------------------------------------------------------------


def evaluate(job: Job, number: int, params: dict[str, Any]) -> Trial:
    """Run one backtest of ``job`` with ``params``; a refused parameter set is a trial with its error."""
    from spotlab.backtest.runner import run_backtest

    params = {**job.fixed, **params}
    try:
        strategy = job.strategy(**params)
        result = run_backtest(strategy, job.bars, job.balances, progress=False, **job.options)
    except SpotlabError as error:
        return Trial(number, params, None, error=error.message)
    metrics = result.metrics
    if metrics is None:
        return Trial(number, params, None, error="the run recorded no equity")
    score = getattr(metrics, job.objective)
    return Trial(number, params, None if score is None else float(score), metrics)


_WORKER_JOB: Job | None = None


def _worker_init(job: Job) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job


def _worker_evaluate(number: int, params: dict[str, Any]) -> Trial:
    assert _WORKER_JOB is not None
    return evaluate(_WORKER_JOB, number, params)


class _Runner:
    """Runs trials here, on a local process pool, or on Ray; the same answers in the same order."""

    def __init__(self, job: Job, workers: int | None, ray_address: str | None, progress: bool, total: int) -> None:
        self._job = job
        self._ray_address = ray_address
        self._pool: ProcessPoolExecutor | None = None
        self._ray_job = None
        if workers is not None and workers < 1:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"workers must be at least 1, got {workers}")
        self.width = workers or (os.cpu_count() or 1)
        self._progress = _progress(total) if progress else None

    def __enter__(self) -> _Runner:
        if self._ray_address is not None:
            import ray

            ray.init(address=self._ray_address, ignore_reinit_error=True, log_to_driver=False)
            self._ray_job = ray.put(self._job)
            if self.width == (os.cpu_count() or 1):
                self.width = max(1, int(ray.cluster_resources().get("CPU", 1)))
        elif self.width > 1:
            self._pool = ProcessPoolExecutor(
                self.width, mp_context=get_context("fork"), initializer=_worker_init, initargs=(self._job,)
            )
        if self._progress is not None:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        if self._progress is not None:
            self._progress.__exit__(*exc_info)

    def run(self, asked: Sequence[tuple[int, dict[str, Any]]]) -> list[Trial]:
        if self._ray_job is not None:
            import ray

            remote = ray.remote(_ray_evaluate)
            pending = {remote.remote(self._ray_job, number, params): i for i, (number, params) in enumerate(asked)}
            results: list[Trial | None] = [None] * len(asked)
            waiting = list(pending)
            while waiting:
                ready, waiting = ray.wait(waiting, num_returns=1)
                results[pending[ready[0]]] = ray.get(ready[0])
                self._advance()
            return [r for r in results if r is not None]
        if self._pool is None:
            out = []
            for number, params in asked:
                out.append(evaluate(self._job, number, params))
                self._advance()
            return out
        futures = [self._pool.submit(_worker_evaluate, number, params) for number, params in asked]
        out = []
        for future in futures:
            out.append(future.result())
            self._advance()
        return out

    def _advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    @property
    def _task(self):
        return self._progress.task_ids[0]


def _ray_evaluate(job: Job, number: int, params: dict[str, Any]) -> Trial:
    return evaluate(job, number, params)


def _progress(total: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(file=sys.stderr), transient=False,
    )  # fmt: skip
    progress.add_task("trials", total=total)
    return progress


def make_job(
    strategy: type, bars, balances, objective: str, options: Mapping[str, Any], fixed: Mapping[str, Any] | None = None
) -> Job:
    from spotlab.strategy.base import Strategy

    if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"give the strategy's class, got {strategy!r}")
    figures = [f for f in Metrics.__dataclass_fields__ if not f.endswith("_ns")]
    if objective not in figures:
        import difflib

        near = difflib.get_close_matches(objective, figures, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f"; one of {', '.join(figures)}"
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"unknown objective {objective!r}{hint}")
    if "progress" in options:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a search shows one progress bar for all its trials")
    return Job(strategy, bars, balances, objective, dict(options), dict(fixed or {}))


def _suggester(name: str, spec: Any) -> Callable[[Any], Any]:
    """How an Optuna trial draws ``name`` from ``spec`` (see the module docstring)."""
    if isinstance(spec, range):
        if len(spec) == 0:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"the range for {name!r} is empty")
        return lambda t: t.suggest_int(name, spec.start, spec[-1], step=spec.step)
    if isinstance(spec, list):
        if not spec:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"the choices for {name!r} are empty")
        return lambda t: spec[t.suggest_int(f"{name}[index]", 0, len(spec) - 1)]
    if isinstance(spec, tuple) and len(spec) == 3 and all(isinstance(v, Decimal) for v in spec):
        low, high, step = spec
        if step <= 0 or high < low or (high - low) % step:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{name!r}: (low, high, step) needs high - low on the step")
        steps = int((high - low) / step)
        return lambda t: low + step * t.suggest_int(f"{name}[step]", 0, steps)
    if isinstance(spec, tuple) and len(spec) == 2 and all(isinstance(v, int | float) for v in spec):
        low, high = float(spec[0]), float(spec[1])
        if high < low:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{name!r}: low {low} is above high {high}")
        return lambda t: t.suggest_float(name, low, high)
    raise SpotlabError(
        ErrorCode.INVALID_ARGUMENT,
        f"cannot search {name!r} over {spec!r}: give range(lo, hi, step), a (low, high) pair of floats, "
        "a (low, high, step) triple of Decimals, or a list of choices",
    )

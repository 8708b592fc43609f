"""``spotlab bench backtest``: an SMA crossover on 1-minute bars through the backtester, against backtesting.py
and backtrader, and a parameter grid on one core and on two.

Targets (the backtest issue): >= 50,000 bars/s through the engine; >= 10 x backtrader and >= 3 x backtesting.py
in the same run; a grid of 100 parameter sets uses both cores.

The data: ``bars`` seeded synthetic 1-minute bars of BTC/USDT (``synthetic_bars``): a random walk of log
returns (0.05 % a minute) from 30,000 USDT, prices on the 0.01 tick, each bar opening at the previous close,
its high and low a random distance beyond the body, its volume log-normal around 20 BTC. The real 1-minute file
in ``../shared/data`` (XRP/ETH, 2,469 bars) is too short to time 100,000s of bars.

The strategy, the same rules in all three frameworks: SMA(``fast``) and SMA(``slow``) of the closes; when the
fast one crosses above the slow one at a bar's close and the account is flat, buy 1 BTC (whole units: backtesting.py
trades whole units); when it crosses below while long, sell it. Orders trade at that close (ours: a market order
with the fill model's ``fill_at_print``, so it meets the close itself, one level 10 BTC deep; backtesting.py:
``trade_on_close=True``; backtrader: cheat-on-close), with a 0.1 % commission, from 1,000,000 USDT. The trade
counts and final equities are reported side by side: they match to a trade (where the two averages are equal to
the last digit each framework's float sums decide; backtesting.py also counts the trade still open at the end).

Timing: each framework runs in the same process, in interleaved rounds (each round runs every framework once,
starting with the next one each time), and the median of the rounds counts. What is timed is the run itself,
from bars already in memory (our ``Bar`` list; their pandas DataFrame): strategy set-up, every bar, the result
with its statistics.

The floor (``floor``): what the target ratios leave room for. In the same run: (1) the least a strategy called
in Python at every bar costs here, with no backtester and no exchange (``python_floor``: a loop over the closes
calling the crossover rule on two SMA lists computed beforehand, the position valued as an integer at each bar);
(2) the least the real exchange costs for the run's orders, one command each and nothing else (``engine_floor``:
the same number of 1 BTC market orders, buy and sell in turn, on a fresh in-memory exchange, each filling
against one resting order). Their sum against each target's time budget (a competitor's median / the target
ratio) says whether a per-bar Python strategy through the real engine can meet that target on this machine at all.

The grid: ``grid_size`` parameter sets (fast x slow) over ``grid_bars`` bars through
``spotlab.backtest.search.grid_search``, with ``workers=1`` and ``workers=2``; the wall time, the speed-up,
and the CPU time of the process and its children over the wall time (about 2 when both cores are busy).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from spotlab import indicators
from spotlab.backtest import FillModel, run_backtest
from spotlab.core.events import OrderFilled
from spotlab.indicators import SMA
from spotlab.strategy import Bar, Param, Strategy

TARGET_BARS_PER_SECOND = 50_000
TARGET_VS_BACKTRADER = 10.0
TARGET_VS_BACKTESTING = 3.0
TARGET_GRID_SPEEDUP = 1.6
MARKET = "BTC/USDT"
FILL_MODEL = FillModel(levels=1, depth_quantity=Decimal(10), fill_at_print=True)  # market orders fill at the close
START_NS = 1_704_067_200 * 1_000_000_000  # 2024-01-01 00:00 UTC
MINUTE_NS = 60_000_000_000
CASH = 1_000_000
COMMISSION = 0.001  # the catalogue's BTC/USDT fee, both roles
SIZE = 1  # BTC per entry: whole units, which backtesting.py needs


@dataclass(frozen=True)
class Options:
    bars: int = 200_000
    fast: int = 10
    slow: int = 30
    rounds: int = 3
    grid_bars: int = 20_000
    grid_size: int = 100
    seed: int = 7
    competitors: bool = True
    progress: bool = True


# -- the data ----------------------------------------------------------------------------------------


def synthetic_columns(count: int, seed: int) -> dict[str, np.ndarray]:
    """``open``/``high``/``low``/``close`` in cents and ``volume`` in lots of 0.00001 BTC, as int64 arrays."""
    rng = np.random.default_rng(seed)
    closes = np.round(3_000_000 * np.exp(np.cumsum(rng.normal(0.0, 0.0005, count)))).astype(np.int64)
    opens = np.concatenate(([3_000_000], closes[:-1]))
    top, bottom = np.maximum(opens, closes), np.minimum(opens, closes)
    highs = top + np.round(np.abs(rng.normal(0.0, 0.0003, count)) * top).astype(np.int64)
    lows = bottom - np.round(np.abs(rng.normal(0.0, 0.0003, count)) * bottom).astype(np.int64)
    volume = np.round(rng.lognormal(math.log(20), 0.5, count) * 100_000).astype(np.int64)
    return {"open": opens, "high": highs, "low": lows, "close": closes, "volume": np.maximum(volume, 1)}


def synthetic_bars(count: int, seed: int) -> list[Bar]:
    """``count`` seeded 1-minute bars of BTC/USDT (see the module docstring), exact ``Decimal`` prices."""
    columns = synthetic_columns(count, seed)
    cent, lot = Decimal("0.01"), Decimal("0.00001")
    rows = zip(*(columns[name].tolist() for name in ("open", "high", "low", "close", "volume")), strict=True)
    return [
        Bar(MARKET, START_NS + i * MINUTE_NS, START_NS + (i + 1) * MINUTE_NS, o * cent, h * cent, lo * cent,
            c * cent, v * lot)
        for i, (o, h, lo, c, v) in enumerate(rows)
    ]  # fmt: skip


def data_frame(columns: dict[str, np.ndarray]):
    """The same bars as the pandas DataFrame backtesting.py and backtrader take (float columns, by design)."""
    import pandas as pd

    index = pd.date_range(pd.Timestamp(START_NS, unit="ns"), periods=len(columns["close"]), freq="1min")
    return pd.DataFrame(
        {
            "Open": columns["open"] / 100,
            "High": columns["high"] / 100,
            "Low": columns["low"] / 100,
            "Close": columns["close"] / 100,
            "Volume": columns["volume"] / 100_000,
        },
        index=index,
    )


# -- ours ---------------------------------------------------------------------------------------------


class SmaCross(Strategy):
    """Long-only SMA crossover: buy 1 BTC when the fast SMA crosses above the slow one, sell it when below."""

    fast = Param(int, 10, "fast SMA period (bars)", min=2)
    slow = Param(int, 30, "slow SMA period (bars)", min=3)

    def init(self) -> None:
        self.fast_sma = self.indicator(SMA, self.fast)
        self.slow_sma = self.indicator(SMA, self.slow)
        self.long = False
        self.entries = 0
        self._previous = math.nan  # fast - slow at the previous close (NaN during warm-up)

    def on_bar(self, bar: Bar) -> None:
        difference = self.fast_sma[-1] - self.slow_sma[-1]
        previous, self._previous = self._previous, difference
        if previous <= 0 < difference and not self.long:
            self.buy(bar.market, Decimal(SIZE))
            self.long = True
            self.entries += 1
        elif previous >= 0 > difference and self.long:
            self.sell(bar.market, self.position(bar.market))
            self.long = False


def run_ours(bars: list[Bar], fast: int, slow: int) -> dict[str, Any]:
    started = time.perf_counter()
    strategy = SmaCross(fast=fast, slow=slow)
    result = run_backtest(strategy, {MARKET: bars}, {"USDT": CASH}, fill_model=FILL_MODEL, progress=False)
    metrics = result.metrics
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "trades": len(result.trades), "entries": strategy.entries,
            "orders": len(result.orders), "final_equity": float(metrics.end_equity) if metrics else None}  # fmt: skip


# -- the floor ------------------------------------------------------------------------------------------


class _Rule:
    """The crossover rule alone, on precomputed SMA lists: +1 to enter, -1 to leave, 0 to hold."""

    def __init__(self, fast: list[float], slow: list[float]) -> None:
        self.fast, self.slow, self.long = fast, slow, False

    def on_bar(self, i: int) -> int:
        fast, slow = self.fast, self.slow
        previous, difference = fast[i - 1] - slow[i - 1], fast[i] - slow[i]
        if previous <= 0 < difference and not self.long:
            self.long = True
            return 1
        if previous >= 0 > difference and self.long:
            self.long = False
            return -1
        return 0


def python_floor(columns: dict[str, np.ndarray], fast: int, slow: int) -> dict[str, Any]:
    """A per-bar Python strategy with nothing around it (see the module docstring): seconds and entries."""
    indicators.sma(np.ones(slow), slow)  # load the compiled kernel first: loading it is not the floor
    started = time.perf_counter()
    closes = columns["close"]
    usdt = closes / 100  # the floats the strategies average (float(Decimal) of the same prices): the same crossings
    rule = _Rule(indicators.sma(usdt, fast).tolist(), indicators.sma(usdt, slow).tolist())
    prices = closes.tolist()  # cents
    equity = [0] * len(prices)
    cash, held, entries = CASH * 100, 0, 0
    on_bar = rule.on_bar
    for i, price in enumerate(prices):  # at i = 0 the averages are NaN (warm-up): no signal, whatever [i - 1] is
        signal = on_bar(i)
        if signal == 1:
            held, cash, entries = SIZE, cash - SIZE * price, entries + 1
        elif signal == -1:
            held, cash = 0, cash + SIZE * price
        equity[i] = cash + held * price
    return {"seconds": time.perf_counter() - started, "entries": entries}


def engine_floor(orders: int) -> dict[str, Any]:
    """``orders`` 1 BTC market orders (buy, sell, buy, ...) on a fresh in-memory exchange, each one command that
    fills against one resting order: the least the real exchange costs for that many orders."""
    from spotlab import Exchange

    exchange = Exchange.open()
    half = orders // 2 + 1
    for account in ("maker", "taker"):
        exchange.create_account(account)
    exchange.deposit("maker", "BTC", half * SIZE)
    exchange.deposit("maker", "USDT", half * SIZE * 31_000)
    exchange.deposit("taker", "USDT", 100_000 + 100 * orders)  # each round trip loses the spread and two fees
    exchange.place_order("maker", MARKET, "sell", "limit", Decimal("30000.00"), Decimal(half * SIZE))
    exchange.place_order("maker", MARKET, "buy", "limit", Decimal("29999.00"), Decimal(half * SIZE))
    size = Decimal(SIZE)
    started = time.perf_counter()
    for k in range(orders):
        exchange.place_order("taker", MARKET, "sell" if k % 2 else "buy", "market", quantity=size)
    seconds = time.perf_counter() - started
    filled = sum(1 for event in exchange.events() if type(event) is OrderFilled)
    exchange.close()
    return {"seconds": seconds, "orders": orders, "fills": filled}


# -- backtesting.py -------------------------------------------------------------------------------------


def run_backtesting(frame, fast: int, slow: int) -> dict[str, Any]:
    import warnings

    from backtesting import Backtest
    from backtesting import Strategy as BtStrategy

    def sma(values, period):
        import pandas as pd

        return pd.Series(values).rolling(period).mean()

    class Cross(BtStrategy):
        def init(self):
            self.fast_sma = self.I(sma, self.data.Close, fast)
            self.slow_sma = self.I(sma, self.data.Close, slow)
            self.entries = 0

        def next(self):
            f, s = self.fast_sma, self.slow_sma
            previous, difference = f[-2] - s[-2], f[-1] - s[-1]
            if previous <= 0 < difference and not self.position:
                self.buy(size=SIZE)
                self.entries += 1
            elif previous >= 0 > difference and self.position:
                self.position.close()

    started = time.perf_counter()
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):  # its own progress bar: not here
        warnings.simplefilter("ignore")
        test = Backtest(frame, Cross, cash=CASH, commission=COMMISSION, trade_on_close=True, finalize_trades=True)
        stats = test.run()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "trades": int(stats["# Trades"]), "entries": stats._strategy.entries,
            "final_equity": float(stats["Equity Final [$]"])}  # fmt: skip


# -- backtrader -----------------------------------------------------------------------------------------


def run_backtrader(frame, fast: int, slow: int) -> dict[str, Any]:
    import backtrader as bt

    class Cross(bt.Strategy):
        def __init__(self):
            self.fast_sma = bt.indicators.SMA(self.data.close, period=fast)
            self.slow_sma = bt.indicators.SMA(self.data.close, period=slow)
            self.entries = 0

        def next(self):
            if len(self) <= slow:
                return
            previous = self.fast_sma[-1] - self.slow_sma[-1]
            difference = self.fast_sma[0] - self.slow_sma[0]
            if previous <= 0 < difference and not self.position:
                self.buy(size=SIZE)
                self.entries += 1
            elif previous >= 0 > difference and self.position:
                self.close()

    started = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(Cross)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=COMMISSION)
    cerebro.broker.set_coc(True)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    [strategy] = cerebro.run()
    seconds = time.perf_counter() - started
    closed = strategy.analyzers.trades.get_analysis().get("total", {}).get("closed", 0)
    return {"seconds": seconds, "trades": int(closed), "entries": strategy.entries,
            "final_equity": float(cerebro.broker.getvalue())}  # fmt: skip


# -- the benchmark ----------------------------------------------------------------------------------------

RUNNERS: dict[str, Callable[[Any, int, int], dict[str, Any]]] = {
    "spotlab": run_ours,
    "backtesting.py": run_backtesting,
    "backtrader": run_backtrader,
}
MODULES = {"backtesting.py": "backtesting", "backtrader": "backtrader"}


def missing_competitors() -> list[str]:
    """The competitors whose package is not installed (``pip install -e '.[bench]'``)."""
    import importlib.util

    return [name for name, module in MODULES.items() if importlib.util.find_spec(module) is None]


def run(options: Options) -> dict[str, Any]:
    frameworks = ["spotlab"]
    if options.competitors:
        skipped = {name: "not installed (pip install -e '.[bench]')" for name in missing_competitors()}
    else:
        skipped = {name: "not asked for (--no-competitors)" for name in MODULES}
    frameworks += [name for name in MODULES if name not in skipped]
    columns = synthetic_columns(options.bars, options.seed)
    inputs = {"spotlab": synthetic_bars(options.bars, options.seed)}
    if len(frameworks) > 1:
        inputs["backtesting.py"] = inputs["backtrader"] = data_frame(columns)
    times: dict[str, list[float]] = {name: [] for name in frameworks}
    last: dict[str, dict[str, Any]] = {}
    with _progress(options.progress) as progress:
        task = progress.add_task("SMA crossover runs", total=options.rounds * len(frameworks))
        for number in range(options.rounds):
            shift = number % len(frameworks)  # interleaved, each round starting with the next framework
            for name in frameworks[shift:] + frameworks[:shift]:
                outcome = RUNNERS[name](inputs[name], options.fast, options.slow)
                times[name].append(outcome["seconds"])
                last[name] = outcome
                progress.advance(task)
    rows = {}
    for name in frameworks:
        seconds = statistics.median(times[name])
        rows[name] = {
            "framework": name,
            "median_seconds": round(seconds, 4),
            "bars_per_second": round(options.bars / seconds),
            "rounds_seconds": [round(t, 4) for t in times[name]],
            "trades": last[name]["trades"],
            "entries": last[name]["entries"],
            "orders": last[name].get("orders"),  # ours: every order the strategy placed
            "final_equity": round(last[name]["final_equity"], 2) if last[name]["final_equity"] is not None else None,
        }
    ours = rows["spotlab"]["bars_per_second"]
    ratios, targets = {}, {"backtrader": TARGET_VS_BACKTRADER, "backtesting.py": TARGET_VS_BACKTESTING}
    for name, target in targets.items():
        if name in rows:
            ratio = ours / rows[name]["bars_per_second"]
            ratios[name] = {"ratio": round(ratio, 2), "target": target, "met": ratio >= target}
    del inputs
    floor = _floor(columns, options, rows)
    return {
        "bars": options.bars,
        "market": MARKET,
        "strategy": {"name": "SMA crossover, long only", "fast": options.fast, "slow": options.slow, "size": SIZE},
        "commission": COMMISSION,
        "cash": CASH,
        "seed": options.seed,
        "rounds": options.rounds,
        "versions": _versions(frameworks),
        "skipped": skipped,
        "frameworks": [rows[name] for name in frameworks],
        "target_bars_per_second": TARGET_BARS_PER_SECOND,
        "met_bars_per_second": ours >= TARGET_BARS_PER_SECOND,
        "ratios": ratios,
        "floor": floor,
        "grid": grid(options),
    }


def _floor(columns: dict[str, np.ndarray], options: Options, rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The floor (module docstring), the median of ``rounds`` timings each, against each competitor's budget."""
    orders = rows["spotlab"].get("orders") or 2 * rows["spotlab"]["entries"]
    python = [python_floor(columns, options.fast, options.slow) for _ in range(options.rounds)]
    engine = [engine_floor(orders) for _ in range(options.rounds)]
    python_seconds = statistics.median(run["seconds"] for run in python)
    engine_seconds = statistics.median(run["seconds"] for run in engine)
    total = python_seconds + engine_seconds
    budgets = {}
    for name, target in (("backtrader", TARGET_VS_BACKTRADER), ("backtesting.py", TARGET_VS_BACKTESTING)):
        if name in rows:
            budget = rows[name]["median_seconds"] / target
            budgets[name] = {"target": target, "budget_seconds": round(budget, 4), "floor_fits": total <= budget}
    return {
        "python_seconds": round(python_seconds, 4),
        "python_entries": python[0]["entries"],
        "engine_seconds": round(engine_seconds, 4),
        "engine_orders": orders,
        "engine_fills": engine[0]["fills"],
        "total_seconds": round(total, 4),
        "budgets": budgets,
    }


def grid(options: Options) -> dict[str, Any]:
    """``grid_size`` parameter sets over ``grid_bars`` bars, on one worker and on two: wall and CPU time."""
    from spotlab.backtest.search import grid_search

    bars = {MARKET: synthetic_bars(options.grid_bars, options.seed + 1)}
    side = max(d for d in range(1, math.isqrt(options.grid_size) + 1) if options.grid_size % d == 0)
    fasts = list(range(4, 4 + 2 * side, 2))  # 100 sets: fast 4, 6, ..., 22 x slow 40, 50, ..., 130
    slows = list(range(40, 40 + 10 * (options.grid_size // side), 10))
    parameters = {"fast": fasts, "slow": slows}
    sets = len(fasts) * len(slows)
    runs = {}
    for workers in (1, 2):
        cpu_before, started = _cpu_seconds(), time.perf_counter()
        found = grid_search(
            SmaCross, parameters, bars, {"USDT": CASH}, objective="total_return", workers=workers,
            progress=options.progress, fill_model=FILL_MODEL,
        )  # fmt: skip
        wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
        runs[workers] = {
            "workers": workers,
            "wall_seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3),
            "cpu_per_wall": round(cpu / wall, 2),
            "bars_per_second": round(sets * options.grid_bars / wall),
            "scores": [trial.score for trial in found.trials],
        }
    one, two = runs[1], runs[2]
    speedup = one["wall_seconds"] / two["wall_seconds"]
    same = one.pop("scores") == two.pop("scores")
    return {
        "bars": options.grid_bars,
        "parameter_sets": sets,
        "fast": fasts,
        "slow": slows,
        "cpus": os.cpu_count(),
        "runs": [one, two],
        "speedup": round(speedup, 2),
        "target_speedup": TARGET_GRID_SPEEDUP,
        "met": speedup >= TARGET_GRID_SPEEDUP,
        "same_trials": same,
    }


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its children that have ended (the pool's workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _versions(frameworks: list[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": sys.version.split()[0]}
    for name in ("spotlab", *(MODULES[f] for f in frameworks if f in MODULES), "numpy", "pandas"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return versions


class _progress:
    """A rich progress display on stderr, or one that shows nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._display = None

    def __enter__(self):
        from rich.console import Console
        from rich.progress import Progress

        self._display = Progress(console=Console(file=sys.stderr), transient=True, disable=not self.enabled)
        return self._display.__enter__()

    def __exit__(self, *exc_info: object) -> None:
        self._display.__exit__(*exc_info)

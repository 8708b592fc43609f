"""A backtest's statistics, each formula a small named pure function over the records.

Inputs are the plain records of ``spotlab.backtest.records``: the equity curve (``EquityPoint``,
oldest first) and the closed round trips (``RoundTrip``). ``compute_metrics`` checks them once and
gathers every figure into a frozen ``Metrics``; the formula functions below assume a checked curve.

Types
- Money (equity, pnl, fees, average win/loss, expectancy in currency) is ``Decimal``, computed with
  Decimal arithmetic in one fixed context (28 significant digits, half-even), whatever the caller's
  context is, so the same records always give the same figures; sums are exact, a mean is rounded
  to 28 digits.
- Ratios and statistics (returns, volatility, Sharpe, drawdown, win rate, ...) are ``float``; every
  fraction is a plain fraction (0.1 means 10 %). Times are UTC nanoseconds (``*_ns``), as in the records.
- A figure that is undefined is ``None``: never NaN, never inf, never an exception.

Formulas (N = number of round trips, pnl net of fees, sums over the trades unless said otherwise)
- Daily equity: for each UTC day from the first point's day to the last point's day, the equity of the
  day's last point; a day without a point carries the previous day's equity forward (crypto trades
  every day, so a flat day is a 0 % day).
- Daily return r_d = E_d / E_(d-1) - 1, where E_(first day - 1) is the first point's equity, so the first
  day's return is measured against the first point. Only the day's last point counts here; every point
  counts for drawdown and exposure.
- Total return = end equity / start equity - 1.
- CAGR = (end equity / start equity) ^ (365 days / elapsed) - 1, elapsed = last point's time - first
  point's time in (fractional) days. None if elapsed is 0 or the result overflows a float.
- Annualised volatility = stdev(r, ddof=1) x sqrt(365). None with fewer than 2 days.
- Daily risk-free rate rf = (1 + risk_free_rate) ^ (1/365) - 1; excess x_d = r_d - rf.
- Sharpe = mean(x) / stdev(x, ddof=1) x sqrt(365). None with fewer than 2 days or a zero stdev.
- Sortino = mean(x) / DD x sqrt(365), DD = sqrt(mean(min(0, x_d)^2)) over ALL days (not only losing ones).
  None with fewer than 2 days or DD = 0.
- Max drawdown = max over points of (running peak - equity) / running peak, reported as a positive
  fraction (0.1 = a 10 % fall). 0.0 when equity never falls.
- Max drawdown duration = the longest time from a peak (the last point at that peak before the fall)
  until equity first gets back to that peak (>= peak), or until the last point if it never does.
- Calmar = CAGR / |max drawdown|. None when the drawdown is 0 or CAGR is None.
- Win rate = (trades with pnl > 0) / N. A break-even trade (pnl = 0) is not a win (nor a loss).
- Average win = mean pnl of trades with pnl > 0; average loss = mean pnl of trades with pnl < 0
  (negative). None when there is no such trade.
- Profit factor = sum of pnl > 0 / |sum of pnl < 0|. None without losing trades.
- Expectancy = mean(pnl) in currency; expectancy return = mean(pnl / cost) as a fraction.
- SQN = sqrt(N) x mean(pnl) / stdev(pnl, ddof=1). None with N < 2 or a zero stdev.
- Best/worst trade = the largest/smallest pnl (and, separately, the largest/smallest pnl / cost).
- Average trade duration = sum(exit time - entry time) // N, whole nanoseconds rounded down.
- Exposure time = (equity points with invested > 0) / (equity points).
- Buy & hold return = benchmark end price / benchmark start price - 1 (None when no prices are given).
- Fees paid = the ``fees_paid`` given (every fee of the run, closed round trips or not).

Refusals (``SpotlabError`` INVALID_ARGUMENT, nothing computed): an empty equity curve, start equity <= 0,
negative equity, equity that comes back from 0 (a spot account cannot without a deposit), points out of
time order, float money, a round trip with cost <= 0 or exit before entry, only one benchmark price or a
benchmark start price <= 0, a risk-free rate <= -100 %.

Limitations: deposits and withdrawals during the run are not modelled (they would show as returns);
returns are daily whatever the bar size, so an intraday backtest shorter than two UTC days has no
volatility, Sharpe or Sortino.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

from spotlab.backtest.records import EquityPoint, RoundTrip
from spotlab.clock import ns_to_datetime
from spotlab.errors import ErrorCode, SpotlabError

NS_PER_DAY = 86_400 * 1_000_000_000
DAYS_PER_YEAR = 365  # crypto trades every day of the year
_ANNUALISE = math.sqrt(DAYS_PER_YEAR)


# --- the equity curve ----------------------------------------------------------------------------


def _change(before: Decimal, after: Decimal) -> float:
    """after / before - 1 as a float; 0.0 for 0 -> 0 (a wiped-out account stays flat)."""
    if before == 0:
        return 0.0
    return float(after / before - 1)


def daily_equity(points: Sequence[EquityPoint]) -> list[Decimal]:
    """The equity at the last point of each UTC day, first to last day, gaps carried forward."""
    closes = [points[0].equity]
    current_day = points[0].time_ns // NS_PER_DAY
    for point in points[1:]:
        day = point.time_ns // NS_PER_DAY
        if day != current_day:
            closes.extend([closes[-1]] * (day - current_day - 1))
            closes.append(point.equity)
            current_day = day
        else:
            closes[-1] = point.equity
    return closes


def daily_returns(points: Sequence[EquityPoint]) -> list[float]:
    """One return per UTC day; the first day's is against the first point's equity."""
    before = points[0].equity
    returns = []
    for close in daily_equity(points):
        returns.append(_change(before, close))
        before = close
    return returns


def total_return(start_equity: Decimal, end_equity: Decimal) -> float:
    return _change(start_equity, end_equity)


def cagr(start_equity: Decimal, end_equity: Decimal, elapsed_ns: int) -> float | None:
    """Compound annual growth rate over ``elapsed_ns``; None for no elapsed time or a float overflow."""
    if elapsed_ns <= 0:
        return None
    growth = end_equity / start_equity
    if growth == 0:
        return -1.0
    years = elapsed_ns / NS_PER_DAY / DAYS_PER_YEAR
    try:
        return math.expm1(float(growth.ln()) / years)
    except OverflowError:
        return None


def annualised_volatility(returns: Sequence[float]) -> float | None:
    if len(returns) < 2:
        return None
    return statistics.stdev(returns) * _ANNUALISE


def daily_risk_free_rate(annual_rate: Decimal) -> float:
    """(1 + annual_rate) ^ (1/365) - 1."""
    return math.expm1(math.log1p(float(annual_rate)) / DAYS_PER_YEAR)


def sharpe_ratio(returns: Sequence[float], daily_risk_free: float = 0.0) -> float | None:
    if len(returns) < 2:
        return None
    excess = [r - daily_risk_free for r in returns]
    deviation = statistics.stdev(excess)
    if deviation == 0:
        return None
    return statistics.fmean(excess) / deviation * _ANNUALISE


def downside_deviation(excess: Sequence[float]) -> float:
    """sqrt(mean(min(0, x)^2)) over every day, winning days counting as 0."""
    return math.sqrt(statistics.fmean([min(0.0, x) ** 2 for x in excess]))


def sortino_ratio(returns: Sequence[float], daily_risk_free: float = 0.0) -> float | None:
    if len(returns) < 2:
        return None
    excess = [r - daily_risk_free for r in returns]
    deviation = downside_deviation(excess)
    if deviation == 0:
        return None
    return statistics.fmean(excess) / deviation * _ANNUALISE


def max_drawdown(points: Sequence[EquityPoint]) -> float:
    """The largest (peak - equity) / peak over the points, as a positive fraction.

    Under one peak the deepest point gives the largest fraction, so one division per peak is enough (the
    same Decimal quotient the point-by-point walk takes as its maximum)."""
    peak = trough = points[0].equity
    worst = Decimal(0)
    for point in points:
        equity = point.equity
        if equity > peak:
            if trough < peak:
                worst = max(worst, (peak - trough) / peak)
            peak = trough = equity
        elif equity < trough:
            trough = equity
    if trough < peak:
        worst = max(worst, (peak - trough) / peak)
    return float(worst)


def max_drawdown_duration_ns(points: Sequence[EquityPoint]) -> int:
    """The longest time from a peak until equity is back at it (or until the last point)."""
    peak, peak_ns = points[0].equity, points[0].time_ns
    longest, falling = 0, False
    for point in points:
        if point.equity >= peak:
            if falling:
                longest = max(longest, point.time_ns - peak_ns)
            peak, peak_ns, falling = point.equity, point.time_ns, False
        else:
            falling = True
    return max(longest, points[-1].time_ns - peak_ns)  # 0 unless the curve ends below its peak


def calmar_ratio(annual_growth: float | None, drawdown: float) -> float | None:
    if annual_growth is None or drawdown == 0:
        return None
    return annual_growth / abs(drawdown)


def exposure_time(points: Sequence[EquityPoint]) -> float:
    return sum(1 for point in points if point.invested > 0) / len(points)


# --- the round trips -----------------------------------------------------------------------------


def _mean(values: Sequence[Decimal]) -> Decimal | None:
    return sum(values, Decimal(0)) / len(values) if values else None


def win_rate(trades: Sequence[RoundTrip]) -> float | None:
    if not trades:
        return None
    return sum(1 for trade in trades if trade.pnl > 0) / len(trades)


def average_win(trades: Sequence[RoundTrip]) -> Decimal | None:
    return _mean([trade.pnl for trade in trades if trade.pnl > 0])


def average_loss(trades: Sequence[RoundTrip]) -> Decimal | None:
    return _mean([trade.pnl for trade in trades if trade.pnl < 0])


def profit_factor(trades: Sequence[RoundTrip]) -> float | None:
    losses = sum((trade.pnl for trade in trades if trade.pnl < 0), Decimal(0))
    if losses == 0:
        return None
    wins = sum((trade.pnl for trade in trades if trade.pnl > 0), Decimal(0))
    return float(wins / -losses)


def expectancy(trades: Sequence[RoundTrip]) -> Decimal | None:
    return _mean([trade.pnl for trade in trades])


def trade_return(trade: RoundTrip) -> float:
    return float(trade.pnl / trade.cost)


def expectancy_return(trades: Sequence[RoundTrip]) -> float | None:
    if not trades:
        return None
    return float(sum((trade.pnl / trade.cost for trade in trades), Decimal(0)) / len(trades))


def system_quality_number(trades: Sequence[RoundTrip]) -> float | None:
    if len(trades) < 2:
        return None
    pnls = [trade.pnl for trade in trades]
    deviation = statistics.stdev(pnls)  # Decimal in, Decimal out
    if deviation == 0:
        return None
    return math.sqrt(len(pnls)) * float(statistics.mean(pnls) / deviation)


def average_trade_duration_ns(trades: Sequence[RoundTrip]) -> int | None:
    if not trades:
        return None
    return sum(trade.exit_time_ns - trade.entry_time_ns for trade in trades) // len(trades)


def buy_and_hold_return(start_price: Decimal | None, end_price: Decimal | None) -> float | None:
    if start_price is None or end_price is None:
        return None
    return _change(start_price, end_price)


# --- the result ----------------------------------------------------------------------------------


def _figure(label: str, kind: str) -> Any:
    """A Metrics field: its display label and kind (time, duration, money, percent, ratio, count)."""
    return field(metadata={"label": label, "kind": kind})


@dataclass(frozen=True, slots=True)
class Metrics:
    """Every statistic of one backtest, in display order. Money: Decimal; ratios: float; times: UTC ns."""

    start_ns: int = _figure("Start", "time")
    end_ns: int = _figure("End", "time")
    duration_ns: int = _figure("Duration", "duration")
    exposure_time: float = _figure("Exposure time", "percent")
    start_equity: Decimal = _figure("Equity start", "money")
    end_equity: Decimal = _figure("Equity end", "money")
    total_return: float = _figure("Total return", "percent")
    buy_and_hold_return: float | None = _figure("Buy & hold return", "percent")
    cagr: float | None = _figure("CAGR", "percent")
    volatility: float | None = _figure("Volatility (annualised)", "percent")
    sharpe: float | None = _figure("Sharpe ratio", "ratio")
    sortino: float | None = _figure("Sortino ratio", "ratio")
    calmar: float | None = _figure("Calmar ratio", "ratio")
    max_drawdown: float = _figure("Max drawdown", "percent")
    max_drawdown_duration_ns: int = _figure("Max drawdown duration", "duration")
    trades: int = _figure("Trades", "count")
    win_rate: float | None = _figure("Win rate", "percent")
    best_trade: Decimal | None = _figure("Best trade", "money")
    worst_trade: Decimal | None = _figure("Worst trade", "money")
    best_trade_return: float | None = _figure("Best trade return", "percent")
    worst_trade_return: float | None = _figure("Worst trade return", "percent")
    average_win: Decimal | None = _figure("Average win", "money")
    average_loss: Decimal | None = _figure("Average loss", "money")
    profit_factor: float | None = _figure("Profit factor", "ratio")
    expectancy: Decimal | None = _figure("Expectancy", "money")
    expectancy_return: float | None = _figure("Expectancy return", "percent")
    sqn: float | None = _figure("SQN", "ratio")
    average_trade_duration_ns: int | None = _figure("Average trade duration", "duration")
    fees_paid: Decimal = _figure("Fees paid", "money")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values: Decimals as strings, floats to 6 significant digits, times as ISO-8601 UTC,
        durations in seconds (keys ``*_ns`` become ``start``/``end`` and ``*_seconds``)."""
        out: dict[str, Any] = {}
        for figure in fields(self):
            kind, value = figure.metadata["kind"], getattr(self, figure.name)
            key = figure.name.removesuffix("_ns") + ("_seconds" if kind == "duration" else "")
            out[key] = None if value is None else _JSON[kind](value)
        return out

    def rows(self) -> list[tuple[str, str]]:
        """(label, formatted value) pairs in display order, for a terminal table or an HTML report."""
        return [
            (figure.metadata["label"], _show(figure.metadata["kind"], getattr(self, figure.name)))
            for figure in fields(self)
        ]


def _iso(time_ns: int) -> str:
    return ns_to_datetime(time_ns).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _seconds(duration_ns: int) -> int | float:
    whole, rest = divmod(duration_ns, 1_000_000_000)
    return whole if rest == 0 else duration_ns / 1e9


def _significant(value: float) -> float:
    return float(f"{value:.6g}")


_JSON = {"time": _iso, "duration": _seconds, "money": str, "percent": _significant, "ratio": _significant, "count": int}


def _human_duration(duration_ns: int) -> str:
    days, rest = divmod(duration_ns // 1_000_000_000, 86_400)
    hours, rest = divmod(rest, 3_600)
    clock = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    if days == 0:
        return clock
    return f"{days} day{'s' if days != 1 else ''} {clock}"


_MONEY_PLACES = 8


def _show(kind: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if kind == "time":
        return ns_to_datetime(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    if kind == "duration":
        return _human_duration(value)
    if kind == "money":  # a mean can run to 28 digits: shown to 8 places (the JSON keeps every digit)
        if value.as_tuple().exponent < -_MONEY_PLACES:
            value = value.quantize(Decimal(1).scaleb(-_MONEY_PLACES), rounding=ROUND_HALF_EVEN)
        return f"{value:,f}"
    if kind == "percent":
        return f"{value * 100:.2f} %"
    if kind == "ratio":
        return f"{value:.2f}"
    return str(value)


# --- checks and the one entry point --------------------------------------------------------------


def _refuse(message: str, **details: Any) -> SpotlabError:
    return SpotlabError(ErrorCode.INVALID_ARGUMENT, message, **details)


def _check_money(name: str, value: Any) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise _refuse(f"{name} must be a finite Decimal, got {value!r}; convert with Decimal(str(x))", name=name)


def check_equity_curve(points: Sequence[EquityPoint]) -> None:
    """Refuse a curve the metrics cannot read (see the module docstring); return None if it is fine."""
    if not points:
        raise _refuse("the equity curve is empty: a backtest needs at least one equity point for metrics")
    _check_money("equity[0].equity", points[0].equity)
    if points[0].equity <= 0:
        raise _refuse(f"the start equity must be positive, got {points[0].equity}", start_equity=str(points[0].equity))
    before_ns, before_equity = points[0].time_ns, points[0].equity
    for index, point in enumerate(points):  # one pass, the checks inline: a backtest's curve has a point per bar
        equity, invested, time_ns = point.equity, point.invested, point.time_ns
        if type(equity) is not Decimal or type(invested) is not Decimal or not equity.is_finite():
            _check_money(f"equity[{index}].equity", equity)
            _check_money(f"equity[{index}].invested", invested)
        elif not invested.is_finite():
            _check_money(f"equity[{index}].invested", invested)
        if equity < 0:
            raise _refuse(f"equity[{index}] is negative ({equity}); a spot account cannot owe", index=index)
        if time_ns < before_ns:
            raise _refuse(
                f"equity[{index}] is older than equity[{index - 1}]; give the curve oldest first", index=index
            )
        if before_equity == 0 and equity > 0:
            raise _refuse(
                f"equity[{index}] comes back from 0 to {equity}; deposits during a run are not supported",
                index=index,
            )
        before_ns, before_equity = time_ns, equity


def check_round_trips(trades: Sequence[RoundTrip]) -> None:
    for index, trade in enumerate(trades):
        for name in ("pnl", "fees", "cost"):
            _check_money(f"trades[{index}].{name}", getattr(trade, name))
        if trade.cost <= 0:
            raise _refuse(f"trades[{index}] has cost {trade.cost}; a round trip's cost must be positive", index=index)
        if trade.exit_time_ns < trade.entry_time_ns:
            raise _refuse(f"trades[{index}] exits before it enters", index=index)


def _check_benchmark(start_price: Decimal | None, end_price: Decimal | None) -> None:
    if (start_price is None) != (end_price is None):
        raise _refuse("give both benchmark_start_price and benchmark_end_price, or neither")
    if start_price is None or end_price is None:
        return
    _check_money("benchmark_start_price", start_price)
    _check_money("benchmark_end_price", end_price)
    if start_price <= 0 or end_price < 0:
        raise _refuse(f"benchmark prices must be positive, got {start_price} -> {end_price}")


def compute_metrics(
    equity: Sequence[EquityPoint],
    trades: Sequence[RoundTrip],
    *,
    fees_paid: Decimal,
    benchmark_start_price: Decimal | None = None,
    benchmark_end_price: Decimal | None = None,
    risk_free_rate: Decimal = Decimal(0),
) -> Metrics:
    """Every statistic of a backtest from its equity curve and round trips (formulas: module docstring)."""
    with localcontext(_MONEY_CONTEXT):  # the same figures whatever the caller's decimal context is
        return _compute_metrics(equity, trades, fees_paid, benchmark_start_price, benchmark_end_price, risk_free_rate)


_MONEY_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)


def _compute_metrics(
    equity: Sequence[EquityPoint],
    trades: Sequence[RoundTrip],
    fees_paid: Decimal,
    benchmark_start_price: Decimal | None,
    benchmark_end_price: Decimal | None,
    risk_free_rate: Decimal,
) -> Metrics:
    check_equity_curve(equity)
    check_round_trips(trades)
    _check_benchmark(benchmark_start_price, benchmark_end_price)
    _check_money("fees_paid", fees_paid)
    _check_money("risk_free_rate", risk_free_rate)
    if risk_free_rate <= -1:
        raise _refuse(f"risk_free_rate is a yearly fraction above -1 (0.04 = 4 %), got {risk_free_rate}")

    first, last = equity[0], equity[-1]
    returns = daily_returns(equity)
    risk_free = daily_risk_free_rate(risk_free_rate)
    growth = cagr(first.equity, last.equity, last.time_ns - first.time_ns)
    drawdown = max_drawdown(equity)
    pnls = [trade.pnl for trade in trades]
    trade_returns = [trade_return(trade) for trade in trades]
    return Metrics(
        start_ns=first.time_ns,
        end_ns=last.time_ns,
        duration_ns=last.time_ns - first.time_ns,
        exposure_time=exposure_time(equity),
        start_equity=first.equity,
        end_equity=last.equity,
        total_return=total_return(first.equity, last.equity),
        buy_and_hold_return=buy_and_hold_return(benchmark_start_price, benchmark_end_price),
        cagr=growth,
        volatility=annualised_volatility(returns),
        sharpe=sharpe_ratio(returns, risk_free),
        sortino=sortino_ratio(returns, risk_free),
        calmar=calmar_ratio(growth, drawdown),
        max_drawdown=drawdown,
        max_drawdown_duration_ns=max_drawdown_duration_ns(equity),
        trades=len(trades),
        win_rate=win_rate(trades),
        best_trade=max(pnls, default=None),
        worst_trade=min(pnls, default=None),
        best_trade_return=max(trade_returns, default=None),
        worst_trade_return=min(trade_returns, default=None),
        average_win=average_win(trades),
        average_loss=average_loss(trades),
        profit_factor=profit_factor(trades),
        expectancy=expectancy(trades),
        expectancy_return=expectancy_return(trades),
        sqn=system_quality_number(trades),
        average_trade_duration_ns=average_trade_duration_ns(trades),
        fees_paid=fees_paid,
    )

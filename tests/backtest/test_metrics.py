"""Backtest metrics, checked against figures worked out by hand in each test (the arithmetic is written out).

Conventions of these tests: T0 is 2024-01-01 00:00 UTC; ``at(day, hour)`` is a time after it; a curve is
a list of ``EquityPoint``; ``trip(pnl, cost)`` is a round trip whose other fields do not matter here.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import fields
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotlab.backtest.metrics import (
    Metrics,
    cagr,
    compute_metrics,
    daily_equity,
    daily_returns,
    max_drawdown,
    max_drawdown_duration_ns,
)
from spotlab.backtest.records import EquityPoint, RoundTrip
from spotlab.errors import ErrorCode, SpotlabError

D = Decimal
HOUR = 3_600 * 1_000_000_000
DAY = 24 * HOUR
T0 = 19_723 * DAY  # 2024-01-01 00:00:00 UTC
SQRT365 = 365**0.5


def at(day: float, hour: float = 0) -> int:
    return T0 + int(day * DAY) + int(hour * HOUR)


def point(day: float, hour: float, equity: str | int, invested: str | int = 0) -> EquityPoint:
    return EquityPoint(at(day, hour), D(equity), D(invested))


def trip(pnl: str, cost: str = "100", hours: float = 1, entry: int = T0) -> RoundTrip:
    exit_ns = entry + int(hours * HOUR)
    return RoundTrip("BTC/USDT", "long", entry, exit_ns, D("1"), D("100"), D("101"), D(pnl), D("0.1"), D(cost))


def metrics(curve: list[EquityPoint], trades: list[RoundTrip] = (), **options) -> Metrics:
    return compute_metrics(curve, list(trades), fees_paid=options.pop("fees_paid", D("0")), **options)


# The brief's example: 100 at the start, then the close of three days 110 -> 99 -> 120.
THREE_DAYS = [point(0, 0, 100), point(0, 23, 110, 50), point(1, 23, 99), point(2, 23, 120, 60)]
R3 = [0.1, -0.1, 21 / 99]  # 110/100 - 1, 99/110 - 1, 120/99 - 1 = 0.2121...


def test_daily_returns_of_the_three_day_curve():
    assert daily_returns(THREE_DAYS) == pytest.approx(R3, rel=1e-15)


def test_every_figure_of_the_three_day_curve():
    m = metrics(THREE_DAYS, benchmark_start_price=D("40000"), benchmark_end_price=D("50000"))
    # mean = (0.1 - 0.1 + 21/99) / 3 = 7/99; deviations 2.9/99, -16.9/99, 14/99;
    # sample variance = (2.9^2 + 16.9^2 + 14^2) / 99^2 / 2 = 245.01 / 99^2, stdev = sqrt(245.01) / 99
    stdev = 245.01**0.5 / 99
    elapsed_days = 71 / 24  # day 0 00:00 -> day 2 23:00
    expected_cagr = 1.2 ** (365 / elapsed_days) - 1
    assert (m.start_ns, m.end_ns, m.duration_ns) == (T0, at(2, 23), 71 * HOUR)
    assert (m.start_equity, m.end_equity) == (D(100), D(120))
    assert m.total_return == pytest.approx(0.2, rel=1e-15)
    assert m.cagr == pytest.approx(expected_cagr, rel=1e-9)
    assert m.volatility == pytest.approx(stdev * SQRT365, rel=1e-12)  # 3.02067
    assert m.sharpe == pytest.approx(7 / 99 / stdev * SQRT365, rel=1e-12)  # 8.54383
    # downside deviation = sqrt((0 + 0.1^2 + 0) / 3): the two winning days count as 0
    assert m.sortino == pytest.approx(7 / 99 / (0.01 / 3) ** 0.5 * SQRT365, rel=1e-12)  # 23.3975
    assert m.max_drawdown == pytest.approx(0.1, rel=1e-15)  # (110 - 99) / 110
    assert m.max_drawdown_duration_ns == 2 * DAY  # the 110 of day 0 23:00 is back (beaten) at day 2 23:00
    assert m.calmar == pytest.approx(expected_cagr / 0.1, rel=1e-9)
    assert m.exposure_time == 0.5  # 2 of 4 points invested
    assert m.buy_and_hold_return == pytest.approx(0.25, rel=1e-15)  # 50000 / 40000 - 1


@pytest.mark.parametrize(
    ("start", "end", "days", "expected"),
    [
        ("100", "110", 365, 0.1),  # one year: CAGR is the total return
        ("100", "121", 730, 0.1),  # 1.21 ^ (1/2) - 1
        ("100", "121", 182.5, 1.1**4 - 1),  # 1.21 ^ 2 - 1 = 0.4641
        ("100", "50", 365, -0.5),
        ("100", "0", 365, -1.0),  # wiped out
        ("100", "100", 1, 0.0),
    ],
)
def test_cagr_compounds_over_365_day_years(start, end, days, expected):
    assert cagr(D(start), D(end), int(days * DAY)) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_only_the_last_point_of_a_day_makes_the_daily_return_but_every_point_counts_for_drawdown_and_exposure():
    curve = [
        point(0, 0, 100),
        point(0, 6, 80, 80),  # an intraday fall of 20 %, invisible in daily returns
        point(0, 23, 105),
        point(1, 12, 90, 90),
        point(1, 23, 95),
    ]
    m = metrics(curve)
    assert daily_equity(curve) == [D(105), D(95)]
    assert daily_returns(curve) == pytest.approx([0.05, 95 / 105 - 1], rel=1e-14)  # 105/100 - 1, 95/105 - 1
    assert m.max_drawdown == pytest.approx(0.2, rel=1e-15)  # (100 - 80) / 100
    # 100 at day 0 00:00 is back at 23:00 (23 h); the 105 of day 0 23:00 never comes back: 24 h to the end
    assert m.max_drawdown_duration_ns == 24 * HOUR
    assert m.exposure_time == 2 / 5


def test_a_day_without_a_point_carries_the_equity_forward_as_a_flat_day():
    curve = [point(0, 0, 100), point(0, 12, 100), point(3, 12, 110)]
    assert daily_equity(curve) == [D(100), D(100), D(100), D(110)]
    assert daily_returns(curve) == [0.0, 0.0, 0.0, pytest.approx(0.1, rel=1e-15)]
    # 4 days, returns 0, 0, 0, 0.1: mean 0.025, sample variance (3 x 0.025^2 + 0.075^2) / 3 = 0.0025
    assert metrics(curve).volatility == pytest.approx(0.05 * SQRT365, rel=1e-12)


def test_the_first_days_return_is_against_the_first_point_so_a_lone_first_point_makes_a_flat_day():
    curve = [point(0, 12, 100), point(1, 12, 110)]
    assert daily_returns(curve) == [0.0, pytest.approx(0.1, rel=1e-15)]


@pytest.mark.parametrize(
    ("equities_by_hour", "drawdown", "duration_hours"),
    [
        ({0: 100, 1: 90, 2: 95}, 0.1, 2),  # never back at the peak: peak to the last point
        ({0: 100, 1: 90, 2: 100, 3: 80, 7: 85}, 0.2, 5),  # back exactly at 100 counts; second fall is longer
        ({0: 100, 1: 50, 9: 100, 10: 99}, 0.5, 9),  # the deeper fall is also the longer one
        ({0: 100, 5: 100, 6: 90, 8: 100}, 0.1, 3),  # a flat top: the fall starts at the last point at the peak
        ({0: 100, 1: 110, 2: 120}, 0.0, 0),  # never falls
        ({0: 100, 1: 0, 2: 0}, 1.0, 2),  # wiped out
    ],
)
def test_max_drawdown_and_its_duration(equities_by_hour, drawdown, duration_hours):
    curve = [point(0, hour, equity) for hour, equity in equities_by_hour.items()]
    assert max_drawdown(curve) == pytest.approx(drawdown, rel=1e-15)
    assert max_drawdown_duration_ns(curve) == duration_hours * HOUR


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=60), st.integers(1, 10**6))
def test_max_drawdown_is_the_largest_fall_from_the_running_peak_at_any_point(cents, start):
    """Dividing once per peak (at its deepest point) gives the point-by-point maximum, to the last digit."""
    curve = [point(0, 0, D(start) / 100)] + [point(0, 0, D(c) / 100) for c in cents]
    peak, worst = curve[0].equity, D(0)
    for p in curve:
        peak = max(peak, p.equity)
        worst = max(worst, (peak - p.equity) / peak)
    assert max_drawdown(curve) == float(worst)


def test_a_risk_free_rate_is_taken_daily_from_the_yearly_rate():
    curve = [point(0, 0, 100), point(0, 23, 102), point(1, 23, "100.98")]  # returns 0.02, -0.01
    rf = 1.05 ** (1 / 365) - 1  # 0.000133681 per day for 5 % a year
    m = metrics(curve, risk_free_rate=D("0.05"))
    excess = [0.02 - rf, -0.01 - rf]
    mean = (excess[0] + excess[1]) / 2  # 0.005 - rf
    assert m.sharpe == pytest.approx(mean / (0.03 / 2**0.5) * SQRT365, rel=1e-9)  # stdev of (0.02, -0.01) = 0.03/√2
    assert m.sortino == pytest.approx(mean / ((0.01 + rf) ** 2 / 2) ** 0.5 * SQRT365, rel=1e-9)
    assert m.sharpe < metrics(curve).sharpe  # the same curve earns less over a positive risk-free rate


def test_a_flat_curve_under_a_positive_risk_free_rate_has_a_sortino_of_minus_root_365():
    curve = [point(day, 12, 100) for day in range(5)]
    m = metrics(curve, risk_free_rate=D("0.04"))
    assert m.volatility == 0.0
    assert m.sharpe is None  # every day's excess is -rf: zero stdev
    assert m.sortino == pytest.approx(-SQRT365, rel=1e-12)  # mean(-rf) / sqrt(mean(rf^2)) x √365


TRADES = [
    trip("10.10", cost="101", hours=1),  # return 0.1
    trip("-3.03", cost="303", hours=2),  # return -0.01
    trip("2.02", cost="202", hours=3),  # return 0.01
    trip("0", cost="50", hours=5 / HOUR),  # break-even, 5 ns long
]


def test_every_trade_figure():
    m = metrics(THREE_DAYS, TRADES)
    assert m.trades == 4
    assert m.win_rate == 0.5  # 2 of 4: the break-even trade is not a win
    assert m.average_win == D("6.06")  # (10.10 + 2.02) / 2
    assert m.average_loss == D("-3.03")
    assert m.profit_factor == 4.0  # 12.12 / 3.03
    assert m.expectancy == D("2.2725")  # (10.10 - 3.03 + 2.02 + 0) / 4 = 9.09 / 4
    assert m.expectancy_return == pytest.approx(0.025, rel=1e-15)  # (0.1 - 0.01 + 0.01 + 0) / 4
    assert (m.best_trade, m.worst_trade) == (D("10.10"), D("-3.03"))
    assert (m.best_trade_return, m.worst_trade_return) == (pytest.approx(0.1), pytest.approx(-0.01))
    # deviations from 2.2725: 7.8275, -5.3025, -0.2525, -2.2725; SQN = √4 x mean / stdev(ddof=1)
    stdev = ((7.8275**2 + 5.3025**2 + 0.2525**2 + 2.2725**2) / 3) ** 0.5
    assert m.sqn == pytest.approx(2 * 2.2725 / stdev, rel=1e-12)  # 0.809
    assert m.average_trade_duration_ns == (6 * HOUR + 5) // 4  # (1 h + 2 h + 3 h + 5 ns) / 4, rounded down


def test_money_figures_are_exact_decimals_and_statistics_are_floats():
    m = metrics(THREE_DAYS, TRADES, fees_paid=D("0.30000001"))
    money = ["start_equity", "end_equity", "best_trade", "worst_trade", "average_win", "average_loss", "expectancy"]
    assert all(type(getattr(m, name)) is Decimal for name in [*money, "fees_paid"])
    assert str(m.expectancy) == "2.2725" and str(m.average_win) == "6.06"  # a float mean would give 2.2724999...
    assert m.fees_paid == D("0.30000001")
    ratios = ["total_return", "cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate"]
    assert all(type(getattr(m, name)) is float for name in [*ratios, "profit_factor", "sqn", "exposure_time"])


NO_TRADE_FIGURES = [
    "win_rate",
    "best_trade",
    "worst_trade",
    "best_trade_return",
    "worst_trade_return",
    "average_win",
    "average_loss",
    "profit_factor",
    "expectancy",
    "expectancy_return",
    "sqn",
    "average_trade_duration_ns",
]


@pytest.mark.parametrize(
    ("curve", "trades", "none", "defined"),
    [
        pytest.param(THREE_DAYS, [], NO_TRADE_FIGURES, {"trades": 0}, id="no trades"),
        pytest.param(
            THREE_DAYS,
            [trip("5"), trip("1")],
            ["profit_factor", "average_loss"],
            {"win_rate": 1.0, "average_win": D(3)},
            id="no losing trade",
        ),
        pytest.param(
            THREE_DAYS,
            [trip("-5"), trip("-1")],
            ["average_win"],
            {"win_rate": 0.0, "profit_factor": 0.0, "average_loss": D(-3)},
            id="no winning trade",
        ),
        pytest.param(THREE_DAYS, [trip("0")], ["profit_factor", "sqn"], {"win_rate": 0.0}, id="one break-even trade"),
        pytest.param(THREE_DAYS, [trip("2"), trip("2")], ["sqn"], {"expectancy": D(2)}, id="equal pnls: zero stdev"),
        pytest.param(
            [point(0, 12, 100)],
            [],
            ["cagr", "volatility", "sharpe", "sortino", "calmar", "buy_and_hold_return"],
            {"max_drawdown": 0.0, "duration_ns": 0, "total_return": 0.0},
            id="one point",
        ),
        pytest.param(
            [point(0, 1, 100), point(0, 5, 90), point(0, 23, 99)],
            [],
            ["volatility", "sharpe", "sortino"],
            {"cagr": pytest.approx(0.99 ** (365 / (22 / 24)) - 1, rel=1e-9), "max_drawdown": pytest.approx(0.1)},
            id="one day",
        ),
        pytest.param(
            [point(day, 12, 100) for day in range(3)],
            [],
            ["sharpe", "sortino", "calmar"],
            {"volatility": 0.0, "cagr": 0.0, "max_drawdown": 0.0},
            id="flat curve",
        ),
        pytest.param(
            [point(0, 12, 100), point(1, 12, 101), point(2, 12, 103)],
            [],
            ["sortino", "calmar"],
            {"max_drawdown": 0.0, "max_drawdown_duration_ns": 0},
            id="never a losing day",
        ),
        pytest.param(
            [EquityPoint(T0, D(100)), EquityPoint(T0 + 1_000_000_000, D(200))],
            [],
            ["cagr", "calmar"],
            {"total_return": 1.0},
            id="CAGR overflows: doubling in one second",
        ),
    ],
)
def test_undefined_figures_are_none(curve, trades, none, defined):
    m = metrics(curve, trades)
    assert {name: getattr(m, name) for name in none} == dict.fromkeys(none)
    assert {name: getattr(m, name) for name in defined} == defined
    floats = [getattr(m, f.name) for f in fields(m) if isinstance(getattr(m, f.name), float)]
    assert all(math.isfinite(value) for value in floats)


def test_buy_and_hold_is_the_benchmarks_end_over_start_price():
    m = metrics(THREE_DAYS, benchmark_start_price=D("42000"), benchmark_end_price=D("31500"))
    assert m.buy_and_hold_return == pytest.approx(-0.25, rel=1e-15)  # 31500 / 42000 - 1


@pytest.mark.parametrize(
    ("curve", "trades", "options", "message"),
    [
        ([], [], {}, "equity curve is empty"),
        ([point(0, 0, 0)], [], {}, "start equity must be positive, got 0"),
        ([point(0, 0, -5)], [], {}, "start equity must be positive"),
        ([point(0, 0, 100), point(0, 1, -1)], [], {}, "equity[1] is negative"),
        ([point(0, 0, 100), point(0, 1, 0), point(0, 2, 5)], [], {}, "comes back from 0"),
        ([point(0, 5, 100), point(0, 1, 100)], [], {}, "give the curve oldest first"),
        ([EquityPoint(T0, 100.0)], [], {}, "equity[0].equity must be a finite Decimal"),
        ([EquityPoint(T0, D("NaN"))], [], {}, "must be a finite Decimal"),
        (THREE_DAYS, [trip("1", cost="0")], {}, "cost must be positive"),
        (THREE_DAYS, [trip("1", hours=-1)], {}, "exits before it enters"),
        (THREE_DAYS, [], {"benchmark_start_price": D(1)}, "give both benchmark"),
        (THREE_DAYS, [], {"benchmark_start_price": D(0), "benchmark_end_price": D(1)}, "must be positive"),
        (THREE_DAYS, [], {"risk_free_rate": D(-1)}, "above -1"),
        (THREE_DAYS, [], {"fees_paid": 0.5}, "fees_paid must be a finite Decimal"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(curve, trades, options, message):
    with pytest.raises(SpotlabError) as refused:
        metrics(curve, trades, **options)
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT
    assert message in refused.value.message


def test_to_dict_is_json_ready_with_rounding_only_there():
    m = metrics(THREE_DAYS, TRADES, fees_paid=D("1.25"))
    shown = m.to_dict()
    assert json.loads(json.dumps(shown)) == shown
    assert shown["start"] == "2024-01-01T00:00:00.000000Z" and shown["end"] == "2024-01-03T23:00:00.000000Z"
    assert shown["duration_seconds"] == 71 * 3600 and shown["max_drawdown_duration_seconds"] == 2 * 86400
    assert shown["average_trade_duration_seconds"] == 5400.000000001  # not whole seconds: a float
    assert shown["expectancy"] == "2.2725" and shown["fees_paid"] == "1.25" and shown["start_equity"] == "100"
    assert shown["sharpe"] == 8.54383 and m.sharpe != 8.54383  # 6 significant digits in the dict only
    assert shown["trades"] == 4
    assert list(shown)[:3] == ["start", "end", "duration_seconds"]
    assert metrics([point(0, 0, 100)]).to_dict()["volatility"] is None


def test_rows_are_labelled_and_formatted_in_display_order():
    m = metrics(
        [point(0, 0, "10000"), point(1, 0, "9000", 5), point(3, 0, "12345.6")],
        [trip("2345.5", cost="10000")],
        fees_paid=D("12.5"),
    )
    rows = m.rows()
    assert len(rows) == len(fields(Metrics))
    assert [label for label, _ in rows[:4]] == ["Start", "End", "Duration", "Exposure time"]
    shown = dict(rows)
    assert shown["Start"] == "2024-01-01 00:00:00 UTC"
    assert shown["Duration"] == "3 days 00:00:00"
    assert shown["Max drawdown duration"] == "3 days 00:00:00"  # 10000 is back on day 3
    assert shown["Average trade duration"] == "01:00:00"
    assert shown["Exposure time"] == "33.33 %"
    assert shown["Equity end"] == "12,345.6"
    assert shown["Total return"] == "23.46 %"  # 12345.6 / 10000 - 1 = 0.23456, shown to 2 decimals
    assert shown["Max drawdown"] == "10.00 %"
    assert shown["Win rate"] == "100.00 %" and shown["Profit factor"] == "n/a" and shown["Sortino ratio"] != "n/a"
    assert shown["Fees paid"] == "12.5"


@given(
    st.lists(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False), min_size=1, max_size=40),
    st.lists(st.integers(min_value=0, max_value=3 * DAY), min_size=40, max_size=40),
)
@settings(max_examples=150, deadline=None)
def test_no_curve_gives_nan_or_infinity(equities, gaps):
    equities[0] = max(equities[0], D("0.01"))
    for index in range(1, len(equities)):  # a spot account stays at 0 once wiped out
        if equities[index - 1] == 0:
            equities[index] = D(0)
    times = [T0 + sum(gaps[: index + 1]) for index in range(len(equities))]
    m = metrics([EquityPoint(time, equity, equity) for time, equity in zip(times, equities, strict=True)])
    values = [getattr(m, f.name) for f in fields(m)]
    assert all(math.isfinite(value) for value in values if isinstance(value, float))
    assert 0.0 <= m.max_drawdown <= 1.0 and 0 <= m.max_drawdown_duration_ns <= m.duration_ns


def test_sharpe_sortino_volatility_and_drawdown_agree_with_empyrical():
    empyrical = pytest.importorskip(
        "empyrical", reason="cross-check needs empyrical-reloaded (pip install empyrical-reloaded)"
    )
    np = pytest.importorskip("numpy")
    rng = random.Random(7)
    equity, curve = D(1000), []
    for day in range(120):  # one point a day: daily returns equal point-to-point returns
        equity = (equity * D(str(round(1 + rng.gauss(0.001, 0.03), 6)))).quantize(D("0.01"))
        curve.append(point(day, 12, equity))
    returns = np.array(daily_returns(curve))
    rf = 1.04 ** (1 / 365) - 1
    m = metrics(curve, risk_free_rate=D("0.04"))
    assert m.sharpe == pytest.approx(empyrical.sharpe_ratio(returns, risk_free=rf, annualization=365), rel=1e-9)
    assert m.sortino == pytest.approx(empyrical.sortino_ratio(returns, required_return=rf, annualization=365), rel=1e-9)
    assert m.volatility == pytest.approx(empyrical.annual_volatility(returns, annualization=365), rel=1e-9)
    assert m.max_drawdown == pytest.approx(-empyrical.max_drawdown(returns), rel=1e-9)

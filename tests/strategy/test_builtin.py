"""The built-in strategies, by the rules their docstrings state."""

from __future__ import annotations

import sys
from decimal import Context, Decimal

import pytest

from spotlab.backtest import FillModel
from spotlab.errors import SpotlabError
from spotlab.strategy import Strategy
from spotlab.strategy.builtin import DCA, STRATEGIES, BuyAndHold, Swing
from tests.backtest.support import HOUR_NS, T0, run, spec

D = Decimal


def test_the_registry_names_every_builtin():
    """The issue's list: buy and hold, DCA, momentum, range, breakout, swing, scalping, arbitrage (triangular,
    and between two exchanges)."""
    assert list(STRATEGIES) == [
        "buy_and_hold", "dca", "swing", "momentum", "range_trading", "breakout", "scalping", "triangular_arbitrage",
        "cross_arbitrage",
    ]  # fmt: skip
    for name, cls in STRATEGIES.items():
        assert issubclass(cls, Strategy) and "Idea" in sys.modules[cls.__module__].__doc__, name  # its idea, written


def test_dca_buys_a_fixed_amount_each_interval_and_reports_its_average_price_by_hand():
    # no fees, a spread of one tick: each purchase buys at close + 0.01
    strategy = DCA(amount=D(100), interval="1h")
    rows = [(100,) * 4, (50,) * 4, (200,) * 4]
    result = run(strategy, rows, model=FillModel(depth_quantity=D(10), spread_bps=D(0)), market_spec=spec("0", "0"))
    # 100 USDT buys whole lots (0.001) only: 0.999 at 100.01, 1.999 at 50.01, 0.499 at 200.01
    assert [(f.price, f.quantity) for f in result.fills] == [
        (D("100.01"), D("0.999")), (D("50.01"), D("1.999")), (D("200.01"), D("0.499")),
    ]  # fmt: skip
    assert [f.time_ns for f in result.fills] == [T0 + HOUR_NS, T0 + 2 * HOUR_NS, T0 + 3 * HOUR_NS]
    summary = strategy.summary()
    spent = D("99.90999") + D("99.96999") + D("99.80499")
    assert summary.purchases == 3
    assert summary.spent == spent
    assert summary.bought == D("3.497")
    wide = Context(prec=50)  # the summary divides at 50 significant digits
    assert summary.average_purchase_price == wide.divide(spent, D("3.497"))  # 85.6977...
    assert summary.average_market_price == wide.divide(D(100) + D(50) + D(200), 3)  # 116.666...
    assert summary.average_purchase_price < summary.average_market_price  # the point of averaging in


def test_dca_stops_buying_when_the_quote_runs_out():
    strategy = DCA(amount=D(400), interval="1h")
    result = run(strategy, [(100,) * 4] * 4, balances={"USDT": D(1000)})
    assert strategy.summary().purchases == 2
    assert len({f.order_id for f in result.fills}) == 2


def test_buy_and_hold_invests_the_fraction_once_and_never_sells():
    strategy = BuyAndHold(fraction=D("0.5"))
    result = run(strategy, [(100,) * 4, (120,) * 4, (80,) * 4])
    assert {f.side for f in result.fills} == {"buy"}
    assert len({f.order_id for f in result.fills}) == 1
    spent = sum(f.notional + f.fee for f in result.fills)
    assert D(4990) < spent <= D(5000)


def test_swing_enters_on_a_cross_above_and_exits_on_a_cross_below():
    closes = [100] * 6 + [101, 103, 106, 110] + [104, 97, 90, 85]
    rows = [(c, c, c, c) for c in closes]
    strategy = Swing(fast=2, slow=5)
    result = run(strategy, rows, model=FillModel(depth_quantity=D(1000)))
    buy, sell = result.fills
    assert (buy.side, sell.side) == ("buy", "sell")
    assert buy.time_ns == T0 + 7 * HOUR_NS  # the close of the first bar where fast > slow (101 after flat 100s)
    [trip] = result.trades
    assert trip.exit_time_ns > trip.entry_time_ns


def test_swing_refuses_a_fast_period_not_below_the_slow_one():
    with pytest.raises(SpotlabError, match="fast .* must be below slow"):
        Swing(fast=50, slow=20)

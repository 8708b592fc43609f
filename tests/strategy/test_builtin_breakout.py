"""The breakout strategy: a close through the prior high on a volume surge; ATR stop; trailing stop or OCO; retest."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from spotlab import indicators
from spotlab.backtest import FillModel, bars_from_file, run_backtest
from spotlab.clock import ns_to_datetime
from spotlab.errors import SpotlabError
from spotlab.strategy.builtin import STRATEGIES, Breakout
from tests.backtest.support import HOUR_NS, T0, run
from tests.shared_data import DATA

D = Decimal
DEEP = FillModel(depth_quantity=D(1000))
UP, DOWN = (100, 102, 99, 101, 1000), (101, 101.5, 98, 99, 1000)  # (open, high, low, close, volume)
BASE = [UP if i % 2 == 0 else DOWN for i in range(10)]  # highs at most 102: the level to break
BREAK = 10  # the index of the breakout bar below
SURGE = (99, 105, 99, 104.5, 3000)  # closes above 102 on 3 x the average volume


def strategy(**overrides) -> Breakout:
    return Breakout(**{"period": 5, "volume_period": 5, "atr_period": 3, **overrides})


def at_close(bar: int):
    return ns_to_datetime(T0 + (bar + 1) * HOUR_NS)


def summary(order) -> tuple:
    return (order.side, order.type, order.price, order.quantity, order.trailing_distance, order.created_at)


def test_the_registry_names_it():
    assert STRATEGIES["breakout"] is Breakout


def test_the_stop_is_the_level_less_one_atr():
    rows = BASE + [SURGE]
    columns = (np.array([row[k] for row in rows], dtype=float) for k in (1, 2, 3))
    atr = indicators.atr(*columns, 3)[BREAK]
    assert round(atr, 5) == 4.20195  # so the stop is 102 - 4.20195 = 97.798..., 97.79 on the tick


def test_a_close_through_the_level_on_a_volume_surge_buys_at_market_and_places_a_trailing_stop():
    result = run(strategy(), BASE + [SURGE], model=DEEP)
    # entry 104.50 (the close), stop 97.79: 1 % of 10000 over 6.71 + 0.2 % x (104.50 + 97.79) = 7.11458 -> 14.055
    buy, trailing = result.orders
    assert summary(buy) == ("buy", "market", None, D("14.055"), None, at_close(BREAK))
    # its distance is entry - stop = 6.71: it starts about at the stop and follows the best price since
    assert summary(trailing) == ("sell", "trailing_stop", None, D("14.055"), D("6.71"), at_close(BREAK))
    assert [(f.side, f.price, f.quantity) for f in result.fills] == [("buy", D("104.53"), D("14.055"))]


def test_the_trailing_stop_follows_the_run_and_sells_when_price_falls_back_its_distance():
    run_up = [(104.5, 108, 104, 107.5, 1000), (107.5, 114, 107, 113.5, 1000)]  # the peak: 114, so the stop 107.29
    drop = [(113.5, 113.5, 106, 106.5, 1000)]
    result = run(strategy(), BASE + [SURGE] + run_up + drop, model=DEEP)
    trailing = result.orders[1]
    assert (trailing.status, trailing.stop_price) == ("TRIGGERED", D("107.29"))  # 114 - 6.71
    buy, sell = result.fills
    assert sell.side == "sell" and sell.time_ns == T0 + (BREAK + 3) * HOUR_NS + HOUR_NS // 2  # the print at 106
    assert sell.price > buy.price  # a winner, where a fixed stop at 97.79 would still be waiting


def test_no_entry_without_a_volume_surge():
    calm = (99, 105, 99, 104.5, 2000)  # 2 x the average is not ABOVE 2 x the average
    assert run(strategy(), BASE + [calm], model=DEEP).orders == []
    assert len(run(strategy(), BASE + [(99, 105, 99, 104.5, 2001)], model=DEEP).orders) == 2


def test_no_entry_when_the_bar_only_pierces_the_level_and_closes_below_it():
    wick = (99, 105, 99, 101.9, 3000)
    assert run(strategy(), BASE + [wick], model=DEEP).orders == []


def test_the_level_is_the_previous_bars_high_not_the_current_one():
    # a calmer surge factor (4) keeps bar 10 out (3000 is not above 4 x 1000); bar 11 has the surge
    # (6000 > 4 x 1400, the mean of bars 6 .. 10) and closes above bars 5 .. 9 (highs <= 102), but the level
    # is now the highest high of bars 6 .. 10, bar 10's 105
    below = (104.5, 104.9, 104.4, 104.6, 6000)
    assert run(strategy(volume_factor=4.0), BASE + [SURGE, below], model=DEEP).orders == []
    through = (104.5, 105.2, 104.4, 105.1, 6000)
    [buy, _] = run(strategy(volume_factor=4.0), BASE + [SURGE, through], model=DEEP).orders
    assert (buy.side, buy.type, buy.created_at) == ("buy", "market", at_close(BREAK + 1))


def test_the_take_profit_exit_places_an_oco_at_two_r():
    result = run(strategy(exit="take_profit"), BASE + [SURGE], model=DEEP)
    buy, stop, take = result.orders
    assert summary(buy) == ("buy", "market", None, D("14.055"), None, at_close(BREAK))
    assert (stop.type, stop.stop_price, stop.quantity) == ("stop_loss", D("97.79"), D("14.055"))
    assert (take.type, take.price, take.quantity) == ("limit", D("117.92"), D("14.055"))  # 104.50 + 2 x 6.71
    assert stop.list_id == take.list_id is not None


def test_a_retest_entry_is_a_limit_buy_at_the_level_and_is_protected_at_the_close_after_it_fills():
    retest = (104.5, 104.5, 101.5, 103, 1000)  # trades back through 102
    result = run(strategy(retest=True), BASE + [SURGE, retest], model=DEEP)
    # entry 102, stop 97.79: 100 / (4.21 + 0.2 % x (102 + 97.79)) = 100 / 4.60958 -> 21.693
    entry, trailing = result.orders
    assert summary(entry) == ("buy", "limit", D("102.00"), D("21.693"), None, at_close(BREAK))
    assert entry.status == "FILLED"
    assert summary(trailing) == ("sell", "trailing_stop", None, D("21.693"), D("4.21"), at_close(BREAK + 1))


def test_a_retest_that_does_not_come_is_canceled_after_retest_bars():
    higher = [(104.5, 106, 104, 105.5, 1000)] * 4
    result = run(strategy(retest=True), BASE + [SURGE] + higher, model=DEEP)
    [entry] = result.orders
    assert (entry.status, entry.updated_at) == ("CANCELED", at_close(BREAK + 3))
    assert result.fills == []


def test_too_little_money_sends_nothing():
    # 1 % of 1 USDT allows 0.001 units at 104.50: 0.10 USDT, below the minimum notional (1 USDT)
    result = run(strategy(), BASE + [SURGE], model=DEEP, balances={"USDT": D(1)})
    assert result.orders == [] and result.refusals == []


def test_an_unknown_exit_is_refused():
    with pytest.raises(SpotlabError, match="exit"):
        Breakout(exit="moon")


@pytest.mark.parametrize("overrides", [{}, {"exit": "take_profit"}, {"retest": True}])
def test_on_real_solusdt_bars_it_trades_conserves_and_repeats_itself_exactly(overrides):
    bars = bars_from_file(DATA / "backtesting.py" / "SOLUSDT_1h.csv", "SOL/USDT", "1h")
    first, second = (
        run_backtest(Breakout(**overrides), {"SOL/USDT": bars}, {"USDT": D(10000)}, progress=False) for _ in range(2)
    )
    first.exchange.check_invariants()
    assert first.strategy.entries >= 5 and len(first.trades) >= 5
    assert first.refusals == []
    assert first.records() == second.records()
    assert first.exchange.state_hash() == second.exchange.state_hash()

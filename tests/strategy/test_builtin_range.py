"""The range strategy: a bracket from support to resistance while the market ranges; aside after a breakout."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from spotlab import indicators
from spotlab.backtest import FillModel, bars_from_file, run_backtest
from spotlab.clock import ns_to_datetime
from spotlab.errors import SpotlabError
from spotlab.strategy.builtin import STRATEGIES, RangeTrading
from tests.backtest.support import HOUR_NS, T0, run
from tests.shared_data import DATA

D = Decimal
DEEP = FillModel(depth_quantity=D(1000))
UP, DOWN = (100, 102, 99, 101), (101, 101.5, 98, 99)  # (open, high, low, close): the range is 98 .. 102


def ranging(count: int) -> list[tuple]:
    return [UP if i % 2 == 0 else DOWN for i in range(count)]


def strategy(**overrides) -> RangeTrading:
    """Ten-bar ranges; ADX(3) on these bars is 29 .. 37, so the ADX cap is raised to 40 unless a test lowers it."""
    return RangeTrading(**{"period": 10, "adx_period": 3, "adx_max": 40.0, **overrides})


def at_close(bar: int):
    return ns_to_datetime(T0 + (bar + 1) * HOUR_NS)


def placed(orders) -> list[tuple]:
    return [(o.side, o.type, o.price, o.stop_price, o.quantity, o.created_at) for o in orders]


def test_the_registry_names_it():
    assert STRATEGIES["range_trading"] is RangeTrading


def test_in_a_range_it_places_a_bracket_from_support_to_resistance_sized_to_the_risk():
    result = run(strategy(), ranging(12), model=DEEP)
    # bar 10 is the first with 10 bars before it: support 98, resistance 102, height 4, width 4 / 98 = 4.08 %.
    # entry 98 + 0.15 x 4 = 98.60, take 102 - 0.60 = 101.40, stop 98 - 0.60 = 97.40;
    # 1 % of 10000 = 100 USDT over a loss per unit of 1.20 + 0.2 % x (98.60 + 97.40) = 1.592: 62.814 units
    entry, stop, take = result.orders[:3]
    assert placed([entry]) == [("buy", "limit", D("98.60"), None, D("62.814"), at_close(10))]
    assert entry.list_id is not None and entry.status == "FILLED"  # bar 11 trades down to 98
    # the bracket gives what it bought an OCO as it fills (during bar 11)
    assert [(o.side, o.type, o.price, o.stop_price, o.quantity) for o in (stop, take)] == [
        ("sell", "stop_loss", None, D("97.40"), D("62.814")),
        ("sell", "limit", D("101.40"), None, D("62.814")),
    ]
    assert stop.list_id == take.list_id == entry.list_id
    assert [(f.side, f.price, f.quantity) for f in result.fills] == [("buy", D("98.60"), D("62.814"))]


def test_the_take_profit_closes_the_trade_and_the_next_bracket_follows_at_the_next_close():
    result = run(strategy(), ranging(14), model=DEEP)
    assert [(f.side, f.price, f.time_ns) for f in result.fills[:2]] == [
        ("buy", D("98.60"), T0 + 11 * HOUR_NS + HOUR_NS // 2),  # bar 11's low
        ("sell", D("101.40"), T0 + 12 * HOUR_NS + HOUR_NS // 2),  # bar 12's high (its low, nearer the open, first)
    ]
    assert result.orders[3].created_at == at_close(12)  # the next entry, once flat again
    assert result.trades[0].pnl > 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_width_percent": D(4)},  # 4.08 % is too wide to be a range
        {"min_width_percent": D(5)},  # ... and too narrow to pay for the trip
        {"adx_max": 25.0},  # ADX(3) never falls below 28 here: a trend, not a range
    ],
)
def test_no_bracket_when_the_channel_is_not_a_tradeable_range(overrides):
    result = run(strategy(**overrides), ranging(20), model=DEEP)
    assert result.orders == []


def test_the_adx_filter_reads_the_adx_of_the_bar_just_closed():
    rows = ranging(20)
    adx = indicators.adx(*(np.array([row[k] for row in rows], dtype=float) for k in (1, 2, 3)), 3)
    assert adx[10] >= 31 and min(adx[10:]) < 29  # 31.32 at bar 10; 28.6 .. 29.3 on the even bars from 12
    result = run(strategy(adx_max=30.0), rows, model=DEEP)
    assert result.orders[0].created_at == at_close(12)  # not at bar 10


def test_a_breakout_cancels_the_waiting_entry_and_it_stands_aside_until_the_range_is_new():
    high_half = [(101, 102, 100, 101)] * 5  # the entry at 98.60 waits: nothing trades below 100
    rows = ranging(10) + high_half + [(101, 106, 101, 105)] + ranging(14)  # bar 15 closes above 102
    result = run(strategy(), rows, model=DEEP)
    first = result.orders[0]
    assert (first.side, first.type, first.price, first.created_at) == ("buy", "limit", D("98.60"), at_close(10))
    assert (first.status, first.filled_quantity, first.updated_at) == ("CANCELED", 0, at_close(15))
    # standing aside through bar 15 + 10 = 25; bar 26's range is bars 16 .. 25: after the breakout only
    second = result.orders[1]
    assert (second.side, second.type, second.price, second.created_at) == ("buy", "limit", D("98.60"), at_close(26))
    assert all(fill.time_ns > T0 + 26 * HOUR_NS for fill in result.fills)


def test_a_close_below_support_while_holding_cancels_the_exits_and_sells_at_market():
    rows = ranging(12) + [(99, 99, 97.8, 97.9)]  # bar 12 closes below support 98, above the stop 97.40
    result = run(strategy(), rows, model=DEEP)
    entry, stop, take, sell = result.orders
    assert (stop.status, take.status) == ("CANCELED", "CANCELED")
    assert (sell.side, sell.type, sell.quantity, sell.created_at) == ("sell", "market", D("62.814"), at_close(12))
    assert [f.side for f in result.fills] == ["buy", "sell"]
    assert result.final_balances["TST"].total == 0


def test_the_stop_ends_a_trade_that_gaps_through_support():
    rows = ranging(12) + [(99, 99, 97, 98.5)]  # trades down to 97: through the stop at 97.40; closes inside
    result = run(strategy(), rows, model=DEEP)
    stop = result.orders[1]
    assert (stop.type, stop.status) == ("stop_loss", "TRIGGERED")
    assert result.final_balances["TST"].total == 0
    # the price jumps from 99 to 97, past the stop: its market sell fills at the bid under 97, not at 97.40
    assert [(f.side, f.price) for f in result.fills] == [("buy", D("98.60")), ("sell", D("96.98"))]
    assert -D(125) < result.trades[0].pnl < -D(100)  # the 1 % risked, plus the gap


def test_too_little_money_sends_nothing():
    # 1 % of 1 USDT over 1.592 a unit allows 0.006 units: 0.59 USDT, below the minimum notional (1 USDT)
    result = run(strategy(), ranging(12), model=DEEP, balances={"USDT": D(1)})
    assert result.orders == [] and result.refusals == []


def test_bad_parameters_are_refused():
    with pytest.raises(SpotlabError, match="entry_offset \\+ take_profit_offset"):
        RangeTrading(entry_offset=D("0.5"), take_profit_offset=D("0.5"))
    with pytest.raises(SpotlabError, match="min_width_percent .* must not exceed"):
        RangeTrading(min_width_percent=D(8), max_width_percent=D(6))


def test_on_real_btcusdt_bars_it_trades_conserves_and_repeats_itself_exactly():
    bars = bars_from_file(DATA / "quantedge-ta" / "btcusdt-1h.csv", "BTC/USDT", "1h")
    runs = [run_backtest(RangeTrading(), {"BTC/USDT": bars}, {"USDT": D(10000)}, progress=False) for _ in range(2)]
    first, second = runs
    first.exchange.check_invariants()
    assert first.strategy.brackets >= 5 and len(first.trades) >= 2
    assert first.strategy.breakouts >= 5
    assert first.refusals == []
    assert any(o.list_id is not None and o.side == "sell" for o in first.orders)  # the brackets' exits
    assert first.records() == second.records()
    assert first.exchange.state_hash() == second.exchange.state_hash()

"""The momentum strategy: MACD cross-up with RSI in its band and a volume surge; OCO-protected; its exits."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from spotlab import indicators
from spotlab.backtest import FillModel, bars_from_file, run_backtest
from spotlab.clock import ns_to_datetime
from spotlab.errors import SpotlabError
from spotlab.strategy.builtin import STRATEGIES, Momentum
from tests.backtest.support import HOUR_NS, T0, run
from tests.shared_data import DATA

D = Decimal
DEEP = FillModel(depth_quantity=D(1000))  # a market order never runs out of book
CROSS = 57  # the bar where MACD(12, 26, 9) crosses above its signal on ``pullback(6, 3, 2, ...)``


def pullback(drops: int, drop: int, rise: int, rises: int) -> list[int]:
    """30 flat bars at 100, a rise to 115, ``drops`` bars falling by ``drop``, ``rises`` bars rising by ``rise``."""
    closes = [100] * 30 + list(range(101, 116))
    for _ in range(drops):
        closes.append(closes[-1] - drop)
    for _ in range(rises):
        closes.append(closes[-1] + rise)
    return closes


def rows(closes, surge_at: int | None = CROSS, surge_volume: int = 2000) -> list[tuple]:
    """Flat bars (open = high = low = close), volume 1000 except ``surge_volume`` at ``surge_at``."""
    return [(c, c, c, c, surge_volume if i == surge_at else 1000) for i, c in enumerate(closes)]


def crosses(closes, up: bool) -> list[int]:
    line, signal, _ = indicators.macd(np.array(closes, dtype=float))
    diff = line - signal
    found = []
    for i in range(1, len(diff)):
        if np.isnan(diff[i - 1]):
            continue
        if (up and diff[i - 1] <= 0 < diff[i]) or (not up and diff[i - 1] >= 0 > diff[i]):
            found.append(i)
    return found


def placed(result) -> list[tuple]:
    return [(o.side, o.type, o.price, o.stop_price, o.quantity, o.created_at) for o in result.orders]


def at_close(bar: int):
    return ns_to_datetime(T0 + (bar + 1) * HOUR_NS)


def test_the_registry_names_it():
    assert STRATEGIES["momentum"] is Momentum


def test_the_data_crosses_up_once_with_rsi_between_50_and_70():
    closes = pullback(6, 3, 2, 9)
    assert crosses(closes, up=True) == [CROSS]
    assert 50 <= indicators.rsi(np.array(closes, dtype=float))[CROSS] < 70  # 62.44


def test_a_cross_up_with_rsi_in_band_and_a_volume_surge_buys_the_risk_sized_quantity_and_places_its_oco():
    result = run(Momentum(), rows(pullback(6, 3, 2, 9)), model=DEEP)
    # close 111: stop 111 x 0.97 = 107.67, take 111 x 1.06 = 117.66; equity 10000, risk 1 % = 100 USDT;
    # loss per unit = 3.33 + 0.2 % taker fee on 111 + 107.67 = 3.76734 -> 100 / 3.76734 = 26.543 (lot 0.001)
    assert placed(result) == [
        ("buy", "market", None, None, D("26.543"), at_close(CROSS)),
        ("sell", "stop_loss", None, D("107.67"), D("26.543"), at_close(CROSS)),
        ("sell", "limit", D("117.66"), None, D("26.543"), at_close(CROSS)),
    ]
    buy = result.fills[0]
    assert (buy.side, buy.quantity, buy.time_ns) == ("buy", D("26.543"), T0 + (CROSS + 1) * HOUR_NS)
    stop, take = result.orders[1], result.orders[2]
    assert stop.list_id == take.list_id is not None  # one OCO


def test_the_take_profit_ends_the_trade_and_the_stop_leg_is_canceled():
    result = run(Momentum(), rows(pullback(6, 3, 2, 11)), model=DEEP)  # closes reach 117 then 119: above 117.66
    assert [(f.side, f.price, f.quantity) for f in result.fills] == [
        ("buy", D("111.03"), D("26.543")),  # the ask: close + half the 4 bps spread, up to the tick
        ("sell", D("117.66"), D("26.543")),
    ]
    assert [o.status for o in result.orders] == ["FILLED", "CANCELED", "FILLED"]


def test_rsi_overbought_blocks_the_entry():
    closes = pullback(4, 2, 3, 8)
    [cross] = crosses(closes, up=True)
    assert indicators.rsi(np.array(closes, dtype=float))[cross] >= 70  # 70.83: overbought
    result = run(Momentum(), rows(closes, surge_at=cross), model=DEEP)
    assert result.orders == [] and result.fills == []
    allowed = run(Momentum(rsi_ceiling=75), rows(closes, surge_at=cross), model=DEEP)  # the same bars, a higher ceiling
    assert allowed.orders[0].side == "buy" and allowed.orders[0].created_at == at_close(cross)


def test_rsi_below_the_floor_blocks_the_entry():
    result = run(Momentum(rsi_floor=65), rows(pullback(6, 3, 2, 9)), model=DEEP)  # RSI 62.44 at the cross
    assert result.orders == []


def test_without_a_volume_surge_there_is_no_entry():
    # the mean of the 20 bars before is 1000; 1200 is not ABOVE 1.2 x 1000
    result = run(Momentum(), rows(pullback(6, 3, 2, 9), surge_volume=1200), model=DEEP)
    assert result.orders == []
    fired = run(Momentum(), rows(pullback(6, 3, 2, 9), surge_volume=1201), model=DEEP)
    assert len(fired.orders) == 3


def test_rsi_reaching_the_exit_level_cancels_the_oco_and_sells_at_market():
    closes = pullback(6, 3, 2, 17)
    rsi = indicators.rsi(np.array(closes, dtype=float))
    exit_bar = next(i for i in range(CROSS + 1, len(closes)) if rsi[i] >= 80)  # bar 65, RSI 80.72
    result = run(Momentum(take_profit_percent=D(50)), rows(closes), model=DEEP)
    buy, stop, take, sell = result.orders
    assert (stop.status, take.status) == ("CANCELED", "CANCELED")
    assert (sell.side, sell.type, sell.quantity, sell.created_at) == ("sell", "market", D("26.543"), at_close(exit_bar))
    assert sell.status == "FILLED"


def test_macd_crossing_back_below_its_signal_sells():
    closes = pullback(6, 3, 2, 9) + list(range(114, 100, -1))
    [down] = [i for i in crosses(closes, up=False) if i > CROSS]
    result = run(Momentum(take_profit_percent=D(50), stop_percent=D(20)), rows(closes), model=DEEP)
    # the stop is 20 % below 111 = 88.80: risking 100 USDT buys 100 / (22.20 + 0.002 x 199.80) = 4.424
    assert placed(result)[0] == ("buy", "market", None, None, D("4.424"), at_close(CROSS))
    sell = result.orders[-1]
    assert (sell.side, sell.type, sell.quantity, sell.created_at) == ("sell", "market", D("4.424"), at_close(down))
    assert [f.side for f in result.fills] == ["buy", "sell"]


def test_too_little_money_to_reach_the_minimums_sends_nothing():
    # 1 % of 2 USDT risks 0.02: 0.005 units at 111, worth 0.56 USDT, below the minimum notional (1 USDT)
    result = run(Momentum(), rows(pullback(6, 3, 2, 9)), model=DEEP, balances={"USDT": D(2)})
    assert result.orders == [] and result.refusals == []


def test_bad_parameters_are_refused():
    with pytest.raises(SpotlabError, match="rsi_floor .* must be below rsi_ceiling"):
        Momentum(rsi_floor=70, rsi_ceiling=60)
    with pytest.raises(SpotlabError, match="macd_fast .* must be below macd_slow"):
        Momentum(macd_fast=30)


def test_on_real_solusdt_bars_it_trades_conserves_and_repeats_itself_exactly():
    bars = bars_from_file(DATA / "backtesting.py" / "SOLUSDT_1h.csv", "SOL/USDT", "1h")
    runs = [run_backtest(Momentum(), {"SOL/USDT": bars}, {"USDT": D(10000)}, progress=False) for _ in range(2)]
    first, second = runs
    first.exchange.check_invariants()
    assert first.strategy.entries >= 5 and len(first.trades) >= 5
    assert first.refusals == []
    assert any(o.list_id is not None for o in first.orders)  # the OCOs
    assert min(trip.pnl for trip in first.trades) > -D(10000) * D("0.02")  # a stop-out costs about 1 %
    assert first.records() == second.records()
    assert first.exchange.state_hash() == second.exchange.state_hash()

"""Triangular arbitrage over ADA/BTC, BTC/USDT and ADA/USDT, on hand-made bars with known mispricings.

The three markets (specs made here, not the catalogue's): BTC/USDT tick 0.01, lot 0.0001, taker
0.1 %; ADA/USDT tick 0.0001, lot 0.1, taker 0.2 %; ADA/BTC tick 0.000001, lot 0.1, taker 0.05 %.
The fill model quotes one tick either side of the last price (``spread_bps=0``) and deep, so a
market buy fills at close + 1 tick and a market sell at close - 1 tick, all in one level.

Consistent prices are BTC 100 USDT, ADA 1 USDT, ADA 0.01 BTC. Bar 1: ADA/USDT at 1.01 (ADA dear in
USDT: USDT>BTC>ADA>USDT gains 1 % gross); bar 3: ADA/BTC at 0.01002 (0.2 % gross, less than the
fees); bar 4: ADA/BTC at 0.0102 (USDT>ADA>BTC>USDT gains 2 % gross).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from spotlab.backtest import FillModel, run_backtest
from spotlab.core.markets import Asset, MarketSpec
from spotlab.errors import SpotlabError
from spotlab.strategy.builtin import STRATEGIES, TriangularArbitrage
from tests.backtest.support import HOUR_NS, T0, bars

D = Decimal
ADA, BTC, USDT = Asset("ADA", 6), Asset("BTC", 8), Asset("USDT", 8)
BOOK = FillModel(spread_bps=D(0), depth_quantity=D(100000))
FORWARD, REVERSE = "USDT>BTC>ADA>USDT", "USDT>ADA>BTC>USDT"
CLOSES = {
    "BTC/USDT": [100] * 6,
    "ADA/USDT": [1, "1.01", 1, 1, 1, 1],
    "ADA/BTC": ["0.01", "0.01", "0.01", "0.01002", "0.0102", "0.01"],
}


def market(base: Asset, quote: Asset, tick: str, lot: str, min_notional: str, taker: str) -> MarketSpec:
    return MarketSpec(
        f"{base.code}/{quote.code}", base, quote, D(tick), D(lot), D(lot), D(min_notional), D(taker), D(taker)
    )


def specs(ada_btc_min_notional: str = "0.0001") -> list[MarketSpec]:
    return [
        market(BTC, USDT, "0.01", "0.0001", "1", "0.001"),
        market(ADA, USDT, "0.0001", "0.1", "1", "0.002"),
        market(ADA, BTC, "0.000001", "0.1", ada_btc_min_notional, "0.0005"),
    ]


def at_close(bar: int) -> int:
    return T0 + (bar + 1) * HOUR_NS


def play(strategy: TriangularArbitrage, closes=CLOSES, balances=None, markets=None, skip=None):
    data = {}
    for symbol, column in closes.items():
        series = bars(*[(c, c, c, c) for c in column], market=symbol)
        data[symbol] = [bar for i, bar in enumerate(series) if (symbol, i) != skip]
    result = run_backtest(
        strategy, data, balances or {"USDT": D(10000)}, fill_model=BOOK, markets=markets or specs(), progress=False
    )
    result.exchange.check_invariants()  # conservation, no negative balance, book integrity, holds
    return result


def test_triangular_arbitrage_is_registered():
    assert STRATEGIES["triangular_arbitrage"] is TriangularArbitrage


def test_it_measures_both_cycles_at_each_common_close_net_of_the_three_taker_fees():
    strategy = TriangularArbitrage(amount=D(1000), min_edge_bps=D(20))
    play(strategy)
    assert [(e.time_ns, e.cycle) for e in strategy.edges] == [
        (at_close(bar), cycle) for bar in range(6) for cycle in (REVERSE, FORWARD)
    ]
    fees = D("0.999") * D("0.998") * D("0.9995")
    by_bar = {(e.time_ns, e.cycle): e for e in strategy.edges}
    assert by_bar[at_close(0), FORWARD].gross == 1
    assert by_bar[at_close(0), FORWARD].edge_bps == (fees - 1) * 10000  # about -35 bps: the fees alone
    assert by_bar[at_close(1), FORWARD].gross == D("1.01")  # 1 / 100 BTC, 1 / 0.01 ADA, x 1.01 USDT
    assert by_bar[at_close(1), FORWARD].edge_bps == (D("1.01") * fees - 1) * 10000  # about 64.7 bps
    assert by_bar[at_close(3), REVERSE].gross == D("1.002")  # 1 ADA, x 0.01002 BTC, x 100 USDT
    assert by_bar[at_close(4), REVERSE].edge_bps == (D("1.02") * fees - 1) * 10000  # about 164.3 bps


def test_it_takes_exactly_the_cycles_above_the_minimum_edge():
    strategy = TriangularArbitrage(amount=D(1000), min_edge_bps=D(20))
    play(strategy)
    assert [(e.time_ns, e.cycle) for e in strategy.opportunities] == [(at_close(1), FORWARD), (at_close(4), REVERSE)]
    assert [(t.time_ns, t.cycle, t.legs_done, t.stopped) for t in strategy.taken] == [
        (at_close(1), FORWARD, 3, None),
        (at_close(4), REVERSE, 3, None),
    ]  # bar 3's 0.2 % gross is under the fees: seen, not taken

    fussier = TriangularArbitrage(amount=D(1000), min_edge_bps=D(100))
    play(fussier)
    assert [(t.time_ns, t.cycle) for t in fussier.taken] == [(at_close(4), REVERSE)]


def test_the_legs_trade_in_sequence_and_the_home_asset_grows_by_the_computed_amount():
    strategy = TriangularArbitrage(amount=D(1000), min_edge_bps=D(20))
    result = play(strategy)
    assert [(f.market, f.side, f.price, f.quantity, f.role) for f in result.fills] == [
        # bar 1, USDT>BTC>ADA>USDT
        ("BTC/USDT", "buy", D("100.01"), D("9.9890"), "taker"),  # 998.99989 + fee 0.99899989 <= 1000 USDT
        ("ADA/BTC", "buy", D("0.010001"), D("998.3"), "taker"),  # 9.9839983 + 0.00499199 <= 9.9890 BTC
        ("ADA/USDT", "sell", D("1.0099"), D("998.3"), "taker"),  # all the ADA bought
        # bar 4, USDT>ADA>BTC>USDT
        ("ADA/USDT", "buy", D("1.0001"), D("997.9"), "taker"),  # 997.99979 + 1.99599958 <= 1000 USDT
        ("ADA/BTC", "sell", D("0.010199"), D("997.9"), "taker"),  # gives 10.1775821 - 0.00508879 BTC
        ("BTC/USDT", "sell", D("99.99"), D("10.1724"), "taker"),  # 10.17249331 BTC down to the lot
    ]
    first, second = strategy.taken
    assert (first.spent, first.received) == (D("999.99888989"), D("1008.18317") - D("2.01636634"))
    assert (second.spent, second.received) == (D("999.99578958"), D("1017.138276") - D("1.01713827"))
    assert (first.profit, second.profit) == (D("6.16791377"), D("16.12534815"))
    final = result.final_balances
    assert final["USDT"].total == D(10000) + first.profit + second.profit  # 10022.29326192
    # what the lots left behind: BTC change of each cycle, never ADA
    assert final["BTC"].total == (D("9.9890") - D("9.98899029")) + (D("10.17249331") - D("10.1724"))
    assert final["ADA"].total == 0
    assert all(balance.available >= 0 and balance.locked == 0 for balance in final.values())


def test_a_cycle_spends_at_most_the_available_home_balance():
    strategy = TriangularArbitrage(amount=D(1000), min_edge_bps=D(20))
    play(strategy, balances={"USDT": D(400)})
    first = strategy.taken[0]
    assert D(399) < first.spent <= D(400)
    assert first.legs_done == 3


def test_a_leg_below_the_market_minimum_ends_the_cycle_and_keeps_what_it_bought():
    # ADA/BTC wants 0.1 BTC at least; 5 USDT buys about 0.05 BTC
    strategy = TriangularArbitrage(amount=D(5), min_edge_bps=D(20))
    result = play(strategy, markets=specs(ada_btc_min_notional="0.1"))
    first = strategy.taken[0]
    assert (first.cycle, first.legs_done, first.received) == (FORWARD, 1, 0)
    assert "minimum notional" in first.stopped
    assert [f.market for f in result.fills if f.time_ns == at_close(1)] == ["BTC/USDT"]
    assert result.final_balances["BTC"].total > 0


def test_it_waits_until_all_three_markets_have_closed_at_the_same_instant():
    strategy = TriangularArbitrage(amount=D(1000), min_edge_bps=D(20))
    play(strategy, skip=("ADA/BTC", 1))  # no ADA/BTC bar closes at bar 1's close
    assert at_close(1) not in {e.time_ns for e in strategy.edges}
    assert [t.time_ns for t in strategy.taken] == [at_close(4)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"triangle": "ADA/BTC BTC/USDT ETH/USDT"}, "three markets over three assets"),
        ({"triangle": "ADA/BTC BTC/USDT"}, "three markets over three assets"),
        ({"triangle": "ADA/BTC, BTC/USDT, ADABTC"}, "not a market symbol"),
        ({"home": "EUR"}, "home 'EUR' is not one of"),
    ],
)
def test_a_triangle_that_is_not_one_is_refused(params, message):
    with pytest.raises(SpotlabError, match=message):
        TriangularArbitrage(**params)


def test_a_triangle_market_missing_from_the_run_is_refused():
    closes = {"BTC/USDT": [100], "ADA/USDT": [1]}
    with pytest.raises(SpotlabError, match="ADA/BTC"):
        play(TriangularArbitrage(), closes=closes)


def test_the_home_asset_can_be_any_corner_of_the_triangle():
    strategy = TriangularArbitrage(home="BTC")
    assert [c.name for c in strategy.cycles] == ["BTC>ADA>USDT>BTC", "BTC>USDT>ADA>BTC"]
    assert [(leg.market, leg.side) for leg in strategy.cycles[0].legs] == [
        ("ADA/BTC", "buy"), ("ADA/USDT", "sell"), ("BTC/USDT", "buy"),
    ]  # fmt: skip


def test_with_a_slippage_allowance_the_legs_are_ioc_limits_that_never_fill_past_it():
    # half a basis point past 100 is 100.005, down to the tick 100.00: below the ask (100.01), nothing fills
    tight = TriangularArbitrage(amount=D(1000), min_edge_bps=D(20), slippage_bps=D("0.5"))
    result = play(tight)
    assert result.fills == []
    assert [(t.legs_done, t.spent, t.stopped) for t in tight.taken] == [
        (0, 0, "the order filled nothing at once"),
        (0, 0, "the order filled nothing at once"),
    ]
    assert result.final_balances["USDT"].total == D(10000)

    # 2 bps: leg 1 is a buy limit at 100.02 for 1000 / (100.02 x 1.001) = 9.98800... -> 9.9880 BTC
    loose = TriangularArbitrage(amount=D(1000), min_edge_bps=D(20), slippage_bps=D(2))
    result = play(loose)
    first = result.fills[0]
    assert (first.market, first.side, first.price, first.quantity) == ("BTC/USDT", "buy", D("100.01"), D("9.9880"))
    assert {o.time_in_force for o in result.orders} == {"IOC"}
    assert [t.legs_done for t in loose.taken] == [3, 3]
    assert result.final_balances["USDT"].total > D(10000)

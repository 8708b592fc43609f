"""The scalping strategy, by the rules its docstring states (TST/USDT: tick 0.01, lot 0.001, maker 0.1 %)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from spotlab.backtest import FillModel, bars_from_file, run_backtest
from spotlab.errors import SpotlabError
from spotlab.strategy.builtin import STRATEGIES, Scalping
from spotlab.strategy.builtin.scalping import Quote
from tests.backtest.support import HOUR_NS, T0, flat, run
from tests.shared_data import DATA

D = Decimal
DEEP = FillModel(depth_quantity=D(100))


def at_close(bar: int) -> int:
    return T0 + (bar + 1) * HOUR_NS


def quotes_at(strategy: Scalping, bar: int) -> list[tuple[str, Decimal, Decimal, str]]:
    return [(q.side, q.price, q.quantity, q.outcome) for q in strategy.quotes if q.time_ns == at_close(bar)]


def test_scalping_is_registered():
    assert STRATEGIES["scalping"] is Scalping


def test_both_quotes_rest_post_only_at_the_half_spread_around_the_close():
    strategy = Scalping(half_spread_bps=D(10), quote_size=D(100), skew_bps=D(0))
    result = run(strategy, flat(100, 1), balances={"USDT": D(10000), "TST": D(2)})
    # bid 100 x 0.999 = 99.90, 100 / 99.90 = 1.001001 -> 1.001; ask 100 x 1.001 = 100.10, 100 / 100.10 -> 0.999
    assert quotes_at(strategy, 0) == [
        ("buy", D("99.90"), D("1.001"), "placed"),
        ("sell", D("100.10"), D("0.999"), "placed"),
    ]
    resting = result.exchange.open_orders(result.account, "TST/USDT")
    assert sorted((o.side, o.type, o.price, o.quantity) for o in resting) == [
        ("buy", "limit_maker", D("99.90"), D("1.001")),
        ("sell", "limit_maker", D("100.10"), D("0.999")),
    ]


def test_each_bar_cancels_the_old_quotes_and_places_new_ones():
    strategy = Scalping(half_spread_bps=D(10), skew_bps=D(0))
    result = run(strategy, [(100,) * 4, (D("100.05"),) * 4], balances={"USDT": D(10000), "TST": D(2)})
    resting = result.exchange.open_orders(result.account, "TST/USDT")
    # 100.05 x 0.999 = 99.94995 -> 99.94; 100.05 x 1.001 = 100.15005 -> 100.16
    assert sorted((o.side, o.price) for o in resting) == [("buy", D("99.94")), ("sell", D("100.16"))]
    assert [o.status for o in result.orders[:2]] == ["CANCELED", "CANCELED"]


def test_without_base_only_the_bid_is_quoted():
    strategy = Scalping(half_spread_bps=D(10), skew_bps=D(0))
    run(strategy, flat(100, 1))
    assert [(side, outcome) for side, _, _, outcome in quotes_at(strategy, 0)] == [
        ("buy", "placed"), ("sell", "too_small"),
    ]  # fmt: skip


def test_holding_base_lowers_both_quotes_by_the_skew():
    # 25 TST at 100 = 2500 of 12500 equity; the cap is 0.5 x 12500 = 6250, so r = 0.4;
    # skew 25 bps x 0.4 = 10 bps: centre 99.90, bid 99.90 x 0.999 = 99.8001 -> 99.80, ask 99.9999 -> 100.00
    strategy = Scalping(half_spread_bps=D(10), skew_bps=D(25), max_inventory=D("0.5"))
    run(strategy, flat(100, 1), balances={"USDT": D(10000), "TST": D(25)})
    assert [(side, price) for side, price, _, _ in quotes_at(strategy, 0)] == [
        ("buy", D("99.80")),
        ("sell", D("100.00")),
    ]


@pytest.mark.parametrize(
    ("inventory_in", "max_inventory", "held", "bid_outcome"),
    [
        ("base", D("1.5"), D("0.4"), "placed"),  # 0.4 + 1.001 <= 1.5
        ("base", D("1.5"), D("0.5"), "inventory_limit"),  # 0.5 + 1.001 > 1.5
        ("equity", D("0.1"), D("8.999"), "placed"),  # (8.999 + 1.001) x 100 = 1000 <= 0.1 x 10000
        ("equity", D("0.1"), D("9"), "inventory_limit"),  # (9 + 1.001) x 100 = 1000.1 > 0.1 x 10000
    ],
)
def test_the_bid_stops_where_it_would_push_the_inventory_past_the_cap(inventory_in, max_inventory, held, bid_outcome):
    usdt = D(10000) - held * 100  # equity 10000 either way
    strategy = Scalping(half_spread_bps=D(10), skew_bps=D(0), inventory_in=inventory_in, max_inventory=max_inventory)
    run(strategy, flat(100, 1), balances={"USDT": usdt, "TST": held})
    (bid_side, _, bid_quantity, outcome), (ask_side, _, _, ask_outcome) = quotes_at(strategy, 0)
    assert (bid_side, bid_quantity, outcome) == ("buy", D("1.001"), bid_outcome)
    assert (ask_side, ask_outcome) == ("sell", "placed" if held * D("100.10") >= 1 else "too_small")


def test_a_filled_bid_fills_the_inventory_and_the_next_bid_is_not_quoted():
    strategy = Scalping(half_spread_bps=D(10), skew_bps=D(0), inventory_in="base", max_inventory=D("1.5"))
    result = run(strategy, [(100,) * 4, (100, 100, D("99.8"), 100)])
    [fill] = result.fills
    assert (fill.side, fill.price, fill.quantity, fill.role) == ("buy", D("99.90"), D("1.001"), "maker")
    assert quotes_at(strategy, 1) == [
        ("buy", D("99.90"), D("1.001"), "inventory_limit"),  # 1.001 held + 1.001 > 1.5
        ("sell", D("100.10"), D("0.999"), "placed"),
    ]


def test_quotes_fill_only_when_the_price_trades_through_them_at_their_own_price_as_maker():
    strategy = Scalping(half_spread_bps=D(10), skew_bps=D(0))
    rows = [(100,) * 4, (100, D("100.10"), D("99.90"), 100), (100, D("100.20"), D("99.80"), 100)]
    result = run(strategy, rows, balances={"USDT": D(10000), "TST": D(2)})
    # bar 1 only touches 99.90 and 100.10: nothing; bar 2 goes through both (high first)
    assert [(f.side, f.price, f.quantity, f.role, f.fee) for f in result.fills] == [
        ("sell", D("100.10"), D("0.999"), "maker", D("0.0999999")),  # 99.9999 x 0.1 %
        ("buy", D("99.90"), D("1.001"), "maker", D("0.0999999")),
    ]
    assert min(f.time_ns for f in result.fills) > at_close(1)
    final = result.final_balances
    assert final["TST"].total == D("2.002")
    assert final["USDT"].total == D(10000) + D("99.9999") - D("0.0999999") - D("99.9999") - D("0.0999999")


def test_a_quote_that_would_cross_is_recorded_as_refused_and_quoting_goes_on():
    # full inventory with a 50 bps skew: centre 99.50, ask 99.5 x 1.001 = 99.5995 -> 99.60, below the
    # book's best bid (99.98): post-only refuses it; the bid (99.40) is over the cap and not sent
    strategy = Scalping(half_spread_bps=D(10), skew_bps=D(50), inventory_in="base", max_inventory=D(1))
    run(strategy, flat(100, 3), balances={"USDT": D(10000), "TST": D(5)})
    for bar in range(3):
        assert quotes_at(strategy, bar) == [
            ("buy", D("99.40"), D("1.006"), "inventory_limit"),
            ("sell", D("99.60"), D("1.004"), "refused"),
        ]


def test_the_fair_price_can_be_an_ema_of_the_closes():
    strategy = Scalping(half_spread_bps=D(10), skew_bps=D(0), ema_period=3)
    run(strategy, [(100,) * 4] * 3 + [(103,) * 4])
    assert quotes_at(strategy, 0) == quotes_at(strategy, 1) == []  # warming up
    assert quotes_at(strategy, 2)[0][:2] == ("buy", D("99.90"))
    # EMA(3) after 100, 100, 100, 103 = 101.5: bid 101.3985 -> 101.39, ask 101.6015 -> 101.61
    assert [(side, price) for side, price, _, _ in quotes_at(strategy, 3)] == [
        ("buy", D("101.39")),
        ("sell", D("101.61")),
    ]


def test_the_loss_limit_flattens_at_market_and_stops_quoting():
    strategy = Scalping(
        half_spread_bps=D(10), skew_bps=D(0), max_loss_percent=D(1), inventory_in="base", max_inventory=D(100)
    )
    rows = [(100,) * 4, (97,) * 4, (97,) * 4]
    result = run(strategy, rows, balances={"USDT": D(5000), "TST": D(50)}, model=DEEP)
    # bar 1 gaps down through the bid (1.001 bought at 99.90); at its close equity is about 9847 < 9900
    assert strategy.stopped_at == at_close(1)
    buy, sell = result.fills
    assert (buy.side, buy.price, buy.role) == ("buy", D("99.90"), "maker")
    assert (sell.side, sell.quantity, sell.role, sell.time_ns) == ("sell", D("51.001"), "taker", at_close(1))
    assert all(q.time_ns == at_close(0) for q in strategy.quotes)
    assert result.exchange.open_orders(result.account) == []
    assert result.final_balances["TST"].total == 0


def test_what_the_account_holds_is_the_start_plus_its_fills():
    closes = [100, 101, 99, 100, 102, 98, 100, 101, 99, 100]
    rows = [(c, c + 1, c - 1, c) for c in closes]
    strategy = Scalping(half_spread_bps=D(20), skew_bps=D(10))
    result = run(strategy, rows, balances={"USDT": D(10000), "TST": D(3)})
    assert Counter(f.side for f in result.fills).keys() == {"buy", "sell"}
    base, quote = D(3), D(10000)
    for f in result.fills:
        sign = 1 if f.side == "buy" else -1
        base += sign * f.quantity
        quote -= sign * f.notional + f.fee
    assert result.final_balances["TST"].total == base
    assert result.final_balances["USDT"].total == quote


def test_an_equity_fraction_above_one_is_refused():
    with pytest.raises(SpotlabError, match="at most 1"):
        Scalping(max_inventory=D(2))
    assert Scalping(max_inventory=D(2), inventory_in="base").max_inventory == D(2)


@pytest.mark.slow
def test_on_a_month_of_real_btc_hours_it_trades_both_sides_and_repeats_itself_exactly():
    bars = bars_from_file(DATA / "quantedge-ta" / "btcusdt-1h.csv", "BTC/USDT", "1h")

    def once():
        strategy = Scalping()
        result = run_backtest(strategy, {"BTC/USDT": bars}, {"USDT": D(10000)}, progress=False)
        result.exchange.check_invariants()
        return strategy, result

    (first, a), (_, b) = once(), once()
    sides = Counter(f.side for f in a.fills)
    assert sides["buy"] > 100 and sides["sell"] > 100
    assert {f.role for f in a.fills} == {"maker"}  # post-only quotes only: never a taker fill
    assert Counter(q.outcome for q in first.quotes)["placed"] > 700
    assert a.records() == b.records()
    assert a.exchange.state_hash() == b.exchange.state_hash()
    assert isinstance(first.quotes[0], Quote)

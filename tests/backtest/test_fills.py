"""The fill model on the real exchange: limits fill when the price trades through them, stops
trigger on the intrabar path and fill from the ladder, the path order decides between the two."""

from __future__ import annotations

from decimal import Decimal

import pytest

from spotlab.backtest import FillModel, run_backtest
from spotlab.core.markets import Asset, MarketSpec
from tests.backtest.support import HOUR_NS, T0, Scripted, run

D = Decimal


def limit_buy_at_98(strategy, bar):
    strategy.buy("TST/USDT", D(1), price=D("98.00"))


def test_a_resting_limit_buy_fills_only_when_the_low_trades_through_its_price_and_at_its_price():
    strategy = Scripted({0: limit_buy_at_98})
    rows = [(100, 101, 99, 100), (100, 100.5, 98, 99), (99, 99.5, 97.99, 99)]  # bar 1 only touches 98
    result = run(strategy, rows)
    [fill] = result.fills
    assert (fill.side, fill.price, fill.quantity, fill.role) == ("buy", D("98.00"), D("1.000"), "maker")
    assert T0 + 2 * HOUR_NS <= fill.time_ns < T0 + 3 * HOUR_NS  # during bar 2, not bar 1
    assert strategy.filled == [fill]  # on_fill saw it


def test_with_fill_on_touch_a_limit_fills_when_the_price_only_touches_it():
    strategy = Scripted({0: limit_buy_at_98})
    rows = [(100, 101, 99, 100), (100, 100.5, 98, 99), (99, 99.5, 97.99, 99)]
    result = run(strategy, rows, model=FillModel(depth_quantity=D(10), fill_on_touch=True))
    [fill] = result.fills
    assert fill.price == D("98.00")
    assert T0 + HOUR_NS <= fill.time_ns < T0 + 2 * HOUR_NS  # during bar 1


def test_a_limit_never_traded_through_stays_open():
    strategy = Scripted({0: limit_buy_at_98})
    result = run(strategy, [(100, 101, 99, 100), (100, 100, 98.5, 99)])
    assert result.fills == []
    [order] = result.orders
    assert (order.status, order.price, order.remaining_quantity) == ("NEW", D("98.00"), D("1.000"))


def stop_at_95(strategy, bar):
    strategy.place_order("TST/USDT", "sell", "stop_loss", quantity=D(1), stop_price=D(95))


def test_a_stop_loss_triggers_on_the_path_and_walks_the_ladder_with_visible_slippage():
    # 0.4 TST per level, a 20 bps spread and 2 bps between levels: around 94.00 the bids are
    # 93.90, 93.88, 93.86, ... (half spread 9.4 ticks -> 10 ticks; step 1.88 -> 2 ticks)
    model = FillModel(depth_quantity=D("0.4"), spread_bps=D(20), level_step_bps=D(2))
    strategy = Scripted({0: stop_at_95})
    rows = [(100, 100, 99, 100), (100, 100, 94, 96)]
    result = run(strategy, rows, balances={"USDT": D(1000), "TST": D(1)}, model=model)
    assert [(f.price, f.quantity) for f in result.fills] == [
        (D("93.90"), D("0.400")), (D("93.88"), D("0.400")), (D("93.86"), D("0.200")),
    ]  # fmt: skip
    stop, child = result.orders
    assert (stop.type, stop.status) == ("stop_loss", "TRIGGERED")
    assert (child.type, child.parent_id, child.status) == ("market", stop.id, "FILLED")
    assert child.average_price == D("93.884")
    assert child.arrival_price == D(95)  # slippage is measured against the stop that triggered it
    assert child.arrival_price - child.average_price == D("1.116")
    assert result.final_balances["TST"].total == 0


@pytest.mark.parametrize(
    ("path", "exit_kind", "exit_prices"),
    [
        ("open-high-low-close", "take-profit", [D("103.00")]),
        ("open-low-high-close", "stop", [D("95.90"), D("95.88")]),
    ],
)
def test_when_both_exits_are_inside_one_bar_the_path_order_decides_which_fires(path, exit_kind, exit_prices):
    model = FillModel(depth_quantity=D("0.5"), spread_bps=D(20), level_step_bps=D(2), path=path)

    def protect(strategy, bar):
        strategy.place_oco("TST/USDT", D(1), take_profit_price=D(103), stop_price=D(97))

    strategy = Scripted({0: protect})
    rows = [(100, 100, 100, 100), (100, 104, 96, 100)]
    result = run(strategy, rows, balances={"USDT": D(1000), "TST": D(1)}, model=model)
    assert sorted({f.price for f in result.fills}, reverse=True) == exit_prices
    assert sum(f.quantity for f in result.fills) == D(1)
    roles = {f.role for f in result.fills}
    assert roles == ({"maker"} if exit_kind == "take-profit" else {"taker"})


def test_nearest_first_visits_the_extreme_nearer_the_open_first():
    def protect(strategy, bar):
        strategy.place_oco("TST/USDT", D(1), take_profit_price=D(103), stop_price=D(97))

    model = FillModel(depth_quantity=D(5), path="nearest-first")
    near_high = run(Scripted({0: protect}), [(100,) * 4, (102, 104, 96, 100)], balances={"TST": D(1)}, model=model)
    near_low = run(Scripted({0: protect}), [(100,) * 4, (98, 104, 96, 100)], balances={"TST": D(1)}, model=model)
    assert [f.price for f in near_high.fills] == [D("103.00")]
    assert near_low.fills[0].price < D(97)


def test_fees_are_the_markets_maker_and_taker_rates_on_each_fill():
    def trade(strategy, bar):
        strategy.buy("TST/USDT", D(2))  # market: taker, 0.2 %
        strategy.sell("TST/USDT", D(1), price=D("101.50"))  # resting: maker, 0.1 %

    result = run(Scripted({0: trade}), [(100, 100, 100, 100), (100, 102, 99, 101)])
    taker, maker = result.fills
    assert (taker.role, maker.role) == ("taker", "maker")
    assert taker.fee == taker.notional * D("0.002")
    assert maker.fee == maker.notional * D("0.001")
    assert result.fees_paid == taker.fee + maker.fee
    assert result.exchange.fee_balances()["USDT"].total >= result.fees_paid  # the exchange got them


def test_a_market_order_pays_the_spread_and_walks_levels_when_it_is_larger_than_one():
    model = FillModel(depth_quantity=D(1), spread_bps=D(10), level_step_bps=D(10))

    def buy(strategy, bar):
        strategy.buy("TST/USDT", D("2.5"))

    result = run(Scripted({0: buy}), [(100, 100, 100, 100)], model=model)
    # around 100.00: asks at 100.05, 100.15, 100.25 (half spread 5 ticks, step 10 ticks)
    assert [(f.price, f.quantity) for f in result.fills] == [
        (D("100.05"), D("1.000")), (D("100.15"), D("1.000")), (D("100.25"), D("0.500")),
    ]  # fmt: skip


def test_with_one_bar_of_latency_an_order_sent_at_a_close_fills_at_the_next_open():
    def buy(strategy, bar):
        assert strategy.buy("TST/USDT", D(1)) is None  # on its way

    rows = [(100, 100, 100, 100), (110, 111, 109, 110)]
    model = FillModel(depth_quantity=D(10), spread_bps=D(10), latency_bars=1)
    result = run(Scripted({0: buy}), rows, model=model)
    [fill] = result.fills
    assert fill.time_ns == T0 + HOUR_NS  # bar 1's open
    assert fill.price == D("110.06")  # the ask around the open (half spread 5.5 ticks -> 6)
    no_latency = run(Scripted({0: buy_now}), rows, model=FillModel(depth_quantity=D(10), spread_bps=D(10)))
    assert no_latency.fills[0].price == D("100.05")


def buy_now(strategy, bar):
    strategy.buy("TST/USDT", D(1))


def test_a_refused_delayed_order_is_recorded_not_raised():
    def too_big(strategy, bar):
        strategy.buy("TST/USDT", D(1000), price=D(100))  # 100,000 USDT: more than there is

    model = FillModel(depth_quantity=D(10), latency_bars=1)
    result = run(Scripted({0: too_big}), [(100,) * 4, (100,) * 4], model=model)
    [(time_ns, market, error)] = result.refusals
    assert (time_ns, market, str(error.code)) == (T0 + HOUR_NS, "TST/USDT", "INSUFFICIENT_FUNDS")


def test_a_trailing_stop_follows_the_high_of_the_path_and_triggers_when_the_price_falls_back():
    def trail(strategy, bar):
        strategy.place_order("TST/USDT", "sell", "trailing_stop", quantity=D(1), trailing_percent=D(2))

    rows = [(100,) * 4, (100, 105, 100, 104), (104, 104, 101, 102)]
    result = run(Scripted({0: trail}), rows, balances={"TST": D(1)}, model=FillModel(depth_quantity=D(5)))
    trailing, child = result.orders
    assert (trailing.status, trailing.stop_price) == ("TRIGGERED", D("102.90"))  # 2 % under the peak of 105
    [fill] = result.fills
    assert fill.order_id == child.id
    assert fill.time_ns == T0 + 2 * HOUR_NS + HOUR_NS // 2  # bar 2's low, its third point
    assert fill.price == D("100.97")  # the best bid of the ladder around 101.00 (2 bps half spread -> 3 ticks)


def test_a_bracket_entered_and_stopped_out_within_one_bar_sells_into_the_ladder():
    def bracket(strategy, bar):
        strategy.place_bracket("TST/USDT", D(1), entry_price=D(98), take_profit_price=D(103), stop_price=D(97))

    rows = [(100,) * 4, (100, 100, 96, 96)]
    result = run(Scripted({0: bracket}), rows, model=FillModel(depth_quantity=D(5), spread_bps=D(10)))
    entry, exit_ = result.fills
    assert (entry.side, entry.price, entry.role) == ("buy", D("98.00"), "maker")
    assert (exit_.side, exit_.role) == ("sell", "taker")
    assert exit_.price == D("95.95")  # the best bid around the 96.00 print (half spread 4.8 -> 5 ticks)
    [trip] = result.trades
    assert trip.pnl < 0


@pytest.mark.parametrize(
    ("trades", "exit_kind"),
    [
        ([(10, "101"), (20, "104"), (30, "96"), (40, "100")], "take-profit"),  # the high traded first
        ([(10, "99"), (20, "96"), (30, "104"), (40, "100")], "stop"),  # the low traded first
    ],
)
def test_where_the_data_has_trades_they_decide_the_order_inside_the_bar_not_the_path(trades, exit_kind):
    """The same bar (100, 104, 96, 100) and the path setting that fires the take-profit; the bar's real trades
    (at minutes 10, 20, 30 and 40 of its hour) say which exit really came first."""
    model = FillModel(depth_quantity=D("0.5"), spread_bps=D(20), level_step_bps=D(2), path="open-high-low-close")

    def protect(strategy, bar):
        strategy.place_oco("TST/USDT", D(1), take_profit_price=D(103), stop_price=D(97))

    minute = 60_000_000_000
    replayed = [(T0 + HOUR_NS + m * minute, D(p)) for m, p in trades]
    result = run(Scripted({0: protect}), [(100, 100, 100, 100), (100, 104, 96, 100)],
                 balances={"USDT": D(1000), "TST": D(1)}, model=model, trades={"TST/USDT": replayed})  # fmt: skip
    roles = {f.role for f in result.fills}
    assert roles == ({"maker"} if exit_kind == "take-profit" else {"taker"})
    assert result.fills[0].time_ns == T0 + HOUR_NS + 20 * minute  # at the trade's own time (the second trade)


def test_trades_load_from_a_trades_file_and_replay_the_real_xrp_eth_tape():
    from spotlab.backtest import bars_from_file, trades_from_file
    from tests.shared_data import DATA

    bars = bars_from_file(DATA / "freqtrade" / "XRP_ETH-1m.csv", "XRP/ETH", "1m")
    trades = trades_from_file(DATA / "freqtrade" / "XRP_ETH-trades.csv")
    assert len(trades) == 12_477 and trades[0] == (1_570_752_011_620_000_000, D("0.00141342"))
    spec = MarketSpec("XRP/ETH", Asset("XRP", 8), Asset("ETH", 8), D("0.00000001"), D("1"), D("1"), D("0.0001"),
                      D("0.001"), D("0.001"))  # fmt: skip

    def rest(strategy, bar):
        strategy.buy("XRP/ETH", D(100), price=bar.close - D("0.00000500"))  # a bid below: filled when traded through

    result = run_backtest(Scripted({5: rest}), {"XRP/ETH": bars}, {"ETH": D(10)}, markets=[spec],
                          report_currency="ETH", progress=False, trades={"XRP/ETH": trades})  # fmt: skip
    result.exchange.check_invariants()
    [fill] = result.fills
    later = [p for t, p in trades if t > bars[5].close_time_ns]
    assert fill.role == "maker" and fill.price == bars[5].close - D("0.00000500")
    assert min(later) < fill.price  # a real trade went through the bid


def test_a_strategy_re_quotes_in_one_step_and_its_quotes_fill_as_limits_do():
    def quote_around(strategy, bar):
        mid = bar.close
        answer = strategy.replace_quotes("TST/USDT", [("buy", mid - 2, D(1)), ("sell", mid + 2, D(1))])
        strategy.answers.append(answer)

    strategy = Scripted({0: quote_around, 1: quote_around})
    strategy.answers = []
    rows = [(100, 101, 99, 100), (100, 100.5, 97.5, 99), (99, 99.5, 98.5, 99)]  # bar 1 trades through 98
    result = run(strategy, rows, balances={"USDT": D(10000), "TST": D(5)})
    first, second = strategy.answers
    assert [(o.side, o.price) for o in first.placed] == [("buy", D("98.00")), ("sell", D("102.00"))]
    [fill] = result.fills
    assert (fill.side, fill.price, fill.role) == ("buy", D("98.00"), "maker")
    assert [o.id for o in second.canceled] == [first.placed[1].id]  # the filled bid is gone; the ask is replaced
    assert [(o.side, o.price, o.status) for o in result.orders if o.status == "NEW"] == [
        ("buy", D("97.00"), "NEW"),
        ("sell", D("101.00"), "NEW"),
    ]


def test_with_latency_a_re_quote_reaches_the_exchange_at_the_next_open():
    def quote(strategy, bar):
        assert strategy.replace_quotes("TST/USDT", [("buy", D(99), D(1))]) is None  # on its way

    model = FillModel(depth_quantity=D(10), latency_bars=1)
    result = run(Scripted({0: quote}), [(100,) * 4, (100,) * 4], model=model)
    [order] = result.orders
    assert (order.side, order.price, order.status) == ("buy", D("99.00"), "NEW")
    assert int(order.created_at.timestamp()) * 10**9 == T0 + HOUR_NS  # bar 1's open

"""The backtester's records: equity at each close, round trips from fills, several markets, determinism."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from spotlab import indicators
from spotlab.backtest import FillModel, run_backtest
from spotlab.backtest.records import EquityPoint
from spotlab.clock import ns_to_datetime
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.profile import RiskProfile
from spotlab.strategy import Strategy
from tests.backtest.support import HOUR_NS, T0, Scripted, bars, run, spec

D = Decimal


def test_one_equity_point_at_the_start_and_per_close_values_cash_and_holdings_at_that_moment():
    def buy(strategy, bar):
        strategy.buy("TST/USDT", D(2))

    result = run(Scripted({1: buy}), [(100, 101, 99, 100), (100, 102, 99, 101), (101, 103, 100, 102)])
    assert [p.time_ns for p in result.equity] == [T0, T0 + HOUR_NS, T0 + 2 * HOUR_NS, T0 + 3 * HOUR_NS]
    assert result.equity[0] == EquityPoint(T0, D(10000), D(0))  # the starting balances
    assert result.equity[1] == EquityPoint(T0 + HOUR_NS, D(10000), D(0))
    cash = result.final_balances["USDT"].total
    assert result.equity[3] == EquityPoint(T0 + 3 * HOUR_NS, cash + 2 * D(102), 2 * D(102))
    bought = result.fills[0]
    assert result.equity[2].equity == D(10000) - bought.notional - bought.fee + 2 * D(101)


def test_a_round_trip_runs_from_the_first_buy_to_flat_with_partial_exits_inside():
    def enter(strategy, bar):
        strategy.buy("TST/USDT", D(2))

    def scale_out(strategy, bar):
        strategy.sell("TST/USDT", D(1))

    def leave(strategy, bar):
        strategy.sell("TST/USDT", D(1))

    rows = [(100,) * 4, (105,) * 4, (110,) * 4, (120,) * 4]
    result = run(Scripted({0: enter, 1: scale_out, 2: leave}), rows)
    buy, sell_1, sell_2 = result.fills
    [trip] = result.trades
    assert (trip.market, trip.side, trip.quantity) == ("TST/USDT", "long", D(2))
    assert (trip.entry_time_ns, trip.exit_time_ns) == (buy.time_ns, sell_2.time_ns)
    assert trip.entry_price == buy.price
    assert trip.exit_price == (sell_1.notional + sell_2.notional) / 2
    assert trip.cost == buy.notional + buy.fee
    assert trip.fees == buy.fee + sell_1.fee + sell_2.fee
    assert trip.pnl == sell_1.notional - sell_1.fee + sell_2.notional - sell_2.fee - trip.cost
    assert trip.pnl == result.final_balances["USDT"].total - D(10000)  # every fee is in the round trip


def test_selling_deposited_base_is_not_a_round_trip_and_an_open_position_is_not_one_either():
    def sell_deposit(strategy, bar):
        strategy.sell("TST/USDT", D(1))
        strategy.buy("TST/USDT", D(1))

    result = run(Scripted({0: sell_deposit}), [(100,) * 4, (100,) * 4], balances={"USDT": D(1000), "TST": D(1)})
    assert len(result.fills) == 2 and result.trades == []


def test_two_markets_play_in_time_order_and_equity_walks_through_a_cross_market():
    class HoldBoth(Strategy):
        def init(self):
            self.order = []

        def on_bar(self, bar):
            self.order.append((bar.market, bar.close_time_ns))
            if len(self.data[bar.market]) == 1:
                if bar.market == "BTC/USDT":
                    self.buy("BTC/USDT", D("0.1"))
                else:
                    self.buy("ETH/BTC", D("1"))

    btc = bars((50000,) * 4, (51000,) * 4, market="BTC/USDT")
    eth = bars(("0.05",) * 4, ("0.06",) * 4, market="ETH/BTC")
    strategy = HoldBoth()
    result = run_backtest(
        strategy, {"ETH/BTC": eth, "BTC/USDT": btc}, {"USDT": D(20000), "BTC": D("0.2")},
        fill_model=FillModel(depth_quantity=D(5)), progress=False,
    )  # fmt: skip
    result.exchange.check_invariants()
    assert strategy.order == [
        ("BTC/USDT", T0 + HOUR_NS), ("ETH/BTC", T0 + HOUR_NS), ("BTC/USDT", T0 + 2 * HOUR_NS),
        ("ETH/BTC", T0 + 2 * HOUR_NS),
    ]  # fmt: skip
    final = result.final_balances
    expected = final["USDT"].total + final["BTC"].total * 51000 + final["ETH"].total * D("0.06") * 51000
    assert result.equity[-1].equity == expected
    assert result.equity[-1].invested == expected - final["USDT"].total


def test_two_runs_give_equal_records_and_the_same_exchange_state():
    def trade(strategy, bar):
        strategy.buy("TST/USDT", D(3))
        strategy.place_oco("TST/USDT", D(3), take_profit_price=D(104), stop_price=D(96))

    rows = [(100,) * 4, (100, 103, 98, 101), (101, 105, 95, 97), (97, 99, 96, 98)]
    first = run(Scripted({0: trade}), rows)
    second = run(Scripted({0: trade}), rows)
    assert first.records() == second.records()
    assert first.exchange.state_hash() == second.exchange.state_hash()
    assert first.fills  # the run did trade


def test_the_strategy_account_is_the_only_one_whose_fills_are_recorded():
    result = run(Scripted(), [(100, 101, 99, 100)] * 3)
    assert result.fills == [] and result.trades == [] and result.fees_paid == 0
    assert result.exchange.trades("TST/USDT")  # the tape printed the path meanwhile
    assert [p.equity for p in result.equity] == [D(10000)] * 4


@pytest.mark.parametrize(
    ("kwargs", "code", "text"),
    [
        ({"balances": {"USDT": D(1)}, "report_currency": "EUR"}, ErrorCode.UNKNOWN_ASSET, "EUR"),
        ({"balances": {"USDT": D(1)}, "report_currency": "ETH"}, ErrorCode.INVALID_ARGUMENT, "report currency ETH"),
        ({"balances": {"USDT": 1.5}}, ErrorCode.INVALID_NUMBER, ""),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_error(kwargs, code, text):
    with pytest.raises(SpotlabError) as caught:
        run_backtest(Scripted(), {"TST/USDT": bars((100,) * 4)}, markets=[spec()], progress=False, **kwargs)
    assert caught.value.code is code
    assert text in caught.value.message


def test_bars_out_of_order_are_refused():
    rows = bars((100,) * 4, (101,) * 4)
    with pytest.raises(SpotlabError, match="sorted"):
        run_backtest(Scripted(), {"TST/USDT": rows[::-1]}, {"USDT": D(1)}, markets=[spec()], progress=False)


def test_a_strategy_instance_runs_once():
    strategy = Scripted()
    run(strategy, [(100,) * 4])
    with pytest.raises(SpotlabError, match="already attached"):
        run(strategy, [(100,) * 4])


def test_the_progress_bar_goes_to_stderr_and_can_be_turned_off(capsys):
    run_backtest(Scripted(), {"TST/USDT": bars((100,) * 4)}, {"USDT": D(1)}, markets=[spec()], progress=True)
    assert capsys.readouterr().out == ""


def test_the_exchange_enforces_the_accounts_risk_profile_and_the_run_records_its_refusals():
    """The same guards as live: with max_trades_per_day=1 the second entry of a simulated day is refused."""

    def buy(strategy, bar):
        strategy.buy("TST/USDT", D(1))

    rows = [(100, 101, 99, 100)] * 4
    result = run(Scripted({0: buy, 1: buy, 2: buy}), rows, risk_profile=RiskProfile(max_trades_per_day=1))
    assert len({fill.order_id for fill in result.fills}) == 1  # only the first entry traded
    assert [(where, error.code) for _, where, error in result.refusals] == [
        ("on_bar", ErrorCode.RISK_LIMIT), ("on_bar", ErrorCode.RISK_LIMIT)
    ]  # fmt: skip
    assert [time for time, _, _ in result.refusals] == [T0 + 2 * HOUR_NS, T0 + 3 * HOUR_NS]
    assert "max_trades_per_day" in result.refusals[0][2].message


def test_a_strategy_bug_ends_the_run_instead_of_being_recorded():
    def bug(strategy, bar):
        strategy.at(strategy.now - timedelta(hours=1), "late")  # a timer in the past: a bug, not a refusal

    with pytest.raises(SpotlabError, match="past"):
        run(Scripted({1: bug}), [(100, 101, 99, 100)] * 3)


def test_warm_up_bars_are_history_the_strategy_sees_but_never_trades_on():
    class Watcher(Strategy):
        def init(self):
            self.sma = self.indicator(indicators.SMA, 3)
            self.first_seen = None

        def on_bar(self, bar):
            if self.first_seen is None:
                self.first_seen = (len(self.data[bar.market].close), self.sma[-1])

    history = bars((90, 90, 90, 90), (93, 93, 93, 93), (96, 96, 96, 96))
    played = [
        replace(b, open_time_ns=b.open_time_ns + 3 * HOUR_NS, close_time_ns=b.close_time_ns + 3 * HOUR_NS)
        for b in bars((99, 99, 99, 99), (100, 100, 100, 100))
    ]
    watcher = Watcher()
    result = run_backtest(watcher, {"TST/USDT": played}, {"USDT": D(1000)}, markets=[spec()],
                          warmup={"TST/USDT": history}, progress=False)  # fmt: skip
    assert watcher.first_seen == (4, (93 + 96 + 99) / 3)  # the SMA is warm at the first played bar
    assert [p.time_ns for p in result.equity] == [T0 + 3 * HOUR_NS, T0 + 4 * HOUR_NS, T0 + 5 * HOUR_NS]
    assert len(result.exchange.trades("TST/USDT")) > 0 and result.bars["TST/USDT"] == played
    with pytest.raises(SpotlabError, match="must close by the run's first open"):
        run_backtest(Watcher(), {"TST/USDT": history}, {"USDT": D(1000)}, markets=[spec()],
                     warmup={"TST/USDT": history}, progress=False)  # fmt: skip


class BuysInInit(Scripted):
    """Sends its entry from ``init``: before the first bar has closed."""

    def __init__(self, order: str = "market") -> None:
        super().__init__()
        self.order = order
        self.events: list[str] = []

    def init(self) -> None:
        if self.order == "market":
            self.buy("TST/USDT", Decimal(1))
        else:
            self.buy("TST/USDT", Decimal(1), price=Decimal("99"))

    def on_bar(self, bar) -> None:
        self.events.append("bar")
        super().on_bar(bar)

    def on_fill(self, fill) -> None:
        self.events.append("fill")
        super().on_fill(fill)


def test_an_order_sent_from_init_meets_the_first_open():
    rows = [(100, 104, 97, 103), (103, 105, 102, 104)]
    strategy = BuysInInit()
    result = run(strategy, rows, model=FillModel(depth_quantity=Decimal(10), fill_at_print=True))
    [fill] = strategy.filled
    assert (fill.side, fill.price, fill.quantity, fill.time_ns) == ("buy", Decimal(100), Decimal(1), T0)
    assert strategy.events[:2] == ["fill", "bar"]  # filled at the open, told before the first bar closed
    assert result.final_balances["TST"].total == Decimal(1)
    # the ordinary ladder: the ask half a spread (4 bps) above the open
    strategy = BuysInInit()
    run(strategy, rows)
    assert strategy.filled[0].price == Decimal("100.02") and strategy.filled[0].time_ns == T0


def test_a_limit_order_from_init_rests_and_fills_when_the_path_trades_through_it():
    strategy = BuysInInit(order="limit")
    run(strategy, [(100, 104, 97, 103), (103, 105, 102, 104)])
    [fill] = strategy.filled
    assert fill.price == Decimal(99) and T0 < fill.time_ns < T0 + HOUR_NS  # on the first bar's way down to 97


def test_without_orders_from_init_the_first_open_is_printed_once_by_the_first_bar():
    rows = [(100, 104, 97, 103), (103, 105, 102, 104)]
    result = run(Scripted(), rows, print_every_point=True)  # every point printed: the open at T0 among them
    at_open = [trade for trade in result.exchange.trades("TST/USDT", limit=100) if trade.time == ns_to_datetime(T0)]
    assert len(at_open) == 1 and at_open[0].price == Decimal(100)


def test_the_result_lists_every_order_as_the_exchange_shows_it_at_the_end():
    def enter(strategy, bar):
        strategy.buy("TST/USDT", D(2))  # a market order: closed by its answer
        strategy.buy("TST/USDT", D(1), price=D(90))  # rests, then is canceled
        strategy.sell("TST/USDT", D(1), price=D(130))  # rests until the end

    def cancel_bid(strategy, bar):
        for order in strategy.open_orders("TST/USDT"):
            if order.side == "buy":
                strategy.cancel(order.id)

    result = run(Scripted({0: enter, 1: cancel_bid}), [(100,) * 4, (101,) * 4, (102,) * 4])
    statuses = [(o.type, o.side, o.status) for o in result.orders]
    assert statuses == [("market", "buy", "FILLED"), ("limit", "buy", "CANCELED"), ("limit", "sell", "NEW")]
    assert result.orders == [result.exchange.order(result.account, o.id) for o in result.orders]

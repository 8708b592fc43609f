"""The fill model's pure parts: the intrabar path and the ladder a bar implies; its settings checked."""

from __future__ import annotations

from decimal import Decimal

import pytest

from spotlab.backtest.fill_model import FillModel, intrabar_path, ladder, minimum_lots
from spotlab.errors import SpotlabError
from spotlab.strategy import Strategy
from tests.backtest.support import HOUR_NS, T0, Scripted, buy_one, run, sell_one, spec

D = Decimal


@pytest.mark.parametrize(
    ("path", "bar", "expected"),
    [
        ("open-high-low-close", (100, 110, 90, 105), (100, 110, 90, 105)),
        ("open-low-high-close", (100, 110, 90, 105), (100, 90, 110, 105)),
        ("nearest-first", (100, 103, 90, 95), (100, 103, 90, 95)),  # the high is nearer the open
        ("nearest-first", (100, 110, 97, 95), (100, 97, 110, 95)),  # the low is nearer
        ("nearest-first", (100, 105, 95, 95), (100, 105, 95, 95)),  # a tie: the high first
    ],
)
def test_the_intrabar_path(path, bar, expected):
    assert intrabar_path(*bar, path) == expected


def test_the_ladder_around_a_price_in_ticks():
    model = FillModel(spread_bps=D(20), level_step_bps=D(5), levels=3, depth_quantity=D("0.5"))
    bids, asks = ladder(spec(), model, 10_000, D(0))  # 100.00
    assert bids == [(9_990, 500), (9_985, 500), (9_980, 500)]  # half spread 10 ticks, step 5 ticks, 500 lots
    assert asks == [(10_010, 500), (10_015, 500), (10_020, 500)]


def test_depth_follows_the_bars_volume_and_never_goes_below_the_markets_minimums():
    model = FillModel(depth_fraction=D("0.1"), levels=1)
    bids, asks = ladder(spec(), model, 10_000, D(250))
    assert bids == [(9_998, 25_000)] and asks == [(10_002, 25_000)]  # 25 TST; half spread 2 bps -> 2 ticks
    thin_bids, _ = ladder(spec(), model, 10_000, D(0))
    assert thin_bids == [(9_998, minimum_lots(spec(), 9_998))]
    assert minimum_lots(spec(), 10_000) == 10  # min notional 1 USDT at 100.00: 0.010 TST


def test_the_spread_is_at_least_one_tick_each_side():
    bids, asks = ladder(spec(), FillModel(spread_bps=D(0), levels=1, depth_quantity=D(1)), 500, D(0))
    assert bids[0][0] == 499 and asks[0][0] == 501


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"spread_bps": 2.5}, "spread_bps must be a Decimal"),
        ({"depth_fraction": D(-1)}, ">= 0"),
        ({"depth_quantity": D(0)}, "depth_quantity must be positive"),
        ({"levels": 0}, "levels must be an integer from 1 to 50"),
        ({"path": "open-close"}, "path must be one of"),
        ({"latency_bars": 2}, "latency_bars must be 0 or 1"),
        ({"fill_at_print": 1}, "fill_at_print must be True or False"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(SpotlabError, match=message):
        FillModel(**settings)


# -- fill_at_print: the side an order takes starts at the last print (no spread) ----------------------


def test_at_the_print_the_side_an_order_takes_starts_at_the_price_and_the_other_keeps_its_half_spread():
    model = FillModel(spread_bps=D(20), level_step_bps=D(5), levels=2, depth_quantity=D("0.5"), fill_at_print=True)
    assert ladder(spec(), model, 10_000, D(0), "buy") == ([(9_990, 500), (9_985, 500)], [(10_000, 500), (10_005, 500)])
    assert ladder(spec(), model, 10_000, D(0), "sell") == (
        [(10_000, 500), (9_995, 500)],
        [(10_010, 500), (10_015, 500)],
    )
    ordinary = ([(9_990, 500), (9_985, 500)], [(10_010, 500), (10_015, 500)])
    assert ladder(spec(), model, 10_000, D(0)) == ordinary  # no order about to arrive: the ordinary ladder
    without = FillModel(spread_bps=D(20), level_step_bps=D(5), levels=2, depth_quantity=D("0.5"))
    assert ladder(spec(), without, 10_000, D(0), "buy") == ordinary  # the option is off by default


@pytest.mark.parametrize(
    ("fill_at_print", "prices"),
    [
        (True, [D("101.00"), D("103.00")]),  # exactly the next opens
        (False, [D("101.01"), D("102.99")]),  # a zero spread_bps is still one tick each side
    ],
)
def test_with_fill_at_print_and_one_bar_of_latency_market_orders_fill_at_the_next_open(fill_at_print, prices):
    model = FillModel(spread_bps=D(0), depth_quantity=D(10), latency_bars=1, fill_at_print=fill_at_print)
    rows = [(100, 100, 100, 100), (101, 102, 100, 102), (103, 104, 102, 103)]
    result = run(Scripted({0: buy_one, 1: sell_one}), rows, model=model)
    assert [(f.side, f.price, f.quantity, f.role) for f in result.fills] == [
        ("buy", prices[0], D("1.000"), "taker"), ("sell", prices[1], D("1.000"), "taker"),
    ]  # fmt: skip
    assert [f.time_ns for f in result.fills] == [T0 + HOUR_NS, T0 + 2 * HOUR_NS]  # at the opens
    assert [f.fee for f in result.fills] == [p * D("0.002") for p in prices]  # the taker fee, 0.2 %


def test_without_latency_a_market_order_with_fill_at_print_fills_at_the_close_it_was_sent_on():
    model = FillModel(depth_quantity=D(10), fill_at_print=True)  # the default 4 bps spread otherwise
    result = run(Scripted({0: buy_one, 1: sell_one}), [(100, 100, 100, 100), (101, 102, 100, 102)], model=model)
    assert [(f.side, f.price) for f in result.fills] == [("buy", D("100.00")), ("sell", D("102.00"))]


def test_fill_at_print_keeps_the_ordinary_ladder_when_it_would_cross_the_strategys_own_resting_bid():
    def bid_below_then_buy(strategy, bar):
        strategy.buy("TST/USDT", D(1), price=D("99.99"))

    model = FillModel(depth_quantity=D(10), fill_at_print=True, spread_bps=D(0))
    rows = [(100, 100, 100, 100), (100, 100, 99.99, 99.99)]  # bar 1 ends at the bid's price without going through
    result = run(Scripted({0: bid_below_then_buy, 1: buy_one}), rows, model=model)
    [fill] = result.fills
    assert (fill.side, fill.price, fill.time_ns) == ("buy", D("100.00"), T0 + 2 * HOUR_NS)  # one tick above
    resting = [o for o in result.orders if o.type == "limit"]
    assert [(o.price, o.status, o.remaining_quantity) for o in resting] == [(D("99.99"), "NEW", D("1.000"))]


class ReadsTheBook(Strategy):
    """Reads the top of the book at every close, without ever trading."""

    def init(self):
        self.books = []

    def on_bar(self, bar):
        book = self.order_book(bar.market, depth=2)
        self.books.append((bar.close, book.bids, book.asks))


@pytest.mark.parametrize("every_point", [False, True], ids=["fast path", "every point"])
def test_a_strategy_reading_the_book_sees_the_ladder_the_bar_implies_around_the_last_print(every_point):
    strategy = ReadsTheBook()
    rows = [(100, 104, 97, 103, 200), (103, 105, 102, 104, 200), (104, 104, 99, 100, 200)]
    run(strategy, rows, model=FillModel(levels=2, depth_quantity=Decimal(5)), print_every_point=every_point)
    for close, bids, asks in strategy.books:
        # half the 4 bps spread and the 2 bps step, each rounded up to the 0.01 tick (the fill model's docstring)
        half = step = (close * Decimal("0.0002") / Decimal("0.01")).to_integral_value(rounding="ROUND_CEILING") / 100
        assert [price for price, _ in bids] == [close - half, close - half - step]
        assert [price for price, _ in asks] == [close + half, close + half + step]
        assert {quantity for _, quantity in bids + asks} == {Decimal(5)}

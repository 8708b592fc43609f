"""A strategy wired to several named venues: two REAL servers on one simulated clock, one account on each.

The main venue (the first named) is what ``self.data``, indicators and ``venue=None`` mean; every
other venue is addressed by name. Bars and fills carry their venue's name; balances stay per venue.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from spotlab import SimulatedClock
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.indicators import SMA
from spotlab.strategy.base import Strategy
from spotlab.strategy.data import Bar, StrategyFill
from spotlab.strategy.http_venue import HttpVenue
from spotlab.strategy.live import HttpFeed, LiveRunner
from spotlab.strategy.params import Param
from tests.backtest.support import run
from tests.strategy.remote import START, Server, serve

BTC = "BTC/USDT"
D = Decimal
_names = itertools.count(1)


class Recorder(Strategy):
    """Records bars and fills; on its first bar from venue ``buy_on``, a market buy of 0.001 there."""

    buy_on = Param(str, "b", "the venue to buy on")

    def init(self) -> None:
        self.bars: list[Bar] = []
        self.fills: list[StrategyFill] = []
        self.sma = self.indicator(SMA, 2)

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar)
        if bar.venue == self.buy_on and not self.fills:
            self.buy(bar.market, D("0.001"), venue=self.buy_on)

    def on_fill(self, fill: StrategyFill) -> None:
        self.fills.append(fill)


@pytest.fixture
def venues():
    clock = SimulatedClock(START)
    with serve(clock) as a, serve(clock) as b:
        yield a, b


def wiring(a: Server, b: Server, funds_a: dict, funds_b: dict) -> dict:
    found = {}
    for name, server, funds in (("a", a, funds_a), ("b", b, funds_b)):
        user = server.trader("multi", **funds)
        venue = HttpVenue(server.url, user.key_id, user.secret, clock=server.clock)
        found[name] = (venue, HttpFeed(api=venue.api))
    return found


def trade(server: Server, price: str, quantity: str = "0.01") -> None:
    maker = server.counterparty(f"maker{next(_names)}", BTC="1")
    taker = server.counterparty(f"taker{next(_names)}", USDT="100000")
    server.exchange.place_order(maker, BTC, "sell", "limit", D(price), D(quantity))
    server.exchange.place_order(taker, BTC, "buy", "market", quantity=D(quantity))


def test_each_venues_bars_and_fills_reach_the_strategy_with_its_name(venues):
    a, b = venues
    runner = LiveRunner.across(Recorder(), wiring(a, b, {"USDT": "1000"}, {"USDT": "2000"}), [BTC], "1m", a.clock,
                               warmup=0)  # fmt: skip
    runner.start()
    strategy = runner.strategy
    assert strategy.venue_names == ("a", "b")
    assert strategy.balance("USDT").total == D("1000") and strategy.balance("USDT", venue="b").total == D("2000")
    trade(a, "40000")
    trade(b, "40400")
    b.counterparty("seller", BTC="1")
    b.exchange.place_order("seller", BTC, "sell", "limit", D("40500"), D("1"))
    a.clock.advance(minutes=1)
    runner.poll()
    # the same instant: venue a first, then b
    assert [(bar.venue, bar.close) for bar in strategy.bars] == [("a", D("40000.00")), ("b", D("40400.00"))]
    assert [bar.close for bar in strategy.data[BTC]] == [D("40000.00")]
    assert strategy.data_of("a") is strategy.data
    assert [bar.close for bar in strategy.data_of("b")[BTC]] == [D("40400.00")]
    assert len(strategy.sma) == 1  # indicators follow the main venue only: one bar, not two
    # the buy went to b: 0.001 x 40500 = 40.5 + fee 0.0405
    [fill] = strategy.fills
    assert (fill.venue, fill.side, fill.price, fill.quantity, fill.fee) == ("b", "buy", D("40500.00"), D("0.00100"),
                                                                            D("0.0405"))  # fmt: skip
    assert a.exchange.balances("multi")["USDT"].total == D("1000")  # nothing moved on a
    assert b.exchange.balances("multi")["USDT"].total == D("2000") - D("40.5405")
    assert strategy.position(BTC) == 0 and strategy.position(BTC, venue="b") == D("0.001")
    # equity adds the venues up, valued at the main venue's close (40000)
    assert runner.value_in("USDT") == D("1000") + D("2000") - D("40.5405") + D("40")
    assert runner.poll() == 0  # each bar and fill once


def test_a_refusal_on_the_second_venue_is_recorded_and_the_run_goes_on(venues):
    a, b = venues
    runner = LiveRunner.across(Recorder(), wiring(a, b, {"USDT": "1000"}, {}), [BTC], "1m", a.clock, warmup=0)
    runner.start()
    trade(b, "40000")
    b.counterparty("seller", BTC="1")
    b.exchange.place_order("seller", BTC, "sell", "limit", D("40500"), D("1"))
    a.clock.advance(minutes=1)
    assert runner.poll() == 1  # the account has no USDT on b
    [(_, where, error)] = runner.refusals
    assert where == "on_bar" and error.code is ErrorCode.INSUFFICIENT_FUNDS


def test_an_order_book_through_http_is_the_exchanges(venues):
    a, _ = venues
    for side, price, quantity in (("buy", "39990", "0.2"), ("buy", "39980", "0.1"), ("sell", "40010", "0.3")):
        name = a.counterparty(f"book{next(_names)}", BTC="1", USDT="100000")
        a.exchange.place_order(name, BTC, side, "limit", D(price), D(quantity))
    user = a.trader("reader")
    remote = HttpVenue(a.url, user.key_id, user.secret, clock=a.clock).order_book(BTC, 5)
    assert remote == a.exchange.order_book(BTC, 5)
    assert remote.bids == [(D("39990.00"), D("0.20000")), (D("39980.00"), D("0.10000"))]
    assert (remote.best_bid, remote.best_ask) == (D("39990.00"), D("40010.00"))


def test_bad_venue_wiring_is_refused(venues):
    a, b = venues
    pairs = wiring(a, b, {}, {})
    venue, feed = pairs["a"]
    cases = [
        {"venues": {}},
        {"venues": {"": pairs["a"]}},
        {"venues": {"a": (venue,)}},
        {"venues": pairs, "venue": venue, "feed": feed},
        {},  # neither
    ]
    for case in cases:
        options = {"venue": None, "feed": None, **case}
        with pytest.raises(SpotlabError) as caught:
            LiveRunner(Recorder(), options.pop("venue"), options.pop("feed"), [BTC], "1m", a.clock, **options)
        assert caught.value.code is ErrorCode.INVALID_ARGUMENT, case


class Naming(Strategy):
    """Reads its venues and names one that is not there."""

    def init(self) -> None:
        self.names = self.venue_names
        self.main_data = self.data_of()
        with pytest.raises(SpotlabError) as caught:
            self.balance("USDT", venue="elsewhere")
        self.refused = caught.value
        self.book = self.order_book(self.market, 1)  # ExchangeVenue.order_book: the backtest's exchange
        self.spec = self.market_spec(self.market)


def test_a_single_venue_run_has_one_venue_named_main():
    strategy = Naming()
    rows = [(100, 101, 99, 100)] * 2
    run(strategy, rows)
    assert strategy.names == ("main",) and strategy.main_data is strategy.data
    assert strategy.refused.code is ErrorCode.INVALID_ARGUMENT
    assert strategy.refused.message == "no venue 'elsewhere' in this run; its venues: main"
    # read from init, at the first open (100): the ladder the first bar implies, 2 ticks a side, 10 deep
    book = strategy.book
    assert (book.market, book.bids, book.asks) == ("TST/USDT", [(D("99.98"), D(10))], [(D("100.02"), D(10))])
    assert strategy.spec.symbol == "TST/USDT"

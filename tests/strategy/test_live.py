"""``LiveRunner`` against a real server: closed candles in, orders out, through HTTP only.

Counterparties trade through the facade on the server's simulated clock; the test moves the
clock and calls ``poll()``. The same strategy class, backtested over the bars the live run saw,
places the same orders: the point of the design.
"""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from spotlab.backtest import run_backtest
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.indicators import SMA
from spotlab.strategy.base import Strategy
from spotlab.strategy.data import Bar, StrategyFill
from spotlab.strategy.http_venue import HttpVenue
from spotlab.strategy.live import HttpFeed, LiveRunner
from spotlab.strategy.params import Param
from tests.strategy.remote import Server, serve

BTC = "BTC/USDT"
_names = itertools.count(1)


class Dip(Strategy):
    """On every bar: a limit buy ``depth`` below its close (the scripted strategy of these tests)."""

    depth = Param(Decimal, Decimal("0.01"), "how far below the close to bid")
    quantity = Param(Decimal, Decimal("0.01"), "base to bid for")

    def init(self) -> None:
        self.bars: list[Bar] = []
        self.sma = self.indicator(SMA, 2, market=self.markets[0])

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar)
        price = self.round_price(bar.market, bar.close * (1 - self.depth))
        self.buy(bar.market, self.quantity, price=price)


class Taker(Strategy):
    """A market buy of ``quantity`` on the first bar; records what it hears."""

    quantity = Param(Decimal, Decimal("0.001"), "base to buy")

    def init(self) -> None:
        self.fills: list[StrategyFill] = []
        self.timers: list[tuple[str, int]] = []
        self.equities: list[Decimal] = []
        self.every(timedelta(minutes=1), "tick")

    def on_bar(self, bar: Bar) -> None:
        if not self.fills:
            self.buy(bar.market, self.quantity)

    def on_fill(self, fill: StrategyFill) -> None:
        self.fills.append(fill)
        self.equities.append(self.equity())

    def on_timer(self, name: str) -> None:
        self.timers.append((name, self.now_ns))


class TooSmall(Strategy):
    """Bids below the market's minimum notional on every bar: always refused."""

    def on_bar(self, bar: Bar) -> None:
        self.bars = getattr(self, "bars", 0) + 1
        self.buy(bar.market, Decimal("0.00001"), price=Decimal("100"))


class Buggy(Strategy):
    def on_bar(self, bar: Bar) -> None:
        raise ZeroDivisionError("a bug, not a refusal")


@pytest.fixture
def server():
    with serve() as running_server:
        yield running_server


def trade(server: Server, price: str, quantity: str = "0.01") -> None:
    """One trade at ``price`` between two counterparties (through the facade)."""
    maker, taker = f"maker{next(_names)}", f"taker{next(_names)}"
    server.counterparty(maker, BTC="1")
    server.counterparty(taker, USDT="100000")
    server.exchange.place_order(maker, BTC, "sell", "limit", Decimal(price), Decimal(quantity))
    server.exchange.place_order(taker, BTC, "buy", "market", quantity=Decimal(quantity))


def minute(server: Server, *prices: str) -> None:
    """Trades at ``prices`` during the current minute, then the clock moves to the next minute's start."""
    for price in prices:
        trade(server, price)
    now = server.clock.now_ns()
    server.clock.advance(timedelta(microseconds=(60_000_000_000 - now % 60_000_000_000) // 1000))


def runner_for(server: Server, strategy: Strategy, username: str, warmup: int = 10, markets=(BTC,)) -> LiveRunner:
    user = server.trader(username, USDT="10000")
    venue = HttpVenue(server.url, user.key_id, user.secret, clock=server.clock)
    feed = HttpFeed(api=venue.api)
    return LiveRunner(strategy, venue, feed, list(markets), "1m", server.clock, "USDT", warmup=warmup)


def orders_of(server: Server, username: str) -> list[dict]:
    """The user's orders as ``GET /v1/orders`` lists them (newest first), with a login of the user's."""
    with server.http() as http:
        token = http.post("/v1/auth/token", json={"username": username, "password": "correct horse battery"})
        answer = http.get("/v1/orders", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_a_closed_candle_reaches_the_strategy_whose_order_is_then_on_the_server(server):
    runner = runner_for(server, Dip(), "dipper")
    trade(server, "40000")
    trade(server, "40100")
    assert runner.poll() == 0  # the candle is still open: nothing to see
    assert runner.strategy.bars == []
    trade(server, "39900")
    server.clock.advance(minutes=1)
    assert runner.poll() == 1
    [bar] = runner.strategy.bars
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        Decimal("40000.00"), Decimal("40100.00"), Decimal("39900.00"), Decimal("39900.00"), Decimal("0.03000"),
    )  # fmt: skip
    assert len(runner.data[BTC]) == 1 and runner.data[BTC].last == bar
    [order] = orders_of(server, "dipper")
    assert (order["market"], order["side"], order["type"], order["status"]) == ("BTC-USDT", "buy", "limit", "NEW")
    assert (order["price"], order["quantity"], order["client_order_id"]) == ("39501.00", "0.01000", "s1")
    assert runner.poll() == 0  # each bar once


def test_warm_up_history_fills_the_data_and_indicators_without_trading(server):
    minute(server, "1000")
    minute(server, "2000")
    minute(server, "3000")
    trade(server, "4000")  # the current minute: not closed yet
    runner = runner_for(server, Dip(), "warm", warmup=2)
    runner.start()
    assert [bar.close for bar in runner.data[BTC]] == [Decimal("2000.00"), Decimal("3000.00")]
    assert runner.strategy.sma[-1] == pytest.approx(2500.0)  # warm at the first live bar
    assert runner.strategy.bars == [] and orders_of(server, "warm") == []
    server.clock.advance(minutes=1)
    assert runner.poll() == 1
    assert [bar.close for bar in runner.strategy.bars] == [Decimal("4000.00")]
    assert runner.strategy.sma[-1] == pytest.approx(3500.0)


def test_without_warm_up_the_past_is_skipped(server):
    minute(server, "1000")
    runner = runner_for(server, Dip(), "cold", warmup=0)
    runner.start()
    assert len(runner.data[BTC]) == 0
    minute(server, "2000")
    assert runner.poll() == 1 and [bar.close for bar in runner.strategy.bars] == [Decimal("2000.00")]


def test_bars_of_several_minutes_arrive_in_order_in_one_poll(server):
    runner = runner_for(server, Dip(), "behind")
    runner.start()
    minute(server, "1000")
    minute(server, "1100")
    minute(server, "1200")
    assert runner.poll() == 3
    assert [bar.close for bar in runner.strategy.bars] == [Decimal("1000.00"), Decimal("1100.00"), Decimal("1200.00")]
    assert [o["client_order_id"] for o in orders_of(server, "behind")] == ["s3", "s2", "s1"]  # newest first


def test_fills_timers_and_equity_reach_the_strategy(server):
    runner = runner_for(server, Taker(), "taker")
    runner.start()
    trade(server, "40000")
    seller = server.counterparty("resting", BTC="1")
    server.exchange.place_order(seller, BTC, "sell", "limit", Decimal("40000"), Decimal("0.5"))
    server.clock.advance(minutes=1)
    runner.poll()
    strategy = runner.strategy
    [fill] = strategy.fills
    assert (fill.market, fill.side, fill.price, fill.quantity, fill.role) == (
        BTC, "buy", Decimal("40000.00"), Decimal("0.00100"), "taker",
    )  # fmt: skip
    assert fill.fee == Decimal("0.04") and runner.fills == [fill]
    assert strategy.timers == [("tick", server.clock.now_ns())]
    # 10000 - 40 - 0.04 USDT, plus 0.001 BTC at the last close (40000)
    assert strategy.equities == [Decimal("10000") - Decimal("40.04") + Decimal("40")]
    assert runner.value_in("USDT") == Decimal("9999.96")
    assert runner.poll() == 0  # the fill and the timer once


class Quoter(Strategy):
    """On every bar: its quotes replaced by a bid ``spread`` below the close and an ask at the close (a crossing
    ask trades at once, against the book's bids)."""

    def init(self) -> None:
        self.fills: list[StrategyFill] = []
        self.answers = []

    def on_bar(self, bar: Bar) -> None:
        bid = self.round_price(bar.market, bar.close * Decimal("0.99"))
        self.answers.append(self.replace_quotes(bar.market, [("buy", bid, "0.01"), ("sell", bar.close, "0.001")]))

    def on_fill(self, fill: StrategyFill) -> None:
        self.fills.append(fill)


def test_a_live_re_quote_rests_its_quotes_and_a_quote_that_trades_is_heard_in_the_same_poll(server):
    runner = runner_for(server, Quoter(), "quoter")
    server.exchange.deposit("quoter", "BTC", "0.01")
    runner.start()
    minute(server, "5000")
    buyer = server.counterparty("bidder", USDT="1000")
    server.exchange.place_order(buyer, BTC, "buy", "limit", Decimal("5000"), Decimal("0.001"))
    runner.poll()  # the ask at the close (5000) meets the bid at 5000
    [answer] = runner.strategy.answers
    [fill] = runner.strategy.fills
    assert (fill.side, fill.price, fill.role, fill.order_id) == (
        "sell",
        Decimal("5000.00"),
        "taker",
        answer.placed[1].id,
    )
    assert [o["id"] for o in orders_of(server, "quoter") if o["status"] == "NEW"] == [answer.placed[0].id]
    minute(server, "5100")
    runner.poll()
    canceled = runner.strategy.answers[1].canceled
    assert [o.id for o in canceled] == [answer.placed[0].id]  # the old bid, replaced


def test_fills_made_between_polls_are_delivered_at_the_next(server):
    runner = runner_for(server, Dip(depth=Decimal("0")), "resting")
    runner.start()
    minute(server, "5000")
    runner.poll()  # bids 0.01 at 5000
    seller = server.counterparty("seller", BTC="1")
    server.exchange.place_order(seller, BTC, "sell", "market", quantity=Decimal("0.01"))
    runner.poll()
    [fill] = runner.fills
    assert (fill.side, fill.price, fill.role) == ("buy", Decimal("5000.00"), "maker")


def test_a_refusal_in_a_callback_is_recorded_and_the_run_goes_on(server):
    runner = runner_for(server, TooSmall(), "small")
    runner.start()
    minute(server, "1000")
    minute(server, "1000")
    assert runner.poll() == 2
    assert runner.strategy.bars == 2
    assert [(where, error.code) for _, where, error in runner.refusals] == [
        ("on_bar", ErrorCode.BELOW_MIN_NOTIONAL),
        ("on_bar", ErrorCode.BELOW_MIN_NOTIONAL),
    ]


def test_a_bug_in_a_callback_ends_the_run(server):
    runner = runner_for(server, Buggy(), "buggy")
    runner.start()
    minute(server, "1000")
    with pytest.raises(ZeroDivisionError):
        runner.poll()


def test_run_polls_until_stopped(server):
    runner = runner_for(server, Dip(), "looper")
    seen: list[int] = []
    stop = threading.Event()

    def after(r: LiveRunner) -> None:
        seen.append(r.polls)
        if r.polls == 3:
            stop.set()

    runner.run(stop, poll_seconds=0.01, after_poll=after)
    assert seen == [1, 2, 3]
    runner.run(threading.Event(), poll_seconds=0, max_polls=2)
    assert runner.polls == 5


def test_a_poll_failing_half_way_loses_nothing_and_is_retried_at_the_next(server):
    runner = runner_for(server, Dip(), "flaky", markets=(BTC, "ETH/USDT"))
    runner.start()
    minute(server, "1000")
    real = runner.feed.bars_since
    failures = iter([True])

    def flaky(market, *args):
        if market == "ETH/USDT" and next(failures, False):  # BTC/USDT's bars were already fetched
            raise SpotlabError(ErrorCode.SOURCE_UNAVAILABLE, "down for a moment")
        return real(market, *args)

    runner.feed.bars_since = flaky
    runner.run(threading.Event(), poll_seconds=0, max_polls=2)
    assert runner.polls == 2
    assert [bar.close for bar in runner.strategy.bars] == [Decimal("1000.00")]


def test_bad_wiring_is_refused(server):
    user = server.trader("wiring")
    venue = HttpVenue(server.url, user.key_id, user.secret, clock=server.clock)
    feed = HttpFeed(api=venue.api)
    for kwargs, code in [
        ({"markets": []}, ErrorCode.INVALID_ARGUMENT),
        ({"markets": ["NOPE/USDT"]}, ErrorCode.UNKNOWN_MARKET),
        ({"interval": "7m"}, ErrorCode.INVALID_ARGUMENT),
        ({"warmup": 5000}, ErrorCode.INVALID_ARGUMENT),
    ]:
        options = {"markets": [BTC], "interval": "1m", "warmup": 10, **kwargs}
        with pytest.raises(SpotlabError) as caught:
            LiveRunner(Dip(), venue, feed, options["markets"], options["interval"], server.clock,
                       warmup=options["warmup"])  # fmt: skip
        assert caught.value.code is code, kwargs


def test_the_same_strategy_places_the_same_orders_in_a_backtest_over_the_same_bars(server):
    runner = runner_for(server, Dip(), "twin")
    runner.start()
    minute(server, "40000", "40500", "39800", "40200")
    minute(server, "40300", "40800", "40600")
    minute(server, "41000", "40900")
    runner.poll()
    bars = list(runner.data[BTC])
    assert len(bars) == 3

    result = run_backtest(Dip(), {BTC: bars}, {"USDT": "10000"}, progress=False)

    def shape(market, side, type_, price, quantity, client_order_id):
        return (market.replace("-", "/"), side, type_, Decimal(price), Decimal(quantity), client_order_id)

    live = sorted(
        shape(o["market"], o["side"], o["type"], o["price"], o["quantity"], o["client_order_id"])
        for o in orders_of(server, "twin")
    )
    backtest = sorted(shape(o.market, o.side, o.type, o.price, o.quantity, o.client_order_id) for o in result.orders)
    assert live == backtest
    assert [order[3] for order in live] == [Decimal("39798.00"), Decimal("40194.00"), Decimal("40491.00")]

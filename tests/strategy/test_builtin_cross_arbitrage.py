"""Cross-exchange arbitrage between two REAL spotlab servers sharing one simulated clock.

Each test hand-places the books of BTC/USDT on venue ``a`` and venue ``b`` (counterparties trade
through each exchange's facade), closes a candle so a bar reaches the strategy, and checks the
orders, fills, fees and final balances on both exchanges by hand. BTC/USDT: tick 0.01, lot
0.00001, minimum notional 5, fees 0.1 % maker and taker, rounded down to USDT's unit (1e-8).
"""

from __future__ import annotations

import itertools
from decimal import ROUND_DOWN, ROUND_UP, Context, Decimal

import pytest

from spotlab import SimulatedClock
from spotlab.backtest import bars_from_file
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.sim import Basis
from spotlab.sim.simulator import MAKERS_AND_NOISE, SimConfig, Simulator
from spotlab.strategy.builtin import STRATEGIES, CrossExchangeArbitrage
from spotlab.strategy.http_venue import HttpVenue
from spotlab.strategy.live import HttpFeed, LiveRunner
from tests.shared_data import DATA
from tests.strategy.remote import START, Server, serve

BTC = "BTC/USDT"
D = Decimal
WIDE = Context(prec=50)
_names = itertools.count(1)


@pytest.fixture
def venues():
    clock = SimulatedClock(START)
    with serve(clock) as a, serve(clock) as b:
        yield a, b


def arbitrageur(a: Server, b: Server, strategy: CrossExchangeArbitrage, funds_a: dict, funds_b: dict) -> LiveRunner:
    """The user ``arb`` on both servers (its own account on each), run over venues ``a`` and ``b``."""
    wiring = {}
    for name, server, funds in (("a", a, funds_a), ("b", b, funds_b)):
        user = server.trader("arb", **funds)
        venue = HttpVenue(server.url, user.key_id, user.secret, clock=server.clock)
        wiring[name] = (venue, HttpFeed(api=venue.api))
    runner = LiveRunner.across(strategy, wiring, [BTC], "1m", a.clock, "USDT", warmup=0)
    runner.start()
    return runner


def rest(server: Server, side: str, price: str, quantity: str) -> None:
    """A resting limit order of a fresh counterparty."""
    name = server.counterparty(f"resting{next(_names)}", BTC="10", USDT="1000000")
    server.exchange.place_order(name, BTC, side, "limit", D(price), D(quantity))


def print_trade(server: Server, price: str = "40100") -> None:
    """A trade of 0.001 at ``price`` on an empty book, so the minute has a candle; the book stays empty."""
    rest(server, "sell", price, "0.001")
    taker = server.counterparty(f"taker{next(_names)}", USDT="1000")
    server.exchange.place_order(taker, BTC, "buy", "market", quantity=D("0.001"))


def minute_with_books(a: Server, b: Server, cheap: Server, ask: str = "40000", bid: str = "40200") -> None:
    """A trade on each venue (a candle each), then the books: ``cheap`` asks ``ask`` for 0.5, the other bids
    ``bid`` for 0.3 (each side's other level far off: no edge that way); then the minute closes."""
    print_trade(a)
    print_trade(b)
    dear = b if cheap is a else a
    rest(cheap, "sell", ask, "0.5")
    rest(cheap, "buy", "39000", "1")
    rest(dear, "buy", bid, "0.3")
    rest(dear, "sell", "41000", "1")
    a.clock.advance(minutes=1)


def holdings(server: Server) -> dict[str, Decimal]:
    return {asset: balance.total for asset, balance in server.exchange.balances("arb").items() if balance.total}


def order(server: Server, client_order_id: str):
    return server.exchange.order_by_client_id("arb", client_order_id)


def test_it_is_registered_and_refuses_a_run_without_two_venues(venues):
    a, _ = venues
    assert STRATEGIES["cross_arbitrage"] is CrossExchangeArbitrage
    user = a.trader("alone", USDT="100")
    venue = HttpVenue(a.url, user.key_id, user.secret, clock=a.clock)
    runner = LiveRunner(CrossExchangeArbitrage(), venue, HttpFeed(api=venue.api), [BTC], "1m", a.clock, warmup=0)
    with pytest.raises(SpotlabError) as caught:
        runner.start()
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT and "needs two venues" in caught.value.message


@pytest.mark.parametrize("cheap_name", ["a", "b"])
def test_it_buys_on_the_cheap_venue_and_sells_the_same_quantity_on_the_dear_one(venues, cheap_name):
    a, b = venues
    cheap, dear = (a, b) if cheap_name == "a" else (b, a)
    dear_name = "b" if cheap_name == "a" else "a"
    funds = {"USDT": "20000", "BTC": "1"}
    runner = arbitrageur(a, b, CrossExchangeArbitrage(max_notional=D(100000)), funds, funds)
    minute_with_books(a, b, cheap)
    runner.poll()
    strategy = runner.strategy
    # gross (40200 - 40000) / 40000 = 50 bps; less 10 + 10 bps of taker fees: 30 bps
    [seen] = strategy.opportunities
    assert (seen.market, seen.buy_venue, seen.sell_venue, seen.ask, seen.bid) == (
        BTC, cheap_name, dear_name, D("40000.00"), D("40200.00"),
    )  # fmt: skip
    assert (seen.gross_bps, seen.edge_bps, seen.skipped) == (D(50), D(30), None)
    # the smallest of: ask 0.5, bid 0.3, 1 BTC on the dear venue, 20000 / (40000 x 1.001) = 0.4995, 100000 / 40000
    assert seen.quantity == D("0.3")
    [done] = strategy.taken
    # buy 0.3 x 40000 = 12000, fee 12; sell 0.3 x 40200 = 12060, fee 12.06
    assert (done.quantity, done.bought, done.sold, done.stopped) == (D("0.3"), D("0.3"), D("0.3"), None)
    assert (done.spent, done.received, done.profit) == (D("12012"), D("12047.94"), D("35.94"))
    assert holdings(cheap) == {"BTC": D("1.3"), "USDT": D("20000") - D("12012")}
    assert holdings(dear) == {"BTC": D("0.7"), "USDT": D("20000") + D("12047.94")}
    buy, sell = order(cheap, "s1"), order(dear, "s2")
    assert (buy.side, buy.type, buy.time_in_force, buy.price, buy.status) == (
        "buy", "limit", "IOC", D("40000.00"), "FILLED",
    )  # fmt: skip
    assert (sell.side, sell.type, sell.time_in_force, sell.price, sell.status) == (
        "sell", "limit", "IOC", D("40200.00"), "FILLED",
    )  # fmt: skip
    # the fills reach the strategy with their venue's name
    runner.poll()
    assert sorted((f.venue, f.side, f.price, f.quantity, f.fee, f.role) for f in runner.fills) == sorted([
        (cheap_name, "buy", D("40000.00"), D("0.30000"), D("12.00000000"), "taker"),
        (dear_name, "sell", D("40200.00"), D("0.30000"), D("12.06000000"), "taker"),
    ])  # fmt: skip
    assert runner.refusals == []
    # what is left: the ask's other 0.2; the bid is gone, so is the edge
    assert cheap.exchange.order_book(BTC, 1).asks == [(D("40000.00"), D("0.20000"))]
    assert dear.exchange.order_book(BTC, 1).bids == []
    a.exchange.check_invariants()
    b.exchange.check_invariants()


def test_an_edge_not_above_the_threshold_is_left_alone(venues):
    a, b = venues
    funds = {"USDT": "20000", "BTC": "1"}
    runner = arbitrageur(a, b, CrossExchangeArbitrage(min_edge_bps=D(30)), funds, funds)
    minute_with_books(a, b, a)  # an edge of exactly 30 bps
    assert runner.poll() == 2  # both venues' bars reached the strategy
    assert runner.strategy.opportunities == [] and runner.strategy.taken == []
    for server in (a, b):
        assert holdings(server) == {"BTC": D("1"), "USDT": D("20000")}
        with pytest.raises(SpotlabError):
            order(server, "s1")


@pytest.mark.parametrize(
    ("quote_on_cheap", "base_on_dear", "max_notional", "quantity", "spent", "received"),
    [
        # 4004 / (40000 x 1.001) = 0.1: buy 4000 + fee 4; sell 0.1 x 40200 = 4020 - fee 4.02
        ("4004", "1", "100000", "0.1", "4004", "4015.98"),
        # 0.05 BTC to sell: buy 2000 + 2; sell 2010 - 2.01
        ("20000", "0.05", "100000", "0.05", "2002", "2007.99"),
        # at most 1000 USDT: 0.025; buy 1000 + 1; sell 1005 - 1.005
        ("20000", "1", "1000", "0.025", "1001", "1003.995"),
    ],
)
def test_the_quantity_is_limited_by_what_each_venue_holds(
    venues, quote_on_cheap, base_on_dear, max_notional, quantity, spent, received
):
    a, b = venues
    strategy = CrossExchangeArbitrage(max_notional=D(max_notional))
    runner = arbitrageur(a, b, strategy, {"USDT": quote_on_cheap}, {"BTC": base_on_dear})
    minute_with_books(a, b, a)
    runner.poll()
    [done] = strategy.taken
    assert (done.quantity, done.bought, done.sold, done.stopped) == (D(quantity), D(quantity), D(quantity), None)
    assert (done.spent, done.received) == (D(spent), D(received))
    assert holdings(a) == nonzero(BTC=D(quantity), USDT=D(quote_on_cheap) - D(spent))
    assert holdings(b) == nonzero(BTC=D(base_on_dear) - D(quantity), USDT=D(received))


def nonzero(**amounts: Decimal) -> dict[str, Decimal]:
    return {asset: amount for asset, amount in amounts.items() if amount}


@pytest.mark.parametrize(
    ("funds_a", "funds_b", "why"),
    [
        ({"USDT": "20000"}, {"USDT": "20000"}, "nothing to trade: 20000.00000000 USDT free on a, 0 BTC free on b"),
        ({"BTC": "1"}, {"BTC": "1"}, "nothing to trade: 0 USDT free on a, 1.00000000 BTC free on b"),
        ({"USDT": "20000"}, {"BTC": "0.0001"}, "0.00010 at 40000.00 is below a's minimums"),  # 4 USDT < 5
    ],
)
def test_without_quote_on_the_cheap_venue_or_base_on_the_dear_one_nothing_is_sent(venues, funds_a, funds_b, why):
    a, b = venues
    runner = arbitrageur(a, b, CrossExchangeArbitrage(), funds_a, funds_b)
    minute_with_books(a, b, a)
    runner.poll()
    [seen] = runner.strategy.opportunities
    assert seen.edge_bps == D(30) and seen.skipped == why
    assert runner.strategy.taken == []
    with pytest.raises(SpotlabError):
        order(a, "s1")


def test_a_bid_gone_before_the_sell_leaves_the_base_bought(venues):
    """The legs are not atomic: here the dear venue's bid is cancelled between the check and the sell."""
    a, b = venues
    runner = arbitrageur(a, b, CrossExchangeArbitrage(), {"USDT": "20000"}, {"BTC": "1"})
    minute_with_books(a, b, a)
    strategy = runner.strategy
    real_buy = strategy.buy

    def buy_then_the_bid_goes(*args, **kwargs):
        view = real_buy(*args, **kwargs)
        [bidder] = [o for name in b.exchange.accounts() for o in b.exchange.open_orders(name) if o.side == "buy"]
        b.exchange.cancel_order(bidder.account, bidder.id)
        return view

    strategy.buy = buy_then_the_bid_goes
    runner.poll()
    [done] = strategy.taken
    assert (done.quantity, done.bought, done.sold) == (D("0.025"), D("0.025"), D(0))
    assert done.stopped == "the sell on b filled 0.00000 of 0.02500: the level was gone"
    assert holdings(a) == {"BTC": D("0.025"), "USDT": D("20000") - D("1001")}
    assert holdings(b) == {"BTC": D("1")}


@pytest.mark.slow
def test_with_two_linked_simulated_markets_it_finds_and_takes_opportunities():
    """Two simulators in lockstep: venue b's prices follow venue a's, apart by a wide mean-reverting gap."""
    clock = SimulatedClock(START)
    with serve(clock) as a, serve(clock) as b:
        config = SimConfig(markets=(BTC,), mix=MAKERS_AND_NOISE, seed=5)
        first = Simulator(a.exchange, config, clock)  # moves the shared clock
        first.setup()
        linked = SimConfig(markets=(BTC,), mix=MAKERS_AND_NOISE, seed=6, follow=first.prices,
                           basis=Basis(stdev=0.01, half_life=300))  # fmt: skip
        second = Simulator(b.exchange, linked, None)  # the same clock: not moved twice
        second.setup()
        funds = {"USDT": "100000", "BTC": "2"}
        strategy = CrossExchangeArbitrage(max_notional=D(2000))
        runner = arbitrageur(a, b, strategy, funds, funds)
        for _ in range(20):  # minutes
            for _ in range(60):
                first.step()
                second.step()
            runner.poll()
        runner.poll()
        assert strategy.opportunities and strategy.taken
        assert runner.refusals == []
        full = [t for t in strategy.taken if t.stopped is None]
        assert full and all(t.bought == t.sold > 0 and t.profit > 0 for t in full)
        # money only moved through the arbitrages: both venues' totals changed by exactly what they record
        usdt = sum(holdings(server).get("USDT", D(0)) for server in (a, b))
        btc = sum(holdings(server).get("BTC", D(0)) for server in (a, b))
        assert usdt == D(200000) + sum(t.received - t.spent for t in strategy.taken)
        assert btc == D(4) + sum(t.bought - t.sold for t in strategy.taken)
        a.exchange.check_invariants()
        b.exchange.check_invariants()


def test_on_real_prices_with_a_venue_an_hour_behind_it_takes_exactly_the_edges_above_its_threshold():
    """Binance BTCUSDT 1h, January 2025 (../shared/data): venue ``a`` quotes around each close, venue ``b``
    around the close before it (a slow venue), 2 bps either side, 0.05 BTC a side; one real hour per minute.
    Every opportunity the strategy records is the one worked out here by its documented rule, and only those."""
    closes = [bar.close for bar in bars_from_file(DATA / "quantedge-ta" / "btcusdt-1h.csv", BTC, "1h")[:61]]
    clock = SimulatedClock(START)
    with serve(clock) as a, serve(clock) as b:
        for server in (a, b):
            server.counterparty("maker", BTC="100", USDT="10000000")
            server.counterparty("printer", BTC="1")
            server.counterparty("taker", USDT="1000000")
        funds = {"USDT": "200000", "BTC": "2"}
        strategy = CrossExchangeArbitrage(min_edge_bps=D(10), max_notional=D(2000))
        runner = arbitrageur(a, b, strategy, funds, funds)
        expected = []
        for step in range(1, len(closes)):
            quotes = {}
            for name, server, price in (("a", a, closes[step]), ("b", b, closes[step - 1])):
                exchange = server.exchange
                exchange.cancel_all_orders("maker", BTC)
                exchange.place_order("printer", BTC, "sell", "limit", price, D("0.001"))  # a trade: the candle
                exchange.place_order("taker", BTC, "buy", "market", quantity=D("0.001"))
                bid = (price * D("0.9998")).quantize(D("0.01"), rounding=ROUND_DOWN)
                ask = (price * D("1.0002")).quantize(D("0.01"), rounding=ROUND_UP)
                exchange.place_order("maker", BTC, "buy", "limit", bid, D("0.05"))
                exchange.place_order("maker", BTC, "sell", "limit", ask, D("0.05"))
                quotes[name] = (bid, ask)
            for cheap, dear in (("a", "b"), ("b", "a")):
                ask, bid = quotes[cheap][1], quotes[dear][0]
                gross = WIDE.divide((bid - ask) * 10_000, ask)
                if gross - 20 > 10:  # the two taker fees, 10 bps each, then the threshold
                    expected.append((cheap, dear, ask, bid, gross, gross - 20))
            clock.advance(minutes=1)
            runner.poll()
        seen = [(o.buy_venue, o.sell_venue, o.ask, o.bid, o.gross_bps, o.edge_bps) for o in strategy.opportunities]
        assert len(expected) >= 5 and {e[0] for e in expected} == {"a", "b"}  # the real path goes both ways
        assert seen == expected
        assert runner.refusals == [] and len(strategy.taken) == len(expected)
        assert all(t.bought == t.sold > 0 and t.profit > 0 and t.stopped is None for t in strategy.taken)
        usdt = sum(holdings(server).get("USDT", D(0)) for server in (a, b))
        btc = sum(holdings(server).get("BTC", D(0)) for server in (a, b))
        assert usdt == D(400000) + sum(t.received - t.spent for t in strategy.taken) > D(400000)
        assert btc == D(4)  # every arbitrage sold what it bought

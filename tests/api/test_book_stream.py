"""The shadow L2 book behind ``book:{market}``: it equals the engine's book, and snapshot + diffs rebuild it.

Every test feeds a ``BookStream`` from a real in-memory exchange (its records arrive
synchronously, one command per batch unless a test groups them) and plays the client:
``ClientBook`` starts from a snapshot message and applies diff messages only when
``previous_sequence`` matches what it holds, exactly as a WebSocket client must.
"""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest

from spotlab import SpotlabError
from spotlab.api.book_stream import BookStream, ShadowBook, diff_message, snapshot_message
from spotlab.core.commands import ListMarket
from spotlab.core.events import OrderFilled
from spotlab.core.markets import MarketSpec
from tests.conftest import fund

M = "BTC/USDT"
E = "ETH/USDT"


class Gap(Exception):
    """A diff that does not follow the sequence the client holds."""


class ClientBook:
    """What a client keeps: levels as Decimals, and the sequence of the last message applied."""

    def __init__(self, snapshot: dict) -> None:
        assert snapshot["type"] == "snapshot"
        self.sequence = snapshot["sequence"]
        self.bids = {D(p): D(q) for p, q in snapshot["bids"]}
        self.asks = {D(p): D(q) for p, q in snapshot["asks"]}

    def apply(self, diff: dict) -> None:
        assert diff["type"] == "update"
        if diff["previous_sequence"] != self.sequence:
            raise Gap(f"holding {self.sequence}, the diff follows {diff['previous_sequence']}")
        assert diff["sequence"] > self.sequence
        for side, levels in (("bids", self.bids), ("asks", self.asks)):
            for price, quantity in diff[side]:
                if D(quantity) == 0:
                    assert D(price) in levels, f"the diff removes {price}, a level the client does not have"
                    del levels[D(price)]
                else:
                    levels[D(price)] = D(quantity)
        self.sequence = diff["sequence"]
        assert not self.crossed(), f"crossed after diff {diff}"

    def crossed(self) -> bool:
        return bool(self.bids and self.asks and max(self.bids) >= min(self.asks))

    def view(self) -> tuple[list, list]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


class Feed:
    """A ``BookStream`` on ``ex``'s durable records; ``hold()`` groups the next records into one batch."""

    def __init__(self, ex) -> None:
        self.ex = ex
        self.held: list | None = None
        self.changes: list = []
        ex.subscribe_records(self.on_records)  # first, then the picture: nothing can fall between
        self.stream = BookStream.open(ex)

    def on_records(self, records) -> None:
        if self.held is not None:
            self.held.extend(records)
        else:
            self.changes.extend(self.stream.apply(records))

    def hold(self) -> None:
        self.held = []

    def release(self) -> list:
        records, self.held = self.held, None
        changes = self.stream.apply(records)
        self.changes.extend(changes)
        return changes

    def snapshot(self, market: str = M) -> dict:
        return snapshot_message(self.stream.books[market], self.ex.market_spec(market))

    def diffs(self, market: str = M) -> list[dict]:
        """The diff messages made since the last call, for ``market``."""
        spec = self.ex.market_spec(market)
        mine = [diff_message(c, spec) for c in self.changes if c.market == market]
        self.changes = [c for c in self.changes if c.market != market]
        return mine


def engine_levels(ex, market: str = M) -> tuple[list, list]:
    view = ex.order_book(market, depth=None)
    return view.bids, view.asks


def shadow_levels(feed: Feed, market: str = M) -> tuple[list, list]:
    spec = feed.ex.market_spec(market)
    bids, asks = feed.stream.books[market].levels()
    return (
        [(spec.price(p), spec.quantity(q)) for p, q in bids],
        [(spec.price(p), spec.quantity(q)) for p, q in asks],
    )


def limit(ex, account, side, price, quantity, **kw):
    return ex.place_order(account, M, side, "limit", D(price), D(quantity), **kw)


@pytest.fixture
def traders(ex):
    return fund(ex, "maker", BTC="100", USDT="10000000"), fund(ex, "taker", BTC="100", USDT="10000000")


def test_the_snapshot_lists_every_level_best_first_as_decimal_strings(ex, traders):
    maker, _ = traders
    limit(ex, maker, "buy", "29990", "0.1")
    limit(ex, maker, "buy", "29990.5", "0.25")
    limit(ex, maker, "buy", "29990.5", "0.05")
    limit(ex, maker, "sell", "30010", "0.3")
    feed = Feed(ex)

    snapshot = feed.snapshot()

    assert snapshot == {
        "type": "snapshot",
        "channel": "book:BTC-USDT",
        "market": "BTC-USDT",
        "sequence": ex.last_sequence,
        "bids": [["29990.50", "0.30000"], ["29990.00", "0.10000"]],
        "asks": [["30010.00", "0.30000"]],
    }


def test_a_diff_carries_only_the_changed_levels_with_absolute_totals_and_zero_for_a_level_gone(ex, traders):
    maker, taker = traders
    limit(ex, maker, "sell", "30000", "0.1")
    limit(ex, maker, "sell", "30010", "0.2")
    limit(ex, maker, "sell", "30020", "0.3")
    limit(ex, maker, "buy", "29000", "0.4")
    feed = Feed(ex)
    start = feed.snapshot()["sequence"]
    events: list = []
    ex.subscribe(events.append)

    # one command: fills all of 30000, part of 30010, and the rest rests as a bid at 30010
    limit(ex, taker, "buy", "30010", "0.5")

    (diff,) = feed.diffs()
    assert diff == {
        "type": "update",
        "channel": "book:BTC-USDT",
        "market": "BTC-USDT",
        "sequence": [e.seq for e in events if type(e) is OrderFilled][-1],  # the last book event of the record
        "previous_sequence": start,
        "bids": [["30010.00", "0.20000"]],
        "asks": [["30000.00", "0"], ["30010.00", "0"]],
    }
    assert shadow_levels(feed) == engine_levels(ex)


def test_a_sweeping_order_never_shows_the_book_crossed(ex, traders):
    """Inside the command the taker is 'in' the book above the asks; the diff only shows the end."""
    maker, taker = traders
    for price in ("30000", "30001", "30002"):
        limit(ex, maker, "sell", price, "0.1")
    feed = Feed(ex)
    client = ClientBook(feed.snapshot())

    limit(ex, taker, "buy", "30005", "0.25")  # takes two levels and half the third, nothing rests
    limit(ex, taker, "buy", "30005", "0.1")  # takes the rest of 30002, rests 0.05 at 30005

    for diff in feed.diffs():
        client.apply(diff)  # asserts: never crossed
    assert client.view() == engine_levels(ex)
    assert client.view()[0] == [(D("30005"), D("0.05"))]


def test_orders_that_never_rest_change_nothing_unless_they_trade(ex, traders):
    maker, taker = traders
    limit(ex, maker, "sell", "30000", "0.1")
    feed = Feed(ex)

    ioc = limit(ex, taker, "buy", "29000", "0.1", time_in_force="IOC")  # nothing to take
    fok = limit(ex, taker, "buy", "30000", "0.5", time_in_force="FOK")  # cannot fill it all
    assert (ioc.status, fok.status) == ("EXPIRED", "EXPIRED")
    assert feed.diffs() == []

    ex.place_order(taker, M, "buy", "market", quantity=D("0.04"))
    (diff,) = feed.diffs()
    assert (diff["bids"], diff["asks"]) == ([], [["30000.00", "0.06000"]])


def test_a_resting_order_expired_by_self_trade_prevention_does_not_rest(ex, traders):
    maker, taker = traders
    limit(ex, maker, "sell", "30000", "0.1")
    limit(ex, taker, "sell", "30001", "0.1")
    feed = Feed(ex)

    # takes the maker's 0.1, then meets its own order: its rest expires instead of resting at 30001
    order = limit(ex, taker, "buy", "30001", "0.3", self_trade_prevention="EXPIRE_TAKER")

    assert order.status == "EXPIRED"
    (diff,) = feed.diffs()
    assert (diff["bids"], diff["asks"]) == ([], [["30000.00", "0"]])
    assert shadow_levels(feed) == engine_levels(ex)


def test_cancel_reduce_and_partial_fills_keep_the_levels_exact(ex, traders):
    maker, taker = traders
    first = limit(ex, maker, "sell", "30000", "0.3")
    second = limit(ex, maker, "sell", "30000", "0.2")
    feed = Feed(ex)
    client = ClientBook(feed.snapshot())

    ex.reduce_order(maker, first.id, D("0.25"))
    limit(ex, taker, "buy", "30000", "0.1")
    ex.cancel_order(maker, second.id)

    diffs = feed.diffs()
    assert [d["asks"] for d in diffs] == [
        [["30000.00", "0.45000"]],
        [["30000.00", "0.35000"]],
        [["30000.00", "0.15000"]],
    ]
    for diff in diffs:
        client.apply(diff)
    assert client.view() == engine_levels(ex) == ([], [(D("30000"), D("0.15"))])


def test_a_batch_gives_one_diff_per_market_and_nothing_when_it_nets_out(ex, traders):
    maker, _ = traders
    fund(ex, "eth", ETH="100", USDT="100000")
    feed = Feed(ex)
    before = feed.snapshot()["sequence"]

    feed.hold()
    placed = limit(ex, maker, "buy", "29000", "0.1")
    ex.cancel_order(maker, placed.id)
    assert feed.release() == []  # placed and canceled within the batch: no level changed

    feed.hold()
    limit(ex, maker, "buy", "29000", "0.1")
    limit(ex, maker, "buy", "29000", "0.2")
    limit(ex, maker, "sell", "31000", "0.3")
    ex.place_order("eth", E, "sell", "limit", D("2000"), D("1"))
    changes = feed.release()

    assert sorted(c.market for c in changes) == [M, E]
    (diff,) = feed.diffs(M)
    assert diff["previous_sequence"] == before  # the netted-out batch sent nothing, so it chains to the snapshot
    assert (diff["bids"], diff["asks"]) == ([["29000.00", "0.30000"]], [["31000.00", "0.30000"]])
    assert feed.snapshot()["sequence"] == diff["sequence"]


def test_records_already_in_the_starting_picture_are_not_applied_twice(ex, traders):
    maker, _ = traders
    early: list = []
    ex.subscribe_records(early.extend)
    limit(ex, maker, "sell", "30000", "0.1")
    limit(ex, maker, "buy", "29000", "0.1")
    feed = Feed(ex)

    assert feed.stream.apply(early) == []  # delivered late, but older than the picture
    assert shadow_levels(feed) == engine_levels(ex)


def test_a_client_that_misses_a_diff_sees_the_gap_and_resyncs_from_a_new_snapshot(ex, traders):
    maker, _ = traders
    feed = Feed(ex)
    client = ClientBook(feed.snapshot())
    limit(ex, maker, "sell", "30000", "0.1")
    limit(ex, maker, "sell", "30001", "0.1")
    limit(ex, maker, "sell", "30002", "0.1")
    first, _missed, third = feed.diffs()

    client.apply(first)
    with pytest.raises(Gap):
        client.apply(third)

    client = ClientBook(feed.snapshot())  # what subscribing again gives
    limit(ex, maker, "sell", "30003", "0.1")
    (fourth,) = feed.diffs()
    client.apply(fourth)
    assert client.view() == engine_levels(ex)


def test_a_market_listed_later_gets_its_own_book(ex):
    feed = Feed(ex)
    spec = MarketSpec(
        "SOL/USDC", ex.asset_spec("SOL"), ex.asset_spec("USDC"), *map(D, ("0.01", "0.01", "0.01", "1", "0", "0"))
    )
    ex.execute(ListMarket.of(spec))
    fund(ex, "sol", SOL="10")
    ex.place_order("sol", "SOL/USDC", "sell", "limit", D("150"), D("1"))

    assert shadow_levels(feed, "SOL/USDC") == engine_levels(ex, "SOL/USDC")
    (diff,) = feed.diffs("SOL/USDC")
    assert diff["asks"] == [["150.00", "1.00"]]


def test_a_snapshot_mid_batch_is_refused():
    book = ShadowBook(M, 10, [(1, "buy", 100, 5)])
    book.end_record()
    book._change("buy", 100, -5)
    with pytest.raises(RuntimeError, match="flush"):
        book.levels()


# -- random workloads ----------------------------------------------------------------------


class Workload:
    """Random commands on BTC/USDT and ETH/USDT from a few accounts: every order type, cancels, reduces."""

    MIDS = {M: (30000, D("0.01"), D("0.001")), E: (2000, D("0.01"), D("0.01"))}

    def __init__(self, ex, seed: int) -> None:
        self.ex = ex
        self.rng = random.Random(seed)
        self.accounts = [fund(ex, f"r{i}", BTC="50", ETH="500", USDT="5000000") for i in range(5)]

    def step(self) -> None:
        rng, ex = self.rng, self.ex
        account = rng.choice(self.accounts)
        market = rng.choice(list(self.MIDS))
        mid, _, lot = self.MIDS[market]
        side = rng.choice(("buy", "sell"))
        away = rng.randint(-4, 25)  # mostly on its own side of the mid, sometimes across it
        price = D(mid - away if side == "buy" else mid + away)
        quantity = lot * rng.randint(1, 30)
        kind = rng.random()
        try:
            if kind < 0.55:
                stp = rng.choice((None, "NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"))
                ex.place_order(account, market, side, "limit", price, quantity, self_trade_prevention=stp)
            elif kind < 0.63:
                ex.place_order(
                    account, market, side, "limit", price, quantity, time_in_force=rng.choice(("IOC", "FOK"))
                )
            elif kind < 0.68:
                ex.place_order(account, market, side, "limit_maker", price, quantity)
            elif kind < 0.75:
                ex.place_order(account, market, side, "market", quantity=quantity)
            elif kind < 0.78:
                ex.place_order(account, market, side, "market", quote_quantity=D(mid) * quantity)
            elif kind < 0.98:
                self.cancel_or_reduce(account)
            else:
                ex.cancel_all_orders(account, market)
        except SpotlabError:
            pass  # refused or rejected: still a record (rejections) or nothing at all

    def cancel_or_reduce(self, account) -> None:
        orders = self.ex.open_orders(account)
        if not orders:
            return
        order = self.rng.choice(orders)
        if self.rng.random() < 0.5 or order.quantity - order.filled_quantity <= order.quantity / 2:
            self.ex.cancel_order(account, order.id)
        else:
            lot = self.ex.market_spec(order.market).lot_size
            self.ex.reduce_order(account, order.id, order.quantity - lot)


@pytest.mark.parametrize("seed", [1, 2])
def test_after_every_command_of_a_random_workload_the_shadow_and_the_client_equal_the_engine(ex, seed):
    workload = Workload(ex, seed)
    for _ in range(50):  # a book to start from
        workload.step()
    feed = Feed(ex)
    clients = {market: ClientBook(feed.snapshot(market)) for market in Workload.MIDS}

    for _ in range(600):
        workload.step()
        for market, client in clients.items():
            for diff in feed.diffs(market):
                client.apply(diff)
            assert shadow_levels(feed, market) == engine_levels(ex, market)
            assert client.view() == engine_levels(ex, market)


def test_random_batches_of_commands_rebuild_the_same_book_from_snapshot_and_diffs(ex):
    workload = Workload(ex, 7)
    feed = Feed(ex)
    clients = {market: ClientBook(feed.snapshot(market)) for market in Workload.MIDS}
    rng = random.Random(7)

    for _ in range(60):
        feed.hold()
        for _ in range(rng.randint(1, 25)):
            workload.step()
        changes = feed.release()
        assert len({c.market for c in changes}) == len(changes), "more than one diff for a market in a batch"
        for market, client in clients.items():
            for diff in feed.diffs(market):
                client.apply(diff)
            assert client.view() == engine_levels(ex, market)
            assert ClientBook(feed.snapshot(market)).view() == client.view()

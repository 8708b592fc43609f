"""The history read model: a projection of the event log that answers exactly what the engine would.

The engine's own views are the oracle: after random workloads (deposits, limit GTC/IOC/FOK,
post-only, market orders by quantity and by amount, every self-trade prevention mode,
cancels, cancel-all, reduces, withdrawals, halts) every order the history holds equals
``ex.order`` field by field, its open orders equal ``ex.open_orders``, its trades equal
``ex.trades``, and its fills, deposits and withdrawals equal the log's events. Pagination
walks every item once; a restart resumes from the checkpoint without duplicates, including
events written while the history was closed; a failing batch stops the projector without
moving the checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from spotlab import Exchange, SimulatedClock, SpotlabError
from spotlab.core.events import Deposited, OrderFilled, OrderPlaced, OrderRejected
from spotlab.store.history import History
from spotlab.store.sqlite import remove_store
from tests.support import after_close

ACCOUNTS = [f"a{i}" for i in range(6)]
# market: (mid, price step, typical lot, typical quote amount)
MARKETS = {
    "BTC/USDT": (D("30000"), D("5"), D("0.001"), D("100")),
    "ETH/USDT": (D("2000"), D("1"), D("0.01"), D("100")),
}
FUNDS = {"BTC": D("3"), "ETH": D("40"), "USDT": D("150000")}
STP = [None, "NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC))


class Workload:
    """Random commands through the facade; refusals are part of the mix. Remembers what it withdrew."""

    def __init__(self, ex: Exchange, clock: SimulatedClock, seed: int) -> None:
        self.ex, self.clock, self.rng = ex, clock, random.Random(seed)
        self.placed: list[tuple[str, int]] = []
        self.withdrawals: dict[str, list] = defaultdict(list)
        known = set(ex.accounts())
        for account in ACCOUNTS:
            if account not in known:
                ex.create_account(account)
                for asset, amount in FUNDS.items():
                    ex.deposit(account, asset, amount)

    def run(self, commands: int) -> None:
        steps = [self.place, self.cancel, self.reduce, self.cancel_all, self.deposit, self.withdraw, self.halt]
        for _ in range(commands):
            self.clock.advance(seconds=self.rng.randint(0, 120))
            step = self.rng.choices(steps, weights=[60, 12, 8, 2, 6, 6, 2])[0]
            try:
                step()
            except SpotlabError:
                pass  # refused or rejected: the log and the history must agree on that too

    def place(self) -> None:
        rng = self.rng
        market = rng.choice(list(MARKETS))
        mid, step, lot, amount = MARKETS[market]
        side = rng.choice(["buy", "sell"])
        kind = rng.choices(["GTC", "IOC", "FOK", "maker", "market", "amount"], weights=[40, 8, 8, 8, 8, 8])[0]
        args = {"account": rng.choice(ACCOUNTS), "market": market, "side": side}
        quantity = lot * rng.choice([1, 2, 3, 5, 8, 13, 40])
        price = mid + step * rng.randint(-4, 8) * (-1 if side == "buy" else 1)
        if kind == "market":
            args |= {"type": "market", "quantity": quantity}
        elif kind == "amount":
            args |= {"type": "market", "quote_quantity": amount * rng.choice([D("0.01"), 1, 3, 20])}
        elif kind == "maker":
            args |= {"type": "limit_maker", "price": price, "quantity": quantity}
        else:
            args |= {"type": "limit", "price": price, "quantity": quantity, "time_in_force": kind}
        if (stp := rng.choice(STP)) is not None:
            args["self_trade_prevention"] = stp
        if rng.random() < 0.1:
            args["client_order_id"] = f"c{rng.randrange(20)}"
        view = self.ex.place_order(**args)
        if not view.duplicate:
            self.placed.append((view.account, view.id))

    def pick(self) -> tuple[str, int]:
        if not self.placed:
            raise SpotlabError("ORDER_NOT_FOUND", "nothing placed yet")
        return self.rng.choice(self.placed[-30:])

    def cancel(self) -> None:
        self.ex.cancel_order(*self.pick())

    def reduce(self) -> None:
        account, order_id = self.pick()
        order = self.ex.order(account, order_id)
        if order.quantity is not None:
            lot = self.ex.market(order.market).lot_size
            new = (order.quantity * self.rng.choice([2, 5, 8]) / 10 / lot).to_integral_value() * lot
            self.ex.reduce_order(account, order_id, new)

    def cancel_all(self) -> None:
        self.ex.cancel_all_orders(self.rng.choice(ACCOUNTS), self.rng.choice(list(MARKETS)))

    def deposit(self) -> None:
        asset = self.rng.choice(list(FUNDS))
        self.ex.deposit(self.rng.choice(ACCOUNTS), asset, FUNDS[asset] / self.rng.choice([1, 4, 10]))

    def withdraw(self) -> None:
        account, asset = self.rng.choice(ACCOUNTS), self.rng.choice(list(FUNDS))
        amount = (self.ex.balances(account)[asset].available / self.rng.choice([2, 5, 20])).quantize(D("0.0001"))
        address = self.rng.choice([None, f"addr-{self.rng.randrange(100)}"])
        self.withdrawals[account].append(self.ex.withdraw(account, asset, amount, address))

    def halt(self) -> None:
        market = self.rng.choice(list(MARKETS))
        if self.ex.market(market).status == "halted":
            self.ex.resume_market(market)
        else:
            self.ex.halt_market(market)


def walk(fetch) -> list:
    """Every item of a paginated listing, following ``next_before``."""
    items, before = [], None
    while True:
        page = fetch(before)
        items += page.items
        if page.next_before is None:
            return items
        before = page.next_before


def assert_matches_engine(ex: Exchange, history: History, withdrawals: dict[str, list] | None = None) -> None:
    """Everything the history holds equals what the engine and its log say."""
    assert history.wait(ex.last_sequence), f"applied {history.applied_seq} of {ex.last_sequence}"
    assert history.failure is None
    events = list(ex.events())
    placed = [e for e in events if type(e) is OrderPlaced]
    for event in placed[-20:]:
        assert history.order(event.account, event.order_id) == ex.order(event.account, event.order_id)
    fills_by_account = defaultdict(list)
    for e in (e for e in events if type(e) is OrderFilled):
        fills_by_account[e.maker_account].append((2 * e.seq, e.trade_id, e.maker_order_id, "maker", e.maker_fee))
        fills_by_account[e.taker_account].append((2 * e.seq + 1, e.trade_id, e.taker_order_id, "taker", e.taker_fee))
    for account in ACCOUNTS:
        orders = walk(lambda before, account=account: history.orders(account, limit=50, before=before))
        assert [o.id for o in orders] == [e.order_id for e in reversed(placed) if e.account == account]
        assert orders == [ex.order(account, o.id) for o in orders]  # every field of every order
        open_orders = walk(lambda before, account=account: history.orders(account, open_only=True, before=before))
        assert open_orders == list(reversed(ex.open_orders(account)))
        fills = walk(lambda before, account=account: history.fills(account, limit=100, before=before))
        assert [(f.id, f.trade_id, f.order_id, f.role) for f in fills] == [
            row[:4] for row in reversed(fills_by_account[account])
        ]
        deposited = [e for e in events if type(e) is Deposited and e.account == account]
        deposits = walk(lambda before, account=account: history.deposits(account, before=before))
        assert [(d.account, d.asset, d.amount, d.sequence) for d in deposits] == [
            (e.account, e.asset, ex.asset_spec(e.asset).to_decimal(e.amount), e.seq) for e in reversed(deposited)
        ]
        if withdrawals is not None:
            got = walk(lambda before, account=account: history.withdrawals(account, before=before))
            assert got == list(reversed(withdrawals[account]))
    for market in MARKETS:
        assert history.trades(market, limit=1000).items == ex.trades(market, limit=1000)


# -- the projection equals the engine ---------------------------------------------------------


def test_after_a_random_workload_every_order_fill_trade_and_transfer_equals_the_engine(store_url, clock):
    with Exchange.open(store_url, clock=clock) as ex, History.open(store_url) as history:
        history.attach(ex)
        workload = Workload(ex, clock, seed=1)
        workload.run(250)
        assert_matches_engine(ex, history, workload.withdrawals)
        assert any(type(e) is OrderRejected for e in ex.events()), "the workload should include rejections"
        statuses = {o.status for a in ACCOUNTS for o in walk(lambda b, a=a: history.orders(a, limit=1000, before=b))}
        assert statuses == {"NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED"}


def test_every_outcome_of_an_order_by_quote_amount_matches_the_engine(clock):
    """Orders by amount end FILLED without an event of their own; the projection must see that too."""
    with Exchange.open(clock=clock) as ex, History.open(None) as history:
        history.attach(ex)
        for name in ("maker", "taker"):
            ex.create_account(name)
            ex.deposit(name, "USDT", "100000")
            ex.deposit(name, "BTC", "2")
        ex.place_order("maker", "BTC/USDT", "sell", "limit", "30000", "0.01")
        spent = ex.place_order("taker", "BTC/USDT", "buy", "market", quote_quantity="100")  # budget spent
        ran_out = ex.place_order("taker", "BTC/USDT", "buy", "market", quote_quantity="5000")  # the book ran out
        nothing = ex.place_order("taker", "BTC/USDT", "buy", "market", quote_quantity="100")  # no liquidity
        ex.place_order("taker", "BTC/USDT", "buy", "limit", "29000", "0.01")
        own = ex.place_order("taker", "BTC/USDT", "sell", "market", quote_quantity="100",
                             self_trade_prevention="EXPIRE_TAKER")  # fmt: skip
        assert [o.status for o in (spent, ran_out, nothing, own)] == ["FILLED", "EXPIRED", "EXPIRED", "EXPIRED"]
        assert history.wait(ex.last_sequence)
        for order in (spent, ran_out, nothing, own):
            assert history.order("taker", order.id) == ex.order("taker", order.id)


def test_rejected_orders_have_no_id_and_are_not_listed(clock):
    with Exchange.open(clock=clock) as ex, History.open(None) as history:
        history.attach(ex)
        ex.create_account("poor")
        with pytest.raises(SpotlabError) as refused:
            ex.place_order("poor", "BTC/USDT", "buy", "limit", "30000", "1")
        assert refused.value.code == "INSUFFICIENT_FUNDS"
        assert history.wait(ex.last_sequence)
        assert history.orders("poor").items == []


# -- queries -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def traded():
    """An in-memory exchange after a random workload, with its history attached (the tests only read)."""
    clock = SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC))
    with Exchange.open(clock=clock) as ex, History.open(None) as history:
        history.attach(ex)
        workload = Workload(ex, clock, seed=7)
        workload.run(300)
        assert history.wait(ex.last_sequence)
        yield ex, history, workload


@pytest.mark.parametrize("limit", [1, 3, 10, 1000])
def test_pagination_walks_every_item_once_newest_first(traded, limit):
    ex, history, _ = traded
    listings = {
        "orders": lambda a, before: history.orders(a, limit=limit, before=before),
        "BTC orders": lambda a, before: history.orders(a, market="BTC/USDT", limit=limit, before=before),
        "fills": lambda a, before: history.fills(a, limit=limit, before=before),
        "deposits": lambda a, before: history.deposits(a, limit=limit, before=before),
        "withdrawals": lambda a, before: history.withdrawals(a, limit=limit, before=before),
        "trades": lambda a, before: history.trades("ETH/USDT", limit=limit, before=before),
    }
    key = {"fills": "id", "deposits": "sequence", "withdrawals": "sequence"}
    for name, fetch in listings.items():
        everything = fetch(ACCOUNTS[0], None) if limit == 1000 else None
        items = walk(lambda before, fetch=fetch: fetch(ACCOUNTS[0], before))
        ids = [getattr(item, key.get(name, "id")) for item in items]
        assert ids == sorted(set(ids), reverse=True), f"{name}: not strictly newest first: {ids}"
        assert ids, f"{name}: the workload should produce some"
        if everything is not None:
            assert everything.items == items and everything.next_before is None


def test_filters_select_by_market_status_and_open_only(traded):
    ex, history, _ = traded
    everything = walk(lambda before: history.orders("a1", limit=1000, before=before))
    for status in ("NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED"):
        assert history.orders("a1", status=status, limit=1000).items == [o for o in everything if o.status == status]
    assert history.orders("a1", status="filled", limit=1000) == history.orders("a1", status="FILLED", limit=1000)
    assert history.orders("a1", market="ETH/USDT", limit=1000).items == [
        o for o in everything if o.market == "ETH/USDT"
    ]
    assert history.orders("a1", open_only=True, limit=1000).items == [o for o in everything if o.is_open]
    assert history.fills("a1", market="BTC/USDT", limit=1000).items == [
        f for f in history.fills("a1", limit=1000).items if f.market == "BTC/USDT"
    ]


def test_one_account_never_sees_another_accounts_rows(traded):
    ex, history, _ = traded
    for account in ACCOUNTS:
        assert {o.account for o in history.orders(account, limit=1000).items} == {account}
        assert {d.account for d in history.deposits(account, limit=1000).items} == {account}
        fills = history.fills(account, limit=1000).items
        assert all(history.order(account, f.order_id).account == account for f in fills)
    someone_elses = history.orders("a2", limit=1).items[0]
    with pytest.raises(SpotlabError) as not_found:
        history.order("a3", someone_elses.id)
    assert not_found.value.code == "ORDER_NOT_FOUND"


@pytest.mark.parametrize(
    "call, code",
    [
        (lambda h: h.orders("a0", limit=0), "INVALID_ARGUMENT"),
        (lambda h: h.trades("BTC/USDT", limit=1001), "INVALID_ARGUMENT"),
        (lambda h: h.fills("a0", before=-1), "INVALID_ARGUMENT"),
        (lambda h: h.orders("a0", status="DONE"), "INVALID_ARGUMENT"),
        (lambda h: h.orders("a0", market="XYZ/USDT"), "UNKNOWN_MARKET"),
        (lambda h: h.ticker("XYZ/USDT", 0), "UNKNOWN_MARKET"),
    ],
)
def test_bad_query_arguments_are_refused_with_a_code(traded, call, code):
    with pytest.raises(SpotlabError) as refused:
        call(traded[1])
    assert refused.value.code == code


# -- restarts ------------------------------------------------------------------------------


def test_a_restart_catches_up_without_duplicates_including_events_written_while_closed(store_url, clock):
    ex = Exchange.open(store_url, clock=clock)
    history = History.open(store_url)
    history.attach(ex)
    workload = Workload(ex, clock, seed=3)
    workload.run(80)
    assert history.wait(ex.last_sequence)
    history.close()
    workload.run(80)  # the history is closed: these events are only in the log
    ex.close()

    ex = after_close(Exchange.open, store_url, clock=clock)
    history = History.open(store_url)
    try:
        history.attach(ex)
        assert history.applied_seq == ex.last_sequence  # attach returns caught up
        workload.ex = ex
        workload.run(20)  # and it follows from there
        assert_matches_engine(ex, history, workload.withdrawals)
    finally:
        history.close()
        ex.close()


def test_events_arriving_during_catch_up_are_applied_once(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        workload = Workload(ex, clock, seed=5)
        workload.run(150)  # a backlog in the log
        busy = threading.Thread(target=workload.run, args=(150,))
        busy.start()  # commands keep coming while the history catches up
        history.attach(ex)
        busy.join()
        assert_matches_engine(ex, history, workload.withdrawals)


def test_a_history_beside_a_fresh_log_rebuilds_from_the_new_log(tmp_path, clock):
    path = tmp_path / "spotlab.sqlite"
    url = f"sqlite:///{path}"
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        Workload(ex, clock, seed=11).run(50)
        assert history.wait(ex.last_sequence)
    remove_store(path)  # like ``--fresh``: the log goes, the history file stays
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        workload = Workload(ex, clock, seed=12)
        workload.run(60)
        history.attach(ex)
        assert_matches_engine(ex, history, workload.withdrawals)


def test_exchange_events_after_a_sequence_number_seek_in_the_log(store_url, clock):
    with Exchange.open(store_url, clock=clock) as ex:
        Workload(ex, clock, seed=13).run(30)
        everything = list(ex.events())
        assert [e.seq for e in everything] == list(range(1, ex.last_sequence + 1))
        for after in (0, 1, 57, len(everything) // 2, len(everything) - 1, len(everything), len(everything) + 5):
            assert list(ex.events(after=after)) == everything[after:]


# -- read-your-writes and failures --------------------------------------------------------------


def test_after_waiting_for_a_commands_sequence_the_history_shows_it(store_url, clock):
    with Exchange.open(store_url, clock=clock) as ex, History.open(store_url) as history:
        history.attach(ex)
        ex.create_account("me")
        ex.deposit("me", "USDT", "10000")
        for price in ("1000", "1001", "1002"):
            order = ex.place_order("me", "BTC/USDT", "buy", "limit", price, "0.01")
            assert history.wait(ex.last_sequence)
            assert history.orders("me", limit=1).items == [ex.order("me", order.id)]

        async def place_then_read():
            order = await ex.aio.place_order("me", "BTC/USDT", "buy", "limit", "1003", "0.01")
            assert await history.wait_async(ex.last_sequence)
            return order.id, history.order("me", order.id)

        order_id, seen = asyncio.run(place_then_read())
        assert seen == ex.order("me", order_id)
        assert history.wait(ex.last_sequence + 1, timeout=0.05) is False  # not written yet: times out
        assert asyncio.run(history.wait_async(ex.last_sequence + 1, timeout=0.05)) is False


class WriteCounter:
    """Counts the history's transactions of events (its ``_write``s) from now on."""

    def __init__(self, history: History) -> None:
        self.count, write = 0, history._write

        def counted(*args):
            self.count += 1
            return write(*args)

        history._write = counted


@contextlib.contextmanager
def lingering(tmp_path, clock, listener=None):
    """A durable exchange with a funded account ``me`` and its history, caught up and lingering up to 30 s
    (``listener``: a records subscriber ahead of the history); yields them and a ``WriteCounter``."""
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    with Exchange.open(url, clock=clock) as ex, History.open(url, linger_seconds=30) as history:
        if listener is not None:
            ex.subscribe_records(listener)
        history.attach(ex)
        ex.create_account("me")
        ex.deposit("me", "USDT", "10000")
        assert history.wait(ex.last_sequence)
        yield ex, history, WriteCounter(history)


def test_events_that_arrive_while_nobody_waits_are_written_in_one_transaction(tmp_path, clock):
    with lingering(tmp_path, clock) as (ex, history, writes):
        orders = [ex.place_order("me", "BTC/USDT", "buy", "limit", str(1000 + k), "0.01") for k in range(5)]
        assert history.applied_seq < ex.last_sequence  # lingering: nobody asked yet
        assert history.wait(ex.last_sequence, timeout=5)  # a reader ends the linger (not the 30 s)
        assert writes.count == 1
        assert [o.id for o in history.orders("me", limit=10).items] == [o.id for o in reversed(orders)]


def test_a_reader_who_asks_before_its_event_is_queued_still_gets_one_transaction(tmp_path, clock):
    # The store wakes a command's caller before it hands the batch to its listeners: a slow listener
    # ahead of the history widens that moment, so the reader surely asks before the last order is queued.
    with lingering(tmp_path, clock, listener=lambda records: time.sleep(0.05)) as (ex, history, writes):
        orders = [ex.place_order("me", "BTC/USDT", "buy", "limit", str(1000 + k), "0.01") for k in range(3)]
        assert history.wait(ex.last_sequence, timeout=5)
        assert writes.count == 1
        assert [o.id for o in history.orders("me", limit=10).items] == [o.id for o in reversed(orders)]


def test_an_async_reader_ends_the_linger_too(clock):
    with Exchange.open(clock=clock) as ex, History.open(None, linger_seconds=30) as history:
        history.attach(ex)
        ex.create_account("me")
        ex.deposit("me", "USDT", "10000")

        async def place_then_read():
            order = await ex.aio.place_order("me", "BTC/USDT", "buy", "limit", "1000", "0.01")
            assert await history.wait_async(ex.last_sequence, timeout=5)
            return order.id, history.order("me", order.id)

        order_id, seen = asyncio.run(place_then_read())
        assert seen == ex.order("me", order_id)


def test_lingering_events_are_applied_without_a_reader_and_at_close(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    with Exchange.open(url, clock=clock) as ex:
        with History.open(url, linger_seconds=0.05) as history:
            history.attach(ex)
            ex.create_account("me")
            ex.deposit("me", "USDT", "10000")
            deadline = time.monotonic() + 5
            while history.applied_seq < ex.last_sequence and time.monotonic() < deadline:
                time.sleep(0.01)  # nobody waits: the linger alone ends
            assert history.applied_seq == ex.last_sequence
        history = History.open(url, linger_seconds=30)
        history.attach(ex)
        ex.place_order("me", "BTC/USDT", "buy", "limit", "1000", "0.01")
        started = time.monotonic()
        history.close()  # applies what is queued at once
        assert time.monotonic() - started < 5
        with History.open(url) as reopened:
            assert reopened.applied_seq == ex.last_sequence


def test_a_negative_linger_is_refused():
    with pytest.raises(SpotlabError) as refused:
        History.open(None, linger_seconds=-1)
    assert refused.value.code == "INVALID_ARGUMENT"


def test_a_failing_batch_stops_the_projector_without_moving_the_checkpoint(tmp_path, clock, caplog):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    side = sqlite3.connect(tmp_path / "spotlab-history.sqlite", isolation_level=None)
    with Exchange.open(url, clock=clock) as ex:
        history = History.open(url)
        history.attach(ex)
        workload = Workload(ex, clock, seed=17)
        workload.run(30)
        assert history.wait(ex.last_sequence)
        before = history.applied_seq
        side.execute("ALTER TABLE history_fills RENAME TO away")  # the next fill cannot be written
        ex.place_order("a0", "BTC/USDT", "sell", "limit", "30000", "0.01")
        ex.place_order("a1", "BTC/USDT", "buy", "market", quantity="0.01")
        assert history.wait(ex.last_sequence, timeout=2) is False
        assert history.failure is not None and "history projector stopped" in caplog.text
        assert history.applied_seq < ex.last_sequence
        workload.run(20)  # the exchange goes on; the stopped history ignores it
        assert history.wait(ex.last_sequence, timeout=0.05) is False
        assert side.execute("SELECT seq FROM history_checkpoint").fetchone()[0] == history.applied_seq >= before
        history.close()

        side.execute("ALTER TABLE away RENAME TO history_fills")
        with History.open(url) as reopened:
            reopened.attach(ex)  # resumes from the checkpoint
            assert_matches_engine(ex, reopened, workload.withdrawals)
    side.close()


# -- the 24 h ticker -----------------------------------------------------------------------------


def trade_at(ex: Exchange, clock: SimulatedClock, moment: datetime, price: str, quantity: str) -> None:
    clock.set(moment)
    ex.place_order("maker", "BTC/USDT", "sell", "limit", price, quantity)
    ex.place_order("taker", "BTC/USDT", "buy", "market", quantity=quantity)


def test_the_ticker_sums_the_last_24_hours_of_trades_and_slides(tmp_path):
    day = datetime(2024, 3, 1, tzinfo=UTC)
    clock = SimulatedClock(day)
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        for name in ("maker", "taker"):
            ex.create_account(name)
            ex.deposit(name, "BTC", "5")
            ex.deposit(name, "USDT", "100000")
        trade_at(ex, clock, day + timedelta(seconds=30), "50000", "0.1")  # 5000 USDT
        trade_at(ex, clock, day + timedelta(minutes=10), "51000", "0.2")  # 10200 USDT
        trade_at(ex, clock, day + timedelta(hours=12), "49000", "0.1")  # 4900 USDT
        assert history.wait(ex.last_sequence)

        noon = history.ticker("BTC/USDT", clock.now_ns())
        assert (noon.open, noon.high, noon.low, noon.last) == (D("50000"), D("51000"), D("49000"), D("49000"))
        assert (noon.change, noon.change_percent) == (D("-1000"), D("-2.00"))
        assert (noon.base_volume, noon.quote_volume, noon.trade_count) == (D("0.4"), D("20100"), 3)
        assert noon.open_time == day

    clock.set(day + timedelta(hours=23, minutes=59, seconds=59))
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)  # the window is rebuilt from the trades in SQL
        ticker = history.ticker("BTC/USDT", clock.now_ns())
        assert (ticker.open, ticker.trade_count, ticker.quote_volume) == (D("50000"), 3, D("20100"))
        one_day_later = history.ticker("BTC/USDT", clock.now_ns() + 1_000_000_000)  # minute 0 leaves the window
        assert (one_day_later.open, one_day_later.high, one_day_later.low) == (D("51000"), D("51000"), D("49000"))
        assert (one_day_later.base_volume, one_day_later.quote_volume, one_day_later.trade_count) == (
            D("0.3"), D("15100"), 2
        )  # fmt: skip
        assert one_day_later.change_percent == D("-3.92")  # -2000 / 51000 = -3.9215...
        clock.set(day + timedelta(days=1, minutes=30))
        trade_at(ex, clock, day + timedelta(days=1, minutes=30), "52000", "0.05")
        assert history.wait(ex.last_sequence)
        now = history.ticker("BTC/USDT", clock.now_ns())
        assert (now.open, now.high, now.low, now.last, now.trade_count) == (
            D("49000"), D("52000"), D("49000"), D("52000"), 2
        )  # fmt: skip
        quiet = history.ticker("BTC/USDT", clock.now_ns() + 2 * 86_400 * 10**9)
        assert (quiet.open, quiet.last, quiet.change, quiet.trade_count, quiet.base_volume) == (None, None, None, 0, 0)

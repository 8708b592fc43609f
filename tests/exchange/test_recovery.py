"""Recovery: a restarted exchange is the exchange that stopped, on SQLite and on PostgreSQL.

Each restart test builds the same trading history twice: in a durable store, and in
an in-memory twin that never stops. The durable exchange is closed and opened again;
from then on the two must be indistinguishable: the same state hash, sequence,
balances, books in queue order, orders, client order ids and next order id.

The history is restarted three ways (``mode``):

- ``replay``: no snapshot at all, recovery replays every record;
- ``snapshot midway``: one snapshot in the middle, recovery replays the tail;
- ``snapshot every 3``: frequent snapshots and one at close, recovery replays nothing.

Damaged stores are made with the database's own tools (``UPDATE``/``DELETE`` on the
log table from a connection of the test's own); opening them must stop with
``STORE_CORRUPT`` rather than serve a state that differs from what callers were told.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from spotlab import ErrorCode, Exchange, SimulatedClock, SpotlabError
from spotlab.core import state
from spotlab.core.commands import Deposit
from spotlab.core.engine import DEFAULT_CLOSED_ORDERS_KEPT
from spotlab.exchange.recovery import recover
from spotlab.store import open_store
from tests.conftest import fund
from tests.scenario import assert_book
from tests.store import raw_log
from tests.store.raw_log import sql, stalled_writes
from tests.support import HANG_SECONDS, after_close, within

START = datetime(2024, 5, 1, tzinfo=UTC)
MODES = {"replay": None, "snapshot midway": None, "snapshot every 3": 3}  # mode: snapshot_every


# -- helpers ----------------------------------------------------------------------------


def reopen(url: str, **options: Any) -> Exchange:
    return after_close(within, HANG_SECONDS, f"Exchange.open({url})", Exchange.open, url, **options)


def last_index(url: str) -> int:
    return raw_log.last_index(url)


def history(ex: Exchange, clock: SimulatedClock, midway: Callable[[], Any] = lambda: None) -> dict[str, Any]:
    """The same trading history on any exchange: resting, partly filled, reduced, canceled and
    rejected orders, client order ids, a market order, a withdrawal and a halted market."""
    alice = fund(ex, "alice", USDT="100000", BTC="1")
    bob = fund(ex, "bob", BTC="5", ETH="20")
    carol = fund(ex, "carol", BTC="2", USDT="5000")
    dave = fund(ex, "dave", USDT="200000")
    o: dict[str, Any] = {}
    clock.advance(seconds=1)
    o["bob_ask"] = ex.place_order(bob, "BTC/USDT", "sell", "limit", "30000.00", "0.1", client_order_id="bob-ask-1")
    clock.advance(seconds=1)
    o["carol_ask"] = ex.place_order(carol, "BTC/USDT", "sell", "limit", "30000.00", "0.2")
    clock.advance(seconds=1)
    o["bob_high_ask"] = ex.place_order(bob, "BTC/USDT", "sell", "limit", "30010.00", "0.1")
    clock.advance(seconds=1)
    ex.place_order(alice, "BTC/USDT", "buy", "limit", "30000.00", "0.05")  # bob's ask keeps its place
    clock.advance(seconds=1)
    midway()
    o["dave_bid"] = ex.place_order(dave, "BTC/USDT", "buy", "limit", "29990.00", "0.3")
    o["dave_bid_2"] = ex.place_order(dave, "BTC/USDT", "buy", "limit", "29990.00", "0.1", client_order_id="dave-2")
    clock.advance(seconds=1)
    o["canceled"] = ex.place_order(alice, "BTC/USDT", "buy", "limit", "29980.00", "0.1")
    ex.cancel_order(alice, o["canceled"].id)
    clock.advance(seconds=1)
    ex.place_order(alice, "BTC/USDT", "buy", "market", quantity="0.01")
    ex.place_order(carol, "BTC/USDT", "sell", "limit", "29990.00", "0.05", time_in_force="IOC")
    clock.advance(seconds=1)
    o["bob_eth"] = ex.place_order(bob, "ETH/USDT", "sell", "limit", "2000.00", "1.5", client_order_id="bob-eth")
    ex.reduce_order(dave, o["dave_bid_2"].id, "0.05")
    ex.withdraw(alice, "USDT", "50")
    ex.halt_market("SOL/USDT")
    with pytest.raises(SpotlabError):
        ex.place_order(carol, "BTC/USDT", "buy", "limit", "29000.00", "10")  # rejected: not enough USDT
    clock.advance(seconds=1)
    return o


ACCOUNTS = ("alice", "bob", "carol", "dave")


@dataclass
class Restart:
    restarted: Exchange
    twin: Exchange  # in memory, never stopped
    restarted_clock: SimulatedClock
    twin_clock: SimulatedClock
    orders: dict[str, Any]
    mode: str
    midway_index: int | None
    index: int  # the last record before the restart
    snapshot_index: int  # what recovery started from
    replayed: int

    def advance(self, **units: float) -> None:
        self.restarted_clock.advance(**units)
        self.twin_clock.advance(**units)

    def both(self, call: Callable[[Exchange], Any]) -> tuple[Any, Any]:
        return call(self.restarted), call(self.twin)


@pytest.fixture(params=list(MODES))
def restart(request, store_url) -> Iterator[Restart]:
    mode = request.param
    clock, twin_clock = SimulatedClock(START), SimulatedClock(START)
    twin = Exchange.open(clock=twin_clock)
    ex = Exchange.open(store_url, clock=clock, snapshot_every=MODES[mode])
    midway: dict[str, int] = {}

    def take(exchange: Exchange, key: str) -> Callable[[], None]:
        def snapshot() -> None:
            if mode == "snapshot midway":
                midway[key] = exchange.snapshot()

        return snapshot

    orders = history(ex, clock, take(ex, "durable"))
    history(twin, twin_clock, take(twin, "twin"))
    ex.close()

    index = last_index(store_url)
    store = after_close(open_store, store_url)
    try:
        recovered = recover(store, DEFAULT_CLOSED_ORDERS_KEPT)
    finally:
        store.close()
    restarted_clock = SimulatedClock(clock.now())
    restarted = reopen(store_url, clock=restarted_clock, snapshot_every=MODES[mode])
    r = Restart(
        restarted,
        twin,
        restarted_clock,
        twin_clock,
        orders,
        mode,
        midway.get("durable"),
        index,
        recovered.snapshot_index,
        recovered.replayed,
    )
    try:
        yield r
        r.restarted.check_invariants()
    finally:
        r.restarted.close()
        twin.close()


# -- a restart rebuilds the exact state ---------------------------------------------------------


def test_a_restart_rebuilds_the_state_hash_sequence_and_balances(restart):
    r = restart
    assert r.restarted.state_hash() == r.twin.state_hash()
    assert r.restarted.last_sequence == r.twin.last_sequence
    for account in ACCOUNTS:
        assert r.restarted.balances(account) == r.twin.balances(account)
    assert r.restarted.fee_balances() == r.twin.fee_balances()
    assert r.restarted.balances("alice")["USDT"].total < Decimal("100000") - Decimal("50")  # it did trade


def test_a_restart_keeps_every_resting_order_in_queue_order(restart):
    ex, o = restart.restarted, restart.orders
    assert_book(
        ex,
        "BTC/USDT",
        f"""
        asks
          30010.00  0.10000  #{o["bob_high_ask"].id}
          30000.00  0.04000  #{o["bob_ask"].id}
          30000.00  0.20000  #{o["carol_ask"].id}
        bids
          29990.00  0.25000  #{o["dave_bid"].id}
          29990.00  0.05000  #{o["dave_bid_2"].id}
        """,
    )
    for market in ("BTC/USDT", "ETH/USDT"):
        assert ex.order_book_orders(market) == restart.twin.order_book_orders(market)
    for account in ACCOUNTS:
        assert ex.open_orders(account) == restart.twin.open_orders(account)


def test_a_restart_keeps_closed_orders_trades_and_market_status(restart):
    ex, twin, o = restart.restarted, restart.twin, restart.orders
    canceled = ex.order("alice", o["canceled"].id)
    assert canceled.status == "CANCELED"
    assert canceled == twin.order("alice", o["canceled"].id)
    assert ex.trades("BTC/USDT") == twin.trades("BTC/USDT")
    assert len(ex.trades("BTC/USDT")) == 3
    assert ex.market("SOL/USDT").status == "halted"
    assert ex.markets() == twin.markets()


def test_client_order_ids_stay_idempotent_after_a_restart(restart):
    ex, o = restart.restarted, restart.orders
    sequence = ex.last_sequence
    again = ex.place_order("bob", "BTC/USDT", "sell", "limit", "30000.00", "0.1", client_order_id="bob-ask-1")
    assert again.duplicate and again.id == o["bob_ask"].id and again.remaining_quantity == Decimal("0.04")
    again = ex.place_order("bob", "ETH/USDT", "sell", "limit", "2000.00", "1.5", client_order_id="bob-eth")
    assert again.duplicate and again.id == o["bob_eth"].id
    assert ex.last_sequence == sequence  # a repeat changes nothing and logs nothing
    with pytest.raises(SpotlabError) as raised:
        ex.place_order("bob", "BTC/USDT", "sell", "limit", "30001.00", "0.1", client_order_id="bob-ask-1")
    assert raised.value.code is ErrorCode.DUPLICATE_CLIENT_ORDER_ID
    assert ex.order_by_client_id("dave", "dave-2").id == o["dave_bid_2"].id
    assert ex.state_hash() == restart.twin.state_hash()


def test_order_ids_sequences_and_matching_continue_after_a_restart(restart):
    r = restart
    r.advance(seconds=5)
    # a new order trades through both orders resting at 30000.00, in queue order, on both exchanges
    sequence = r.restarted.last_sequence
    new, expected = r.both(lambda ex: ex.place_order("dave", "BTC/USDT", "buy", "limit", "30000.00", "0.1"))
    assert new == expected
    assert new.id == max(order.id for order in r.orders.values()) + 1  # bob's ETH ask was the last order
    assert [fill.quantity for fill in new.fills] == [Decimal("0.04"), Decimal("0.06")]
    assert [trade.id for trade in r.restarted.trades("BTC/USDT", limit=2)] == [5, 4]  # trade ids go on too
    new_events = [event.seq for event in r.restarted.events(after=sequence)]
    assert new_events == list(range(sequence + 1, r.restarted.last_sequence + 1))
    assert r.restarted.state_hash() == r.twin.state_hash()
    assert list(r.restarted.events()) == list(r.twin.events())


def test_recovery_starts_from_the_newest_snapshot_and_replays_only_the_records_after_it(restart):
    r = restart
    if r.mode == "replay":
        assert (r.snapshot_index, r.replayed) == (0, r.index)
    elif r.mode == "snapshot midway":
        assert r.midway_index is not None and 0 < r.midway_index < r.index
        assert (r.snapshot_index, r.replayed) == (r.midway_index, r.index - r.midway_index)
    else:
        assert (r.snapshot_index, r.replayed) == (r.index, 0)


def test_a_restart_after_close_replays_nothing(store_url, clock):
    ex = Exchange.open(store_url, clock=clock)  # the default snapshot setting
    history(ex, clock)
    state = ex.state_hash()
    ex.close()

    store = after_close(open_store, store_url)
    try:
        assert store.latest_snapshot()[0] == last_index(store_url)
        recovered = recover(store, DEFAULT_CLOSED_ORDERS_KEPT)
        assert recovered.replayed == 0 and recovered.index == last_index(store_url)
    finally:
        store.close()
    again = reopen(store_url, clock=clock)
    try:
        assert again.state_hash() == state
    finally:
        again.close()


def test_commands_applied_without_waiting_are_in_the_store_after_close(store_url, clock):
    ex = Exchange.open(store_url, clock=clock, snapshot_every=None)
    alice = ex.create_account("alice")
    indexes = [ex.apply(Deposit(alice, "USDT", 10**8 * (n + 1)))[1] for n in range(100)]
    state = ex.state_hash()
    ex.close()
    assert last_index(store_url) == indexes[-1]
    again = reopen(store_url, clock=clock)
    try:
        assert again.state_hash() == state
        assert again.balances(alice)["USDT"].available == Decimal(5050)
    finally:
        again.close()


def test_timestamps_never_go_backwards_across_a_restart(restart):
    # The restarted exchange's clock is set an hour back (a wall clock stepped back by NTP,
    # or a simulated clock restarted at an earlier time): new commands are stamped no
    # earlier than the last one before the restart.
    r = restart
    last_ts = max(event.ts for event in r.restarted.events())
    r.restarted.close()
    earlier = SimulatedClock(datetime.fromtimestamp(last_ts / 1e9 - 3600, tz=UTC))
    r.restarted = reopen(r.restarted.url, clock=earlier, snapshot_every=MODES[r.mode])
    r.restarted.deposit("alice", "USDT", "1")
    stamps = [event.ts for event in r.restarted.events()]
    assert stamps == sorted(stamps), f"a deposit is stamped {(last_ts - stamps[-1]) / 1e9:.0f} s before the last one"


def test_stats_count_every_record_of_the_log_after_a_restart(store_url, clock):
    ex = Exchange.open(store_url, clock=clock)
    history(ex, clock)
    ex.close()
    again = reopen(store_url, clock=clock)
    try:
        stats = again.stats()
        assert stats["events"] == again.last_sequence
        assert stats["records"] == last_index(store_url), "stats()['records'] is not the log's last record"
    finally:
        again.close()


def test_snapshot_returns_only_once_the_snapshot_is_stored(store_url):
    ex = Exchange.open(store_url)
    try:
        fund(ex, "alice", USDT="100")
        returned: dict[str, int] = {}
        with stalled_writes(store_url):
            thread = threading.Thread(target=lambda: returned.update(index=ex.snapshot()), daemon=True)
            thread.start()
            thread.join(0.5)
            if "index" in returned:  # it returned while the database could not have stored anything
                stored = sql(store_url, "SELECT idx FROM {snapshots} WHERE idx = ?", (returned["index"],))
                assert stored, "snapshot() returned before its snapshot was stored"
        thread.join(HANG_SECONDS)
        assert sql(store_url, "SELECT idx FROM {snapshots} WHERE idx = ?", (returned["index"],))
    finally:
        ex.close()


# -- damaged stores -------------------------------------------------------------------------------


def damaged_store(url: str, clock: SimulatedClock) -> int:
    """A store of the history with no snapshot; the index of a deposit of alice's in the middle of it."""
    ex = Exchange.open(url, clock=clock, snapshot_every=None)
    history(ex, clock)
    ex.close()
    for record in raw_log.stored_records(url):
        if isinstance(record.command, Deposit) and record.command.account == "alice":
            return record.index
    raise AssertionError("the history has no deposit")


def rewrite(url: str, index: int, change: Callable[[Any], Any]) -> None:
    """Replace record ``index`` with ``change(record)`` (a record, or raw bytes for its stored segment)."""
    raw_log.rewrite_record(url, index, change)


def open_code(url: str, clock: SimulatedClock) -> ErrorCode:
    with pytest.raises(SpotlabError) as raised:
        ex = reopen(url, clock=clock)
        ex.close()
    return raised.value.code


CHANGES = {
    "the command's amount": lambda r: msgspec.structs.replace(
        r, command=msgspec.structs.replace(r.command, amount=r.command.amount + 1)
    ),
    "the logged event's amount": lambda r: msgspec.structs.replace(
        r, events=(msgspec.structs.replace(r.events[0], amount=r.events[0].amount + 1), *r.events[1:])
    ),
    "the account, to one that does not exist": lambda r: msgspec.structs.replace(
        r, command=msgspec.structs.replace(r.command, account="mallory")
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_record_changed_in_the_database_makes_open_fail_with_store_corrupt(store_url, clock, change):
    index = damaged_store(store_url, clock)
    rewrite(store_url, index, CHANGES[change])
    assert open_code(store_url, clock) is ErrorCode.STORE_CORRUPT


@pytest.mark.parametrize("which", ["first", "middle"])
def test_a_missing_record_makes_open_fail_with_store_corrupt(store_url, clock, which):
    index = damaged_store(store_url, clock)
    if which == "first":
        index = 1
    raw_log.delete_record(store_url, index)
    assert open_code(store_url, clock) is ErrorCode.STORE_CORRUPT


@pytest.mark.parametrize("body", [b"\xc1", b"", b"\x94\x01\x02\x03"], ids=["never-used byte", "empty", "wrong shape"])
def test_an_unreadable_record_makes_open_fail_with_store_corrupt(store_url, clock, body):
    index = damaged_store(store_url, clock)
    rewrite(store_url, index, lambda record: body)
    assert open_code(store_url, clock) is ErrorCode.STORE_CORRUPT


def test_an_unreadable_snapshot_makes_open_fail_with_store_corrupt(store_url, clock):
    ex = Exchange.open(store_url, clock=clock)
    history(ex, clock)
    ex.close()  # writes a snapshot
    sql(store_url, "UPDATE {snapshots} SET body = ?", (b"\x93\x01\x02",))
    assert open_code(store_url, clock) is ErrorCode.STORE_CORRUPT


def test_a_snapshot_altered_to_break_conservation_makes_open_fail_with_store_corrupt(store_url, clock):
    # The snapshot decodes, but alice's USDT was raised by 10,000 without a deposit: serving it
    # would break invariant 1 (conservation) from the first command on.
    ex = Exchange.open(store_url, clock=clock)
    fund(ex, "alice", USDT="100")
    ex.close()  # writes a snapshot
    index, body = sql(store_url, "SELECT idx, body FROM {snapshots} ORDER BY idx DESC")[0]
    snap = state.decode(bytes(body))
    (alice,) = [account for account in snap.accounts if account.id == "alice"]
    alice.rows = [(asset, available + 10_000 * 10**8, locked) for asset, available, locked in alice.rows]
    sql(store_url, "UPDATE {snapshots} SET body = ? WHERE idx = ?", (state.encode(snap), index))
    assert open_code(store_url, clock) is ErrorCode.STORE_CORRUPT

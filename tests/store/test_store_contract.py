"""The store contract: what every durable backend promises, proved on SQLite and on PostgreSQL.

Every test here runs once per backend (the ``store_url`` fixture) against the real
database: a SQLite file in the test's temporary directory, and a fresh schema on the
PostgreSQL server. Nothing is mocked. "A fresh reader" always means a new connection
opened by the test with ``sqlite3`` or ``psycopg``, outside spotlab.

Failures are real ones: another connection holding the write lock longer than the
SQLite writer's busy timeout, and the PostgreSQL server terminating the store's
sessions (as a restart or an administrator would). Stalls hold the same locks for
a moment and then let go.

Calls that could hang forever because of a bug run through ``within``, so a hang
fails the test with a message instead of stopping the suite.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
import pytest

from spotlab import ErrorCode, Exchange, SpotlabError
from spotlab.core.commands import CreateAccount, Deposit, ListAsset, ListMarket, PlaceOrder
from spotlab.core.engine import Engine
from spotlab.core.markets import MarketStatus
from spotlab.core.orders import OrderType, SelfTradePrevention, Side, TimeInForce
from spotlab.store import LogRecord, open_store
from spotlab.store.postgres import drop_schema
from spotlab.store.records import encode_record
from tests.conftest import PG_BASE_URL, fund
from tests.store import raw_log
from tests.store.raw_log import stalled_writes
from tests.support import HANG_SECONDS, after_close, within

T = TypeVar("T")

#: The SQLite writer's busy timeout (Python's ``sqlite3`` default): a write lock held longer fails it.
SQLITE_BUSY_TIMEOUT = 5.0

BTC = 10**8  # minor units of one BTC
USDT = 10**8


# -- helpers ---------------------------------------------------------------------------


def with_application_name(url: str) -> tuple[str, str | None]:
    """``url`` naming its PostgreSQL sessions so that the test can find them (SQLite: unchanged)."""
    if url.startswith("sqlite:///"):
        return url, None
    name = f"spotlab_test_{uuid.uuid4().hex[:12]}"
    return f"{url}&application_name={name}", name


def terminate_sessions(application_name: str, which: str) -> int:
    """Have the PostgreSQL server end a store's sessions, as a restart, a proxy or an administrator does.

    ``which``: ``"lock"`` the session holding the store's advisory lock, ``"writer"`` the others.
    """
    holds_lock = "a.pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')"
    sql = "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a WHERE a.application_name = %s AND " + (
        holds_lock if which == "lock" else f"NOT {holds_lock}"
    )
    with psycopg.connect(PG_BASE_URL, autocommit=True) as conn:
        return len(conn.execute(sql, (application_name,)).fetchall())


def sample_records(count: int, start_ts: int = 1_700_000_000_000_000_000) -> list[LogRecord]:
    """``count`` real records (listings, accounts, deposits, resting and trading orders) from the engine."""
    engine = Engine()
    commands: list[Any] = [
        ListAsset("BTC", 8, "0.0002", "0.001"),
        ListAsset("USDT", 8, "1", "10"),
        ListMarket("BTC/USDT", "0.01", "0.00001", "0.00001", "5", "0.001", "0.001", MarketStatus.TRADING),
        CreateAccount("alice"),
        CreateAccount("bob"),
        Deposit("alice", "USDT", 10_000_000 * USDT),
        Deposit("bob", "BTC", 1_000 * BTC),
    ]
    records: list[LogRecord] = []
    i = 0
    while len(records) < count:
        if i < len(commands):
            command = commands[i]
        else:
            seller = i % 2 == 0
            command = PlaceOrder(
                "bob" if seller else "alice",
                "BTC/USDT",
                Side.SELL if seller else Side.BUY,
                OrderType.LIMIT,
                TimeInForce.GTC,
                SelfTradePrevention.EXPIRE_MAKER,
                price=3_000_000 + (i % 7) * 100,  # 30000.00 .. 30006.00 USDT
                quantity=1_000 + i % 5,  # lots of 0.00001 BTC
                client_order_id=f"c{i}" if i % 3 == 0 else None,
            )
        ts = start_ts + i * 1_000_000
        outcome = engine.apply(command, ts)
        if outcome.events:
            records.append(LogRecord(len(records) + 1, ts, command, tuple(outcome.events)))
        i += 1
    return records


def code_of(call: Callable[[], Any]) -> ErrorCode:
    with pytest.raises(SpotlabError) as raised:
        call()
    return raised.value.code


# -- the log ---------------------------------------------------------------------------


def test_records_come_back_in_order_and_bit_equal_after_a_reopen(store_url):
    records = sample_records(120)
    store = open_store(store_url)
    for record in records:
        store.append(record)
    store.wait(records[-1].index)
    store.close()

    store = after_close(open_store, store_url)
    try:
        again = list(store.records())
        after_50 = list(store.records(after=50))
    finally:
        store.close()
    assert [r.index for r in again] == list(range(1, 121))
    assert [encode_record(r) for r in again] == [encode_record(r) for r in records]
    assert again == records
    assert after_50 == records[50:]


def test_wait_returns_only_once_a_fresh_reader_sees_the_record(store_url):
    records = sample_records(40)
    store = open_store(store_url)
    try:
        for record in records:
            store.append(record)
            store.wait(record.index)
            stored = {r.index: r for r in raw_log.stored_records(store_url)}
            assert encode_record(stored.get(record.index)) == encode_record(record), (
                f"record {record.index} not readable"
            )
    finally:
        store.close()


def test_wait_returns_at_once_for_records_made_durable_before_a_reopen(store_url):
    records = sample_records(10)
    store = open_store(store_url)
    for record in records:
        store.append(record)
    store.wait(10)
    store.close()

    store = after_close(open_store, store_url)
    try:
        within(HANG_SECONDS, "wait(10) on a reopened store holding records 1..10", store.wait, 10)
    finally:
        store.close()


def test_close_flushes_what_was_queued(store_url):
    records = sample_records(300)
    store = open_store(store_url)
    for record in records:
        store.append(record)
    store.close()  # no wait: close must drain the queue before it lets go

    assert (raw_log.count_after(store_url), raw_log.last_index(store_url)) == (300, 300)
    store = after_close(open_store, store_url)
    try:
        assert list(store.records()) == records
    finally:
        store.close()


def test_appending_to_a_closed_store_is_refused(store_url):
    store = open_store(store_url)
    store.close()
    assert code_of(lambda: store.append(sample_records(1)[0])) is ErrorCode.EXCHANGE_CLOSED


# -- snapshots ---------------------------------------------------------------------------


def test_latest_snapshot_is_the_newest_and_only_the_two_newest_are_kept(store_url):
    records = sample_records(9)
    store = open_store(store_url)
    try:
        assert store.latest_snapshot() is None
        for record in records:
            store.append(record)
            if record.index % 3 == 0:
                store.snapshot(record.index, f"state after {record.index}".encode())
    finally:
        store.close()

    store = after_close(open_store, store_url)
    try:
        assert store.latest_snapshot() == (9, b"state after 9")
    finally:
        store.close()
    assert raw_log.sql(store_url, "SELECT idx FROM {snapshots} ORDER BY idx") == [(6,), (9,)]


# -- one writer at a time ----------------------------------------------------------------


def test_a_second_opener_gets_store_locked_until_the_first_closes(store_url):
    first = open_store(store_url)
    try:
        assert code_of(lambda: open_store(store_url)) is ErrorCode.STORE_LOCKED
        assert code_of(lambda: Exchange.open(store_url)) is ErrorCode.STORE_LOCKED
    finally:
        first.close()
    second = after_close(open_store, store_url)
    second.close()


def test_a_closed_store_can_be_reopened_at_once(store_url):
    # When close() returns, the lock is gone: not some milliseconds later, when the server has
    # noticed the session end. PostgreSQL is watched from a session opened beforehand, which
    # sees what the next opener would see, without the time it takes to connect.
    url, name = with_application_name(store_url)
    watcher = None if name is None else psycopg.connect(PG_BASE_URL, autocommit=True)
    try:
        for attempt in range(1, 51):
            try:
                store = open_store(url)
            except SpotlabError as error:
                pytest.fail(f"reopening right after close, attempt {attempt}: {error}")
            store.close()
            if watcher is not None:
                held = watcher.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                    "WHERE l.locktype = 'advisory' AND a.application_name = %s",
                    (name,),
                ).fetchone()[0]
                assert held == 0, f"attempt {attempt}: close() returned while its session still held the lock"
    finally:
        if watcher is not None:
            watcher.close()


def test_another_file_or_schema_is_not_locked_by_an_open_store(store_url, tmp_path):
    if store_url.startswith("sqlite:///"):
        other = f"sqlite:///{tmp_path}/other.sqlite"
    else:
        other = f"{PG_BASE_URL}?schema=t_{uuid.uuid4().hex[:12]}"  # another schema, same database
    first = open_store(store_url)
    try:
        second = open_store(other)
        second.close()
    finally:
        first.close()
        if other.startswith("postgresql://"):
            drop_schema(other)


def test_a_postgres_store_that_lost_its_lock_session_is_not_joined_by_a_second_writer(pg_url):
    # The advisory lock lives in an idle session of its own; servers and proxies do end idle
    # sessions (idle_session_timeout, restarts, pg_terminate_backend). Once it is gone, either the
    # store must stop writing or a second opener must still be refused: never two writers.
    url, name = with_application_name(pg_url)
    ex = Exchange.open(url)
    second = None
    try:
        alice = fund(ex, "alice", USDT="100")
        assert terminate_sessions(name, "lock") == 1
        time.sleep(0.2)
        try:
            second = open_store(url)
        except SpotlabError as error:
            assert error.code is ErrorCode.STORE_LOCKED
        try:
            ex.deposit(alice, "USDT", "1")
            first_still_writes = True
        except SpotlabError as error:
            assert error.code is ErrorCode.STORE_UNAVAILABLE
            first_still_writes = False
        assert not (second is not None and first_still_writes), (
            "after its lock session ended, the first exchange still commits and a second opener was let in"
        )
    finally:
        if second is not None:
            second.close()
        try:
            ex.close()
        except SpotlabError:
            pass


# -- group commit ------------------------------------------------------------------------


def test_eight_threads_share_commits_and_every_acknowledged_command_is_durable(store_url):
    ex = Exchange.open(store_url)
    try:
        accounts = [fund(ex, f"trader{i}", USDT="1000000") for i in range(8)]
        index_before = raw_log.last_index(store_url)
        before = ex.stats()
        errors: list[BaseException] = []

        def trade(account: str, n: int) -> None:
            try:
                for k in range(200):
                    if k % 4 == 0:
                        ex.deposit(account, "USDT", "1")
                    elif k % 4 == 3:
                        ex.cancel_order(account, ex.open_orders(account)[0].id)
                    else:
                        price = Decimal("1000.00") + Decimal(n * 1000 + k) / 100
                        ex.place_order(account, "BTC/USDT", "buy", "limit", price, "0.01")
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=trade, args=(a, n)) for n, a in enumerate(accounts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, errors
        after = ex.stats()

        records = after["records"] - before["records"]
        commits = after["commits"] - before["commits"]
        assert records == 8 * 200
        assert commits < records / 2, f"{commits} commits for {records} records: commits are not shared"
        # every command was acknowledged, so a fresh reader sees all of them, without gaps
        stored = [r for r in raw_log.stored_records(store_url) if r.index > index_before]
        assert (len(stored), stored[-1].index, stored[-1].events[-1].seq) == (
            1600,
            index_before + 1600,
            ex.last_sequence,
        )
        assert [r.index for r in stored] == list(range(index_before + 1, index_before + 1601))
    finally:
        ex.close()


def test_concurrent_asyncio_orders_all_complete_and_share_commits(store_url):
    ex = Exchange.open(store_url)
    try:
        accounts = [fund(ex, f"bot{i}", USDT="100000") for i in range(4)]
        index_before = raw_log.last_index(store_url)
        before = ex.stats()

        async def place_all():
            return await asyncio.gather(
                *(
                    ex.aio.place_order(accounts[i % 4], "BTC/USDT", "buy", "limit", Decimal("1000.00") + i, "0.01")
                    for i in range(200)
                )
            )

        orders = asyncio.run(asyncio.wait_for(place_all(), HANG_SECONDS))
        after = ex.stats()
        assert [o.status for o in orders] == ["NEW"] * 200
        assert len({o.id for o in orders}) == 200
        commits = after["commits"] - before["commits"]
        assert after["records"] - before["records"] == 200
        assert commits < 100, f"{commits} commits for 200 concurrent orders: commits are not shared"
        assert raw_log.count_after(store_url, index_before) == 200
    finally:
        ex.close()


# -- listeners -----------------------------------------------------------------------------


def test_durable_listeners_see_every_record_once_in_log_order(store_url):
    records = sample_records(500)
    store = open_store(store_url)
    seen: list[int] = []
    store.on_durable(lambda batch: seen.extend(record.index for record in batch))
    try:
        for record in records:
            store.append(record)
            if record.index % 37 == 0:
                store.wait(record.index)
    finally:
        store.close()  # the writer has stopped: every listener call has happened
    assert seen == list(range(1, 501))


def test_subscribers_see_every_event_exactly_once_in_sequence_order(store_url):
    ex = Exchange.open(store_url)
    seen: list[int] = []
    try:
        accounts = [fund(ex, f"trader{i}", USDT="100000", BTC="10") for i in range(4)]
        first = ex.last_sequence + 1
        ex.subscribe(lambda event: seen.append(event.seq))

        def trade(n: int) -> None:
            for k in range(50):
                side = "buy" if (n + k) % 2 else "sell"
                ex.place_order(accounts[n], "BTC/USDT", side, "limit", Decimal("30000") + k % 3, "0.01")

        threads = [threading.Thread(target=trade, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        last = ex.last_sequence
    finally:
        ex.close()
    # subscribing may still catch the tail of the batch that was durable just before
    ours = [seq for seq in seen if seq >= first]
    assert ours == list(range(first, last + 1))
    assert len(seen) == len(set(seen)) and seen == sorted(seen)


def test_a_subscriber_that_raises_does_not_stop_the_exchange(store_url):
    ex = Exchange.open(store_url)
    try:
        alice = fund(ex, "alice", USDT="100")
        seen: list[int] = []

        def broken(event) -> None:
            raise RuntimeError("a subscriber with a bug")

        ex.subscribe(broken)
        ex.subscribe(lambda event: seen.append(event.seq))
        for _ in range(3):
            within(HANG_SECONDS, "a deposit after a subscriber raised", ex.deposit, alice, "USDT", "1")
        assert ex.balances(alice)["USDT"].available == Decimal("103")
        last = ex.last_sequence
    finally:
        ex.close()
    assert seen and seen[-1] == last, "the well-behaved subscriber stopped hearing of events"


# -- failures --------------------------------------------------------------------------------


def break_the_store(ex: Exchange, url: str, application_name: str | None, account: str, waiters: int) -> list:
    """Make the store's next commit fail for real while ``waiters`` deposits wait on it; their errors.

    SQLite: another connection keeps the write lock past the writer's busy timeout ("database
    is locked"). PostgreSQL: while the writer waits on a table lock, the server ends its session,
    which also holds the store's advisory lock.
    """
    errors: list[BaseException | None] = []

    def deposit() -> None:
        try:
            ex.deposit(account, "USDT", "1")
            errors.append(None)
        except BaseException as error:  # noqa: BLE001 - collected for the test
            errors.append(error)

    with stalled_writes(url.split("&application_name=")[0]):
        threads = [threading.Thread(target=deposit) for _ in range(waiters)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)  # all of them have applied and queued; the writer is stuck on the lock
        if application_name is not None:
            assert terminate_sessions(application_name, "lock") == 1  # the writer holds the lock
        for thread in threads:
            thread.join(SQLITE_BUSY_TIMEOUT + HANG_SECONDS)
        assert not any(thread.is_alive() for thread in threads), "waiters still blocked after the store failed"
    return errors


def close_after_failure(ex: Exchange) -> None:
    """Close an exchange whose store failed: reporting the failure is allowed, nothing else."""
    try:
        ex.close()
    except SpotlabError as error:
        assert error.code is ErrorCode.STORE_UNAVAILABLE


@pytest.mark.slow  # SQLite: waits out the busy timeout
def test_a_write_failure_makes_every_waiter_raise_store_unavailable_and_later_commands_are_refused(store_url):
    url, name = with_application_name(store_url)
    ex = Exchange.open(url)
    try:
        alice = fund(ex, "alice", USDT="1000")
        errors = break_the_store(ex, url, name, alice, waiters=4)
        assert [getattr(e, "code", e) for e in errors] == [ErrorCode.STORE_UNAVAILABLE] * 4

        assert code_of(lambda: ex.place_order(alice, "BTC/USDT", "buy", "limit", "100", "0.1")) is (
            ErrorCode.STORE_UNAVAILABLE
        )
        assert code_of(lambda: ex.deposit(alice, "USDT", "5")) is ErrorCode.STORE_UNAVAILABLE

        async def place():
            return await ex.aio.place_order(alice, "BTC/USDT", "buy", "limit", "100", "0.1")

        assert code_of(lambda: asyncio.run(asyncio.wait_for(place(), HANG_SECONDS))) is ErrorCode.STORE_UNAVAILABLE
    finally:
        close_after_failure(ex)


@pytest.mark.slow  # SQLite: waits out the busy timeout
def test_a_command_refused_after_a_write_failure_changes_nothing(store_url):
    url, name = with_application_name(store_url)
    ex = Exchange.open(url)
    try:
        alice = fund(ex, "alice", USDT="1000")
        break_the_store(ex, url, name, alice, waiters=1)
        state, balances = ex.state_hash(), ex.balances(alice)

        assert code_of(lambda: ex.deposit(alice, "USDT", "5")) is ErrorCode.STORE_UNAVAILABLE
        assert code_of(lambda: ex.place_order(alice, "BTC/USDT", "buy", "limit", "100", "0.1")) is (
            ErrorCode.STORE_UNAVAILABLE
        )
        assert ex.balances(alice) == balances
        assert ex.state_hash() == state
    finally:
        close_after_failure(ex)


@pytest.mark.slow  # SQLite: waits out the busy timeout
def test_closing_after_a_write_failure_lets_go_of_the_store(store_url):
    url, name = with_application_name(store_url)
    ex = Exchange.open(url)
    alice = fund(ex, "alice", USDT="1000")
    break_the_store(ex, url, name, alice, waiters=1)
    close_after_failure(ex)

    store = after_close(open_store, url)  # "reopen the exchange to continue": the lock must be let go
    store.close()


@pytest.mark.slow  # SQLite: waits out the busy timeout
def test_reopening_after_a_write_failure_gives_the_last_acknowledged_state(store_url, clock):
    url, name = with_application_name(store_url)
    ex = Exchange.open(url, clock=clock)
    alice = fund(ex, "alice", USDT="1000")
    ex.place_order(alice, "BTC/USDT", "buy", "limit", "100", "0.1")
    acknowledged = ex.state_hash()
    break_the_store(ex, url, name, alice, waiters=3)
    close_after_failure(ex)

    again = after_close(within, HANG_SECONDS, "Exchange.open after a write failure", Exchange.open, url, clock=clock)
    try:
        assert again.state_hash() == acknowledged
        assert again.balances(alice)["USDT"].total == Decimal("1000")
        again.deposit(alice, "USDT", "1")
        assert again.balances(alice)["USDT"].total == Decimal("1001")
    finally:
        again.close()


def test_an_async_caller_that_gave_up_before_its_commit_does_not_stop_the_writer(store_url):
    # A server shutting down cancels its handlers and closes its event loop; the commit they
    # were waiting for lands afterwards, and must not take the writer down with it.
    ex = Exchange.open(store_url)
    try:
        alice = fund(ex, "alice", USDT="1000")

        async def give_up() -> None:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ex.aio.place_order(alice, "BTC/USDT", "buy", "limit", "100", "0.1"), 0.05)

        with stalled_writes(store_url):  # shorter than the SQLite busy timeout: a stall, not a failure
            asyncio.run(give_up())
        within(HANG_SECONDS, "a deposit after an asyncio caller gave up", ex.deposit, alice, "USDT", "1")
        assert len(ex.open_orders(alice)) == 1  # the order it gave up on was still placed, and is durable
    finally:
        ex.close()


# -- URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "mysql://user@localhost/spotlab",
        "redis://localhost:6379/0",
        "file:///tmp/spotlab.sqlite",
        "sqlite://relative.sqlite",  # two slashes: not SQLAlchemy's spelling
        "sqlite:///",
        "sqlite:///:memory:",
        "",
        "postgresql://postgres@127.0.0.1:5432/test?schema=Not-A-Schema",
    ],
)
def test_an_unknown_or_malformed_store_url_is_an_invalid_argument(url):
    assert code_of(lambda: open_store(url)) is ErrorCode.INVALID_ARGUMENT
    assert code_of(lambda: Exchange.open(url)) is ErrorCode.INVALID_ARGUMENT

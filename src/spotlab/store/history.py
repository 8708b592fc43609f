"""The history read model: orders, fills, trades, candles, deposits and withdrawals in SQL, fed by the event log.

``History.open(store_url)`` opens the tables beside the exchange's log
(``spotlab.store.sql.sql_engine(store_url, "history")``); ``attach(exchange)`` subscribes
to the exchange's durable events, catches up from the log after the checkpoint, and
from then on a projector thread applies new events in batches. Queries are answered
from SQL (``spotlab.store.history_queries``); the 24 h ticker from a rolling window in
memory (``spotlab.marketdata.ticker``), rebuilt at attach from the last day of trades.

Candles (``spotlab.marketdata.candles``) of every interval are built from the trades of
each batch by a ``CandleBook`` in memory and upserted in the batch's transaction, so they
are rebuilt from the log whenever the rest is; at attach the newest candle of each
(market, interval) is reloaded to continue it. A candle closes when a later trade
arrives, or by the clock: ``close_candles_until(now)``, which the projector also calls
by itself every ``close_check_seconds`` when ``attach`` is given the exchange's clock.
``subscribe_candles`` tells others (streams, alerts) after each commit.

Invariants
- Every event is applied exactly once, in sequence order: the live feed is subscribed
  before the log is read, so nothing falls between them, and events at or below the
  checkpoint are skipped (see ``spotlab.store.history_projection``).
- A batch of events is one transaction: its rows and the checkpoint (last applied seq
  and a digest of that event) commit together, so a restart resumes exactly after it.
- A failing batch is logged and stops the projector for good (fail-stop): the
  checkpoint never passes an unapplied event, ``failure`` says why, and waits for
  later events return ``False``. Reopening resumes from the checkpoint.
- A checkpoint that does not match the log (a fresh log beside an old history file)
  makes ``attach`` rebuild the projection from the start of the log; so does a history
  file made before candles existed (it has no candles table), or before conditional
  orders (its orders table lacks their columns: it is dropped and made anew).
- The clock closes a candle only when it is safe: the clock is read first, then the
  exchange's last sequence number, and candles close only if the projector has applied
  that far (a command stamped earlier has its sequence number by then). Should a trade
  still arrive in a period the clock closed, the candle is amended (see ``CandleBook``).
- Candle subscribers run on the projector thread (or the caller's, for
  ``close_candles_until``) after the commit, one at a time; one that raises is logged
  and does not stop the projector or the others.
- The subscriber callback runs on the store's writer thread and only appends to a queue.
- ``applied_seq`` only grows; ``wait(seq)`` / ``wait_async(seq)`` give read-your-writes:
  after a command returned events up to ``seq``, waiting for ``seq`` then reading shows them.
- The projector lingers up to ``linger_seconds`` after an event arrives, so that a busy
  exchange's events are written in few transactions rather than one each (a transaction's
  fixed cost was most of the projection's). It lingers only while nobody waits: a ``wait``
  or ``wait_async`` for an event not applied yet ends the linger as soon as that event is
  queued (at once if it is), and so does a full batch (``MAX_BATCH``) or closing. The
  store wakes a command's caller before it hands the batch to the projector, so a reader
  may ask a moment before its event is queued: applying the queue without it would cost
  a second transaction and answer no sooner. Readers never wait for a linger; candle and
  ticker news may come up to ``linger_seconds`` later.
- An in-memory database (``store_url`` ``None``) has one connection: every use of it is
  serialised by a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING

import msgspec
import sqlalchemy as sa

from spotlab.core.events import Event
from spotlab.core.orders import Order, order_of
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.candles import Candle, CandleBook
from spotlab.marketdata.ticker import MINUTE_NS, WINDOW_MINUTES, MarketTickers
from spotlab.store import history_tables as t
from spotlab.store.history_projection import Batch, Projection
from spotlab.store.history_queries import AccountFill, DepositView, HistoryReader, Page, TickerView
from spotlab.store.sql import sql_engine

if TYPE_CHECKING:
    from spotlab.clock import Clock
    from spotlab.exchange.service import Exchange

__all__ = ["AccountFill", "CandleCallback", "DepositView", "History", "Page", "TickerView"]

#: ``callback(updated, closed)``: candles changed (still current) and candles closed, oldest first.
CandleCallback = Callable[[list[Candle], list[Candle]], None]

log = logging.getLogger(__name__)

#: Most events applied in one transaction.
MAX_BATCH = 10_000
LINGER_SECONDS = 0.02  # how long the projector gathers events while nobody waits for them (see the docstring)


def event_digest(event: Event) -> str:
    """A short fingerprint of an event, to recognise the log a checkpoint belongs to."""
    return hashlib.blake2b(msgspec.msgpack.encode(event), digest_size=16).hexdigest()


class History(HistoryReader):
    """The projection of one exchange's event log into queryable tables."""

    def __init__(self, engine: sa.Engine, linger_seconds: float = LINGER_SECONDS) -> None:
        if not linger_seconds >= 0:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"linger_seconds must be >= 0, got {linger_seconds!r}")
        in_memory = engine.dialect.name == "sqlite" and not engine.url.database
        super().__init__(engine, threading.Lock() if in_memory else contextlib.nullcontext(), MarketTickers())
        self._bulk = t.BulkWriter(engine)
        self._state = threading.Lock()  # guards the queue, applied seq, failure, waiters
        self._queued = threading.Condition(self._state)  # the projector waits for events
        self._advanced = threading.Condition(self._state)  # readers wait for the projector
        self._queue: list[Event] = []
        self._linger = linger_seconds
        self._applied, self._digest = self._read_checkpoint()
        self._wanted = self._applied  # the highest seq a reader has waited for: no linger while it is ahead
        self._projection: Projection | None = None
        self._failure: BaseException | None = None
        self._closing = False
        self._closed = False
        self._async_waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._unsubscribe = None
        self._thread: threading.Thread | None = None
        self._caught_up = threading.Event()
        self._candles = CandleBook()
        self._candle_lock = threading.Lock()  # one batch or clock close at a time: the book, its rows, the news
        self._candle_subscribers: list[CandleCallback] = []
        self._clock: Clock | None = None
        self._close_check_seconds = 1.0
        self._without_candles = False  # a file made before candles or conditional orders: rebuilt at attach

    @classmethod
    def open(cls, store_url: str | None, linger_seconds: float = LINGER_SECONDS) -> History:
        """Open (or create) the history tables beside the store at ``store_url`` (``None``: in memory);
        ``linger_seconds``: how long the projector may gather events while nobody waits (0: never)."""
        engine = sql_engine(store_url, "history")
        try:
            schema = engine.get_execution_options().get("schema_translate_map", {}).get(None)
            inspector = sa.inspect(engine)
            had_candles = inspector.has_table(t.candles.name, schema=schema)
            outdated = inspector.has_table(t.orders.name, schema=schema) and not set(t.CONDITIONAL_COLUMNS) <= {
                column["name"] for column in inspector.get_columns(t.orders.name, schema=schema)
            }
            if outdated:  # made before conditional orders: its rows come back from the log at attach
                t.metadata.drop_all(engine, tables=[t.orders])
            t.metadata.create_all(engine)
            history = cls(engine, linger_seconds)
            history._without_candles = (outdated or not had_candles) and history._applied > 0
            return history
        except BaseException:
            engine.dispose()
            raise

    # -- state ----------------------------------------------------------------------------

    @property
    def applied_seq(self) -> int:
        """The sequence number of the last event whose rows are committed."""
        return self._applied

    @property
    def linger_seconds(self) -> float:
        """How long the projector gathers events while nobody waits for them."""
        return self._linger

    @property
    def failure(self) -> BaseException | None:
        """Why the projector stopped, if it failed."""
        return self._failure

    def wait(self, seq: int, timeout: float = 2.0) -> bool:
        """Block until the event ``seq`` is applied; ``False`` on timeout or if the projector stopped first."""
        with self._advanced:
            self._hurry(seq)
            self._advanced.wait_for(lambda: self._applied >= seq or self._failure is not None or self._closed, timeout)
            return self._applied >= seq

    async def wait_async(self, seq: int, timeout: float = 2.0) -> bool:
        """``wait`` for asyncio: awaits without blocking the event loop."""
        with self._state:
            if self._applied >= seq:
                return True
            if self._failure is not None or self._closed:
                return False
            self._hurry(seq)
            loop = asyncio.get_running_loop()
            waiter = (seq, loop, loop.create_future())
            self._async_waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter[2], timeout)
        except TimeoutError:
            return False
        finally:
            with self._state:
                if waiter in self._async_waiters:
                    self._async_waiters.remove(waiter)

    def _hurry(self, seq: int) -> None:
        """A reader waits for ``seq`` (under ``_state``): the projector stops lingering once ``seq`` is queued."""
        if seq > self._wanted:
            self._wanted = seq
            if seq > self._applied:
                self._queued.notify()

    # -- candles ----------------------------------------------------------------------------

    def subscribe_candles(self, callback: CandleCallback) -> Callable[[], None]:
        """Call ``callback(updated, closed)`` after each commit that changed candles; returns an unsubscribe function.

        ``updated``: copies of the candles the batch changed that are still current, one per
        (market, interval), mostly open ones (``closed`` is ``False``; ``True`` only for a late
        trade amending a candle the clock had closed). ``closed``: copies of the candles closed
        by the batch's trades or by the clock (``closed`` is ``True``), oldest first; each
        candle is reported closed once. The callback runs on the projector thread (on the
        caller's thread for ``close_candles_until``), after the rows are committed, so
        ``candles()`` already shows them, and before ``wait`` for the batch's events returns
        (``applied_seq`` still names the batch before). Keep it quick (hand work to a queue);
        an exception in it is logged and ignored.
        """
        with self._candle_lock:
            self._candle_subscribers.append(callback)

        def unsubscribe() -> None:
            with self._candle_lock:
                if callback in self._candle_subscribers:
                    self._candle_subscribers.remove(callback)

        return unsubscribe

    def close_candles_until(self, now_ns: int) -> list[Candle]:
        """Close (store and announce) every open candle whose period ended at or before ``now_ns``.

        For a period that ends without a later trade. The caller vouches that no trade before
        ``now_ns`` is still on its way (the projector's own periodic check makes sure of it).
        Returns the closed candles.
        """
        with self._candle_lock:
            closed = self._candles.close_until(now_ns)
            if closed:
                with self._db_lock, self._engine.begin() as conn:
                    t.upsert_candles(conn, [t.candle_row(c) for c in closed])
                self._tell_candles([], closed)
        return closed

    def candle_book(self) -> tuple[int, CandleBook]:
        """``(applied_seq, book)``: a copy of the current candles, exactly as of event ``applied_seq``."""
        with self._candle_lock:
            return self._applied, self._candles.copy()

    def _tell_candles(self, updated: list[Candle], closed: list[Candle]) -> None:
        for callback in list(self._candle_subscribers):
            try:
                callback(updated, closed)
            except Exception:  # a subscriber's bug must not stop the projector or the others
                log.exception("candle subscriber %r raised; it misses this update", callback)

    def _close_due_candles(self) -> None:
        """The clock's close: only once the projector has applied every event stamped before ``now``."""
        now = self._clock.now_ns()
        if self._applied >= self._exchange.last_sequence:
            self.close_candles_until(now)

    # -- lifecycle --------------------------------------------------------------------------

    def attach(self, exchange: Exchange, clock: Clock | None = None, close_check_seconds: float = 1.0) -> None:
        """Follow ``exchange``'s durable events; returns once the log as it was is caught up.

        With ``clock`` (the exchange's), the projector closes candles whose period ended without a
        later trade, checking every ``close_check_seconds``. Raises ``STORE_UNAVAILABLE`` if the
        projection fails while catching up.
        """
        if self._exchange is not None or self._closed:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a history follows one exchange, once; open a new one")
        self._exchange = exchange
        self._clock, self._close_check_seconds = clock, close_check_seconds
        if self._without_candles or not self._checkpoint_matches(exchange):
            self._rebuild()
        self._projection = Projection(self._load_open_orders(), self._applied)
        self._load_tickers()
        self._load_candles()
        self._unsubscribe = exchange.subscribe(self._enqueue)
        self._thread = threading.Thread(target=self._run, name="spotlab-history", daemon=True)
        self._thread.start()
        self._caught_up.wait()
        if self._failure is not None:
            self.close()
            raise SpotlabError(
                ErrorCode.STORE_UNAVAILABLE, f"the history projection failed while catching up: {self._failure}"
            )

    def close(self) -> None:
        """Apply what is queued, stop the projector and release the database. Idempotent."""
        with self._state:
            if self._closing:
                return
            self._closing = True
            self._queued.notify()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread is not None:
            self._thread.join()
        with self._state:
            self._closed = True
            self._release_waiters()
            self._advanced.notify_all()
        self._engine.dispose()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the projector ----------------------------------------------------------------------

    def _enqueue(self, event: Event) -> None:
        """The subscriber: runs on the store's writer thread, so it only queues."""
        with self._state:
            if self._failure is None and not self._closed:
                self._queue.append(event)
                # the first wakes it; so do a full batch and the event a reader waits for
                if len(self._queue) == 1 or len(self._queue) == MAX_BATCH or event.seq == self._wanted:
                    self._queued.notify()

    def _run(self) -> None:
        try:
            if self._catch_up():
                self._caught_up.set()
                self._follow()
        except Exception as error:  # noqa: BLE001 - logged, and every waiter hears of it
            log.exception("the history projector stopped at event %s; reopen to resume", self._applied + 1)
            with self._state:
                self._failure = error
                self._queue = []
                self._release_waiters()
                self._advanced.notify_all()
        finally:
            self._caught_up.set()

    def _catch_up(self) -> bool:
        """Apply the log after the checkpoint; ``False`` if closing interrupted it."""
        events = self._exchange.events(after=self._applied)
        try:
            for chunk in _chunks(events, MAX_BATCH):
                if self._closing:
                    return False
                self._apply(chunk)
        finally:
            events.close()
        return True

    def _follow(self) -> None:
        check = self._clock is not None
        next_check = time.monotonic()
        while True:
            with self._queued:
                while not self._queue and not self._closing:
                    if not check:
                        self._queued.wait()
                        continue
                    if time.monotonic() >= next_check:
                        break
                    self._queued.wait(max(0.0, next_check - time.monotonic()))
                if not self._queue and self._closing:
                    return  # closing, and everything queued is applied
                self._gather(next_check if check else None)
                events, self._queue = self._queue, []
            for start in range(0, len(events), MAX_BATCH):
                self._apply(events[start : start + MAX_BATCH])
            if check and time.monotonic() >= next_check:
                self._close_due_candles()
                next_check = time.monotonic() + self._close_check_seconds

    def _gather(self, next_check: float | None) -> None:
        """Linger (under ``_queued``) while events keep coming and nobody waits for them: until ``linger_seconds``
        after now, a full batch, the event a reader waits for is queued, closing, or the clock's candle check."""
        if not self._queue:
            return
        deadline = time.monotonic() + self._linger
        if next_check is not None:
            deadline = min(deadline, next_check)
        while (
            len(self._queue) < MAX_BATCH
            and (self._wanted <= self._applied or self._queue[-1].seq < self._wanted)
            and not self._closing
            and (left := deadline - time.monotonic()) > 0
        ):
            self._queued.wait(left)

    def _apply(self, events: list[Event]) -> None:
        with self._candle_lock:
            batch = self._projection.apply(events)
            if batch.last is None:
                return  # only duplicates
            digest = event_digest(batch.last)
            updated, closed = self._candles.add_many(
                (trade["market"], trade["ts"], trade["price"], trade["quantity"], trade["notional"])
                for trade in batch.trades
            )
            self._write(batch, digest, [t.candle_row(c) for c in (*closed, *updated)])
            with self._tickers_lock:
                for trade in batch.trades:
                    self._tickers.add(
                        trade["market"], trade["ts"], trade["price"], trade["quantity"], trade["notional"]
                    )
            if updated or closed:
                self._tell_candles(updated, closed)  # before waiters wake: after wait(seq), they were told
            with self._state:
                self._applied, self._digest = batch.last.seq, digest
                self._advanced.notify_all()
                self._wake_async_waiters()

    def _write(self, batch: Batch, digest: str, candles: list[dict]) -> None:
        """The batch's rows, its candles and the checkpoint, in one transaction."""
        bulk = self._bulk
        with self._db_lock, self._engine.begin() as conn:
            if batch.new_orders:
                bulk.insert(conn, t.orders, [t.order_row(o) for o in batch.new_orders.values()])
            if batch.changed_orders:
                bulk.update_orders(conn, [t.order_update(o) for o in batch.changed_orders.values()])
            for table, rows in (
                (t.fills, batch.fills),
                (t.trades, batch.trades),
                (t.deposits, batch.deposits),
                (t.withdrawals, batch.withdrawals),
            ):
                if rows:
                    bulk.insert(conn, table, rows)
            if batch.links:
                t.link_orders(conn, batch.links)
            if candles:
                t.upsert_candles(conn, candles)
            conn.execute(t.checkpoint.update().values(seq=batch.last.seq, digest=digest))

    # -- waiters ----------------------------------------------------------------------------

    def _wake_async_waiters(self) -> None:
        ready = [w for w in self._async_waiters if w[0] <= self._applied]
        for waiter in ready:
            self._async_waiters.remove(waiter)
            _resolve(waiter, True)

    def _release_waiters(self) -> None:
        """After a failure or at close: every async waiter still waiting hears ``False``."""
        waiters, self._async_waiters = self._async_waiters, []
        for waiter in waiters:
            _resolve(waiter, waiter[0] <= self._applied)

    # -- start-up -----------------------------------------------------------------------------

    def _read_checkpoint(self) -> tuple[int, str]:
        with self._db_lock, self._engine.begin() as conn:
            row = conn.execute(sa.select(t.checkpoint.c.seq, t.checkpoint.c.digest)).first()
            if row is None:
                conn.execute(t.checkpoint.insert().values(id=1, seq=0, digest=""))
                return 0, ""
            return row.seq, row.digest

    def _checkpoint_matches(self, exchange: Exchange) -> bool:
        """Whether the event at the checkpoint is the one this history applied (same log)."""
        if self._applied == 0:
            return True
        events = exchange.events(after=self._applied - 1)
        try:
            event = next(events, None)
        finally:
            events.close()
        return event is not None and event.seq == self._applied and event_digest(event) == self._digest

    def _rebuild(self) -> None:
        log.warning(
            "the history's checkpoint (event %s) is not in this exchange's log: rebuilding it from the log",
            self._applied,
        )
        with self._db_lock, self._engine.begin() as conn:
            for table in t.PROJECTED:
                conn.execute(table.delete())
            conn.execute(t.checkpoint.update().values(seq=0, digest=""))
        self._applied, self._digest = 0, ""

    def _load_open_orders(self) -> list[Order]:
        with self._db_lock, self._engine.connect() as conn:
            rows = conn.execute(sa.select(t.orders).where(t.orders.c.is_open == sa.true())).all()
        return [order_of(t.order_record(row)) for row in rows]

    def _load_tickers(self) -> None:
        """Refill the rolling windows with the trades no later window can miss (the last day before the newest)."""
        trades = t.trades.c
        with self._db_lock, self._engine.connect() as conn:
            newest = conn.execute(sa.select(sa.func.max(trades.ts))).scalar()
            if newest is None:
                return
            since = newest - (WINDOW_MINUTES + 1) * MINUTE_NS
            rows = conn.execute(
                sa.select(trades.market, trades.ts, trades.price, trades.quantity, trades.notional)
                .where(trades.ts >= since)
                .order_by(trades.seq)
            ).all()
        with self._tickers_lock:
            self._tickers.clear()
            for row in rows:
                self._tickers.add(*row)

    def _load_candles(self) -> None:
        """Continue from the newest stored candle of each (market, interval) and each market's newest trade."""
        c, trades = t.candles.c, t.trades.c
        newest = (
            sa.select(c.market, c.interval, sa.func.max(c.open_time).label("open_time"))
            .group_by(c.market, c.interval)
            .subquery()
        )
        query = sa.select(t.candles).join(
            newest,
            sa.and_(c.market == newest.c.market, c.interval == newest.c.interval, c.open_time == newest.c.open_time),
        )
        with self._db_lock, self._engine.connect() as conn:
            candles = [t.candle_of(row) for row in conn.execute(query)]
            last = conn.execute(sa.select(trades.market, sa.func.max(trades.ts)).group_by(trades.market)).all()
        book = CandleBook()
        book.seed(candles, {market: ts for market, ts in last})
        self._candles = book


def _chunks(items: Iterable[Event], size: int) -> Iterator[list[Event]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _resolve(waiter: tuple[int, asyncio.AbstractEventLoop, asyncio.Future], value: bool) -> None:
    _, loop, future = waiter

    def settle() -> None:
        if not future.done():
            future.set_result(value)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the waiter's event loop is closed: nobody is waiting any more
        pass

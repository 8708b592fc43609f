"""Group commit: one writer thread turns queued records into as few commits as possible.

Invariants
- Records are written in append order, each batch in one transaction; ``durable``
  only moves forward, and only after the backend's commit returned.
- Waiters (threads and asyncio tasks) are released when their record is durable,
  or get ``STORE_UNAVAILABLE`` when the writer failed. After a failure nothing more
  is accepted (fail-stop); the exchange must be reopened.
- Listeners (``on_durable``) see every durable batch once, in log order, on the
  writer thread: they must be quick (hand work to a queue). A listener that raises
  is logged and skipped; it cannot stop the log. An asyncio waiter whose event
  loop has closed is skipped too.
- ``close`` drains the queue before the backend is released.

A backend implements ``_last_index`` (at open), ``_connect`` (in the writer thread),
``_write(segments, snapshots)`` (one transaction, commit and sync), ``_disconnect`` and
``_release``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.store.records import LogRecord, Segment, segments

log = logging.getLogger(__name__)


Waiter = tuple[int, asyncio.AbstractEventLoop, asyncio.Future]  # (record index, its caller's loop, the future)


class GroupCommitStore:
    url: str

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._queue: list[LogRecord] = []
        self._snapshots: list[tuple[int, bytes]] = []
        self._durable = 0
        self._snapshot_durable = 0
        self._failure: BaseException | None = None
        #: Why the store stopped, once a write failed (it never recovers: reopen). A plain
        #: attribute, set once: the exchange reads it on every command.
        self.failure: SpotlabError | None = None
        self._closing = False
        self._listeners: list[Callable[[list[LogRecord]], None]] = []
        self._write_observers: list[Callable[[float, int], None]] = []
        self._async_waiters: list[Waiter] = []
        self._commits = 0
        self._written = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"spotlab-writer({self.url})", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            self._release()
            if isinstance(self._failure, SpotlabError):
                raise self._failure
            raise self._unavailable()
        with self._lock:
            self._durable = self._last_index()  # what earlier sessions made durable

    # -- backend hooks -------------------------------------------------------------

    def _last_index(self) -> int:
        """The index of the newest record already in the store (0 if none)."""
        raise NotImplementedError

    def _connect(self) -> None:
        raise NotImplementedError

    def _write(self, rows: list[Segment], snapshots: list[tuple[int, bytes]]) -> None:
        raise NotImplementedError

    def _disconnect(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """Give up the store's process lock (after the writer stopped)."""

    # -- the writer side --------------------------------------------------------------

    def append(self, record: LogRecord) -> None:
        with self._lock:
            if self._failure is not None or self._closing:
                raise self._unavailable()
            self._queue.append(record)
            if len(self._queue) == 1:
                self._work.notify()

    def snapshot(self, index: int, data: bytes) -> None:
        with self._lock:
            if self._failure is not None or self._closing:
                raise self._unavailable()
            self._snapshots.append((index, data))
            self._work.notify()

    def wait(self, index: int) -> None:
        with self._lock:
            while self._durable < index:
                if self._failure is not None:
                    raise self._unavailable()
                self._done.wait()

    async def wait_async(self, index: int) -> None:
        with self._lock:
            if self._durable >= index:
                return
            if self._failure is not None:
                raise self._unavailable()
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._async_waiters.append((index, loop, future))
        await future

    @property
    def durable_index(self) -> int:
        return self._durable  # one int, written under the lock: a plain read sees the old or the new value

    def wait_snapshot(self, index: int) -> None:
        """Block until a snapshot covering ``index`` (or a later one) is stored."""
        with self._lock:
            while self._snapshot_durable < index:
                if self._failure is not None:
                    raise self._unavailable()
                self._done.wait()

    def on_durable(self, callback: Callable[[list[LogRecord]], None]) -> None:
        self._listeners.append(callback)

    def on_write(self, callback: Callable[[float, int], None]) -> Callable[[], None]:
        """Call ``callback(seconds, records)`` after each commit (on the writer thread; keep it quick)."""
        self._write_observers = [*self._write_observers, callback]

        def stop() -> None:
            self._write_observers = [c for c in self._write_observers if c is not callback]

        return stop

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"written": self._written, "commits": self._commits, "durable": self._durable}

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._work.notify()
        self._thread.join()
        self._release()
        if self._failure is not None:
            raise self._unavailable()

    # -- the writer thread ------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._connect()
        except BaseException as error:  # noqa: BLE001 - reported to the opener
            self._failure = error
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                with self._lock:
                    while not self._queue and not self._snapshots and not self._closing:
                        self._work.wait()
                    if not self._queue and not self._snapshots:
                        break  # closing and drained
                    batch, self._queue = self._queue, []
                    snapshots, self._snapshots = self._snapshots, []
                started = time.perf_counter()
                try:
                    self._write(segments(batch) if batch else [], snapshots)
                except BaseException as error:  # noqa: BLE001 - every waiter must hear of it
                    self._fail(error)
                    return
                elapsed = time.perf_counter() - started
                for observe in self._write_observers:  # before the waiters wake: what they see is counted
                    try:
                        observe(elapsed, len(batch))
                    except Exception:  # a metrics bug must not stop the log
                        log.exception("a write observer of %s raised; it was skipped", self.url)
                with self._lock:
                    if batch:
                        self._durable = batch[-1].index
                    if snapshots:
                        self._snapshot_durable = max(self._snapshot_durable, max(i for i, _ in snapshots))
                    self._commits += 1
                    self._written += len(batch)
                    self._done.notify_all()
                    self._wake_async()
                if batch:
                    for listener in self._listeners:
                        try:
                            listener(batch)
                        except Exception:  # a listener's bug must not stop the log
                            log.exception("a durable-records listener of %s raised; it was skipped", self.url)
        finally:
            try:
                self._disconnect()
            except Exception:  # noqa: BLE001 - nothing left to protect
                pass

    def _fail(self, error: BaseException) -> None:
        with self._lock:
            self._failure = error
            self.failure = self._unavailable()
            self._done.notify_all()
            waiters, self._async_waiters = self._async_waiters, []
        _notify_all(waiters, self._unavailable)

    def _wake_async(self) -> None:
        durable = self._durable
        keep, ready = [], []
        for waiter in self._async_waiters:
            (ready if waiter[0] <= durable else keep).append(waiter)
        self._async_waiters = keep
        _notify_all(ready, None)

    def _unavailable(self) -> SpotlabError:
        if self._closing and self._failure is None:
            return SpotlabError(ErrorCode.EXCHANGE_CLOSED, f"the store {self.url} is closed")
        return SpotlabError(
            ErrorCode.STORE_UNAVAILABLE,
            f"the store {self.url} failed ({type(self._failure).__name__}: {self._failure}); nothing after the "
            "last acknowledged command was saved; reopen the exchange to continue from what is durable",
        )


def _notify_all(waiters: list[Waiter], error: Callable[[], BaseException] | None) -> None:
    """Settle the waiters' futures on their loops, oldest first, each with a fresh ``error()`` if given: one
    thread-safe call per loop, not per waiter (a commit group answers dozens of orders at once); a caller whose
    loop is gone simply is not told."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, BaseException | None]]] = {}
    for _index, loop, future in waiters:
        by_loop.setdefault(loop, []).append((future, None if error is None else error()))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_futures, settled)
        except RuntimeError:  # the event loop was closed: its tasks no longer wait
            pass


def _settle_futures(settled: list[tuple[asyncio.Future, BaseException | None]]) -> None:
    for future, error in settled:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

"""The in-memory store: the log lives as long as the process.

For tests, backtests and throwaway sessions. It keeps every record so the event
log can still be read (``records``), and a record is "durable" the moment it is
appended.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Callable, Iterator

from spotlab.store.records import LogRecord

log = logging.getLogger(__name__)

CHUNK = 4096  # records per sealed chunk


class MemoryStore:
    url = "memory://"

    def __init__(self) -> None:
        # Records are kept in sealed chunks: a tuple of untracked records is itself
        # untracked, so the cyclic collector never walks millions of records.
        self._chunks: list[tuple[LogRecord, ...]] = []
        self._records: list[LogRecord] = []  # the open chunk
        self._count = 0
        self._snapshot: tuple[int, bytes] | None = None
        self._listeners: list[Callable[[list[LogRecord]], None]] = []

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        return self._snapshot

    def records(self, after: int = 0) -> Iterator[LogRecord]:
        # indexes are 1-based and gap-free, so record i sits at position i - 1
        skip = max(after, 0)
        for chunk in [*self._chunks, tuple(self._records)]:
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            yield from chunk[skip:]
            skip = 0

    def records_after_seq(self, after_seq: int) -> Iterator[LogRecord]:
        chunks = [*self._chunks, tuple(self._records)]
        # sequence numbers grow with the records: bisect for the first chunk, then the first record in it
        first = bisect_right(chunks, after_seq, key=lambda chunk: chunk[-1].last_seq if chunk else after_seq + 1)
        for position in range(first, len(chunks)):
            chunk = chunks[position]
            start = bisect_right(chunk, after_seq, key=_last_seq) if position == first else 0
            yield from chunk[start:]

    def append(self, record: LogRecord) -> None:
        records = self._records
        records.append(record)
        self._count += 1
        if len(records) == CHUNK:
            self._chunks.append(tuple(records))
            self._records = []
        if not self._listeners:
            return
        for listener in self._listeners:
            try:
                listener([record])
            except Exception:  # a listener's bug must not stop the log
                log.exception("a durable-records listener of the memory store raised; it was skipped")

    def snapshot(self, index: int, data: bytes) -> None:
        self._snapshot = (index, data)

    def wait(self, index: int) -> None:
        return None

    @property
    def durable_index(self) -> int:
        return self._count  # a record is as durable as this store gets once appended

    async def wait_async(self, index: int) -> None:
        return None

    def wait_snapshot(self, index: int) -> None:
        return None

    def on_durable(self, callback: Callable[[list[LogRecord]], None]) -> None:
        self._listeners.append(callback)

    def on_write(self, callback: Callable[[float, int], None]) -> Callable[[], None]:
        return lambda: None  # nothing is ever written, so there is no write to time

    failure = None

    def stats(self) -> dict[str, int]:
        return {"written": self._count, "commits": self._count, "durable": self._count}

    def close(self) -> None:
        return None


def _last_seq(record: LogRecord) -> int:
    return record.events[-1].seq

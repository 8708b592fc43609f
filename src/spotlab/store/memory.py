"""The in-memory store: the log lives as long as the process.

For tests, backtests and throwaway sessions. It keeps every record so the event
log can still be read (``records``), and a record is "durable" the moment it is
appended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from spotlab.store.records import LogRecord

log = logging.getLogger(__name__)


class MemoryStore:
    url = "memory://"

    def __init__(self) -> None:
        self._records: list[LogRecord] = []
        self._snapshot: tuple[int, bytes] | None = None
        self._listeners: list[Callable[[list[LogRecord]], None]] = []

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        return self._snapshot

    def records(self, after: int = 0) -> Iterator[LogRecord]:
        # indexes are 1-based and gap-free, so record i sits at position i - 1
        yield from self._records[max(after, 0) :]

    def append(self, record: LogRecord) -> None:
        self._records.append(record)
        for listener in self._listeners:
            try:
                listener([record])
            except Exception:  # a listener's bug must not stop the log
                log.exception("a durable-records listener of the memory store raised; it was skipped")

    def snapshot(self, index: int, data: bytes) -> None:
        self._snapshot = (index, data)

    def wait(self, index: int) -> None:
        return None

    async def wait_async(self, index: int) -> None:
        return None

    def wait_snapshot(self, index: int) -> None:
        return None

    def on_durable(self, callback: Callable[[list[LogRecord]], None]) -> None:
        self._listeners.append(callback)

    failure = None

    def stats(self) -> dict[str, int]:
        return {"written": len(self._records), "commits": len(self._records), "durable": len(self._records)}

    def close(self) -> None:
        return None

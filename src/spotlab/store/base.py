"""The store interface: a durable, append-only log of records plus snapshots.

Invariants
- ``append`` queues a record; ``wait(index)`` returns once that record and every
  record before it is durable (committed and synced), or raises
  ``STORE_UNAVAILABLE`` if the store failed. Nothing is acknowledged before that.
- Group commit: records appended while a commit is in flight go together in the
  next one, so durability costs one sync per group, not per command.
- After a write failure the store is failed for good (fail-stop): the process's
  memory may be ahead of the log, so the exchange must be reopened, which
  rebuilds from what is durable.
- ``snapshot(index, data)`` is written in order with the records: it never
  becomes visible before the records it covers.
- Only one process writes a store at a time; a second one gets ``STORE_LOCKED``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from spotlab.errors import SpotlabError
from spotlab.store.records import LogRecord


class Store(Protocol):
    url: str

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        """``(index, data)`` of the newest snapshot, if any."""

    def records(self, after: int = 0) -> Iterator[LogRecord]:
        """Durable records with ``index > after``, in order."""

    def records_after_seq(self, after_seq: int) -> Iterator[LogRecord]:
        """Durable records holding an event with ``seq > after_seq``, in order (the first may also hold
        earlier events). Seeks on the stored segments' sequence range instead of reading the whole log."""

    def append(self, record: LogRecord) -> None:
        """Queue ``record`` for the next group commit."""

    def snapshot(self, index: int, data: bytes) -> None:
        """Queue a snapshot covering records up to ``index``."""

    def wait(self, index: int) -> None:
        """Block until record ``index`` is durable."""

    async def wait_async(self, index: int) -> None:
        """Await until record ``index`` is durable (for asyncio servers)."""

    @property
    def durable_index(self) -> int:
        """Every record up to this index is durable (it only grows)."""

    def wait_snapshot(self, index: int) -> None:
        """Block until a snapshot covering ``index`` or later is stored."""

    #: The error every call raises once a write failed, else ``None`` (a plain attribute).
    failure: SpotlabError | None

    def on_durable(self, callback: Callable[[list[LogRecord]], None]) -> None:
        """Call ``callback`` with each newly durable batch of records, in log order."""

    def on_write(self, callback: Callable[[float, int], None]) -> Callable[[], None]:
        """Call ``callback(seconds, records)`` after each commit (never for a store that does not write);
        returns a function that stops the calls."""

    def stats(self) -> dict[str, int]:
        """Counters of this session: records ``written``, ``commits``, and the ``durable`` index."""

    def close(self) -> None:
        """Flush what is queued, then release the store."""

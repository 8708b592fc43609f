"""Recovery: rebuild the engine from the newest snapshot and the records after it.

Invariants
- Records are replayed in index order through the same engine code that first
  applied them, with their original timestamps; each replay must give exactly the
  events that were logged. A gap in the indexes or a differing event means the
  log is damaged or was written by an incompatible engine, and opening stops with
  ``STORE_CORRUPT`` rather than serve a state that differs from what callers were told.
- The result is the state after the last durable record: every acknowledged
  command is in it, and nothing that was not durable.
- A snapshot must describe a possible state: after loading it, the engine's
  invariants (conservation, holds, book integrity) are checked before anything
  is replayed on top of it.
"""

from __future__ import annotations

import msgspec

from spotlab.core import state
from spotlab.core.engine import Engine
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.store.base import Store


class Recovered:
    __slots__ = ("engine", "index", "snapshot_index", "replayed", "last_ts")

    def __init__(self, engine: Engine, index: int, snapshot_index: int, replayed: int, last_ts: int) -> None:
        self.engine = engine
        self.index = index
        self.snapshot_index = snapshot_index
        self.replayed = replayed
        self.last_ts = last_ts


def recover(store: Store, closed_orders_kept: int) -> Recovered:
    latest = store.latest_snapshot()
    if latest is not None:
        snapshot_index, data = latest
        try:
            engine = state.restore(state.decode(data))
        except Exception as error:  # noqa: BLE001 - any failure to read it means the snapshot is unusable
            raise SpotlabError(
                ErrorCode.STORE_CORRUPT, f"{store.url}: snapshot {snapshot_index} cannot be read: {error}"
            ) from None
        engine.keep_closed_orders(closed_orders_kept)
        try:
            engine.check_invariants()
        except AssertionError as error:
            raise SpotlabError(
                ErrorCode.STORE_CORRUPT,
                f"{store.url}: snapshot {snapshot_index} describes an impossible state ({error})",
            ) from None
    else:
        snapshot_index = 0
        engine = Engine(closed_orders_kept=closed_orders_kept)
    index = snapshot_index
    replayed = 0
    for record in _readable(store, snapshot_index):
        if record.index != index + 1:
            raise SpotlabError(
                ErrorCode.STORE_CORRUPT, f"{store.url}: record {index + 1} is missing (found {record.index})"
            )
        try:
            outcome = engine.apply(record.command, record.ts)
        except SpotlabError as error:
            raise SpotlabError(
                ErrorCode.STORE_CORRUPT, f"{store.url}: record {record.index} no longer applies: {error.message}"
            ) from None
        if tuple(outcome.events) != record.events:
            raise SpotlabError(
                ErrorCode.STORE_CORRUPT,
                f"{store.url}: replaying record {record.index} gave other events than were logged; the log is "
                "damaged or was written by an incompatible version of spotlab",
            )
        index = record.index
        replayed += 1
    return Recovered(engine, index, snapshot_index, replayed, engine.last_ts)


def _readable(store: Store, after: int):
    """The store's records after ``after``; one that cannot be decoded is ``STORE_CORRUPT``."""
    records = store.records(after=after)
    position = after
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except msgspec.MsgspecError as error:
            raise SpotlabError(
                ErrorCode.STORE_CORRUPT, f"{store.url}: the record after {position} cannot be read: {error}"
            ) from None
        position = record.index
        yield record

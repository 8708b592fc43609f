"""The unit of the event log, a record: one accepted command and the events it caused.

Invariants
- ``index`` counts records from 1 without gaps; a snapshot names the index it covers.
- ``events`` is exactly what the engine produced for ``command`` at time ``ts``;
  replaying ``command`` at ``ts`` on the state before it must give equal events.
- Stores keep records in segments: runs of consecutive records, written in one
  commit, encoded together as one msgpack array (``encode_segment``). A segment
  row carries the first and last record index and event sequence it holds.
- The encoding is msgpack via msgspec, tagged by class name: portable, no pickles.
"""

from __future__ import annotations

import msgspec

from spotlab.core.commands import AnyCommand
from spotlab.core.events import AnyEvent


class LogRecord(msgspec.Struct, array_like=True, gc=False):
    index: int
    ts: int
    command: AnyCommand
    events: tuple[AnyEvent, ...]  # a tuple of gc=False structs: invisible to the cyclic collector

    @property
    def first_seq(self) -> int:
        return self.events[0].seq

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq


#: Most records a segment holds; a larger group commit writes several segments.
SEGMENT_RECORDS = 4096

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(LogRecord)
_segment_decoder = msgspec.msgpack.Decoder(list[LogRecord])

Segment = tuple[int, int, int, int, bytes]  # first index, last index, first seq, last seq, body


def encode_record(record: LogRecord) -> bytes:
    return _encoder.encode(record)


def encode_segment(records: list[LogRecord]) -> Segment:
    """One stored row for consecutive ``records``."""
    return (
        records[0].index,
        records[-1].index,
        records[0].events[0].seq,
        records[-1].events[-1].seq,
        _encoder.encode(records),
    )


def segments(records: list[LogRecord]) -> list[Segment]:
    """``records`` cut into stored rows of at most ``SEGMENT_RECORDS``."""
    return [encode_segment(records[i : i + SEGMENT_RECORDS]) for i in range(0, len(records), SEGMENT_RECORDS)]


def decode_segment(body: bytes) -> list[LogRecord]:
    return _segment_decoder.decode(body)


def decode_record(data: bytes) -> LogRecord:
    return _decoder.decode(data)

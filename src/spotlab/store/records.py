"""The unit of the event log: one accepted command and the events it caused.

Invariants
- ``index`` counts records from 1 without gaps; a snapshot names the index it covers.
- ``events`` is exactly what the engine produced for ``command`` at time ``ts``;
  replaying ``command`` at ``ts`` on the state before it must give equal events.
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


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(LogRecord)


def encode_record(record: LogRecord) -> bytes:
    return _encoder.encode(record)


def decode_record(data: bytes) -> LogRecord:
    return _decoder.decode(data)

"""The stored log seen through the test's own connections, not spotlab's: read it, count it, damage it.

The log table holds segments: rows of consecutive records (``first_idx`` .. ``last_idx``)
encoded together as one msgpack array. These helpers work on records, whatever
segment they sit in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import psycopg

from spotlab.store.postgres import split_url
from spotlab.store.records import LogRecord

_segment = msgspec.msgpack.Decoder(list[LogRecord])
_encoder = msgspec.msgpack.Encoder()


def sql(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    """Run one statement with ``{log}``/``{snapshots}`` naming the store's tables and ``?`` placeholders."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        try:
            return [
                tuple(r) for r in conn.execute(statement.format(log="log", snapshots="snapshots"), params).fetchall()
            ]
        finally:
            conn.close()
    conninfo, schema = split_url(url)
    statement = statement.format(log=f"{schema}.log", snapshots=f"{schema}.snapshots").replace("?", "%s")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []


def stored_records(url: str) -> list[LogRecord]:
    """Every record in the store, in segment order."""
    return [
        r for (body,) in sql(url, "SELECT body FROM {log} ORDER BY first_idx") for r in _segment.decode(bytes(body))
    ]


def last_index(url: str) -> int:
    return sql(url, "SELECT coalesce(max(last_idx), 0) FROM {log}")[0][0]


def count_after(url: str, after: int = 0) -> int:
    return sum(1 for r in stored_records(url) if r.index > after)


def _segment_of(url: str, index: int) -> tuple[int, list[LogRecord]]:
    rows = sql(url, "SELECT first_idx, body FROM {log} WHERE first_idx <= ? AND last_idx >= ?", (index, index))
    assert rows, f"no segment holds record {index}"
    first, body = rows[0]
    return first, _segment.decode(bytes(body))


def _store_segment(url: str, old_first: int, records: list[LogRecord]) -> None:
    sql(url, "DELETE FROM {log} WHERE first_idx = ?", (old_first,))
    if records:
        sql(
            url,
            "INSERT INTO {log} VALUES (?, ?, ?, ?, ?)",
            (
                records[0].index,
                records[-1].index,
                records[0].events[0].seq,
                records[-1].events[-1].seq,
                _encoder.encode(records),
            ),
        )


def rewrite_record(url: str, index: int, change: Callable[[LogRecord], Any]) -> None:
    """Replace record ``index`` with ``change(record)``; raw bytes replace its whole segment's body."""
    first, records = _segment_of(url, index)
    position = index - records[0].index
    new = change(records[position])
    if isinstance(new, bytes):
        sql(url, "UPDATE {log} SET body = ? WHERE first_idx = ?", (new, first))
        return
    records[position] = new
    _store_segment(url, first, records)


def delete_record(url: str, index: int) -> None:
    """Remove record ``index`` from its segment, leaving a gap in the log."""
    first, records = _segment_of(url, index)
    _store_segment(url, first, [r for r in records if r.index != index])


@contextmanager
def stalled_writes(url: str) -> Iterator[None]:
    """Hold the store's write lock from another connection, as a rogue client or a backup would."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
    else:
        conninfo, schema = split_url(url)
        conn = psycopg.connect(conninfo)
        conn.execute(f"LOCK TABLE {schema}.log, {schema}.snapshots IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            conn.rollback()
            conn.close()

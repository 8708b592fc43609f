"""The embedded store: one SQLite file in WAL mode.

Invariants
- Every group commit is one transaction with ``synchronous=FULL``: when ``wait``
  returns, the records are on disk (they survive a killed process and a power
  cut), and one sync covers the whole group. The group's records are stored as
  segment rows (``spotlab.store.records``): one insert per segment, not per record.
- One process writes a file at a time, enforced with an exclusive ``flock`` on
  ``<file>.lock``; readers (``records``, ``latest_snapshot``) use their own
  connections and see only committed records.
- The two newest snapshots are kept; older ones are deleted in the commit that
  adds a new one.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.store.group_commit import GroupCommitStore
from spotlab.store.records import LogRecord, Segment, decode_segment

FORMAT = "2"
SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    first_idx INTEGER PRIMARY KEY,
    last_idx INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS log_last_seq ON log (last_seq);
CREATE TABLE IF NOT EXISTS snapshots (idx INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
SNAPSHOTS_KEPT = 2


class SQLiteStore(GroupCommitStore):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(f"{self.path}.lock", "a+")  # noqa: SIM115 - held for the store's life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise SpotlabError(
                ErrorCode.STORE_LOCKED, f"{self.path} is open in another spotlab process; close that one first"
            ) from None
        try:
            with self._reader() as conn:
                conn.executescript(SCHEMA)
                row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
                if row is None:
                    conn.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
                    conn.commit()
                elif row[0] != FORMAT:
                    raise SpotlabError(
                        ErrorCode.STORE_CORRUPT, f"{self.path} has store format {row[0]}; this spotlab reads {FORMAT}"
                    )
        except sqlite3.DatabaseError as error:
            self._release()
            raise SpotlabError(ErrorCode.STORE_CORRUPT, f"{self.path} is not a spotlab store: {error}") from None
        except BaseException:
            self._release()
            raise
        super().__init__()

    def _reader(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    # -- reading -----------------------------------------------------------------------

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        with self._reader() as conn:
            row = conn.execute("SELECT idx, body FROM snapshots ORDER BY idx DESC LIMIT 1").fetchone()
        return (row[0], bytes(row[1])) if row else None

    def records(self, after: int = 0) -> Iterator[LogRecord]:
        conn = self._reader()
        try:
            cursor = conn.execute("SELECT body FROM log WHERE last_idx > ? ORDER BY first_idx", (after,))
            while rows := cursor.fetchmany(64):
                for (body,) in rows:
                    for record in decode_segment(body):
                        if record.index > after:
                            yield record
        finally:
            conn.close()

    def records_after_seq(self, after_seq: int) -> Iterator[LogRecord]:
        conn = self._reader()
        try:  # last_seq grows with first_idx: the index finds the first segment
            row = conn.execute(
                "SELECT first_idx FROM log WHERE last_seq > ? ORDER BY last_seq LIMIT 1", (after_seq,)
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            return
        for record in self.records(after=row[0] - 1):
            if record.events[-1].seq > after_seq:
                yield record

    def _last_index(self) -> int:
        with self._reader() as conn:
            return conn.execute("SELECT coalesce(max(last_idx), 0) FROM log").fetchone()[0]

    # -- writing (writer thread) ------------------------------------------------------

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        self._conn = conn

    def _write(self, rows: list[Segment], snapshots: list[tuple[int, bytes]]) -> None:
        conn = self._conn
        conn.execute("BEGIN")
        try:
            conn.executemany("INSERT INTO log VALUES (?, ?, ?, ?, ?)", rows)  # one row per segment
            if snapshots:
                conn.executemany("INSERT OR REPLACE INTO snapshots VALUES (?, ?)", snapshots)
                conn.execute(
                    "DELETE FROM snapshots WHERE idx NOT IN (SELECT idx FROM snapshots ORDER BY idx DESC LIMIT ?)",
                    (SNAPSHOTS_KEPT,),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _disconnect(self) -> None:
        self._conn.close()

    def _release(self) -> None:
        if not self._lock_file.closed:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()


def remove_store(path: str | Path) -> None:
    """Delete a SQLite store and its side files (for tests and ``--fresh``)."""
    for suffix in ("", "-wal", "-shm", ".lock"):
        try:
            os.remove(f"{path}{suffix}")
        except FileNotFoundError:
            pass

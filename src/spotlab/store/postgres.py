"""The PostgreSQL store: the same log and snapshots, in a schema of one database.

Invariants
- Each group commit is one transaction (segments of records arrive by binary ``COPY``); with
  PostgreSQL's default ``synchronous_commit = on`` a commit returns only when the
  WAL is flushed, so one flush covers the whole group.
- The schema is chosen with ``?schema=name`` in the URL (default ``spotlab``); the
  rest of the URL goes to psycopg unchanged.
- One process writes a schema at a time: the writer's own session holds an advisory
  lock, released on close and by PostgreSQL when the session ends (also when the
  process dies). Losing that session fails the writer too, so there are never two.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.store.group_commit import GroupCommitStore
from spotlab.store.records import LogRecord, Segment, decode_segment

FORMAT = "2"
SNAPSHOTS_KEPT = 2
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def split_url(url: str) -> tuple[str, str]:
    """``(conninfo, schema)`` from a ``postgresql://...?schema=x`` URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "spotlab"
    rest = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            rest.append((key, value))
    if not _SCHEMA_NAME.match(schema):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"schema must be lower-case letters, digits and '_', got {schema!r}"
        )
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment)), schema


class PostgresStore(GroupCommitStore):
    def __init__(self, url: str) -> None:
        self.url = url
        self._conninfo, self.schema = split_url(url)
        digest = hashlib.blake2b(f"spotlab:{self.schema}".encode(), digest_size=8).digest()
        self._lock_key = int.from_bytes(digest, "big", signed=True)
        super().__init__()

    # -- reading -----------------------------------------------------------------------

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        with psycopg.connect(self._conninfo) as conn:
            row = conn.execute(f"SELECT idx, body FROM {self.schema}.snapshots ORDER BY idx DESC LIMIT 1").fetchone()
        return (row[0], bytes(row[1])) if row else None

    def records(self, after: int = 0) -> Iterator[LogRecord]:
        with psycopg.connect(self._conninfo) as conn, conn.transaction():
            with conn.cursor(name="spotlab_records") as cursor:
                cursor.itersize = 64
                cursor.execute(f"SELECT body FROM {self.schema}.log WHERE last_idx > %s ORDER BY first_idx", (after,))
                for (body,) in cursor:
                    for record in decode_segment(body):
                        if record.index > after:
                            yield record

    def records_after_seq(self, after_seq: int) -> Iterator[LogRecord]:
        with psycopg.connect(self._conninfo) as conn:  # last_seq grows with first_idx: the index finds it
            row = conn.execute(
                f"SELECT first_idx FROM {self.schema}.log WHERE last_seq > %s ORDER BY last_seq LIMIT 1", (after_seq,)
            ).fetchone()
        if row is None:
            return
        for record in self.records(after=row[0] - 1):
            if record.events[-1].seq > after_seq:
                yield record

    def _last_index(self) -> int:
        with psycopg.connect(self._conninfo) as conn:
            return conn.execute(f"SELECT coalesce(max(last_idx), 0) FROM {self.schema}.log").fetchone()[0]

    # -- writing (writer thread) ------------------------------------------------------

    def _connect(self) -> None:
        """Connect, take the store's lock in this very session, and make sure the tables exist.

        The lock lives in the writer's session: if the server ends that session, the lock
        is gone and so is the writer (its next commit fails), so there are never two writers.
        """
        try:
            conn = psycopg.connect(self._conninfo)
        except psycopg.Error as error:
            raise SpotlabError(ErrorCode.STORE_UNAVAILABLE, f"cannot connect to {self.url}: {error}") from None
        try:
            with conn.transaction():
                locked = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._lock_key,)).fetchone()[0]
            if not locked:
                raise SpotlabError(
                    ErrorCode.STORE_LOCKED,
                    f"schema {self.schema} is open in another spotlab process; close that one first",
                )
            s = self.schema
            with conn.transaction():
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {s}.log (first_idx bigint PRIMARY KEY, last_idx bigint NOT NULL, "
                    "first_seq bigint NOT NULL, last_seq bigint NOT NULL, body bytea NOT NULL)"
                )
                conn.execute(f"CREATE INDEX IF NOT EXISTS log_last_seq ON {s}.log (last_seq)")
                conn.execute(f"CREATE TABLE IF NOT EXISTS {s}.snapshots (idx bigint PRIMARY KEY, body bytea NOT NULL)")
                conn.execute(f"CREATE TABLE IF NOT EXISTS {s}.meta (key text PRIMARY KEY, value text NOT NULL)")
                row = conn.execute(f"SELECT value FROM {s}.meta WHERE key = 'format'").fetchone()
                if row is None:
                    conn.execute(f"INSERT INTO {s}.meta VALUES ('format', %s)", (FORMAT,))
                elif row[0] != FORMAT:
                    raise SpotlabError(
                        ErrorCode.STORE_CORRUPT, f"schema {s} has store format {row[0]}; this spotlab reads {FORMAT}"
                    )
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _write(self, rows: list[Segment], snapshots: list[tuple[int, bytes]]) -> None:
        s = self.schema
        conn = self._conn
        with conn.transaction():
            with conn.cursor() as cursor:
                if rows:
                    with cursor.copy(
                        f"COPY {s}.log (first_idx, last_idx, first_seq, last_seq, body) FROM STDIN (FORMAT BINARY)"
                    ) as copy:
                        copy.set_types(["int8", "int8", "int8", "int8", "bytea"])
                        for row in rows:
                            copy.write_row(row)
                for index, data in snapshots:
                    cursor.execute(
                        f"INSERT INTO {s}.snapshots VALUES (%s, %s) "
                        "ON CONFLICT (idx) DO UPDATE SET body = EXCLUDED.body",
                        (index, data),
                    )
                if snapshots:
                    cursor.execute(
                        f"DELETE FROM {s}.snapshots WHERE idx NOT IN "
                        f"(SELECT idx FROM {s}.snapshots ORDER BY idx DESC LIMIT %s)",
                        (SNAPSHOTS_KEPT,),
                    )

    def _disconnect(self) -> None:
        conn = self._conn
        try:
            if not conn.closed and not conn.broken:
                conn.rollback()
                conn.execute("SELECT pg_advisory_unlock(%s)", (self._lock_key,))
                conn.commit()
        finally:
            conn.close()


def drop_schema(url: str) -> None:
    """Drop a store's schema (for tests)."""
    conninfo, schema = split_url(url)
    try:
        conn = psycopg.connect(conninfo, autocommit=True)
    except psycopg.Error as error:
        raise SpotlabError(ErrorCode.STORE_UNAVAILABLE, f"cannot connect to {url}: {error}") from None
    with conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

"""Persistence behind one interface: in memory, SQLite (the embedded default) or PostgreSQL.

``open_store(url)`` picks the backend from the URL:

- ``None`` or ``memory://``: in memory, gone with the process;
- ``sqlite:///relative/path.sqlite`` or ``sqlite:////absolute/path.sqlite``
  (SQLAlchemy's spelling: three slashes, then the path);
- ``postgresql://user@host:port/database?schema=name``.
"""

from __future__ import annotations

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.store.base import Store
from spotlab.store.memory import MemoryStore
from spotlab.store.records import LogRecord

__all__ = ["LogRecord", "MemoryStore", "Store", "open_store"]


def open_store(url: str | None) -> Store:
    if url is None or url in ("memory://", "memory", ":memory:"):
        return MemoryStore()
    if url.startswith("sqlite:///"):
        from spotlab.store.sqlite import SQLiteStore

        path = url[len("sqlite:///") :]
        if not path or path == ":memory:":
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, "a sqlite URL needs a file path: sqlite:///data/spotlab.sqlite"
            )
        return SQLiteStore(path)
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from spotlab.store.postgres import PostgresStore

        return PostgresStore(url.replace("postgresql+psycopg://", "postgresql://", 1))
    raise SpotlabError(
        ErrorCode.INVALID_ARGUMENT,
        f"unknown store URL {url!r}; use memory://, sqlite:///path/file.sqlite or postgresql://host/db",
    )

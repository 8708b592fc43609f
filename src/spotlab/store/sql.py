"""SQLAlchemy engines for the tables beside the event log (accounts, history read models).

The event log has its own hand-tuned drivers (``sqlite.py``, ``postgres.py``); the
tables that serve the API (users, API keys, withdrawal addresses, order and trade
history) are ordinary relational tables, written through SQLAlchemy Core so that
one piece of code runs on SQLite and PostgreSQL.

``sql_engine(store_url, name)`` maps the exchange's store URL to the engine for a
side database called ``name``:

- ``None`` / ``memory://``: a private in-memory SQLite database (one connection,
  shared by threads), gone with the process;
- ``sqlite:///dir/exchange.sqlite``: the file ``dir/exchange-<name>.sqlite`` in WAL
  mode (a separate file, because the log's file is locked by its writer);
- ``postgresql://...?schema=s``: the same database and schema as the log; tables are
  declared without a schema and mapped onto ``s`` (``schema_translate_map``).

Invariants
- Tables are created if missing (``metadata.create_all``), never altered silently.
- Money columns are integers in minor units, lots or ticks, like everything inside.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from spotlab.errors import ErrorCode, SpotlabError


def sql_engine(store_url: str | None, name: str) -> sa.Engine:
    """The SQLAlchemy engine for the side database ``name`` of the store at ``store_url``."""
    if store_url is None or store_url in ("memory://", "memory", ":memory:"):
        engine = sa.create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
        _sqlite_pragmas(engine, wal=False)
        return engine
    if store_url.startswith("sqlite:///"):
        path = Path(store_url[len("sqlite:///") :])
        side = path.with_name(f"{path.stem}-{name}{path.suffix or '.sqlite'}")
        side.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(f"sqlite:///{side}", connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_pragmas(engine, wal=True)
        return engine
    if store_url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from spotlab.store.postgres import split_url

        conninfo, schema = split_url(store_url.replace("postgresql+psycopg://", "postgresql://", 1))
        url = conninfo.replace("postgresql://", "postgresql+psycopg://", 1)
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        except sa.exc.OperationalError as error:
            engine.dispose()
            raise SpotlabError(
                ErrorCode.STORE_UNAVAILABLE, f"cannot reach PostgreSQL for {name}: {error.orig}"
            ) from None
        return engine.execution_options(schema_translate_map={None: schema})
    raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"unknown store URL {store_url!r}")


def _sqlite_pragmas(engine: sa.Engine, wal: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

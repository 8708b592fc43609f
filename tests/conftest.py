"""Shared fixtures.

- ``ex``: an in-memory exchange on a simulated clock; every test that uses it ends
  with the invariants of DESIGN.md checked (conservation, no negative balance,
  book integrity, holds equal to what open orders need).
- ``store_url``: a fresh durable store, once for SQLite and once for PostgreSQL.
  PostgreSQL tests need the server at 127.0.0.1:5432 (database ``test``); without
  it they are skipped with a message, unless ``SPOTLAB_REQUIRE_SERVICES=1`` (CI),
  where a missing server is an error.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from spotlab import Exchange, SimulatedClock

PG_BASE_URL = os.environ.get("SPOTLAB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("SPOTLAB_REQUIRE_SERVICES") == "1"
REDIS_URL = os.environ.get("SPOTLAB_TEST_REDIS", "redis://127.0.0.1:6379/0")


def postgres_available() -> str | None:
    """``None`` if the test server answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_BASE_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as error:  # noqa: BLE001 - any failure means "not available"
        return f"PostgreSQL at {PG_BASE_URL} is not available ({type(error).__name__}: {error})"


_PG_PROBLEM: str | None | bool = False


def require_postgres() -> None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = postgres_available()
    if _PG_PROBLEM:
        if REQUIRE_SERVICES:
            pytest.fail(f"{_PG_PROBLEM}; SPOTLAB_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(_PG_PROBLEM)


_REDIS_PROBLEM: str | None | bool = False


def require_redis() -> None:
    """Skip (or, with ``SPOTLAB_REQUIRE_SERVICES=1``, fail) unless Redis answers at ``REDIS_URL``."""
    global _REDIS_PROBLEM
    if _REDIS_PROBLEM is False:
        import redis

        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
            _REDIS_PROBLEM = None
        except redis.RedisError as error:
            _REDIS_PROBLEM = f"Redis at {REDIS_URL} is not available ({type(error).__name__}: {error})"
    if _REDIS_PROBLEM:
        if REQUIRE_SERVICES:
            pytest.fail(f"{_REDIS_PROBLEM}; SPOTLAB_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(_REDIS_PROBLEM)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC))


@pytest.fixture
def ex(clock: SimulatedClock) -> Iterator[Exchange]:
    exchange = Exchange.open(clock=clock)
    yield exchange
    exchange.check_invariants()
    exchange.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_postgres()
    from spotlab.store.postgres import drop_schema

    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = f"{PG_BASE_URL}?schema={schema}"
    yield url
    drop_schema(url)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/spotlab.sqlite"
    else:
        yield request.getfixturevalue("pg_url")


def fund(ex: Exchange, name: str, **amounts: str) -> str:
    """Create account ``name`` and deposit ``amounts`` (asset=decimal string)."""
    account = ex.create_account(name)
    for asset, amount in amounts.items():
        ex.deposit(account, asset, Decimal(amount))
    return account

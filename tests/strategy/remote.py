"""A real spotlab server for the live-trading tests: ``serve()`` yields a ``Server`` on 127.0.0.1.

The app and the test share one in-memory ``Exchange`` and one ``SimulatedClock``: counterparties
trade through the facade (``server.exchange``) while the strategy under test goes through HTTP.
``server.trader(name)`` registers a user through the API and creates an API key for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import httpx

from spotlab import Exchange, SimulatedClock
from spotlab.api.app import create_app
from spotlab.settings import Settings
from tests.api.live import running

SECRET = "test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery"
START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Trader:
    username: str
    token: str
    key_id: str
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Server:
    url: str
    exchange: Exchange
    clock: SimulatedClock

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def trader(self, username: str, scopes: tuple[str, ...] = ("read", "trade"), **deposits: str) -> Trader:
        """A user registered through the API, with an API key of ``scopes`` and ``deposits`` (asset=amount)."""
        with self.http() as http:
            created = http.post("/v1/accounts", json={"username": username, "password": PASSWORD})
            assert created.status_code == 201, created.text
            login = http.post("/v1/auth/token", json={"username": username, "password": PASSWORD})
            token = login.json()["access_token"]
            key = http.post(
                "/v1/api-keys",
                headers={"Authorization": f"Bearer {token}"},
                json={"label": "bot", "scopes": list(scopes)},
            )
            assert key.status_code == 201, key.text
        for asset, amount in deposits.items():
            self.exchange.deposit(username, asset, Decimal(amount))
        return Trader(username, token, key.json()["key_id"], key.json()["secret"])

    def counterparty(self, name: str, **deposits: str) -> str:
        """An exchange account made through the facade (no login), funded with ``deposits``."""
        self.exchange.create_account(name)
        for asset, amount in deposits.items():
            self.exchange.deposit(name, asset, Decimal(amount))
        return name


def settings(**overrides) -> Settings:
    return Settings(
        secret_key=SECRET,
        password_memory_kib=1024,
        password_time_cost=1,
        token_ttl_seconds=7 * 86400,
        **overrides,
    )


@contextmanager
def serve(clock: SimulatedClock | None = None, **setting_overrides) -> Iterator[Server]:
    """A uvicorn server around a fresh in-memory exchange on ``clock`` (default: 2024-01-01 UTC)."""
    clock = clock or SimulatedClock(START)
    exchange = Exchange.open(clock=clock)
    app = create_app(settings(**setting_overrides), exchange=exchange, clock=clock)
    try:
        with running(app) as url:
            yield Server(url, exchange, clock)
        exchange.check_invariants()
    finally:
        exchange.close()

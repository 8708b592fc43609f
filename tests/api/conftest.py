"""Fixtures for API tests: an app around an in-memory exchange on a simulated clock.

- ``api``: a ``TestClient`` (lifespan run) whose ``app.state.ctx`` holds the services;
  the exchange's invariants are checked when the test ends.
- ``user(name)``: registers a user, funds nothing, returns ``Caller`` with bearer
  headers; ``caller.signed(method, path, body)`` signs with an API key of the
  caller's (``caller.key(scopes)`` creates one).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from spotlab import Exchange, SimulatedClock
from spotlab.accounts.signing import sign
from spotlab.api.app import create_app
from spotlab.settings import Settings

SECRET = "test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC))


@pytest.fixture
def settings() -> Settings:
    # cheap password hashing: these tests are about the API, not about argon2's cost; tokens outlive
    # the simulated hours some tests skip (test_tokens_expire checks expiry with this lifetime)
    return Settings(
        secret_key=SECRET,
        withdrawal_address_delay_seconds=3600,
        password_memory_kib=1024,
        password_time_cost=1,
        token_ttl_seconds=7 * 86400,
    )


@pytest.fixture
def exchange(clock) -> Iterator[Exchange]:
    ex = Exchange.open(clock=clock)
    yield ex
    ex.check_invariants()
    ex.close()


@pytest.fixture
def api(exchange, clock, settings) -> Iterator[TestClient]:
    app = create_app(settings, exchange=exchange, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def history(api):
    """The app's history read model (orders, fills, trades, deposits, withdrawals)."""
    return api.app.state.ctx.history


@dataclass
class Caller:
    client: TestClient
    clock: SimulatedClock
    username: str
    token: str
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def key(self, *scopes: str) -> tuple[str, str]:
        """``(key_id, secret)`` of an API key with ``scopes`` (created once per scope set)."""
        name = " ".join(sorted(scopes))
        if name not in self.keys:
            answer = self.client.post("/v1/api-keys", headers=self.headers, json={"label": name, "scopes": scopes})
            assert answer.status_code == 201, answer.text
            self.keys[name] = (answer.json()["key_id"], answer.json()["secret"])
        return self.keys[name]

    def signed(self, method: str, path: str, body=None, *scopes: str):
        """Send a request signed with an API key having ``scopes`` (default: all three)."""
        key_id, secret = self.key(*(scopes or ("read", "trade", "withdraw")))
        raw = b"" if body is None else json.dumps(body).encode()
        timestamp = str(self.clock.now_ns() // 1_000_000)
        headers = {
            "SPOTLAB-KEY": key_id,
            "SPOTLAB-TIMESTAMP": timestamp,
            "SPOTLAB-SIGNATURE": sign(secret, timestamp, method, path, raw),
        }
        if raw:
            headers["Content-Type"] = "application/json"
        return self.client.request(method, path, content=raw, headers=headers)

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, body=None, **kwargs):
        return self.client.post(path, headers=self.headers, json=body, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.client.delete(path, headers=self.headers, **kwargs)

    def patch(self, path: str, body=None, **kwargs):
        return self.client.patch(path, headers=self.headers, json=body, **kwargs)


@pytest.fixture
def user(api, clock) -> Callable[[str], Caller]:
    def make(username: str) -> Caller:
        created = api.post("/v1/accounts", json={"username": username, "password": PASSWORD})
        assert created.status_code == 201, created.text
        login = api.post("/v1/auth/token", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.text
        return Caller(api, clock, username, login.json()["access_token"])

    return make


def problem(response, status: int, code: str) -> dict:
    """Assert ``response`` is a problem+json with ``status`` and ``code``; return its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status and body["detail"] and body["type"].startswith("https://"), body
    return body

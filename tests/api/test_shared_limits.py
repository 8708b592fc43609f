"""Two API processes behind one Redis (``SPOTLAB_REDIS_URL``) share rate limits and replay protection."""

from __future__ import annotations

import math
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from spotlab import Exchange
from spotlab.accounts.signing import sign
from spotlab.api.app import create_app
from tests.api.conftest import PASSWORD, problem
from tests.conftest import REDIS_URL, require_redis


@pytest.fixture
def two_apps(tmp_path, clock, settings):
    """Two apps on one exchange (a SQLite store, so they share its account tables) and one Redis.

    Each test uses fresh Redis keys: a unique login, and its own per-IP budget size."""
    require_redis()
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "rate_limit_ip_per_minute": 100})
    with Exchange.open(f"sqlite:///{tmp_path}/exchange.sqlite", clock=clock) as exchange:
        with TestClient(create_app(shared, exchange=exchange, clock=clock)) as first:
            with TestClient(create_app(shared, exchange=exchange, clock=clock)) as second:
                yield first, second


def test_a_signed_request_is_accepted_once_across_processes(two_apps, clock):
    first, second = two_apps
    name = "u" + uuid.uuid4().hex[:10]
    assert first.post("/v1/accounts", json={"username": name, "password": PASSWORD}).status_code == 201
    token = first.post("/v1/auth/token", json={"username": name, "password": PASSWORD}).json()["access_token"]
    key = first.post(
        "/v1/api-keys", headers={"Authorization": f"Bearer {token}"}, json={"label": "bot", "scopes": ["read"]}
    ).json()
    timestamp = str(clock.now_ns() // 1_000_000)
    headers = {
        "SPOTLAB-KEY": key["key_id"],
        "SPOTLAB-TIMESTAMP": timestamp,
        "SPOTLAB-SIGNATURE": sign(key["secret"], timestamp, "GET", "/v1/account"),
    }
    assert first.get("/v1/account", headers=headers).status_code == 200
    problem(second.get("/v1/account", headers=headers), 401, "REPLAYED_REQUEST")


def test_the_per_ip_budget_is_shared_across_processes(two_apps):
    first, second = two_apps
    limit = int(first.get("/v1/markets").headers["ratelimit-limit"])
    started = time.monotonic()
    remaining_after_first = int(first.get("/v1/markets").headers["ratelimit-remaining"])
    for _ in range(20):
        remaining_after_second = int(second.get("/v1/markets").headers["ratelimit-remaining"])
    refilled = math.ceil((time.monotonic() - started) * limit / 60)  # the bucket refills in real time meanwhile
    assert limit == 100
    # the second process drew on the same bucket: its 20 requests show in what the first left
    assert remaining_after_second <= remaining_after_first - 20 + refilled < remaining_after_first

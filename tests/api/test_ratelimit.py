"""Rate limits: the token-bucket maths, both limiters, the weight table and the ASGI middleware.

Redis tests use the server at 127.0.0.1:6379 (``SPOTLAB_TEST_REDIS``) under a unique key
prefix each, deleted afterwards; without the server they are skipped with a message,
unless ``SPOTLAB_REQUIRE_SERVICES=1``, where a missing server is a failure.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from hypothesis import given
from hypothesis import strategies as st

from spotlab.api.ratelimit import (
    BucketPolicy,
    EndpointWeight,
    InProcessLimiter,
    Limiters,
    QueryWeight,
    Quota,
    RateLimitMiddleware,
    RateLimits,
    WeightTable,
    build_limiters,
    take,
)
from spotlab.api.ratelimit.redisbacked import RedisLimiter
from spotlab.errors import SpotlabError
from tests.conftest import REDIS_URL, require_redis

SECOND = 1_000_000_000

# --- the bucket maths -------------------------------------------------------------------------

# 10 tokens, 1 token per second; time in seconds.
TEN_PER_TEN = BucketPolicy(capacity=10, refill_tokens=1, refill_period=1, units_per_second=1)
# 2 tokens, refilled 2 per 3 seconds (a token every 1.5 s): exercises the fractional refill.
TWO_PER_THREE = BucketPolicy(capacity=2, refill_tokens=2, refill_period=3, units_per_second=1)

# (policy, steps of (now, cost), expected per step: (allowed, remaining, reset, retry_after))
BUCKET_CASES = {
    "a new bucket is full": (TEN_PER_TEN, [(0, 3)], [(True, 7, 3, 0)]),
    "the whole burst at once, then nothing": (TEN_PER_TEN, [(0, 10), (0, 1)], [(True, 0, 10, 0), (False, 0, 10, 1)]),
    "refill is proportional to time": (
        TEN_PER_TEN,
        [(0, 10), (4, 5), (5, 5)],
        [(True, 0, 10, 0), (False, 4, 6, 1), (True, 0, 10, 0)],
    ),
    "refill stops at capacity": (
        TEN_PER_TEN,
        [(0, 10), (1000, 10), (1000, 1)],
        [(True, 0, 10, 0), (True, 0, 10, 0), (False, 0, 10, 1)],
    ),
    "the wait covers the whole shortfall": (TEN_PER_TEN, [(0, 10), (2, 7)], [(True, 0, 10, 0), (False, 2, 8, 5)]),
    "time going backwards refills nothing": (TEN_PER_TEN, [(10, 10), (5, 1)], [(True, 0, 10, 0), (False, 0, 10, 1)]),
    "a weight of zero only reads": (TEN_PER_TEN, [(0, 4), (0, 0)], [(True, 6, 4, 0), (True, 6, 4, 0)]),
    "fractional refill is exact": (
        TWO_PER_THREE,
        [(0, 2), (1, 1), (2, 1)],
        [(True, 0, 3, 0), (False, 0, 2, 1), (True, 0, 3, 0)],
    ),
}


@pytest.mark.parametrize("case", BUCKET_CASES, ids=list(BUCKET_CASES))
def test_bucket_maths(case):
    policy, steps, expected = BUCKET_CASES[case]
    state = None
    for (now, cost), want in zip(steps, expected, strict=True):
        state, decision = take(policy, state, cost, now)
        got = (decision.allowed, decision.remaining, decision.reset_seconds, decision.retry_after_seconds)
        assert got == want, f"{case}: at t={now} taking {cost}"
        assert decision.limit == policy.capacity
        assert (decision.reason is None) == decision.allowed


def test_a_weight_above_the_capacity_is_refused_for_good_with_a_reason():
    state, decision = take(TEN_PER_TEN, None, 11, now=0)
    assert not decision.allowed
    assert decision.retry_after_seconds is None
    assert "can never be allowed" in decision.reason and "11" in decision.reason
    assert decision.remaining == 10 and state is None  # nothing was taken


def test_a_negative_weight_is_an_error():
    with pytest.raises(SpotlabError, match="integer >= 0"):
        take(TEN_PER_TEN, None, -1, now=0)


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 12)), max_size=40))
def test_allowed_weight_never_exceeds_burst_plus_refill(steps):
    """Over any run, the weight let through is at most the capacity plus what refilled meanwhile."""
    state, now, allowed_total = None, 0, 0
    for gap, cost in steps:
        now += gap
        state, decision = take(TEN_PER_TEN, state, cost, now)
        allowed_total += cost if decision.allowed else 0
        assert 0 <= decision.remaining <= 10
        assert allowed_total <= 10 + now
        if not decision.allowed and cost <= 10:
            _, retried = take(TEN_PER_TEN, state, cost, now + decision.retry_after_seconds)
            assert retried.allowed, "waiting Retry-After seconds is enough"


# --- the in-process limiter -------------------------------------------------------------------


@pytest.mark.anyio
async def test_in_process_limiter_keeps_keys_apart():
    limiter = InProcessLimiter(Quota(3, window_seconds=60))
    assert (await limiter.take("a", 3, now=0)).allowed
    assert not (await limiter.take("a", 1, now=0)).allowed
    assert (await limiter.take("b", 1, now=0)).remaining == 2
    assert (await limiter.take("a", 1, now=20 * SECOND)).allowed  # one token per 20 s


def test_in_process_limiter_forgets_buckets_once_they_are_full_again():
    limiter = InProcessLimiter(Quota(60, window_seconds=60))  # one token per second
    for number in range(10):
        limiter.take_now(f"client-{number}", 1, now=0)
    assert len(limiter) == 10
    for tick in range(5):  # each take sweeps the two oldest buckets if they have refilled
        limiter.take_now("late", 0, now=(2 + tick) * SECOND)
    assert len(limiter) == 0


def test_in_process_limiter_memory_is_bounded():
    limiter = InProcessLimiter(Quota(60), max_keys=100)
    for number in range(1000):
        limiter.take_now(f"client-{number}", 1, now=0)
    assert len(limiter) == 100


# --- configuration and weights ----------------------------------------------------------------


def test_a_weight_that_cannot_fit_a_bucket_is_refused_at_construction():
    with pytest.raises(SpotlabError, match="POST /v1/auth/token may weigh 10 but the per_ip_anonymous bucket holds 5"):
        RateLimits(per_ip_anonymous=Quota(5), weights=(EndpointWeight("POST", "/v1/auth/token", 10),))
    assert RateLimits(per_ip_anonymous=Quota(5, burst=10), weights=(EndpointWeight("POST", "/v1/auth/token", 10),))


def test_quotas_are_positive_integers():
    with pytest.raises(SpotlabError, match="Quota.limit must be a positive integer"):
        Quota(0)
    with pytest.raises(SpotlabError, match="burst"):
        Quota(10, burst=-1)


def test_policy_header_item():
    assert Quota(1200).policy == "1200;w=60"
    assert Quota(100, window_seconds=10, burst=150).policy == "100;w=10;burst=150"


def test_limits_from_settings_fit_the_heaviest_default_weight():
    from spotlab.settings import Settings

    limits = RateLimits.from_settings(Settings(rate_limit_per_minute=2, rate_limit_ip_per_minute=600))
    assert limits.per_key.limit == 2 and limits.per_key.capacity == 25
    assert limits.per_ip_anonymous == Quota(600)
    assert limits.per_ip.limit == 600


WEIGHT_TABLE = WeightTable(
    (
        EndpointWeight("POST", "/v1/orders", 1),
        EndpointWeight("DELETE", "/v1/orders/{order_id}", 2),
        EndpointWeight("GET", "/v1/markets/{market}/book", 1, heavier=(QueryWeight("depth", 100, 5),)),
        EndpointWeight("POST", "/v1/auth/token", 10, always_anonymous=True),
    ),
    default_weight=3,
)


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("POST", "/v1/orders", b"", (1, False)),
        ("GET", "/v1/orders", b"", (3, False)),  # the method is part of the key
        ("DELETE", "/v1/orders/42", b"", (2, False)),
        ("DELETE", "/v1/orders/42/fills", b"", (3, False)),  # a parameter matches one segment only
        ("GET", "/v1/markets/BTC-USDT/book", b"depth=100", (1, False)),
        ("GET", "/v1/markets/BTC-USDT/book", b"depth=101", (5, False)),
        ("HEAD", "/v1/markets/BTC-USDT/book", b"depth=500&x=1", (5, False)),
        ("GET", "/v1/markets/BTC-USDT/book", b"depth=lots", (1, False)),
        ("POST", "/v1/auth/token", b"", (10, True)),
    ],
)
def test_weight_table(method, path, query, expected):
    assert WEIGHT_TABLE.weight(method, path, query) == expected


# --- the middleware ---------------------------------------------------------------------------

TEST_LIMITS = RateLimits(
    per_key=Quota(12, window_seconds=60),
    per_ip=Quota(30, window_seconds=60),
    per_ip_anonymous=Quota(10, window_seconds=60),
    weights=(
        EndpointWeight("POST", "/v1/orders", 1),
        EndpointWeight("GET", "/v1/markets/{market}/book", 1, heavier=(QueryWeight("depth", 100, 5),)),
        EndpointWeight("POST", "/v1/auth/token", 10, always_anonymous=True),
    ),
)


def tiny_app(
    limits: RateLimits = TEST_LIMITS, limiters: Limiters | None = None, refused: list | None = None
) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/orders")
    async def place_order() -> dict:
        return {"status": "new"}

    @app.get("/v1/markets/{market}/book")
    async def book(market: str, depth: int = 10) -> dict:
        return {"market": market, "depth": depth}

    @app.post("/v1/auth/token")
    async def login() -> dict:
        return {"token": "t"}

    @app.websocket("/v1/ws")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app.add_middleware(
        RateLimitMiddleware,
        limits=limits,
        limiters=limiters if limiters is not None else build_limiters(limits),
        on_refused=None if refused is None else (lambda: refused.append(1)),
    )
    return app


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://spotlab") as client:
        yield client


@pytest.mark.anyio
async def test_allowed_responses_carry_rate_limit_headers():
    async with client_of(tiny_app()) as client:
        anonymous = await client.post("/v1/orders")
        keyed = await client.post("/v1/orders", headers={"SPOTLAB-KEY": "k1"})
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "new"}
    assert anonymous.headers["RateLimit-Limit"] == "10"
    assert anonymous.headers["RateLimit-Remaining"] == "9"
    assert anonymous.headers["RateLimit-Reset"] == "6"  # one token back every 6 s
    assert anonymous.headers["RateLimit-Policy"] == "10;w=60, 30;w=60"
    assert keyed.headers["RateLimit-Limit"] == "12"
    assert keyed.headers["RateLimit-Remaining"] == "11"
    assert keyed.headers["RateLimit-Policy"] == "12;w=60, 30;w=60"


@pytest.mark.anyio
async def test_an_empty_bucket_answers_429_with_retry_after_and_a_problem():
    refused: list = []
    async with client_of(tiny_app(refused=refused)) as client:
        for _ in range(10):
            assert (await client.post("/v1/orders")).status_code == 200
        response = await client.post("/v1/orders")
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "6"
    assert response.headers["RateLimit-Remaining"] == "0"
    body = response.json()
    assert {key: body[key] for key in ("type", "title", "status", "code")} == {
        "type": "https://spotlab.dev/problems/rate-limited",
        "title": "Too Many Requests",
        "status": 429,
        "code": "RATE_LIMITED",
    }
    assert "unauthenticated IP address" in body["detail"] and "10 weight per 60 s" in body["detail"]
    assert "retry in 6 s" in body["detail"]
    assert refused == [1]


@pytest.mark.anyio
async def test_one_exhausted_key_does_not_block_another():
    async with client_of(tiny_app()) as client:
        for _ in range(12):
            assert (await client.post("/v1/orders", headers={"SPOTLAB-KEY": "alice"})).status_code == 200
        alice = await client.post("/v1/orders", headers={"SPOTLAB-KEY": "alice"})
        bob = await client.post("/v1/orders", headers={"SPOTLAB-KEY": "bob"})
        bearer = await client.post("/v1/orders", headers={"Authorization": "Bearer carol"})
        anonymous = await client.post("/v1/orders")
    assert alice.status_code == 429 and "API key" in alice.json()["detail"]
    assert bob.status_code == 200 and bob.headers["RateLimit-Remaining"] == "11"
    assert bearer.status_code == 200 and bearer.headers["RateLimit-Remaining"] == "11"
    assert anonymous.status_code == 200 and anonymous.headers["RateLimit-Remaining"] == "9"


@pytest.mark.anyio
async def test_the_ip_ceiling_holds_across_keys():
    async with client_of(tiny_app()) as client:
        for number in range(30):
            assert (await client.post("/v1/orders", headers={"SPOTLAB-KEY": f"key-{number}"})).status_code == 200
        response = await client.post("/v1/orders", headers={"SPOTLAB-KEY": "yet-another"})
    assert response.status_code == 429
    assert "rate limit of the IP address exceeded: 30 weight per 60 s" in response.json()["detail"]


@pytest.mark.anyio
async def test_heavier_endpoints_take_more():
    async with client_of(tiny_app()) as client:
        shallow = await client.get("/v1/markets/BTC-USDT/book", params={"depth": 10})
        deep = await client.get("/v1/markets/BTC-USDT/book", params={"depth": 1000})
        login = await client.post("/v1/auth/token")
        after_login = await client.post("/v1/orders")
    assert shallow.headers["RateLimit-Remaining"] == "9"
    assert deep.headers["RateLimit-Remaining"] == "4"
    assert login.status_code == 429 and "this request weighs 10 and 4 remain" in login.json()["detail"]
    assert after_login.status_code == 200  # a refused request took nothing


@pytest.mark.anyio
async def test_login_attempts_are_throttled_per_ip_even_with_a_key():
    async with client_of(tiny_app()) as client:
        first = await client.post("/v1/auth/token", headers={"SPOTLAB-KEY": "made-up"})
        second = await client.post("/v1/auth/token", headers={"SPOTLAB-KEY": "another-made-up"})
    assert first.status_code == 200 and first.headers["RateLimit-Limit"] == "10"
    assert second.status_code == 429 and "unauthenticated IP address" in second.json()["detail"]


@pytest.mark.anyio
async def test_disabled_limits_pass_everything_through_without_headers():
    app = tiny_app(limits=RateLimits(enabled=False))
    async with client_of(app) as client:
        responses = [await client.post("/v1/auth/token") for _ in range(100)]
    assert {response.status_code for response in responses} == {200}
    assert "RateLimit-Limit" not in responses[-1].headers


async def handshake(app, extensions: dict) -> list[dict]:
    """One WebSocket handshake straight through ASGI: the messages the app sent."""
    sent: list[dict] = []
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]

    async def receive() -> dict:
        return incoming.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/v1/ws",
        "raw_path": b"/v1/ws",
        "query_string": b"",
        "headers": [],
        "client": ("10.0.0.1", 5000),
        "server": ("spotlab", 80),
        "scheme": "ws",
        "subprotocols": [],
        "extensions": extensions,
    }
    await app(scope, receive, send)
    return sent


@pytest.mark.anyio
async def test_websocket_handshakes_are_charged_to_the_ip_and_refused_when_empty():
    limits = RateLimits(per_ip=Quota(2), per_ip_anonymous=Quota(10), per_key=Quota(10), weights=())
    app = tiny_app(limits=limits)
    for _ in range(2):
        accepted = await handshake(app, {})
        assert [message["type"] for message in accepted][:2] == ["websocket.accept", "websocket.send"]
    denied = await handshake(app, {"websocket.http.response": {}})
    closed = await handshake(app, {})
    start, body = denied
    assert start["type"] == "websocket.http.response.start" and start["status"] == 429
    assert (b"retry-after", b"30") in start["headers"]  # one handshake back every 30 s
    assert json.loads(body["body"])["code"] == "RATE_LIMITED"
    assert closed == [{"type": "websocket.close", "code": 1008, "reason": "rate limited: retry in 30 s"}]


# --- Redis ------------------------------------------------------------------------------------


@pytest.fixture
def redis_prefix() -> str:
    require_redis()
    return f"spotlab-test:{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def redis_client(prefix: str):
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.mark.anyio
async def test_two_processes_share_one_bucket_through_redis(redis_prefix):
    quota = Quota(3, window_seconds=3600)
    async with redis_client(redis_prefix) as first_client, redis_client(redis_prefix) as second_client:
        first = RedisLimiter(first_client, quota, redis_prefix)
        second = RedisLimiter(second_client, quota, redis_prefix)
        assert (await first.take("ip:1.2.3.4", 2)).remaining == 1
        assert (await second.take("ip:1.2.3.4", 1)).remaining == 0
        refused = await first.take("ip:1.2.3.4", 1)
        other_key = await second.take("ip:5.6.7.8", 1)
        assert not refused.allowed and refused.retry_after_seconds in (1199, 1200)  # a token per 1,200 s
        assert other_key.allowed
        ttl_ms = await first_client.pttl(f"{redis_prefix}:ip:1.2.3.4")
        assert 3_500_000 < ttl_ms <= 3_600_000  # the key expires when the bucket is full again
        assert not first.degraded and not second.degraded


@pytest.mark.anyio
async def test_redis_script_agrees_with_the_bucket_maths(redis_prefix):
    quota = Quota(7, window_seconds=3, burst=10)  # fractional refill: 7 tokens per 3 s
    steps = [(0, 10), (1, 3), (2, 3), (2, 2), (50, 11), (50, 10), (49, 1), (51, 0), (53, 4)]
    reference = InProcessLimiter(quota)
    async with redis_client(redis_prefix) as client:
        limiter = RedisLimiter(client, quota, redis_prefix)
        start = 1_700_000_000 * SECOND
        for at, cost in steps:
            now = start + at * SECOND
            assert await limiter.take("k", cost, now=now) == await reference.take("k", cost, now=now), (at, cost)


@pytest.mark.anyio
async def test_the_middleware_shares_limits_between_two_apps_through_redis(redis_prefix):
    first_limiters = build_limiters(TEST_LIMITS, REDIS_URL, prefix=redis_prefix)
    second_limiters = build_limiters(TEST_LIMITS, REDIS_URL, prefix=redis_prefix)
    try:
        async with (
            client_of(tiny_app(limiters=first_limiters)) as first,
            client_of(tiny_app(limiters=second_limiters)) as second,
        ):
            for number in range(10):
                assert (await (first if number % 2 else second).post("/v1/orders")).status_code == 200
            assert (await first.post("/v1/orders")).status_code == 429
            assert (await second.post("/v1/orders")).status_code == 429
    finally:
        async with redis_client(redis_prefix):
            pass
        await first_limiters.aclose()
        await second_limiters.aclose()


@pytest.mark.anyio
async def test_an_unreachable_redis_falls_back_to_process_memory_and_warns_once(caplog):
    from redis.asyncio import Redis

    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RedisLimiter(client, Quota(2), "spotlab-test:down", retry_seconds=0)  # tries Redis on every take
    with caplog.at_level(logging.WARNING, logger="spotlab.api.ratelimit.redisbacked"):
        decisions = [await limiter.take("ip:9.9.9.9", 1) for _ in range(3)]
    await client.aclose()
    assert [decision.allowed for decision in decisions] == [True, True, False]
    assert limiter.degraded
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Redis unreachable" in warnings[0].getMessage()

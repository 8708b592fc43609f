"""GET /v1/markets/{market}/candles: the exchange's own trades as candles, oldest first, Decimal strings.

Bad input (unknown interval or market, limit out of range, start after end, a time without timezone)
is problem+json with a stable code and changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import fund

BASE = "/v1/markets/BTC-USDT/candles"


def trade(exchange, price: str, quantity: str) -> None:
    exchange.place_order("maker", "BTC/USDT", "sell", "limit", price, quantity)
    exchange.place_order("taker", "BTC/USDT", "buy", "market", quantity=quantity)


@pytest.fixture
def traded(api, exchange, clock):
    """Three trades: two in 00:00-00:01, one in 00:02 (2024-01-01, UTC)."""
    fund(exchange, "maker", BTC="10")
    fund(exchange, "taker", USDT="1000000")
    clock.set(clock.now() + timedelta(seconds=10))
    trade(exchange, "42000.50", "0.1")
    clock.set(clock.now() + timedelta(seconds=20))
    trade(exchange, "42100", "0.25")
    clock.set(clock.now() + timedelta(minutes=2))
    trade(exchange, "41900", "0.05")
    return api


def test_candles_are_oldest_first_in_decimal_strings_and_the_open_one_is_not_closed(traded):
    response = traded.get(BASE, params={"interval": "1m"})
    assert response.status_code == 200, response.text
    first, last = response.json()
    assert first == {
        "open_time": "2024-01-01T00:00:00Z",
        "close_time": "2024-01-01T00:01:00Z",
        "open": "42000.50",
        "high": "42100.00",
        "low": "42000.50",
        "close": "42100.00",
        "base_volume": "0.35000",
        "quote_volume": "14725.05000000",  # 4200.05 + 10525, in USDT's precision
        "trade_count": 2,
        "closed": True,
    }
    assert (last["open_time"], last["close"], last["trade_count"], last["closed"]) == (
        "2024-01-01T00:02:00Z", "41900.00", 1, False
    )  # fmt: skip


def test_a_longer_interval_gathers_them(traded):
    (hour,) = traded.get(BASE, params={"interval": "1h"}).json()
    assert (hour["open"], hour["high"], hour["low"], hour["close"]) == ("42000.50", "42100.00", "41900.00", "41900.00")
    assert (hour["trade_count"], hour["base_volume"], hour["closed"]) == (3, "0.40000", False)
    (week,) = traded.get(BASE, params={"interval": "1w"}).json()
    assert week["open_time"] == "2024-01-01T00:00:00Z"  # a Monday


def test_a_period_that_has_ended_reads_closed_even_without_a_later_trade(traded, clock):
    clock.set(clock.now() + timedelta(minutes=1))
    assert [c["closed"] for c in traded.get(BASE, params={"interval": "1m"}).json()] == [True, True]


def test_start_end_and_limit_select_like_binance(traded):
    def opens(**params):
        response = traded.get(BASE, params={"interval": "1m", **params})
        assert response.status_code == 200, response.text
        return [c["open_time"][11:16] for c in response.json()]

    assert opens(limit=1) == ["00:02"]  # the newest
    assert opens(start="2024-01-01T00:00:00Z", limit=1) == ["00:00"]  # the first from start
    assert opens(start="2024-01-01T00:00:01+00:00") == ["00:02"]
    assert opens(end="2024-01-01T00:01:59Z") == ["00:00"]
    assert opens(start="2024-01-01T01:00:00+01:00", end="2024-01-01T00:00:00Z") == ["00:00"]  # the same instant
    assert opens(start="2024-01-02T00:00:00Z") == []


def test_a_market_that_never_traded_has_no_candles(api):
    response = api.get("/v1/markets/ETH-USDT/candles", params={"interval": "1d"})
    assert response.status_code == 200 and response.json() == []


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        (BASE, {"interval": "2m"}, 422, "INVALID_ARGUMENT"),
        (BASE, {}, 422, "VALIDATION_ERROR"),
        (BASE, {"interval": "1m", "limit": 0}, 422, "VALIDATION_ERROR"),
        (BASE, {"interval": "1m", "limit": 1001}, 422, "VALIDATION_ERROR"),
        (BASE, {"interval": "1m", "start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"}, 422,
         "INVALID_ARGUMENT"),
        (BASE, {"interval": "1m", "start": "2024-01-01T00:00:00"}, 422, "VALIDATION_ERROR"),  # no timezone
        (BASE, {"interval": "1m", "end": "yesterday"}, 422, "VALIDATION_ERROR"),
        ("/v1/markets/DOGE-USDT/candles", {"interval": "1m"}, 404, "UNKNOWN_MARKET"),
        ("/v1/markets/not a market/candles", {"interval": "1m"}, 404, "UNKNOWN_MARKET"),
    ],
)  # fmt: skip
def test_bad_candle_requests_are_problems_with_a_code(traded, path, params, status, code):
    response = traded.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_unknown_intervals_are_answered_with_the_valid_ones(api):
    detail = api.get(BASE, params={"interval": "1M"}).json()["detail"]
    assert "1m, 3m, 5m, 15m, 30m, 1h, 4h, 1d, 1w" in detail


def test_the_openapi_document_describes_the_endpoint_with_an_example(api):
    schema = api.get("/v1/openapi.json").json()
    operation = schema["paths"]["/v1/markets/{market}/candles"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"market", "interval", "start", "end", "limit"}
    example = schema["components"]["schemas"]["CandlePublic"]["examples"][0]
    assert set(example) == set(schema["components"]["schemas"]["CandlePublic"]["properties"])

"""``GET /v1/screener``: markets ranked by volume, volatility, spread and trend, from real trades.

The scene (simulated clock, 2024-01-01):

    market    00:00 trade       01:00 trade       book at 01:30         24 h figures
    BTC/USDT  0.1 @ 40000       0.1 @ 44000       43990 / 44010         range 10 %, 8400 USDT, spread 4.55 bps, up
    ETH/USDT  1 @ 2000          1 @ 1900          (empty)               range 5.26 %, 3900 USDT, down
    ETH/BTC   2 @ 0.05          -                 -                     range 0 %, 0.1 BTC = 4400 USDT, flat

The other markets have no trade.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from spotlab.api.routes.screener import ScreenerRowPublic
from tests.api.conftest import problem

QUIET = ["ADA-BTC", "ADA-USDT", "BTC-USD", "DOT-USDC", "ETH-USD", "SOL-USDT"]


def trade(exchange, market: str, price: str, quantity: str) -> None:
    exchange.place_order("maker", market, "sell", "limit", price, quantity)
    exchange.place_order("taker", market, "buy", "limit", price, quantity)


@pytest.fixture
def scene(api, exchange, clock):
    for account in ("maker", "taker"):
        exchange.create_account(account)
        for asset, amount in (("USDT", "100000"), ("BTC", "10"), ("ETH", "100")):
            exchange.deposit(account, asset, amount)
    trade(exchange, "BTC/USDT", "40000", "0.1")
    trade(exchange, "ETH/USDT", "2000", "1")
    trade(exchange, "ETH/BTC", "0.05", "2")
    clock.advance(timedelta(hours=1))
    trade(exchange, "BTC/USDT", "44000", "0.1")
    trade(exchange, "ETH/USDT", "1900", "1")
    exchange.place_order("taker", "BTC/USDT", "buy", "limit", "43990", "0.01")
    exchange.place_order("maker", "BTC/USDT", "sell", "limit", "44010", "0.01")
    clock.advance(timedelta(minutes=30))
    return api


def screener(api, **params) -> list[dict]:
    answer = api.get("/v1/screener", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_each_row_carries_the_measures_and_the_figures_behind_them(scene):
    rows = {row["market"]: row for row in screener(scene)}
    assert rows["BTC-USDT"] == {
        "market": "BTC-USDT",
        "last": "44000.00",
        "change_percent": "10.00",
        "volatility_percent": "10.00",  # (44000 - 40000) / 40000
        "high": "44000.00",
        "low": "40000.00",
        "quote_volume": "8400.00000000",
        "quote_asset": "USDT",
        "common_volume": "8400.00000000",
        "common_currency": "USDT",
        "trade_count": 2,
        "best_bid": "43990.00",
        "best_ask": "44010.00",
        "spread_bps": "4.55",  # 20 / 44000 x 10,000
        "trend": "up",
        "trend_ema": "40615.38",  # EMA(12) of the hourly closes 40000, 44000: 40000 + 4000 x 2/13
        "trend_percent": "8.33",  # (44000 - 40615.38...) / 40615.38... = 1/12
        "trend_candles": 2,
    }
    eth = rows["ETH-USDT"]
    assert (eth["volatility_percent"], eth["spread_bps"], eth["trend"], eth["trend_percent"]) == (
        "5.26", None, "down", "-4.26"
    )  # fmt: skip
    eth_btc = rows["ETH-BTC"]
    assert (eth_btc["quote_volume"], eth_btc["quote_asset"], eth_btc["common_volume"]) == (
        "0.10000000", "BTC", "4400.00000000"  # 0.1 BTC at BTC/USDT's last price
    )  # fmt: skip
    assert (eth_btc["volatility_percent"], eth_btc["trend"], eth_btc["trend_candles"]) == ("0.00", "flat", 1)


def test_the_documented_example_is_a_real_row(scene):
    [documented] = ScreenerRowPublic.model_json_schema()["examples"]
    assert documented == next(row for row in screener(scene) if row["market"] == "BTC-USDT")


def test_quiet_markets_come_last_with_nulls(scene):
    rows = screener(scene)
    assert [row["market"] for row in rows][-len(QUIET) :] == QUIET
    quiet = rows[-1]
    assert quiet["market"] == "SOL-USDT"
    assert quiet["last"] is quiet["change_percent"] is quiet["volatility_percent"] is quiet["trend"] is None
    assert (quiet["quote_volume"], quiet["common_volume"], quiet["trade_count"]) == ("0.00000000", "0.00000000", 0)


@pytest.mark.parametrize(
    ("params", "ranking"),
    [
        ({}, ["BTC-USDT", "ETH-BTC", "ETH-USDT"]),  # volume desc: 8400, 4400, 3900 USDT
        ({"order": "asc"}, ["ETH-USDT", "ETH-BTC", "BTC-USDT"]),
        ({"sort": "volatility"}, ["BTC-USDT", "ETH-USDT", "ETH-BTC"]),  # 10, 5.26, 0 %
        ({"sort": "trend"}, ["BTC-USDT", "ETH-BTC", "ETH-USDT"]),  # +8.33, 0, -4.26 %
        ({"sort": "spread", "order": "asc"}, ["BTC-USDT", "ETH-BTC", "ETH-USDT"]),  # only BTC has both sides
    ],
)
def test_markets_are_ranked_by_the_chosen_measure(scene, params, ranking):
    assert [row["market"] for row in screener(scene, **params)][:3] == ranking


def test_limit_returns_the_best_rows(scene):
    assert [row["market"] for row in screener(scene, sort="volatility", limit=2)] == ["BTC-USDT", "ETH-USDT"]


def test_volumes_can_be_ranked_in_another_currency(scene):
    rows = {row["market"]: row for row in screener(scene, currency="BTC")}
    assert rows["BTC-USDT"]["common_volume"] == "0.19090909"  # 8400 / 44000, half-even to BTC's 8 places
    assert rows["ETH-USDT"]["common_volume"] == "0.08863636"
    assert rows["ETH-BTC"]["common_volume"] == "0.10000000"
    assert rows["BTC-USDT"]["common_currency"] == "BTC"


def test_a_day_later_every_market_is_quiet_and_listed_by_id(scene, clock):
    clock.advance(timedelta(hours=24))
    rows = screener(scene)
    assert [row["market"] for row in rows] == sorted(["BTC-USDT", "ETH-BTC", "ETH-USDT", *QUIET])
    assert all(row["last"] is None and row["trend"] is None for row in rows)
    assert next(row for row in rows if row["market"] == "BTC-USDT")["spread_bps"] == "4.55"  # the book is still there


@pytest.mark.parametrize(
    "params",
    [{"sort": "price"}, {"order": "up"}, {"limit": 0}, {"limit": 1001}, {"limit": "ten"}, {"currency": "usdt!"}],
)
def test_bad_parameters_are_problems(api, params):
    body = problem(api.get("/v1/screener", params=params), 422, "VALIDATION_ERROR")
    assert body["detail"]


def test_an_unknown_currency_is_refused(api):
    problem(api.get("/v1/screener", params={"currency": "EUR"}), 404, "UNKNOWN_ASSET")

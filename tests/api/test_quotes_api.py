"""``PUT /v1/quotes/{market}``: a market maker replaces its quotes in one step, all or nothing."""

from __future__ import annotations

import pytest

from tests.api.conftest import Caller, problem

BTC = "BTC-USDT"


def put(caller: Caller, market: str, body) -> object:
    return caller.client.put(f"/v1/quotes/{market}", headers=caller.headers, json=body)


def quotes(*levels: tuple[str, str, str]) -> dict:
    return {"quotes": [{"side": side, "price": price, "quantity": quantity} for side, price, quantity in levels]}


def open_orders(caller: Caller) -> list[tuple[str, str, str]]:
    items = caller.get("/v1/orders", params={"open": "true"}).json()["items"]
    return sorted((o["side"], o["price"], o["remaining_quantity"]) for o in items)


@pytest.fixture
def maker(user, exchange) -> Caller:
    """A user with 10,000 USDT and 1 BTC, quoting 29,000 / 31,000."""
    caller = user("maker")
    exchange.deposit("maker", "USDT", "10000")
    exchange.deposit("maker", "BTC", "1")
    for side, price in (("buy", "29000"), ("sell", "31000")):
        order = {"market": BTC, "side": side, "type": "limit", "price": price, "quantity": "0.1"}
        assert caller.post("/v1/orders", order).status_code == 201
    return caller


def test_a_re_quote_cancels_the_resting_orders_and_rests_the_new_quotes(api, maker):
    before = {o["id"] for o in maker.get("/v1/orders", params={"open": "true"}).json()["items"]}
    answer = put(maker, BTC, quotes(("buy", "29900", "0.1"), ("buy", "29800", "0.2"), ("sell", "30100", "0.1")))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["market"] == BTC
    assert {o["id"] for o in body["canceled"]} == before
    assert {o["status"] for o in body["canceled"]} == {"CANCELED"}
    assert [(o["side"], o["price"], o["quantity"], o["status"]) for o in body["placed"]] == [
        ("buy", "29900.00", "0.10000", "NEW"),
        ("buy", "29800.00", "0.20000", "NEW"),
        ("sell", "30100.00", "0.10000", "NEW"),
    ]
    assert open_orders(maker) == [
        ("buy", "29800.00", "0.20000"),
        ("buy", "29900.00", "0.10000"),
        ("sell", "30100.00", "0.10000"),
    ]
    for placed in body["placed"]:  # each placed quote reads back exactly as answered
        assert maker.get(f"/v1/orders/{placed['id']}").json() == placed
    metrics = api.get("/metrics").text
    assert 'spotlab_orders_total{market="BTC-USDT",side="buy",type="limit"} 3.0' in metrics  # 1 earlier + 2


def test_a_quote_that_crosses_the_book_shows_its_fills(user, exchange, maker):
    taker = user("taker")
    exchange.deposit("taker", "USDT", "10000")
    taker.post("/v1/orders", {"market": BTC, "side": "buy", "type": "limit", "price": "30500", "quantity": "0.05"})
    [placed] = put(maker, BTC, quotes(("sell", "30400", "0.1"))).json()["placed"]
    assert (placed["status"], placed["filled_quantity"]) == ("PARTIALLY_FILLED", "0.05000")
    assert [(f["price"], f["role"]) for f in placed["fills"]] == [("30500.00", "taker")]


def test_an_empty_list_cancels_every_resting_order_in_the_market_and_leaves_others_alone(user, exchange, maker):
    other = user("other")
    exchange.deposit("other", "USDT", "10000")
    theirs = other.post("/v1/orders", {"market": BTC, "side": "buy", "type": "limit", "price": "28000",
                                       "quantity": "0.1"}).json()  # fmt: skip
    body = put(maker, BTC, {"quotes": []}).json()
    assert (len(body["canceled"]), body["placed"]) == (2, [])
    assert open_orders(maker) == []
    assert other.get(f"/v1/orders/{theirs['id']}").json()["status"] == "NEW"


BAD = [
    ("a float price", quotes(("buy", 29900.5, "0.1")), 422, "VALIDATION_ERROR"),
    ("a side that is not buy or sell", quotes(("hold", "29900", "0.1")), 422, "VALIDATION_ERROR"),
    ("an unknown field", {"quotes": [], "cancel": True}, 422, "VALIDATION_ERROR"),
    ("no quotes field", {}, 422, "VALIDATION_ERROR"),
    ("101 quotes", quotes(*[("buy", "20000", "0.001")] * 101), 422, "VALIDATION_ERROR"),
    ("a price off the tick", quotes(("buy", "29900.001", "0.1")), 422, "PRICE_NOT_ON_TICK"),
    ("too small to trade", quotes(("buy", "1", "0.001")), 422, "BELOW_MIN_NOTIONAL"),
    ("more than the account has", quotes(("buy", "29900", "0.1"), ("buy", "29800", "1")), 409,
     "INSUFFICIENT_FUNDS"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body", "status", "code"), BAD, ids=[case for case, *_ in BAD])
def test_a_bad_re_quote_is_a_problem_and_changes_nothing(exchange, maker, case, body, status, code):
    before = exchange.state_hash()
    problem(put(maker, BTC, body), status, code)
    assert exchange.state_hash() == before
    assert open_orders(maker) == [("buy", "29000.00", "0.10000"), ("sell", "31000.00", "0.10000")]


def test_an_unknown_market_is_404(maker):
    problem(put(maker, "NOPE-USDT", {"quotes": []}), 404, "UNKNOWN_MARKET")
    problem(put(maker, "nope", {"quotes": []}), 404, "UNKNOWN_MARKET")


def test_it_needs_the_trade_scope(api, maker):
    problem(api.put(f"/v1/quotes/{BTC}", json={"quotes": []}), 401, "UNAUTHENTICATED")
    problem(maker.signed("PUT", f"/v1/quotes/{BTC}", {"quotes": []}, "read"), 403, "SCOPE_REQUIRED")
    assert maker.signed("PUT", f"/v1/quotes/{BTC}", {"quotes": []}, "trade").status_code == 200


def test_an_account_with_an_order_list_or_a_risk_profile_is_refused(exchange, user, maker):
    exchange.place_oco("maker", "BTC/USDT", "0.1", take_profit_price="32000", stop_price="28000")
    assert "order lists" in problem(put(maker, BTC, {"quotes": []}), 422, "INVALID_ARGUMENT")["detail"]
    careful = user("careful")
    exchange.deposit("careful", "USDT", "10000")
    limits = careful.client.put("/v1/risk-profile", headers=careful.headers, json={"max_trades_per_day": 5})
    assert limits.status_code == 200, limits.text
    refused = problem(put(careful, BTC, quotes(("buy", "29000", "0.1"))), 422, "INVALID_ARGUMENT")
    assert "risk profile" in refused["detail"]

"""Buy OCOs and list client ids over REST (``/v1/order-lists``) and WebSocket (``place_order_list``).

``POST /v1/order-lists`` answers as ``POST /v1/orders`` does: 201 with a new list, 200 with the original
when ``client_order_id`` repeats with the same body, 409 ``DUPLICATE_CLIENT_ORDER_ID`` naming the list
with another; WebSocket answers a repeat with ``duplicate: true`` and the original list.
"""

from __future__ import annotations

from decimal import Decimal as D

from tests.api.conftest import problem
from tests.api.test_conditional_orders_api import BRACKET, BTC, OCO, people, placed, trade_at  # noqa: F401
from tests.api.test_ws import M, bearer, server, start  # noqa: F401 (fixtures)
from tests.api.test_ws_conditional import trade_at as ws_trade_at

BUY_OCO = {"type": "oco", "side": "buy", "market": BTC, "quantity": "0.2", "take_profit_price": "5500",
           "stop_price": "6200", "stop_limit_price": "6210"}  # fmt: skip
# 0.2 x 6210 = 1242 USDT + 0.1 % fee 1.242: the dearer (stop-limit) leg, held once for both
BUY_OCO_HOLD = D("1243.242")


def test_a_buy_oco_is_placed_read_and_triggered_over_rest(people, exchange):  # noqa: F811
    alice, _, _ = people
    oco = placed(alice, "/v1/order-lists", BUY_OCO)
    assert (oco["type"], oco["side"], oco["status"], oco["client_order_id"]) == ("oco", "buy", "EXECUTING", None)
    legs = {o["type"]: o for o in oco["orders"]}
    assert (legs["limit"]["side"], legs["limit"]["price"]) == ("buy", "5500.00")
    assert (legs["stop_loss_limit"]["side"], legs["stop_loss_limit"]["stop_price"]) == ("buy", "6200.00")
    assert exchange.balances("alice")["USDT"].locked == BUY_OCO_HOLD
    assert alice.get(f"/v1/order-lists/{oco['id']}").json() == oco
    trade_at(exchange, "6200")  # the breakout: the stop-limit buy is placed, the limit canceled
    now = alice.get(f"/v1/order-lists/{oco['id']}").json()
    assert now["status"] == "ALL_DONE"
    assert sorted((o["type"], o["status"]) for o in now["orders"]) == [
        ("limit", "CANCELED"), ("stop_loss_limit", "TRIGGERED"),
    ]  # fmt: skip
    assert exchange.balances("alice")["USDT"].locked == BUY_OCO_HOLD  # now the child limit buy's own hold


def test_bad_buy_ocos_and_sell_brackets_are_problems_that_change_nothing(people, exchange):  # noqa: F811
    alice, _, _ = people
    before = exchange.state_hash()
    no_limit = {k: v for k, v in BUY_OCO.items() if k != "stop_limit_price"}
    assert "stop_limit_price" in problem(alice.post("/v1/order-lists", no_limit), 422, "INVALID_ARGUMENT")["detail"]
    problem(alice.post("/v1/order-lists", {**BUY_OCO, "stop_price": "5400"}), 422, "INVALID_ARGUMENT")
    problem(alice.post("/v1/order-lists", {**BUY_OCO, "quantity": "20"}), 409, "INSUFFICIENT_FUNDS")
    sell_bracket = problem(alice.post("/v1/order-lists", {**BRACKET, "side": "sell"}), 422, "INVALID_ARGUMENT")
    assert "buy-entry only" in sell_bracket["detail"]
    problem(alice.post("/v1/order-lists", {**OCO, "client_order_id": "no spaces"}), 422, "VALIDATION_ERROR")
    assert exchange.state_hash() == before


def test_a_repeated_list_client_id_answers_200_with_the_original_and_409_with_other_terms(people, exchange):  # noqa: F811
    alice, bob, _ = people
    body = {**BUY_OCO, "client_order_id": "dip-or-breakout-1"}
    first = placed(alice, "/v1/order-lists", body)
    assert first["client_order_id"] == "dip-or-breakout-1"
    before = exchange.state_hash()
    again = alice.post("/v1/order-lists", body)
    assert again.status_code == 200 and again.json() == first
    refused = problem(alice.post("/v1/order-lists", {**body, "quantity": "0.1"}), 409, "DUPLICATE_CLIENT_ORDER_ID")
    assert refused["details"]["list_id"] == first["id"]
    assert exchange.state_hash() == before
    assert exchange.balances("alice")["USDT"].locked == BUY_OCO_HOLD  # held once
    other = placed(bob, "/v1/order-lists", body)  # another account's ids are its own
    assert other["id"] != first["id"]
    bracket = {**BRACKET, "client_order_id": "dip-or-breakout-1"}  # other terms under alice's id
    problem(alice.post("/v1/order-lists", bracket), 409, "DUPLICATE_CLIENT_ORDER_ID")


def test_a_repeated_list_client_id_over_websocket_answers_the_original_as_a_duplicate(server):  # noqa: F811
    token = server.user("alice", BTC="1", USDT="100000")
    server.user("bob", BTC="10", USDT="1000000")
    server.user("carol", BTC="10", USDT="1000000")
    ws_trade_at(server.exchange, "30000")
    ws = server.socket()
    ws.ask("auth", token=token)
    body = {"type": "oco", "side": "buy", "market": M, "quantity": "0.1", "take_profit_price": "29000",
            "stop_price": "31000", "stop_limit_price": "31100", "client_order_id": "ws-1"}  # fmt: skip
    first = ws.ask("place_order_list", order_list=body)
    assert (first["type"], first["duplicate"]) == ("result", False), first
    assert (first["data"]["side"], first["data"]["client_order_id"]) == ("buy", "ws-1")
    before = server.exchange.state_hash()
    again = ws.ask("place_order_list", order_list=body)
    assert (again["type"], again["duplicate"], again["data"]) == ("result", True, first["data"])
    other = ws.ask("place_order_list", order_list={**body, "stop_limit_price": "31200"})
    assert (other["type"], other["code"], other["status"]) == ("error", "DUPLICATE_CLIENT_ORDER_ID", 409)
    assert server.exchange.state_hash() == before
    rest = server.http.get(f"/v1/order-lists/{first['data']['id']}", headers=bearer(token)).json()
    assert rest == first["data"]
    assert server.exchange.balances("alice")["USDT"].locked == D("3113.11")  # 3110 + 0.1 %, once

"""Conditional orders over ``/v1/ws`` under a real uvicorn server: placed with ``place_order``, followed on
the private ``orders`` channel (``conditional_placed``, ``triggered``, the child's ``placed``,
``conditional_canceled``); OCOs and brackets placed and canceled with ``place_order_list`` and
``cancel_order_list``, answered as REST answers them, refused with REST's codes (risk guards included).
Every message is validated against the AsyncAPI models (``Socket``)."""

from __future__ import annotations

from decimal import Decimal as D

from tests.api.test_ws import M, bearer, limit, server, start  # noqa: F401 (fixtures)

SYMBOL = "BTC/USDT"


def trade_at(exchange, price: str) -> None:
    exchange.place_order("bob", SYMBOL, "sell", "limit", D(price), D("0.01"))
    exchange.place_order("carol", SYMBOL, "buy", "limit", D(price), D("0.01"))


def test_a_stop_placed_over_websocket_is_streamed_pending_triggered_and_its_child_placed(server):  # noqa: F811
    token = server.user("alice", BTC="1", USDT="100000")
    server.user("bob", BTC="10", USDT="1000000")
    server.user("carol", BTC="10", USDT="1000000")
    trade_at(server.exchange, "30000")
    ws = server.socket()
    ws.ask("auth", token=token)
    assert ws.ask("subscribe", channels=["orders"])["type"] == "subscribed"

    stop = {"market": M, "side": "sell", "type": "stop_loss", "quantity": "0.1", "stop_price": "29000"}
    answer = ws.ask("place_order", order=stop)
    assert answer["type"] == "result", answer
    order = answer["data"]
    assert (order["status"], order["type"], order["stop_price"]) == ("NEW", "stop_loss", "29000.00")
    pending = ws.until(lambda m: m["type"] == "orders")["orders"]
    assert [(u["event"], u["order_id"], u["stop_price"]) for u in pending] == [
        ("conditional_placed", order["id"], "29000.00")
    ]

    server.exchange.place_order("carol", SYMBOL, "buy", "limit", D("29000"), D("0.5"))
    server.exchange.place_order("bob", SYMBOL, "sell", "limit", D("29000"), D("0.01"))  # the trigger
    updates = [u for m in ws.drain() if m["type"] == "orders" for u in m["orders"]]
    triggered = next(u for u in updates if u["event"] == "triggered")
    assert (triggered["order_id"], triggered["stop_price"], triggered["last_price"]) == (
        order["id"], "29000.00", "29000.00"
    )  # fmt: skip
    child = next(u for u in updates if u["event"] == "placed")
    assert (child["order_id"], child["type"], child["side"]) == (triggered["child_order_id"], "market", "sell")

    limit_stop = {**stop, "type": "stop_loss_limit", "price": "27900", "stop_price": "28000"}
    second = ws.ask("place_order", order=limit_stop)["data"]
    ws.drain()
    assert ws.ask("cancel_order", order_id=second["id"])["data"]["status"] == "CANCELED"
    canceled = [u for m in ws.drain() if m["type"] == "orders" for u in m["orders"]]
    assert [(u["event"], u["order_id"]) for u in canceled] == [("conditional_canceled", second["id"])]


def test_a_bad_stop_over_websocket_is_an_error_answer(server):  # noqa: F811
    token = server.user("alice", BTC="1")
    ws = server.socket()
    ws.ask("auth", token=token)
    missing = ws.ask("place_order", order={"market": M, "side": "sell", "type": "stop_loss", "quantity": "0.1"})
    assert (missing["type"], missing["code"]) == ("error", "INVALID_ARGUMENT")
    floated = ws.ask("place_order", order={**limit("sell", "30000", "0.1"), "type": "stop_loss", "stop_price": 1.5})
    assert (floated["type"], floated["code"]) == ("error", "VALIDATION_ERROR")


def test_an_oco_and_a_bracket_are_placed_and_canceled_over_websocket_as_rest_answers_them(server):  # noqa: F811
    token = server.user("alice", BTC="1", USDT="100000")
    other = server.user("dave", BTC="1", USDT="100000")
    server.user("bob", BTC="10", USDT="1000000")
    server.user("carol", BTC="10", USDT="1000000")
    trade_at(server.exchange, "30000")
    ws = server.socket()
    ws.ask("auth", token=token)

    oco = {"type": "oco", "market": M, "quantity": "0.1", "take_profit_price": "33000", "stop_price": "28000"}
    answer = ws.ask("place_order_list", order_list=oco)
    assert (answer["type"], answer["op"], answer["duplicate"]) == ("result", "place_order_list", False), answer
    placed = answer["data"]
    assert (placed["type"], placed["status"], placed["market"]) == ("oco", "EXECUTING", M)
    assert sorted(o["type"] for o in placed["orders"]) == ["limit", "stop_loss"]
    assert {o["list_id"] for o in placed["orders"]} == {placed["id"]}
    rest = server.http.get(f"/v1/order-lists/{placed['id']}", headers=bearer(token)).json()
    assert rest == placed  # the same shape and figures as REST

    bracket = {"type": "bracket", "market": M, "quantity": "0.1", "entry_price": "29500",
               "take_profit_price": "33000", "stop_price": "28000", "stop_limit_price": "27900"}  # fmt: skip
    entry = ws.ask("place_order_list", order_list=bracket)["data"]
    assert (entry["type"], entry["entry_price"], entry["stop_limit_price"]) == ("bracket", "29500.00", "27900.00")

    ws2 = server.socket()
    ws2.ask("auth", token=other)
    foreign = ws2.ask("cancel_order_list", list_id=placed["id"])  # isolation: another account's list
    assert (foreign["type"], foreign["code"], foreign["status"]) == ("error", "ORDER_NOT_FOUND", 404)

    canceled = ws.ask("cancel_order_list", list_id=placed["id"])
    assert (canceled["type"], canceled["op"]) == ("result", "cancel_order_list"), canceled
    assert canceled["data"]["status"] == "ALL_DONE"
    assert {o["status"] for o in canceled["data"]["orders"]} == {"CANCELED"}
    assert server.exchange.balances("alice")["BTC"].locked == D(0)  # the OCO's hold is released


def test_order_list_ops_are_refused_with_rest_codes_over_websocket(server):  # noqa: F811
    token = server.user("alice", BTC="1", USDT="100000")
    server.user("bob", BTC="10", USDT="1000000")
    server.user("carol", BTC="10", USDT="1000000")
    trade_at(server.exchange, "30000")
    ws = server.socket()
    unauthenticated = ws.ask(
        "place_order_list",
        order_list={"type": "oco", "market": M, "quantity": "0.1", "take_profit_price": "33000", "stop_price": "28000"},
    )
    assert (unauthenticated["type"], unauthenticated["code"]) == ("error", "UNAUTHENTICATED")
    ws.ask("auth", token=token)
    no_entry = ws.ask(
        "place_order_list",
        order_list={
            "type": "bracket",
            "market": M,
            "quantity": "0.1",
            "take_profit_price": "33000",
            "stop_price": "28000",
        },
    )
    assert (no_entry["type"], no_entry["code"]) == ("error", "INVALID_ARGUMENT")
    assert ws.ask("cancel_order_list", list_id=0)["code"] == "VALIDATION_ERROR"

    profile = {"max_trades_per_day": 1, "require_stop_loss": True}
    assert server.http.put("/v1/risk-profile", headers=bearer(token), json=profile).status_code == 200
    plain = ws.ask("place_order", order=limit("buy", "29000", "0.01"))
    assert (plain["type"], plain["code"], plain["details"]["rule"]) == ("error", "RISK_LIMIT", "require_stop_loss")
    bracket = {"type": "bracket", "market": M, "quantity": "0.01", "entry_price": "30000",
               "take_profit_price": "33000", "stop_price": "28000"}  # fmt: skip
    server.exchange.place_order("bob", SYMBOL, "sell", "limit", D("30000"), D("0.01"))
    filled = ws.ask("place_order_list", order_list=bracket)["data"]  # allowed: the stop comes with the entry
    assert [o["status"] for o in filled["orders"] if o["type"] == "limit" and o["side"] == "buy"] == ["FILLED"]
    again = ws.ask("place_order_list", order_list=bracket)  # one order traded today: the limit is 1
    assert (again["code"], again["details"]["rule"], again["details"]["trades_today"]) == (
        "RISK_LIMIT", "max_trades_per_day", "1"
    )  # fmt: skip

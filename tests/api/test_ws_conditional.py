"""Conditional orders over ``/v1/ws`` under a real uvicorn server: placed with ``place_order``, followed on
the private ``orders`` channel (``conditional_placed``, ``triggered``, the child's ``placed``,
``conditional_canceled``). Every message is validated against the AsyncAPI models (``Socket``)."""

from __future__ import annotations

from decimal import Decimal as D

from tests.api.test_ws import M, limit, server, start  # noqa: F401 (fixtures)

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

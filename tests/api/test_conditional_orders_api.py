"""Conditional orders and order lists over REST: POST /v1/orders with the conditional types, /v1/order-lists.

Every conditional type is placed, read back live and from the history, triggered by a trade
between two other accounts (the last trade price) or canceled; OCOs and brackets are placed,
read and canceled; another account's list is 404; bad input is a problem+json that changes
nothing (the exchange's state hash does not move).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from spotlab import Exchange
from tests.api.conftest import Caller, problem

BTC = "BTC-USDT"
M = "BTC/USDT"


@pytest.fixture
def people(user, exchange):
    """alice trades conditionals; bob and carol print trades between them."""
    callers = {}
    for name in ("alice", "bob", "carol"):
        callers[name] = user(name)
        exchange.deposit(name, "USDT", "20000")
        exchange.deposit(name, "BTC", "1")
    trade_at(exchange, "6000")
    return callers["alice"], callers["bob"], callers["carol"]


def trade_at(exchange: Exchange, price: str, quantity: str = "0.01") -> None:
    """bob rests a sell at ``price`` and carol buys it: the last trade price becomes ``price``."""
    exchange.place_order("bob", M, "sell", "limit", price, quantity)
    exchange.place_order("carol", M, "buy", "limit", price, quantity)


def placed(caller: Caller, path: str, body: dict) -> dict:
    answer = caller.post(path, body)
    assert answer.status_code == 201, answer.text
    return answer.json()


CONDITIONALS = [
    ({"side": "sell", "type": "stop_loss", "quantity": "0.1", "stop_price": "5900"}, {"stop_price": "5900.00"}),
    ({"side": "sell", "type": "stop_loss_limit", "price": "5890", "quantity": "0.1", "stop_price": "5900"},
     {"stop_price": "5900.00", "price": "5890.00"}),
    ({"side": "sell", "type": "take_profit", "quantity": "0.1", "stop_price": "6500"}, {"stop_price": "6500.00"}),
    ({"side": "sell", "type": "take_profit_limit", "price": "6500", "quantity": "0.1", "stop_price": "6500"},
     {"stop_price": "6500.00", "price": "6500.00"}),
    ({"side": "buy", "type": "stop_loss", "quote_quantity": "100", "stop_price": "6100"},
     {"stop_price": "6100.00", "quote_quantity": "100.00000000"}),
    ({"side": "sell", "type": "trailing_stop", "quantity": "0.1", "trailing_distance": "200"},
     {"stop_price": "5800.00", "trailing_distance": "200.00"}),
    ({"side": "sell", "type": "trailing_stop", "quantity": "0.1", "trailing_percent": "2.5",
      "activation_price": "6300"}, {"trailing_percent": "2.50", "activation_price": "6300.00", "stop_price": None}),
]  # fmt: skip


@pytest.mark.parametrize("body, shown", CONDITIONALS, ids=[f"{c[0]['side']}-{c[0]['type']}" for c in CONDITIONALS])
def test_each_conditional_type_is_placed_pending_and_read_back_live_and_from_the_history(people, body, shown):
    alice, _, _ = people
    order = placed(alice, "/v1/orders", {"market": BTC, **body})
    assert (order["status"], order["type"], order["parent_id"], order["list_id"]) == ("NEW", body["type"], None, None)
    assert {key: order[key] for key in shown} == shown
    assert alice.get(f"/v1/orders/{order['id']}").json() == order
    listed = alice.get("/v1/orders", params={"status": "NEW"}).json()["items"]
    assert [o["id"] for o in listed] == [order["id"]]
    assert {key: listed[0][key] for key in shown} == shown
    assert alice.get("/v1/orders", params={"open": "true"}).json()["items"] == []  # open orders are in the book


def test_a_stop_loss_triggered_by_other_accounts_trade_sells_at_market_and_names_its_parent(people, exchange):
    alice, _, _ = people
    stop = placed(alice, "/v1/orders", {"market": BTC, "side": "sell", "type": "stop_loss", "quantity": "0.1",
                                        "stop_price": "5900"})  # fmt: skip
    exchange.place_order("carol", M, "buy", "limit", "5900", "0.5")  # the bid the stop sells into
    exchange.place_order("bob", M, "sell", "limit", "5900", "0.01")  # a trade at 5900: the trigger
    assert alice.get(f"/v1/orders/{stop['id']}").json()["status"] == "TRIGGERED"
    items = alice.get("/v1/orders").json()["items"]
    child = next(o for o in items if o["parent_id"] == stop["id"])
    assert (child["type"], child["side"], child["status"], child["filled_quantity"]) == (
        "market", "sell", "FILLED", "0.10000"
    )  # fmt: skip
    assert child["arrival_price"] == "5900.00"  # slippage is measured against the stop
    triggered = alice.get("/v1/orders", params={"status": "TRIGGERED"}).json()["items"]
    assert [(o["id"], o["stop_price"]) for o in triggered] == [(stop["id"], "5900.00")]
    assert exchange.balances("alice")["BTC"].total == Decimal("0.9")


def test_cancelling_a_pending_conditional_order_releases_its_hold(people, exchange):
    alice, _, _ = people
    stop = placed(alice, "/v1/orders", {"market": BTC, "side": "sell", "type": "stop_loss", "quantity": "0.3",
                                        "stop_price": "5900"})  # fmt: skip
    assert exchange.balances("alice")["BTC"].locked == Decimal("0.3")
    canceled = alice.delete(f"/v1/orders/{stop['id']}")
    assert canceled.status_code == 200 and canceled.json()["status"] == "CANCELED"
    assert exchange.balances("alice")["BTC"].locked == 0
    assert alice.get(f"/v1/orders/{stop['id']}").json()["status"] == "CANCELED"
    exchange.place_order("bob", M, "sell", "limit", "5800", "0.01")
    exchange.place_order("carol", M, "buy", "limit", "5800", "0.01")  # past the stop: nothing triggers now
    assert exchange.balances("alice")["BTC"].total == Decimal("1")


OCO = {"type": "oco", "market": BTC, "quantity": "0.2", "take_profit_price": "6500", "stop_price": "5800"}
BRACKET = {"type": "bracket", "market": BTC, "quantity": "0.1", "entry_price": "6000", "take_profit_price": "6500",
           "stop_price": "5800", "stop_limit_price": "5790"}  # fmt: skip


def test_an_oco_is_placed_read_and_canceled_with_its_orders_linked(people, exchange):
    alice, _, _ = people
    oco = placed(alice, "/v1/order-lists", OCO)
    assert (oco["type"], oco["status"], oco["quantity"], oco["stop_limit_price"]) == ("oco", "EXECUTING", "0.20000",
                                                                                      None)  # fmt: skip
    kinds = sorted((o["type"], o["side"], o["list_id"]) for o in oco["orders"])
    assert kinds == [("limit", "sell", oco["id"]), ("stop_loss", "sell", oco["id"])]
    assert exchange.balances("alice")["BTC"].locked == Decimal("0.2")  # one hold for both
    assert alice.get(f"/v1/order-lists/{oco['id']}").json() == oco
    canceled = alice.delete(f"/v1/order-lists/{oco['id']}")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "ALL_DONE"
    assert sorted(o["status"] for o in canceled.json()["orders"]) == ["CANCELED", "CANCELED"]
    assert exchange.balances("alice")["BTC"].locked == 0
    for order in oco["orders"]:  # and the history has them, linked
        assert alice.get("/v1/orders", params={"status": "CANCELED"}).json()["items"]
        assert alice.get(f"/v1/orders/{order['id']}").json()["list_id"] == oco["id"]


def test_a_bracket_protects_what_its_entry_bought_with_an_oco(people, exchange):
    alice, _, _ = people
    bracket = placed(alice, "/v1/order-lists", BRACKET)
    assert [(o["type"], o["side"], o["status"]) for o in bracket["orders"]] == [("limit", "buy", "NEW")]
    assert (bracket["entry_price"], bracket["stop_limit_price"]) == ("6000.00", "5790.00")
    exchange.place_order("bob", M, "sell", "limit", "6000", "0.1")  # fills the entry
    now = alice.get(f"/v1/order-lists/{bracket['id']}").json()
    assert sorted((o["type"], o["side"], o["status"]) for o in now["orders"]) == [
        ("limit", "buy", "FILLED"), ("limit", "sell", "NEW"), ("stop_loss_limit", "sell", "NEW"),
    ]  # fmt: skip
    assert all(o["list_id"] == bracket["id"] for o in now["orders"])


def test_another_accounts_order_list_is_not_found_and_stays_as_it_was(people, exchange):
    alice, bob, _ = people
    oco = placed(alice, "/v1/order-lists", OCO)
    before = exchange.state_hash()
    problem(bob.get(f"/v1/order-lists/{oco['id']}"), 404, "ORDER_NOT_FOUND")
    problem(bob.delete(f"/v1/order-lists/{oco['id']}"), 404, "ORDER_NOT_FOUND")
    problem(bob.delete(f"/v1/orders/{oco['orders'][0]['id']}"), 404, "ORDER_NOT_FOUND")
    problem(alice.get("/v1/order-lists/999"), 404, "ORDER_NOT_FOUND")
    assert exchange.state_hash() == before
    assert alice.get(f"/v1/order-lists/{oco['id']}").json()["status"] == "EXECUTING"


def test_order_lists_need_the_trade_scope(people):
    alice, _, _ = people
    answer = alice.signed("POST", "/v1/order-lists", OCO, "read")
    assert answer.status_code == 403, answer.text
    assert alice.signed("POST", "/v1/order-lists", OCO, "trade").status_code == 201


STOP = {"market": BTC, "side": "sell", "type": "stop_loss", "quantity": "0.1", "stop_price": "5900"}

BAD = [
    ("a float stop price", "/v1/orders", {**STOP, "stop_price": 5900.5}, 422, "VALIDATION_ERROR"),
    ("a stop-loss without a stop price", "/v1/orders", {k: v for k, v in STOP.items() if k != "stop_price"}, 422,
     "INVALID_ARGUMENT"),
    ("a sell stop-loss above the last price", "/v1/orders", {**STOP, "stop_price": "6100"}, 422, "INVALID_ARGUMENT"),
    ("a buy stop-loss below the last price", "/v1/orders", {**STOP, "side": "buy", "quantity": None,
     "quote_quantity": "100"}, 422, "INVALID_ARGUMENT"),
    ("a stop-loss selling more than held", "/v1/orders", {**STOP, "quantity": "5"}, 409, "INSUFFICIENT_FUNDS"),
    ("a trailing stop with a stop price", "/v1/orders", {**STOP, "type": "trailing_stop", "trailing_distance": "100"},
     422, "INVALID_ARGUMENT"),
    ("a negative trailing distance", "/v1/orders", {**STOP, "type": "trailing_stop", "stop_price": None,
     "trailing_distance": "-100"}, 422, "INVALID_NUMBER"),
    ("a float list quantity", "/v1/order-lists", {**OCO, "quantity": 0.2}, 422, "VALIDATION_ERROR"),
    ("an unknown list type", "/v1/order-lists", {**OCO, "type": "oto"}, 422, "VALIDATION_ERROR"),
    ("an oco with an entry price", "/v1/order-lists", {**OCO, "entry_price": "6000"}, 422, "INVALID_ARGUMENT"),
    ("a bracket without an entry price", "/v1/order-lists", {**BRACKET, "entry_price": None}, 422,
     "INVALID_ARGUMENT"),
    ("an oco with its stop above its take-profit", "/v1/order-lists", {**OCO, "stop_price": "6600"}, 422,
     "INVALID_ARGUMENT"),
    ("an oco selling more than held", "/v1/order-lists", {**OCO, "quantity": "3"}, 409, "INSUFFICIENT_FUNDS"),
    ("an unknown field", "/v1/order-lists", {**OCO, "leverage": "3"}, 422, "VALIDATION_ERROR"),
]  # fmt: skip


@pytest.mark.parametrize("path, body, status, code", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_conditional_input_is_a_problem_and_changes_no_balance_or_order(people, exchange, path, body, status, code):
    alice, _, _ = people
    body = {key: value for key, value in body.items() if value is not None}
    balances = exchange.balances("alice")
    problem(alice.post(path, body), status, code)
    assert exchange.balances("alice") == balances
    assert exchange.conditional_orders("alice") == [] and exchange.open_orders("alice") == []

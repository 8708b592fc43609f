"""Orders and fills through the HTTP API: place, list, get, cancel, cancel all, reduce; fills."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from spotlab import Exchange
from spotlab.api.app import create_app
from spotlab.errors import SpotlabError
from spotlab.store.history import History
from tests.api.conftest import PASSWORD, Caller, problem

BTC = "BTC-USDT"


@pytest.fixture
def trader(user, exchange):
    """A registered user with 10,000 USDT and 1 BTC."""

    def make(name: str) -> Caller:
        caller = user(name)
        exchange.deposit(name, "USDT", "10000")
        exchange.deposit(name, "BTC", "1")
        return caller

    return make


def limit(side: str, price: str, quantity: str, market: str = BTC, **extra) -> dict:
    return {"market": market, "side": side, "type": "limit", "price": price, "quantity": quantity, **extra}


def place(caller: Caller, body: dict) -> dict:
    answer = caller.post("/v1/orders", body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def balance(exchange: Exchange, account: str, asset: str) -> tuple[Decimal, Decimal]:
    row = exchange.balances(account)[asset]
    return row.available, row.locked


def book(api) -> dict:
    answer = api.get("/v1/markets/BTC-USDT/book")
    return {"bids": answer.json()["bids"], "asks": answer.json()["asks"]}


# -- placing --------------------------------------------------------------------------------------


def test_a_limit_order_that_does_not_cross_rests_and_answers_201(api, trader, exchange):
    alice = trader("alice")
    answer = alice.post("/v1/orders", limit("buy", "64000", "0.1", client_order_id="alice-1"))
    assert answer.status_code == 201
    assert answer.json() == {
        "id": answer.json()["id"],
        "client_order_id": "alice-1",
        "market": "BTC-USDT",
        "side": "buy",
        "type": "limit",
        "time_in_force": "GTC",
        "self_trade_prevention": "EXPIRE_MAKER",
        "status": "NEW",
        "price": "64000.00",
        "quantity": "0.10000",
        "quote_quantity": None,
        "filled_quantity": "0.00000",
        "remaining_quantity": "0.10000",
        "filled_notional": "0.00000000",
        "average_price": None,
        "fees": "0.00000000",
        "fee_asset": "USDT",
        "reason": None,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "fills": [],
        "arrival_price": None,
        "slippage": None,
        "slippage_bps": None,
        "stop_price": None,
        "parent_id": None,
        "list_id": None,
        "trailing_distance": None,
        "trailing_percent": None,
        "activation_price": None,
    }
    assert book(api) == {"bids": [["64000.00", "0.10000"]], "asks": []}
    assert balance(exchange, "alice", "USDT") == (Decimal("3593.6"), Decimal("6406.4"))  # 6400 + the 0.1 % fee


def test_the_same_client_order_id_again_returns_the_original_order_with_200(api, trader, exchange):
    alice = trader("alice")
    body = limit("buy", "6000", "0.5", client_order_id="alice-1")
    first = alice.post("/v1/orders", body)
    balances = exchange.balances("alice")
    again = alice.post("/v1/orders", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "NEW" and again.json()["remaining_quantity"] == "0.50000"
    assert exchange.balances("alice") == balances
    assert book(api)["bids"] == [["6000.00", "0.50000"]]


def test_the_same_client_order_id_with_other_parameters_is_409_and_places_nothing(api, trader):
    alice = trader("alice")
    first = place(alice, limit("buy", "6000", "0.5", client_order_id="alice-1"))
    refused = problem(
        alice.post("/v1/orders", limit("buy", "6001", "0.5", client_order_id="alice-1")),
        409,
        "DUPLICATE_CLIENT_ORDER_ID",
    )
    assert refused["details"]["order_id"] == first["id"]
    assert book(api)["bids"] == [["6000.00", "0.50000"]]


def test_two_traders_trading_get_fills_fees_average_price_and_slippage(api, trader, exchange):
    alice, bob = trader("alice"), trader("bob")
    first = place(alice, limit("sell", "65000", "0.1"))
    second = place(alice, limit("sell", "65001", "0.1"))

    taken = place(bob, limit("buy", "65001", "0.15", client_order_id="bob-1"))

    # 0.1 at 65000 (the best ask when bob arrived) and 0.05 at 65001, both at the 0.1 % taker fee
    assert taken["status"] == "FILLED"
    assert [(f["price"], f["quantity"], f["notional"], f["fee"], f["role"]) for f in taken["fills"]] == [
        ("65000.00", "0.10000", "6500.00000000", "6.50000000", "taker"),
        ("65001.00", "0.05000", "3250.05000000", "3.25005000", "taker"),
    ]
    assert taken["filled_quantity"] == "0.15000" and taken["remaining_quantity"] == "0"
    assert taken["filled_notional"] == "9750.05000000"  # 6500 + 3250.05
    assert taken["fees"] == "9.75005000"
    assert taken["average_price"] == "65000.3333333333"  # 9750.05 / 0.15, half-even to 10 decimals
    assert taken["arrival_price"] == "65000.00"
    assert taken["slippage"] == "0.3333333333"  # paid above the best ask on arrival
    assert taken["slippage_bps"] == "0.05"  # 0.3333 / 65000 x 10,000
    assert [f["trade_id"] for f in taken["fills"]] == [1, 2]

    maker = alice.get(f"/v1/orders/{second['id']}").json()
    assert (maker["status"], maker["filled_quantity"], maker["remaining_quantity"]) == (
        "PARTIALLY_FILLED",
        "0.05000",
        "0.05000",
    )
    assert (maker["fees"], maker["average_price"]) == ("3.25005000", "65001.00")
    assert alice.get(f"/v1/orders/{first['id']}").json()["status"] == "FILLED"

    # bob paid notional + fee; alice received notional - maker fees; the exchange kept both fees
    assert balance(exchange, "bob", "USDT") == (Decimal("240.19995"), 0)
    assert balance(exchange, "bob", "BTC") == (Decimal("1.15"), 0)
    assert balance(exchange, "alice", "USDT") == (Decimal("19740.29995"), 0)
    assert balance(exchange, "alice", "BTC") == (Decimal("0.8"), Decimal("0.05"))
    assert exchange.fee_balances()["USDT"].available == Decimal("9.75005") + Decimal("9.75005")
    assert book(api) == {"bids": [], "asks": [["65001.00", "0.05000"]]}


def test_a_market_buy_by_quote_quantity_spends_at_most_that_fees_included(trader, exchange):
    alice, bob = trader("alice"), trader("bob")
    place(alice, limit("sell", "65000", "0.5"))

    bought = place(bob, {"market": BTC, "side": "buy", "type": "market", "quote_quantity": "100"})

    # a lot (0.00001 BTC) costs 0.65 USDT + 0.1 % fee: 153 lots fit into 100 USDT, 154 do not
    assert (bought["type"], bought["time_in_force"], bought["price"]) == ("market", "IOC", None)
    assert (bought["quantity"], bought["quote_quantity"]) == (None, "100.00000000")
    assert bought["filled_quantity"] == "0.00153"
    assert bought["filled_notional"] == "99.45000000"
    assert bought["fees"] == "0.09945000"
    assert bought["slippage"] == "0.00" and bought["slippage_bps"] == "0.00"
    assert balance(exchange, "bob", "USDT") == (Decimal("10000") - Decimal("99.54945"), 0)


@pytest.mark.parametrize("name", ["insufficient funds", "post-only would trade", "halted market"])
def test_a_rejected_order_is_a_409_problem_and_moves_no_money(api, trader, exchange, name):
    alice, bob = trader("alice"), trader("bob")
    place(alice, limit("sell", "65000", "0.1"))
    bodies = {
        "insufficient funds": (limit("buy", "64000", "1"), "INSUFFICIENT_FUNDS"),
        "post-only would trade": ({**limit("buy", "65000", "0.1"), "type": "limit_maker"}, "POST_ONLY_WOULD_TRADE"),
        "halted market": (limit("buy", "60000", "0.1"), "MARKET_HALTED"),
    }
    body, code = bodies[name]
    if name == "halted market":
        exchange.halt_market("BTC/USDT")
    before = exchange.balances("bob"), book(api)
    problem(bob.post("/v1/orders", body), 409, code)
    assert (exchange.balances("bob"), book(api)) == before


# -- reading one order ----------------------------------------------------------------------------


def test_an_order_is_read_by_its_owner_and_not_found_for_anyone_else(trader, user):
    alice, bob = trader("alice"), user("bob")
    placed = place(alice, limit("buy", "6000", "0.5"))

    assert alice.get(f"/v1/orders/{placed['id']}").json() == placed
    hidden = problem(bob.get(f"/v1/orders/{placed['id']}"), 404, "ORDER_NOT_FOUND")
    missing = problem(bob.get("/v1/orders/999"), 404, "ORDER_NOT_FOUND")
    assert "alice" not in str(hidden) and hidden["detail"].replace(str(placed["id"]), "999") == missing["detail"]


def test_a_closed_order_the_exchange_forgot_is_read_from_the_history(clock, settings):
    exchange = Exchange.open(clock=clock, closed_orders_kept=1)
    history = History.open(None)
    history.attach(exchange)
    app = create_app(settings, exchange=exchange, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.ctx.history = history
        client.post("/v1/accounts", json={"username": "alice", "password": PASSWORD})
        token = client.post("/v1/auth/token", json={"username": "alice", "password": PASSWORD}).json()
        alice = Caller(client, clock, "alice", token["access_token"])
        exchange.deposit("alice", "USDT", "10000")
        ids = [place(alice, limit("buy", "6000", "0.01"))["id"] for _ in range(3)]
        for order_id in ids:
            assert alice.delete(f"/v1/orders/{order_id}").status_code == 200
        with pytest.raises(SpotlabError, match="ORDER_NOT_FOUND"):
            exchange.order("alice", ids[0])  # trimmed from the engine's memory

        old = alice.get(f"/v1/orders/{ids[0]}")
        assert old.status_code == 200, old.text
        assert (old.json()["id"], old.json()["status"], old.json()["price"]) == (ids[0], "CANCELED", "6000.00")
    history.close()
    exchange.close()


# -- cancelling and reducing ----------------------------------------------------------------------


def test_cancelling_returns_the_canceled_order_and_releases_its_hold(api, trader, exchange):
    alice = trader("alice")
    placed = place(alice, limit("buy", "6000", "0.5"))
    assert balance(exchange, "alice", "USDT")[1] == Decimal("3003")  # 3000 + the worst-case fee

    canceled = alice.delete(f"/v1/orders/{placed['id']}")

    assert canceled.status_code == 200
    assert (canceled.json()["id"], canceled.json()["status"], canceled.json()["remaining_quantity"]) == (
        placed["id"],
        "CANCELED",
        "0",
    )
    assert balance(exchange, "alice", "USDT") == (Decimal("10000"), 0)
    assert book(api)["bids"] == []
    problem(alice.delete(f"/v1/orders/{placed['id']}"), 409, "ORDER_NOT_OPEN")


def test_nobody_else_can_cancel_or_reduce_an_order(api, trader, user, exchange):
    alice, bob = trader("alice"), user("bob")
    placed = place(alice, limit("buy", "6000", "0.5"))
    state = exchange.state_hash()

    problem(bob.delete(f"/v1/orders/{placed['id']}"), 404, "ORDER_NOT_FOUND")
    problem(bob.patch(f"/v1/orders/{placed['id']}", {"quantity": "0.1"}), 404, "ORDER_NOT_FOUND")
    assert bob.delete("/v1/orders", params={"market": BTC}).json() == []

    assert exchange.state_hash() == state
    assert alice.get(f"/v1/orders/{placed['id']}").json()["status"] == "NEW"


def test_cancel_all_cancels_the_callers_open_orders_in_that_market_only(api, trader):
    alice, bob = trader("alice"), trader("bob")
    mine = [place(alice, limit("buy", price, "0.01"))["id"] for price in ("6000", "6001")]
    other_market = place(alice, limit("buy", "2000", "0.01", market="ETH-USDT"))
    theirs = place(bob, limit("buy", "6002", "0.01"))

    canceled = alice.delete("/v1/orders", params={"market": BTC})

    assert canceled.status_code == 200
    assert sorted(o["id"] for o in canceled.json()) == mine
    assert {o["status"] for o in canceled.json()} == {"CANCELED"}
    assert book(api)["bids"] == [["6002.00", "0.01000"]]
    assert alice.get(f"/v1/orders/{other_market['id']}").json()["status"] == "NEW"
    assert bob.get(f"/v1/orders/{theirs['id']}").json()["status"] == "NEW"
    assert alice.delete("/v1/orders", params={"market": BTC}).json() == []
    problem(alice.delete("/v1/orders"), 422, "VALIDATION_ERROR")
    problem(alice.delete("/v1/orders", params={"market": "DOGE-USDT"}), 404, "UNKNOWN_MARKET")


def test_reducing_an_order_keeps_its_place_in_the_queue(api, trader):
    alice, carol, seller = trader("alice"), trader("carol"), trader("seller")
    first = place(alice, limit("buy", "64000", "0.1"))
    second = place(carol, limit("buy", "64000", "0.1"))

    reduced = alice.patch(f"/v1/orders/{first['id']}", {"quantity": "0.04"})

    assert reduced.status_code == 200
    assert (reduced.json()["quantity"], reduced.json()["remaining_quantity"]) == ("0.04000", "0.04000")
    assert book(api)["bids"] == [["64000.00", "0.14000"]]
    place(seller, limit("sell", "64000", "0.04"))  # takes the head of the queue: still alice's order
    assert alice.get(f"/v1/orders/{first['id']}").json()["status"] == "FILLED"
    assert carol.get(f"/v1/orders/{second['id']}").json()["remaining_quantity"] == "0.10000"


def test_an_order_cannot_be_reduced_to_more_or_once_closed(trader):
    alice = trader("alice")
    placed = place(alice, limit("buy", "6000", "0.1"))
    problem(alice.patch(f"/v1/orders/{placed['id']}", {"quantity": "0.2"}), 422, "INVALID_ARGUMENT")
    alice.delete(f"/v1/orders/{placed['id']}")
    problem(alice.patch(f"/v1/orders/{placed['id']}", {"quantity": "0.05"}), 409, "ORDER_NOT_OPEN")
    problem(alice.patch("/v1/orders/999", {"quantity": "0.05"}), 404, "ORDER_NOT_FOUND")


# -- lists ----------------------------------------------------------------------------------------


def test_orders_are_listed_newest_first_with_filters_and_pages(api, trader, history):
    alice, bob = trader("alice"), trader("bob")
    open_btc = place(alice, limit("buy", "6000", "0.01"))["id"]
    canceled = place(alice, limit("buy", "6001", "0.01"))["id"]
    alice.delete(f"/v1/orders/{canceled}")
    open_eth = place(alice, limit("buy", "2000", "0.01", market="ETH-USDT"))["id"]
    place(bob, limit("sell", "65000", "0.01"))
    filled = place(alice, limit("buy", "65000", "0.01"))["id"]

    def ids(**params) -> list[int]:
        answer = alice.get("/v1/orders", params=params)
        assert answer.status_code == 200, answer.text
        return [o["id"] for o in answer.json()["items"]]

    assert ids() == [filled, open_eth, canceled, open_btc]
    assert ids(market=BTC) == [filled, canceled, open_btc]
    assert ids(status="CANCELED") == [canceled]
    assert ids(status="filled") == [filled]
    assert ids(open="true") == [open_eth, open_btc]
    assert ids(open="true", market="ETH-USDT") == [open_eth]
    assert ids(open="true", status="FILLED") == []


@pytest.mark.parametrize("open_only", [False, True])
def test_pages_of_orders_visit_each_order_once(trader, history, open_only):
    alice = trader("alice")
    placed = [place(alice, limit("buy", str(6000 + i), "0.01"))["id"] for i in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, "open": str(open_only).lower(), **({"cursor": cursor} if cursor else {})}
        page = alice.get("/v1/orders", params=params).json()
        seen += [o["id"] for o in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == placed[::-1] and pages == 3


def test_an_order_is_found_by_its_client_order_id(trader, user):
    alice, bob = trader("alice"), user("bob")
    placed = place(alice, limit("buy", "6000", "0.01", client_order_id="grid_7-a"))
    found = alice.get("/v1/orders", params={"client_order_id": "grid_7-a"}).json()
    assert [o["id"] for o in found["items"]] == [placed["id"]] and found["next_cursor"] is None
    assert bob.get("/v1/orders", params={"client_order_id": "grid_7-a"}).json()["items"] == []
    assert alice.get("/v1/orders", params={"client_order_id": "grid_7-a", "status": "FILLED"}).json()["items"] == []


def test_a_list_of_orders_for_an_unknown_market_is_404(trader, history):
    alice = trader("alice")
    problem(alice.get("/v1/orders", params={"market": "DOGE-USDT"}), 404, "UNKNOWN_MARKET")
    problem(alice.get("/v1/fills", params={"market": "DOGE-USDT"}), 404, "UNKNOWN_MARKET")


def test_fills_list_the_callers_own_trades_newest_first(trader, history):
    alice, bob = trader("alice"), trader("bob")
    sells = [place(alice, limit("sell", price, "0.1"))["id"] for price in ("65000", "65001")]
    buy = place(bob, limit("buy", "65001", "0.15"))["id"]

    bobs = bob.get("/v1/fills").json()
    assert [(f["order_id"], f["trade_id"], f["side"], f["role"], f["price"], f["quantity"]) for f in bobs["items"]] == [
        (buy, 2, "buy", "taker", "65001.00", "0.05000"),
        (buy, 1, "buy", "taker", "65000.00", "0.10000"),
    ]
    assert [(f["notional"], f["fee"], f["fee_asset"], f["market"]) for f in bobs["items"]] == [
        ("3250.05000000", "3.25005000", "USDT", BTC),
        ("6500.00000000", "6.50000000", "USDT", BTC),
    ]
    alices = alice.get("/v1/fills", params={"limit": 1}).json()
    assert [(f["order_id"], f["role"]) for f in alices["items"]] == [(sells[1], "maker")]
    rest = alice.get("/v1/fills", params={"limit": 1, "cursor": alices["next_cursor"]}).json()
    assert [(f["order_id"], f["role"]) for f in rest["items"]] == [(sells[0], "maker")]
    assert rest["next_cursor"] is None
    assert alice.get("/v1/fills", params={"market": "ETH-USDT"}).json() == {"items": [], "next_cursor": None}


# -- scopes and isolation -------------------------------------------------------------------------


def test_a_read_key_reads_but_cannot_place_cancel_or_reduce(api, trader, exchange):
    alice = trader("alice")
    placed = place(alice, limit("buy", "6000", "0.5"))
    state, balances, before = exchange.state_hash(), exchange.balances("alice"), book(api)

    for method, path, body in [
        ("POST", "/v1/orders", limit("buy", "6000", "0.1")),
        ("DELETE", f"/v1/orders/{placed['id']}", None),
        ("PATCH", f"/v1/orders/{placed['id']}", {"quantity": "0.1"}),
        ("DELETE", "/v1/orders?market=BTC-USDT", None),
    ]:
        problem(alice.signed(method, path, body, "read"), 403, "SCOPE_REQUIRED")

    assert (exchange.state_hash(), exchange.balances("alice"), book(api)) == (state, balances, before)
    assert alice.signed("GET", f"/v1/orders/{placed['id']}", None, "read").json()["status"] == "NEW"


def test_a_signed_trade_key_places_and_cancels(api, trader):
    alice = trader("alice")
    placed = alice.signed("POST", "/v1/orders", limit("buy", "6000", "0.5"), "trade")
    assert placed.status_code == 201, placed.text
    canceled = alice.signed("DELETE", f"/v1/orders/{placed.json()['id']}", None, "trade")
    assert canceled.json()["status"] == "CANCELED"


def test_signed_keys_of_another_account_see_nothing(api, trader, exchange, history):
    alice, bob = trader("alice"), trader("bob")
    placed = place(alice, limit("buy", "6000", "0.5"))
    state = exchange.state_hash()

    problem(bob.signed("GET", f"/v1/orders/{placed['id']}"), 404, "ORDER_NOT_FOUND")
    problem(bob.signed("DELETE", f"/v1/orders/{placed['id']}"), 404, "ORDER_NOT_FOUND")
    problem(bob.signed("PATCH", f"/v1/orders/{placed['id']}", {"quantity": "0.1"}), 404, "ORDER_NOT_FOUND")
    assert bob.signed("GET", "/v1/orders").json()["items"] == []
    assert bob.signed("GET", "/v1/orders?open=true").json()["items"] == []
    assert exchange.state_hash() == state


def test_order_endpoints_need_authentication(api):
    problem(api.post("/v1/orders", json=limit("buy", "6000", "0.5")), 401, "UNAUTHENTICATED")
    problem(api.get("/v1/orders"), 401, "UNAUTHENTICATED")
    problem(api.get("/v1/fills"), 401, "UNAUTHENTICATED")


# -- documentation --------------------------------------------------------------------------------


def test_every_order_endpoint_documents_an_example_request_and_response(api):
    spec = api.get("/v1/openapi.json").json()
    components = spec["components"]["schemas"]

    def resolved(schema: dict) -> dict:
        if "$ref" in schema:
            return components[schema["$ref"].rsplit("/", 1)[1]]
        if schema.get("type") == "array":
            return resolved(schema["items"])
        return schema

    operations = [
        ("post", "/v1/orders", "201"),
        ("get", "/v1/orders", "200"),
        ("delete", "/v1/orders", "200"),
        ("get", "/v1/orders/{order_id}", "200"),
        ("delete", "/v1/orders/{order_id}", "200"),
        ("patch", "/v1/orders/{order_id}", "200"),
        ("get", "/v1/fills", "200"),
    ]
    for method, path, status in operations:
        operation = spec["paths"][path][method]
        answer = resolved(operation["responses"][status]["content"]["application/json"]["schema"])
        assert answer.get("examples"), (method, path)
        if "requestBody" in operation:
            request = resolved(operation["requestBody"]["content"]["application/json"]["schema"])
            assert request.get("examples"), (method, path)
    assert "200" in spec["paths"]["/v1/orders"]["post"]["responses"]  # the idempotent repeat

"""No input to the order endpoints, however malformed, gives a 500 or changes the exchange's state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from spotlab import Exchange, SimulatedClock
from spotlab.api.app import create_app
from spotlab.settings import Settings
from spotlab.store.history import History
from tests.api.conftest import PASSWORD, SECRET, Caller, problem

BTC = "BTC-USDT"
GOOD = {"market": BTC, "side": "buy", "type": "limit", "price": "6000", "quantity": "0.01"}


@pytest.fixture(scope="module")
def alice() -> Iterator[Caller]:
    """alice, funded, with one resting order (id 1), on one app shared by this module's tests.

    None of these requests may change anything, so they can share an exchange (and the
    argon2 login and app start-up are paid once); rate limits are set out of the way.
    """
    clock = SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC))
    settings = Settings(secret_key=SECRET, rate_limit_per_minute=10**9, rate_limit_ip_per_minute=10**9)
    exchange = Exchange.open(clock=clock)
    with TestClient(create_app(settings, exchange=exchange, clock=clock), raise_server_exceptions=False) as client:
        ctx, history = client.app.state.ctx, None
        if ctx.history is None:
            history = ctx.history = History.open(None)
            history.attach(exchange)
        assert client.post("/v1/accounts", json={"username": "alice", "password": PASSWORD}).status_code == 201
        token = client.post("/v1/auth/token", json={"username": "alice", "password": PASSWORD}).json()
        caller = Caller(client, clock, "alice", token["access_token"])
        exchange.deposit("alice", "USDT", "10000")
        exchange.deposit("alice", "BTC", "1")
        assert caller.post("/v1/orders", {**GOOD, "client_order_id": "first"}).json()["id"] == 1
        yield caller
        if history is not None:
            history.close()
    exchange.check_invariants()
    exchange.close()


@pytest.fixture
def unchanged(alice):
    """Asserts, at the end of the test, that the exchange's state hash did not move."""
    exchange = alice.client.app.state.ctx.exchange
    state = exchange.state_hash()
    yield
    assert exchange.state_hash() == state


def with_(**changes) -> dict:
    body = {**GOOD, **changes}
    return {key: value for key, value in body.items() if value is not DROP}


DROP = object()

BAD_BODIES = [
    # money must be a decimal string (or a JSON integer), finite, positive, and in range
    ("float price", with_(price=0.1), 422, "VALIDATION_ERROR"),
    ("float quantity", with_(quantity=0.01), 422, "VALIDATION_ERROR"),
    ("price 1e30 as a string", with_(price="1e30"), 422, "INVALID_NUMBER"),
    ("price 1e31 as a string", with_(price="1e31"), 422, "VALIDATION_ERROR"),
    ("price as a huge JSON integer", with_(price=10**40), 422, "INVALID_NUMBER"),
    ("quantity as a huge JSON integer", with_(quantity=10**18), 422, "INVALID_NUMBER"),
    ("price NaN as a string", with_(price="NaN"), 422, "VALIDATION_ERROR"),
    ("price Infinity as a string", with_(price="Infinity"), 422, "VALIDATION_ERROR"),
    ("negative price", with_(price="-6000"), 422, "INVALID_NUMBER"),
    ("zero quantity", with_(quantity="0"), 422, "INVALID_NUMBER"),
    ("price with words", with_(price="6000 USDT"), 422, "VALIDATION_ERROR"),
    ("price as a boolean", with_(price=True), 422, "VALIDATION_ERROR"),
    ("price as a list", with_(price=["6000"]), 422, "VALIDATION_ERROR"),
    ("price as an object", with_(price={"value": "6000"}), 422, "VALIDATION_ERROR"),
    ("price off the tick", with_(price="6000.001"), 422, "PRICE_NOT_ON_TICK"),
    ("quantity off the lot", with_(quantity="0.000001"), 422, "QUANTITY_NOT_ON_LOT"),
    ("below the minimum notional", with_(price="100", quantity="0.01"), 422, "BELOW_MIN_NOTIONAL"),
    # fields: unknown, missing, of the wrong type or value
    ("unknown field", with_(leverage="10"), 422, "VALIDATION_ERROR"),
    ("missing side", with_(side=DROP), 422, "VALIDATION_ERROR"),
    ("unknown side", with_(side="hold"), 422, "VALIDATION_ERROR"),
    ("side as a number", with_(side=1), 422, "VALIDATION_ERROR"),
    ("unknown type", with_(type="iceberg"), 422, "VALIDATION_ERROR"),
    ("a stop-loss without a stop price", with_(type="stop_loss", side="sell", price=DROP), 422, "INVALID_ARGUMENT"),
    ("a float stop price", with_(type="stop_loss", side="sell", price=DROP, stop_price=5900.0), 422,
     "VALIDATION_ERROR"),
    ("a stop price on a limit order", with_(stop_price="5900"), 422, "INVALID_ARGUMENT"),
    ("a stop price off the tick", with_(type="stop_loss", side="sell", price=DROP, stop_price="5900.001"), 422,
     "PRICE_NOT_ON_TICK"),
    ("a trailing stop with both distances", with_(type="trailing_stop", side="sell", price=DROP,
     trailing_distance="100", trailing_percent="1"), 422, "INVALID_ARGUMENT"),
    ("a trailing percent as a float", with_(type="trailing_stop", side="sell", price=DROP, trailing_percent=1.5),
     422, "VALIDATION_ERROR"),
    ("unknown time in force", with_(time_in_force="GTD"), 422, "VALIDATION_ERROR"),
    ("unknown self-trade prevention", with_(self_trade_prevention="ALLOW"), 422, "VALIDATION_ERROR"),
    ("market written badly", with_(market="btc_usdt"), 422, "VALIDATION_ERROR"),
    ("market as a number", with_(market=42), 422, "VALIDATION_ERROR"),
    ("unknown market", with_(market="DOGE-USDT"), 404, "UNKNOWN_MARKET"),
    ("client order id too long", with_(client_order_id="x" * 37), 422, "VALIDATION_ERROR"),
    ("client order id with a space", with_(client_order_id="my order"), 422, "VALIDATION_ERROR"),
    ("empty client order id", with_(client_order_id=""), 422, "VALIDATION_ERROR"),
    ("a 10 kB string", with_(client_order_id="x" * 10_000), 422, "VALIDATION_ERROR"),
    ("reused client order id", with_(client_order_id="first", price="6001"), 409, "DUPLICATE_CLIENT_ORDER_ID"),
    # combinations the order type does not take
    ("limit without a price", with_(price=DROP), 422, "INVALID_ARGUMENT"),
    ("limit by quote quantity", with_(quote_quantity="100"), 422, "INVALID_ARGUMENT"),
    ("market order with a price", with_(type="market"), 422, "INVALID_ARGUMENT"),
    ("market by both quantities", with_(type="market", price=DROP, quote_quantity="100"), 422, "INVALID_ARGUMENT"),
    ("market order GTC", with_(type="market", price=DROP, time_in_force="GTC"), 422, "INVALID_ARGUMENT"),
    ("post-only IOC", with_(type="limit_maker", time_in_force="IOC"), 422, "INVALID_ARGUMENT"),
    # not an object at all
    ("a JSON list", [GOOD], 422, "VALIDATION_ERROR"),
    ("a JSON string", "buy 1 BTC", 422, "VALIDATION_ERROR"),
    ("JSON null", None, 422, "VALIDATION_ERROR"),
    ("an empty object", {}, 422, "VALIDATION_ERROR"),
]  # fmt: skip


@pytest.mark.parametrize("body, status, code", [case[1:] for case in BAD_BODIES], ids=[case[0] for case in BAD_BODIES])
def test_a_bad_order_is_a_4xx_problem_and_changes_nothing(alice, unchanged, body, status, code):
    raw = json.dumps(body).encode()
    answer = alice.client.post("/v1/orders", content=raw, headers={**alice.headers, "Content-Type": "application/json"})
    problem(answer, status, code)


def test_a_float_is_refused_with_a_message_saying_to_send_a_string(alice, unchanged):
    body = problem(alice.post("/v1/orders", with_(price=0.1)), 422, "VALIDATION_ERROR")
    assert body["errors"][0]["field"] == "body.price"
    assert "as strings" in body["errors"][0]["message"]


BAD_RAW_BODIES = [
    ("broken JSON", b'{"market": "BTC-USDT", "side": ', 400, "MALFORMED_REQUEST"),
    ("trailing garbage", json.dumps(GOOD).encode() + b"}", 400, "MALFORMED_REQUEST"),
    ("empty body", b"", 422, "VALIDATION_ERROR"),
    ("not UTF-8", b'{"market": "\xff\xfe"}', 400, "MALFORMED_REQUEST"),
    ("a JSON number of 5,000 digits", b'{"price": 1' + b"0" * 5000 + b"}", 400, "MALFORMED_REQUEST"),
    ("JSON NaN literal", json.dumps(GOOD).replace('"6000"', "NaN").encode(), 422, "VALIDATION_ERROR"),
    ("JSON 1e400 literal", json.dumps(GOOD).replace('"6000"', "1e400").encode(), 422, "VALIDATION_ERROR"),
    ("nested 10,000 deep", b"[" * 10_000 + b"]" * 10_000, 400, "MALFORMED_REQUEST"),
]


@pytest.mark.parametrize(
    "raw, status, code", [case[1:] for case in BAD_RAW_BODIES], ids=[case[0] for case in BAD_RAW_BODIES]
)
def test_a_body_that_is_not_usable_json_is_a_4xx_problem_and_changes_nothing(alice, unchanged, raw, status, code):
    answer = alice.client.post("/v1/orders", content=raw, headers={**alice.headers, "Content-Type": "application/json"})
    problem(answer, status, code)


def test_a_body_sent_as_a_form_is_refused(alice, unchanged):
    answer = alice.client.post("/v1/orders", data=GOOD, headers=alice.headers)
    problem(answer, 422, "VALIDATION_ERROR")


BAD_REDUCTIONS = [
    ("float", {"quantity": 0.005}, 422, "VALIDATION_ERROR"),
    ("NaN", {"quantity": "NaN"}, 422, "VALIDATION_ERROR"),
    ("negative", {"quantity": "-0.005"}, 422, "INVALID_NUMBER"),
    ("zero", {"quantity": "0"}, 422, "INVALID_NUMBER"),
    ("off the lot", {"quantity": "0.000001"}, 422, "QUANTITY_NOT_ON_LOT"),
    ("more than before", {"quantity": "0.02"}, 422, "INVALID_ARGUMENT"),
    ("unknown field", {"quantity": "0.005", "price": "5000"}, 422, "VALIDATION_ERROR"),
    ("missing quantity", {}, 422, "VALIDATION_ERROR"),
    ("not an object", ["0.005"], 422, "VALIDATION_ERROR"),
]


@pytest.mark.parametrize(
    "body, status, code", [case[1:] for case in BAD_REDUCTIONS], ids=[case[0] for case in BAD_REDUCTIONS]
)
def test_a_bad_reduction_is_a_4xx_problem_and_changes_nothing(alice, unchanged, body, status, code):
    problem(alice.patch("/v1/orders/1", body), status, code)


BAD_IDS = [
    ("abc", 422, "VALIDATION_ERROR"),
    ("1.5", 422, "VALIDATION_ERROR"),
    ("0", 422, "VALIDATION_ERROR"),
    ("-1", 422, "VALIDATION_ERROR"),
    ("1e3", 422, "VALIDATION_ERROR"),
    ("9223372036854775808", 422, "VALIDATION_ERROR"),
    ("9" * 400, 422, "VALIDATION_ERROR"),
    ("9223372036854775807", 404, "ORDER_NOT_FOUND"),
    ("%00", 422, "VALIDATION_ERROR"),
]


@pytest.mark.parametrize("order_id, status, code", BAD_IDS, ids=[case[0][:20] for case in BAD_IDS])
@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH"])
def test_an_order_id_that_is_not_a_positive_integer_is_a_4xx_problem(alice, unchanged, method, order_id, status, code):
    body = {"quantity": "0.005"} if method == "PATCH" else None
    answer = alice.client.request(method, f"/v1/orders/{order_id}", json=body, headers=alice.headers)
    problem(answer, status, code)


BAD_QUERIES = [
    ("/v1/orders?limit=0", 422, "VALIDATION_ERROR"),
    ("/v1/orders?limit=1001", 422, "VALIDATION_ERROR"),
    ("/v1/orders?limit=ten", 422, "VALIDATION_ERROR"),
    ("/v1/orders?status=DONE", 422, "VALIDATION_ERROR"),
    ("/v1/orders?open=maybe", 422, "VALIDATION_ERROR"),
    ("/v1/orders?cursor=not-a-cursor", 422, "VALIDATION_ERROR"),
    ("/v1/orders?cursor=" + "A" * 65, 422, "VALIDATION_ERROR"),
    ("/v1/orders?market=btc", 404, "UNKNOWN_MARKET"),
    ("/v1/orders?market=" + "X" * 26, 422, "VALIDATION_ERROR"),
    ("/v1/orders?client_order_id=a%20b", 422, "VALIDATION_ERROR"),
    ("/v1/fills?limit=-1", 422, "VALIDATION_ERROR"),
    ("/v1/fills?cursor=djE6LTE", 422, "VALIDATION_ERROR"),
    ("/v1/fills?market=DOGE-USDT", 404, "UNKNOWN_MARKET"),
]


@pytest.mark.parametrize("path, status, code", BAD_QUERIES, ids=[case[0][:40] for case in BAD_QUERIES])
def test_bad_list_parameters_are_4xx_problems(alice, unchanged, path, status, code):
    problem(alice.get(path), status, code)


@pytest.mark.parametrize(
    "query, status, code",
    [("", 422, "VALIDATION_ERROR"), ("?market=nope", 404, "UNKNOWN_MARKET"), ("?market=ETH-USDT&x=1", 200, None)],
)
def test_cancel_all_needs_a_known_market(alice, unchanged, query, status, code):
    answer = alice.delete(f"/v1/orders{query}")
    if code is None:
        assert answer.status_code == status and answer.json() == []
    else:
        problem(answer, status, code)

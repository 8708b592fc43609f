"""``HotTrader`` (one dependency on the hot order routes) answers and is documented exactly as ``Trader``.

``POST /v1/orders`` and ``DELETE /v1/orders/{order_id}`` use ``HotTrader``; ``POST /v1/deposits``
still uses the documented ``Trader`` chain. The same credentials must get the same answers
from both, and the OpenAPI document must not tell them apart.
"""

from __future__ import annotations

import pytest

from spotlab.accounts.signing import sign

ORDER = {"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "0.1"}
DEPOSIT = {"asset": "USDT", "amount": "1000"}


def test_the_hot_routes_document_the_same_security_as_trader_routes(api):
    document = api.get("/v1/openapi.json").json()
    paths = document["paths"]
    trader = paths["/v1/deposits"]["post"]["security"]
    assert trader  # the documented chain yields requirements to compare with
    assert paths["/v1/orders"]["post"]["security"] == trader
    assert paths["/v1/orders/{order_id}"]["delete"]["security"] == trader
    schemes = document["components"]["securitySchemes"]
    assert {name for requirement in trader for name in requirement} <= set(schemes)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Bearer not-a-token", "bearer {token}", "BEARER {token}"],
)
def test_bearer_headers_get_the_same_answer_as_from_the_trader_chain(api, user, authorization):
    alice = user("alice")
    headers = {} if authorization is None else {"Authorization": authorization.format(token=alice.token)}
    chain = api.post("/v1/deposits", json=DEPOSIT, headers=headers)  # first: it funds the order if accepted
    hot = api.post("/v1/orders", json=ORDER, headers=headers)
    if chain.status_code < 300:
        assert hot.status_code == 201, hot.text  # accepted by both (the deposit funded the order)
    else:
        assert (hot.status_code, hot.json()["code"], hot.json()["detail"]) == (
            chain.status_code,
            chain.json()["code"],
            chain.json()["detail"],
        )


def _signed_headers(key_id: str, secret: str, timestamp: str, method: str, path: str, raw: bytes) -> dict:
    return {
        "SPOTLAB-KEY": key_id,
        "SPOTLAB-TIMESTAMP": timestamp,
        "SPOTLAB-SIGNATURE": sign(secret, timestamp, method, path, raw),
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize("scopes", [("read", "trade"), ("read",)])
def test_signed_requests_get_the_same_answer_as_from_the_trader_chain(api, user, clock, scopes):
    import json

    alice = user("alice")
    alice.post("/v1/deposits", DEPOSIT)
    key_id, secret = alice.key(*scopes)
    timestamp = str(clock.now_ns() // 1_000_000)
    answers = []
    for path, body in (("/v1/orders", ORDER), ("/v1/deposits", DEPOSIT)):
        raw = json.dumps(body).encode()
        answers.append(
            api.post(path, content=raw, headers=_signed_headers(key_id, secret, timestamp, "POST", path, raw))
        )
    hot, chain = answers
    if "trade" in scopes:
        assert hot.status_code == 201 and chain.status_code in (200, 201), (hot.text, chain.text)
    else:
        assert (
            (hot.status_code, hot.json()["code"])
            == (chain.status_code, chain.json()["code"])
            == (
                403,
                "SCOPE_REQUIRED",
            )
        )


def test_a_missing_signature_header_is_refused_alike(api, user, clock):
    alice = user("alice")
    key_id, _ = alice.key("read", "trade")
    headers = {"SPOTLAB-KEY": key_id, "SPOTLAB-TIMESTAMP": str(clock.now_ns() // 1_000_000), "SPOTLAB-SIGNATURE": ""}
    hot = api.post("/v1/orders", json=ORDER, headers=headers)
    chain = api.post("/v1/deposits", json=DEPOSIT, headers=headers)
    assert (hot.status_code, hot.json()["code"], hot.json()["detail"]) == (
        chain.status_code,
        chain.json()["code"],
        chain.json()["detail"],
    )
    assert hot.json()["code"] == "INVALID_SIGNATURE"


def test_cancelling_with_a_read_only_key_is_refused_with_the_scope(api, user, clock):
    alice = user("alice")
    key_id, secret = alice.key("read")
    timestamp = str(clock.now_ns() // 1_000_000)
    path = "/v1/orders/1"
    answer = api.delete(path, headers=_signed_headers(key_id, secret, timestamp, "DELETE", path, b""))
    assert (answer.status_code, answer.json()["code"]) == (403, "SCOPE_REQUIRED")

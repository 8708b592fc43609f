"""Isolation (DESIGN.md invariant 8) through REST: one account never sees or changes another's
orders, fills, funds, keys or addresses; a key never does more than its scopes allow.

Alice owns an open order, a fill, a deposit, a withdrawal, a whitelisted address and an API key.
Bob (with a bearer token and with API keys of every scope) tries every route on them: each
answer is a 4xx problem or shows none of Alice's data, and the exchange state and Alice's
account tables are unchanged.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.conftest import problem


@pytest.fixture
def world(api, user, clock):
    alice, bob = user("alice"), user("bob")
    ex = api.app.state.ctx.exchange
    ex.deposit("alice", "USDT", "100000")
    ex.deposit("alice", "BTC", "2")
    ex.deposit("bob", "BTC", "1")
    resting = alice.post(
        "/v1/orders", {"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "60000", "quantity": "0.1"}
    ).json()
    # bob's sell crosses alice's bid: alice gets a fill
    bob.post("/v1/orders", {"market": "BTC-USDT", "side": "sell", "type": "market", "quantity": "0.05"})
    address = alice.post(
        "/v1/withdrawal-addresses", {"asset": "BTC", "address": "bc1qalicecoldwallet0001", "label": "cold"}
    ).json()
    clock.advance(timedelta(hours=2))
    alice.post("/v1/withdrawals", {"asset": "BTC", "amount": "0.1", "address": "bc1qalicecoldwallet0001"})
    key_id, _ = alice.key("read")
    return alice, bob, resting, address, key_id


def alice_view(api, alice):
    """Everything alice can see of herself (to compare before and after bob's attempts)."""
    paths = ["/v1/orders", "/v1/fills", "/v1/deposits", "/v1/withdrawals", "/v1/withdrawal-addresses",
             "/v1/balances", "/v1/api-keys"]  # fmt: skip
    return {path: alice.get(path).json() for path in paths}


def test_another_account_cannot_read_or_change_anything_of_alices(api, world):
    alice, bob, resting, address, key_id = world
    ex = api.app.state.ctx.exchange
    before_state, before_alice = ex.state_hash(), alice_view(api, alice)
    order = resting["id"]
    for send in (bob.get, lambda path: bob.signed("GET", path, None, "read")):
        problem(send(f"/v1/orders/{order}"), 404, "ORDER_NOT_FOUND")
    problem(bob.delete(f"/v1/orders/{order}"), 404, "ORDER_NOT_FOUND")
    problem(bob.signed("DELETE", f"/v1/orders/{order}", None, "trade"), 404, "ORDER_NOT_FOUND")
    problem(bob.patch(f"/v1/orders/{order}", {"quantity": "0.06"}), 404, "ORDER_NOT_FOUND")
    problem(bob.delete(f"/v1/withdrawal-addresses/{address['id']}"), 404, "NOT_FOUND")
    problem(bob.delete(f"/v1/api-keys/{key_id}"), 404, "API_KEY_NOT_FOUND")
    assert bob.delete("/v1/orders", params={"market": "BTC-USDT"}).json() == []  # cancels only bob's (none)
    # alice's address is not on bob's whitelist
    problem(
        bob.post("/v1/withdrawals", {"asset": "BTC", "amount": "0.1", "address": "bc1qalicecoldwallet0001"}),
        403,
        "ADDRESS_NOT_WHITELISTED",
    )
    seen_by_bob = {
        "orders": bob.get("/v1/orders").json()["items"],
        "open": bob.get("/v1/orders", params={"open": "true"}).json()["items"],
        "fills": bob.get("/v1/fills").json()["items"],
        "deposits": bob.get("/v1/deposits").json()["items"],
        "withdrawals": bob.get("/v1/withdrawals").json()["items"],
        "addresses": bob.get("/v1/withdrawal-addresses").json(),
        "keys": bob.get("/v1/api-keys").json(),
    }
    assert all(o["id"] != order for o in seen_by_bob["orders"] + seen_by_bob["open"])
    assert all(f["order_id"] != order for f in seen_by_bob["fills"])
    assert seen_by_bob["withdrawals"] == seen_by_bob["addresses"] == []
    assert key_id not in str(seen_by_bob["keys"])
    assert "alice" not in str(seen_by_bob)
    assert ex.state_hash() == before_state
    assert alice_view(api, alice) == before_alice


@pytest.mark.parametrize(
    "scopes, method, path, body",
    [
        (("read",), "POST", "/v1/orders",
         {"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "50000", "quantity": "0.01"}),
        (("read",), "DELETE", "/v1/orders?market=BTC-USDT", None),
        (("read",), "POST", "/v1/deposits", {"asset": "USDT", "amount": "100"}),
        (("read",), "POST", "/v1/withdrawals", {"asset": "USDT", "amount": "100", "address": "TXaddress00001"}),
        (("read", "trade"), "POST", "/v1/withdrawals",
         {"asset": "USDT", "amount": "100", "address": "TXaddress00001"}),
        (("trade",), "GET", "/v1/balances", None),
        (("withdraw",), "POST", "/v1/orders",
         {"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "50000", "quantity": "0.01"}),
    ],
)  # fmt: skip
def test_a_key_does_nothing_beyond_its_scopes(api, world, scopes, method, path, body):
    alice = world[0]
    ex = api.app.state.ctx.exchange
    before = ex.state_hash()
    answer = alice.signed(method, path, body, *scopes)
    assert problem(answer, 403, "SCOPE_REQUIRED")["details"]["scope"] in ("read", "trade", "withdraw")
    assert ex.state_hash() == before


def test_keys_cannot_reach_the_security_routes(world):
    alice = world[0]
    for method, path, body in [
        ("POST", "/v1/2fa", None),
        ("POST", "/v1/withdrawal-addresses", {"asset": "BTC", "address": "bc1qsomewhereelse0002"}),
        ("GET", "/v1/withdrawal-addresses", None),
        ("POST", "/v1/api-keys", {"label": "x", "scopes": ["withdraw"]}),
    ]:
        problem(alice.signed(method, path, body, "read", "trade", "withdraw"), 403, "FORBIDDEN")
    assert len(alice.get("/v1/withdrawal-addresses").json()) == 1

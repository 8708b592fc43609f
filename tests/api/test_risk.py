"""Risk endpoints: profile, position size, portfolio, day trades; guards refusing orders with RISK_LIMIT."""

from __future__ import annotations

import pytest

from tests.api.conftest import problem


def trade(api, alice, bob, price="50000", quantity="0.1", side="buy"):
    """``alice`` takes ``bob``'s resting order at ``price``."""
    other = "sell" if side == "buy" else "buy"
    rest = {"market": "BTC-USDT", "side": other, "type": "limit", "price": price, "quantity": quantity}
    assert bob.post("/v1/orders", rest).status_code == 201
    take = {"market": "BTC-USDT", "side": side, "type": "limit", "price": price, "quantity": quantity}
    answer = alice.post("/v1/orders", take)
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "FILLED"


def funded(api, user):
    alice, bob = user("alice"), user("bob")
    ex = api.app.state.ctx.exchange
    ex.deposit("alice", "USDT", "10000")
    ex.deposit("bob", "BTC", "10")
    ex.deposit("bob", "USDT", "100000")
    return alice, bob


def test_the_profile_defaults_and_is_replaced_whole_and_per_account(api, user):
    alice, bob = funded(api, user)
    assert alice.get("/v1/risk-profile").json()["risk_per_trade_percent"] == "1"
    body = {"max_trades_per_day": 2, "max_daily_loss": "250", "require_stop_loss": True}
    answer = alice.client.put("/v1/risk-profile", headers=alice.headers, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["max_daily_loss"] == "250" and answer.json()["require_stop_loss"] is True
    assert answer.json()["not_enforced"] == []  # require_stop_loss is enforced (brackets only)
    assert alice.get("/v1/risk-profile").json()["max_trades_per_day"] == 2
    assert bob.get("/v1/risk-profile").json()["max_trades_per_day"] is None  # isolation
    bad = alice.client.put("/v1/risk-profile", headers=alice.headers, json={"max_daily_loss": "5",
                                                                            "max_daily_loss_percent": "1"})  # fmt: skip
    problem(bad, 422, "INVALID_ARGUMENT")
    assert alice.get("/v1/risk-profile").json()["max_daily_loss"] == "250"  # unchanged


def test_position_size_uses_the_callers_equity_and_profile(api, user):
    alice, _ = funded(api, user)
    answer = alice.get("/v1/position-size", params={"market": "BTC-USDT", "entry": "50000", "stop": "49000"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "market": "BTC-USDT", "side": "buy", "quantity": "0.09099", "notional": "4549.50000000",
        "equity": "10000.00000000", "risk_percent": "1", "risk_budget": "100.00000000",
        "loss_at_stop": "99.99801", "fees": "9.00801", "limited_by": "risk",
    }  # fmt: skip
    tiny = alice.get("/v1/position-size", params={"market": "BTC-USDT", "entry": "50000", "stop": "49000",
                                                   "risk_percent": "0.001"})  # fmt: skip
    body = problem(tiny, 422, "BELOW_MIN_NOTIONAL")
    assert "minimum notional 5" in body["detail"]
    problem(alice.get("/v1/position-size", params={"market": "BTC-USDT", "entry": "1", "stop": "1"}), 422,
            "INVALID_ARGUMENT")  # fmt: skip


def test_max_trades_per_day_refuses_the_next_buy_with_its_figures_but_never_a_sell(api, user):
    alice, bob = funded(api, user)
    alice.client.put("/v1/risk-profile", headers=alice.headers, json={"max_trades_per_day": 2})
    trade(api, alice, bob, quantity="0.01")
    trade(api, alice, bob, quantity="0.01")
    before = api.app.state.ctx.exchange.state_hash()
    refused = alice.post("/v1/orders", {"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "40000",
                                        "quantity": "0.01"})  # fmt: skip
    body = problem(refused, 403, "RISK_LIMIT")
    assert "max_trades_per_day" in body["detail"] and "limit is 2" in body["detail"]
    assert api.app.state.ctx.exchange.state_hash() == before  # changed nothing
    sell = {"market": "BTC-USDT", "side": "sell", "type": "limit", "price": "90000", "quantity": "0.02"}
    assert alice.post("/v1/orders", sell).status_code == 201  # exits are never refused
    bid = {"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "40000", "quantity": "0.01"}
    assert bob.post("/v1/orders", bid).status_code == 201  # bob has no profile: nothing is checked


def test_portfolio_and_day_trades_show_only_the_callers_own(api, user):
    alice, bob = funded(api, user)
    trade(api, alice, bob, "50000", "0.1")  # alice buys 0.1 at 50,000 (+5 fee)
    trade(api, alice, bob, "60000", "0.05", side="sell")  # and sells 0.05 at 60,000 (-3 fee)
    portfolio = alice.get("/v1/portfolio", params={"currency": "USDT"}).json()
    (position,) = portfolio["positions"]
    assert position["average_entry_price"] == "50050" and position["quantity"] == "0.05000000"
    assert position["realised_pnl"] == "494.50000000"  # 2,997 - 2,502.5
    # equity: USDT 10,000 - 5,005 + 2,997 = 7,992; BTC 0.05 x 60,000 = 3,000
    assert portfolio["equity"] == "10992.00000000"
    assert {a["asset"]: a["value"] for a in portfolio["assets"]} == {"BTC": "3000.00000000", "USDT": "7992.00000000"}
    bob_positions = bob.get("/v1/portfolio").json()["positions"]
    assert [p["market"] for p in bob_positions] == ["BTC-USDT"] and bob_positions[0]["fees_paid"] != "8"
    days = alice.get("/v1/day-trades").json()
    assert days["day_trades"] == 1 and days["total_trades"] == 2
    assert days["legacy_pattern_day_trader"]["applies"] is False and "never under it" in days[
        "legacy_pattern_day_trader"]["note"]  # fmt: skip
    problem(alice.get("/v1/portfolio", params={"currency": "NOPE"}), 404, "UNKNOWN_ASSET")


def bracket(entry="50000", quantity="0.01", take_profit="60000", stop="45000"):
    return {"type": "bracket", "market": "BTC-USDT", "quantity": quantity, "entry_price": entry,
            "take_profit_price": take_profit, "stop_price": stop}  # fmt: skip


PLAIN_BUYS = [
    {"type": "limit", "price": "40000", "quantity": "0.01"},
    {"type": "limit_maker", "price": "40000", "quantity": "0.01"},
    {"type": "market", "quote_quantity": "100"},
]


@pytest.mark.parametrize("order", PLAIN_BUYS, ids=[o["type"] for o in PLAIN_BUYS])
def test_require_stop_loss_refuses_a_plain_buy_and_points_to_a_bracket(api, user, order):
    alice, bob = funded(api, user)
    trade(api, alice, bob, quantity="0.01")  # a last price (and a book's other side) to buy against
    alice.client.put("/v1/risk-profile", headers=alice.headers, json={"require_stop_loss": True})
    before = api.app.state.ctx.exchange.state_hash()
    body = problem(alice.post("/v1/orders", {"market": "BTC-USDT", "side": "buy", **order}), 403, "RISK_LIMIT")
    assert body["detail"].startswith("require_stop_loss: ") and "POST /v1/order-lists with type bracket" in body[
        "detail"]  # fmt: skip
    assert body["details"] == {"rule": "require_stop_loss", "order_type": order["type"], "use": "bracket"}
    assert api.app.state.ctx.exchange.state_hash() == before  # changed nothing


def test_require_stop_loss_allows_a_bracket_and_never_refuses_a_sell(api, user):
    alice, bob = funded(api, user)
    trade(api, alice, bob, quantity="0.02")  # alice holds 0.02 BTC
    alice.client.put("/v1/risk-profile", headers=alice.headers, json={"require_stop_loss": True})
    answer = alice.post("/v1/order-lists", bracket())
    assert answer.status_code == 201, answer.text
    assert (answer.json()["type"], answer.json()["entry_price"]) == ("bracket", "50000.00")
    sell = {"market": "BTC-USDT", "side": "sell", "type": "limit", "price": "90000", "quantity": "0.01"}
    assert alice.post("/v1/orders", sell).status_code == 201
    stop = {"market": "BTC-USDT", "side": "sell", "type": "stop_loss", "quantity": "0.01", "stop_price": "40000"}
    assert alice.post("/v1/orders", stop).status_code == 201  # a conditional sell: never refused either
    assert alice.get("/v1/risk-profile").json()["not_enforced"] == []


def test_a_brackets_entry_goes_through_the_other_guards_as_a_buy(api, user):
    alice, bob = funded(api, user)
    alice.client.put("/v1/risk-profile", headers=alice.headers, json={"max_trades_per_day": 1})
    trade(api, alice, bob, quantity="0.01")
    before = api.app.state.ctx.exchange.state_hash()
    body = problem(alice.post("/v1/order-lists", bracket()), 403, "RISK_LIMIT")
    assert body["details"] == {"rule": "max_trades_per_day", "trades_today": "1", "limit": "1"}
    assert api.app.state.ctx.exchange.state_hash() == before
    # exposure: the entry counts as a buy of entry_price x quantity (50,000 x 0.1 = 5,000 of equity 10,000)
    alice.client.put("/v1/risk-profile", headers=alice.headers, json={"max_exposure_percent": "50"})
    body = problem(alice.post("/v1/order-lists", bracket(quantity="0.1")), 403, "RISK_LIMIT")
    assert body["details"]["rule"] == "max_exposure_percent"
    assert alice.post("/v1/order-lists", bracket(quantity="0.08")).status_code == 201

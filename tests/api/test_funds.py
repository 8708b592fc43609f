"""Funds through the HTTP API: balances, deposits, withdrawals (whitelist, delay, 2FA, fees), isolation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pyotp
import pytest

from spotlab import Exchange
from spotlab.core.events import Deposited, Event, Withdrawn
from spotlab.settings import Settings
from tests.api.conftest import SECRET, Caller, problem

ADDRESS = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"
USDT_ADDRESS = "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"
DELAY = timedelta(hours=1)


def deposit(caller: Caller, asset: str, amount: str) -> dict:
    answer = caller.post("/v1/deposits", {"asset": asset, "amount": amount})
    assert answer.status_code == 201, answer.text
    return answer.json()


def whitelist(caller: Caller, asset: str, address: str, *, wait: bool = True, **extra) -> dict:
    answer = caller.post("/v1/withdrawal-addresses", {"asset": asset, "address": address, "label": "mine", **extra})
    assert answer.status_code == 201, answer.text
    if wait:
        caller.clock.advance(DELAY)
    return answer.json()


def withdraw(caller: Caller, asset: str, amount: str, address: str, **extra):
    return caller.post("/v1/withdrawals", {"asset": asset, "amount": amount, "address": address, **extra})


def enable_two_factor(caller: Caller) -> pyotp.TOTP:
    totp = pyotp.TOTP(caller.post("/v1/2fa").json()["secret"])
    assert caller.post("/v1/2fa/verify", {"code": code(caller, totp)}).status_code == 200
    caller.clock.advance(seconds=30)  # the next code is a fresh one
    return totp


def code(caller: Caller, totp: pyotp.TOTP) -> str:
    return totp.at(caller.clock.now_ns() // 1_000_000_000)


def holdings(exchange: Exchange, account: str) -> dict[str, tuple[Decimal, Decimal]]:
    return {asset: (b.available, b.locked) for asset, b in exchange.balances(account).items()}


def last_event(exchange: Exchange, kind: type[Event]) -> Event:
    return [event for event in exchange.events() if isinstance(event, kind)][-1]


def fees(exchange: Exchange, asset: str) -> Decimal:
    balance = exchange.fee_balances().get(asset)
    return balance.available if balance else Decimal(0)


# -- balances -----------------------------------------------------------------------------


def test_a_new_account_has_no_balances(user):
    assert user("alice").get("/v1/balances").json() == {}


def test_balances_show_available_locked_and_total_as_strings(user, exchange):
    alice = user("alice")
    exchange.deposit("alice", "USDT", "1000")
    exchange.place_order("alice", "BTC/USDT", "buy", "limit", "20000", "0.01")  # holds 200 + 0.2 fee
    body = alice.get("/v1/balances").json()
    assert all(isinstance(value, str) for row in body.values() for value in row.values())
    figures = {asset: {key: Decimal(value) for key, value in row.items()} for asset, row in body.items()}
    assert figures == {
        "BTC": {"available": 0, "locked": 0, "total": 0},  # touched by the buy order
        "USDT": {"available": Decimal("799.8"), "locked": Decimal("200.2"), "total": Decimal(1000)},
    }


def test_balances_need_authentication(api):
    problem(api.get("/v1/balances"), 401, "UNAUTHENTICATED")


def test_a_read_key_reads_balances(user, exchange):
    alice = user("alice")
    exchange.deposit("alice", "BTC", "0.5")
    answer = alice.signed("GET", "/v1/balances", None, "read")
    assert answer.status_code == 200
    assert Decimal(answer.json()["BTC"]["available"]) == Decimal("0.5")


# -- deposits -----------------------------------------------------------------------------


def test_a_deposit_credits_the_account_and_answers_the_new_balance(user, exchange, clock):
    alice = user("alice")
    exchange.deposit("alice", "USDT", "5000")
    body = deposit(alice, "USDT", "1000.5")
    assert body["asset"] == "USDT"
    assert Decimal(body["amount"]) == Decimal("1000.5")
    assert {key: Decimal(value) for key, value in body["balance"].items()} == {
        "available": Decimal("6000.5"),
        "locked": Decimal(0),
        "total": Decimal("6000.5"),
    }
    assert body["sequence"] == last_event(exchange, Deposited).seq
    assert body["time"] == "2024-01-01T00:00:00Z"
    assert holdings(exchange, "alice") == {"USDT": (Decimal("6000.5"), Decimal(0))}


def test_a_whole_json_number_is_accepted_as_an_amount(user, exchange):
    deposit(user("alice"), "ETH", 3)
    assert holdings(exchange, "alice") == {"ETH": (Decimal(3), Decimal(0))}


def test_a_deposit_below_the_configured_minimum_is_refused_with_the_minimum(user, exchange):
    alice = user("alice")
    body = problem(alice.post("/v1/deposits", {"asset": "USDT", "amount": "9.99999999"}), 422, "BELOW_MIN_DEPOSIT")
    assert body["details"]["minimum"] == "10"
    assert "10" in body["detail"]
    assert holdings(exchange, "alice") == {}
    deposit(alice, "USDT", "10")  # exactly the minimum is fine
    assert holdings(exchange, "alice") == {"USDT": (Decimal(10), Decimal(0))}


def test_the_minimum_deposit_comes_from_the_settings(api, user, exchange):
    alice = user("alice")
    api.app.state.ctx.settings = Settings(secret_key=SECRET, min_deposits={"BTC": Decimal("0.5")})
    problem(alice.post("/v1/deposits", {"asset": "BTC", "amount": "0.4"}), 422, "BELOW_MIN_DEPOSIT")
    deposit(alice, "USDT", "0.01")  # no minimum configured for USDT any more
    assert holdings(exchange, "alice") == {"USDT": (Decimal("0.01"), Decimal(0))}


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"asset": "DOGE", "amount": "100"}, 404, "UNKNOWN_ASSET"),
        ({"asset": "usdt", "amount": "100"}, 404, "UNKNOWN_ASSET"),
        ({"asset": "USDT", "amount": "10.000000001"}, 422, "AMOUNT_NOT_ON_PRECISION"),
        ({"asset": "USDT", "amount": "0"}, 422, "INVALID_NUMBER"),
        ({"asset": "USDT", "amount": "-100"}, 422, "INVALID_NUMBER"),
        ({"asset": "USDT", "amount": 100.5}, 422, "VALIDATION_ERROR"),
        ({"asset": "USDT", "amount": "1e31"}, 422, "VALIDATION_ERROR"),
        ({"asset": "USDT", "amount": "1e29"}, 422, "INVALID_NUMBER"),
        ({"asset": "USDT", "amount": "NaN"}, 422, "VALIDATION_ERROR"),
        ({"asset": "USDT", "amount": "ten"}, 422, "VALIDATION_ERROR"),
        ({"asset": "USDT", "amount": True}, 422, "VALIDATION_ERROR"),
        ({"asset": "USDT"}, 422, "VALIDATION_ERROR"),
        ({"asset": "USDT", "amount": "100", "account": "bob"}, 422, "VALIDATION_ERROR"),
    ],
)
def test_bad_deposits_are_refused_and_change_nothing(user, exchange, body, status, code):
    alice = user("alice")
    user("bob")
    before = exchange.last_sequence
    problem(alice.post("/v1/deposits", body), status, code)
    assert holdings(exchange, "alice") == holdings(exchange, "bob") == {}
    assert exchange.last_sequence == before


def test_a_float_amount_is_named_in_the_field_errors(user):
    body = problem(user("alice").post("/v1/deposits", {"asset": "USDT", "amount": 100.5}), 422, "VALIDATION_ERROR")
    assert [error["field"] for error in body["errors"]] == ["body.amount"]
    assert "string" in body["errors"][0]["message"]


def test_a_body_that_is_not_json_is_400(user, exchange):
    alice = user("alice")
    answer = alice.client.post(
        "/v1/deposits",
        content=b'{"asset": "USDT", "amount": ',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    problem(answer, 400, "MALFORMED_REQUEST")
    assert holdings(exchange, "alice") == {}


def test_a_trade_key_deposits_and_a_read_key_cannot(user, exchange):
    alice = user("alice")
    body = {"asset": "USDT", "amount": "100"}
    problem(alice.signed("POST", "/v1/deposits", body, "read"), 403, "SCOPE_REQUIRED")
    assert holdings(exchange, "alice") == {}
    assert alice.signed("POST", "/v1/deposits", body, "trade").status_code == 201
    assert holdings(exchange, "alice") == {"USDT": (Decimal(100), Decimal(0))}


def test_deposits_are_listed_newest_first_page_by_page(user, history):
    alice = user("alice")
    sequences = [
        deposit(alice, asset, amount)["sequence"] for asset, amount in [("USDT", "10"), ("BTC", "1"), ("USDT", "20")]
    ]
    first = alice.get("/v1/deposits", params={"limit": 2}).json()
    assert [(d["asset"], Decimal(d["amount"]), d["sequence"]) for d in first["items"]] == [
        ("USDT", Decimal(20), sequences[2]),
        ("BTC", Decimal(1), sequences[1]),
    ]
    second = alice.get("/v1/deposits", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [d["sequence"] for d in second["items"]] == [sequences[0]]
    assert second.get("next_cursor") is None


def test_a_cursor_this_api_did_not_hand_out_is_refused(user, history):
    problem(user("alice").get("/v1/deposits", params={"cursor": "garbage"}), 422, "VALIDATION_ERROR")


def test_nobody_sees_anothers_deposits(user, history):
    alice, bob = user("alice"), user("bob")
    deposit(alice, "USDT", "1000")
    assert bob.get("/v1/deposits").json()["items"] == []
    assert bob.get("/v1/balances").json() == {}
    assert len(alice.get("/v1/deposits").json()["items"]) == 1


# -- withdrawals --------------------------------------------------------------------------


def test_a_withdrawal_takes_the_amount_and_the_fee_goes_to_the_fee_account(user, exchange):
    alice = user("alice")
    exchange.deposit("alice", "BTC", "1")
    whitelist(alice, "BTC", ADDRESS)
    answer = withdraw(alice, "BTC", "0.5", ADDRESS)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["asset"], body["address"]) == ("BTC", ADDRESS)
    assert [Decimal(body[key]) for key in ("amount", "fee", "sent")] == [
        Decimal("0.5"),
        Decimal("0.0002"),
        Decimal("0.4998"),
    ]
    assert body["sequence"] == last_event(exchange, Withdrawn).seq
    assert body["time"] == "2024-01-01T01:00:00Z"
    assert holdings(exchange, "alice") == {"BTC": (Decimal("0.5"), Decimal(0))}
    assert fees(exchange, "BTC") == Decimal("0.0002")
    # conservation: what is left inside is what came in minus what was sent out
    assert Decimal("0.5") + fees(exchange, "BTC") == Decimal(1) - Decimal(body["sent"])


def test_withdrawals_are_listed_newest_first_with_fee_and_address(user, exchange, history):
    alice = user("alice")
    exchange.deposit("alice", "USDT", "1000")
    whitelist(alice, "USDT", USDT_ADDRESS)
    made = [withdraw(alice, "USDT", amount, USDT_ADDRESS).json() for amount in ("100", "200")]
    page = alice.get("/v1/withdrawals").json()
    assert page["items"] == list(reversed(made))
    assert page.get("next_cursor") is None
    first = alice.get("/v1/withdrawals", params={"limit": 1}).json()
    assert first["items"] == [made[1]]
    rest = alice.get("/v1/withdrawals", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert rest["items"] == [made[0]]


def test_an_address_not_on_the_whitelist_is_refused(user, exchange):
    alice = user("alice")
    exchange.deposit("alice", "BTC", "1")
    whitelist(alice, "USDT", ADDRESS)  # the address is whitelisted, but for another asset
    problem(withdraw(alice, "BTC", "0.5", ADDRESS), 403, "ADDRESS_NOT_WHITELISTED")
    problem(withdraw(alice, "BTC", "0.5", "bc1someotheraddress000"), 403, "ADDRESS_NOT_WHITELISTED")
    assert holdings(exchange, "alice") == {"BTC": (Decimal(1), Decimal(0))}


def test_a_new_address_is_usable_only_after_the_delay(user, exchange, clock):
    alice = user("alice")
    exchange.deposit("alice", "BTC", "1")
    whitelist(alice, "BTC", ADDRESS, wait=False)
    clock.advance(DELAY - timedelta(seconds=1))
    body = problem(withdraw(alice, "BTC", "0.5", ADDRESS), 403, "ADDRESS_NOT_YET_ACTIVE")
    assert body["details"]["usable_from"] == "2024-01-01T01:00:00Z"
    assert "2024-01-01T01:00:00Z" in body["detail"]
    assert holdings(exchange, "alice") == {"BTC": (Decimal(1), Decimal(0))}
    clock.advance(seconds=1)
    assert withdraw(alice, "BTC", "0.5", ADDRESS).status_code == 201


def test_a_removed_address_can_no_longer_be_used(user, exchange):
    alice = user("alice")
    exchange.deposit("alice", "BTC", "1")
    entry = whitelist(alice, "BTC", ADDRESS)
    assert alice.delete(f"/v1/withdrawal-addresses/{entry['id']}").status_code == 204
    problem(withdraw(alice, "BTC", "0.5", ADDRESS), 403, "ADDRESS_NOT_WHITELISTED")


@pytest.mark.parametrize(
    "amount, status, code",
    [
        ("0.0009", 422, "BELOW_MIN_WITHDRAWAL"),
        ("1.5", 409, "INSUFFICIENT_FUNDS"),
        ("0.000000001", 422, "AMOUNT_NOT_ON_PRECISION"),
        ("-1", 422, "INVALID_NUMBER"),
        (0.5, 422, "VALIDATION_ERROR"),
    ],
)
def test_the_exchanges_withdrawal_rules_apply_and_a_refusal_changes_nothing(user, exchange, amount, status, code):
    alice = user("alice")
    exchange.deposit("alice", "BTC", "1")
    whitelist(alice, "BTC", ADDRESS)
    problem(withdraw(alice, "BTC", amount, ADDRESS), status, code)
    assert holdings(exchange, "alice") == {"BTC": (Decimal(1), Decimal(0))}
    assert fees(exchange, "BTC") == 0


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"asset": "BTC", "amount": "0.5", "address": ADDRESS, "memo": "x"}, 422, "VALIDATION_ERROR"),
        ({"asset": "BTC", "amount": "0.5"}, 422, "VALIDATION_ERROR"),
        ({"asset": "BTC", "amount": "0.5", "address": "short"}, 422, "VALIDATION_ERROR"),
        ({"asset": "BTC", "amount": "0.5", "address": ADDRESS + "/../x"}, 422, "VALIDATION_ERROR"),
        ({"asset": "XYZ", "amount": "0.5", "address": ADDRESS}, 404, "UNKNOWN_ASSET"),
    ],
)
def test_malformed_withdrawals_are_refused(user, exchange, body, status, code):
    alice = user("alice")
    exchange.deposit("alice", "BTC", "1")
    whitelist(alice, "BTC", ADDRESS)
    problem(alice.post("/v1/withdrawals", body), status, code)
    assert holdings(exchange, "alice") == {"BTC": (Decimal(1), Decimal(0))}


def test_only_a_key_with_the_withdraw_scope_can_withdraw(user, exchange):
    alice = user("alice")
    exchange.deposit("alice", "BTC", "1")
    whitelist(alice, "BTC", ADDRESS)
    body = {"asset": "BTC", "amount": "0.5", "address": ADDRESS}
    for scopes in (("trade",), ("read",), ("read", "trade")):
        problem(alice.signed("POST", "/v1/withdrawals", body, *scopes), 403, "SCOPE_REQUIRED")
    assert holdings(exchange, "alice") == {"BTC": (Decimal(1), Decimal(0))}
    assert fees(exchange, "BTC") == 0
    assert alice.signed("POST", "/v1/withdrawals", body, "withdraw").status_code == 201
    assert holdings(exchange, "alice") == {"BTC": (Decimal("0.5"), Decimal(0))}


def test_nobody_can_withdraw_to_or_list_anothers_withdrawals(user, exchange, history):
    alice, bob = user("alice"), user("bob")
    exchange.deposit("alice", "BTC", "1")
    exchange.deposit("bob", "BTC", "1")
    whitelist(alice, "BTC", ADDRESS)
    problem(withdraw(bob, "BTC", "0.5", ADDRESS), 403, "ADDRESS_NOT_WHITELISTED")  # alice's whitelist is hers
    assert withdraw(alice, "BTC", "0.5", ADDRESS).status_code == 201
    assert bob.get("/v1/withdrawals").json()["items"] == []
    assert holdings(exchange, "bob") == {"BTC": (Decimal(1), Decimal(0))}


def test_with_two_factor_on_a_withdrawal_needs_a_fresh_code(user, exchange):
    alice = user("alice")
    exchange.deposit("alice", "BTC", "1")
    totp = enable_two_factor(alice)
    whitelist(alice, "BTC", ADDRESS, totp_code=code(alice, totp))
    problem(withdraw(alice, "BTC", "0.1", ADDRESS), 403, "TWO_FACTOR_REQUIRED")
    wrong = f"{(int(code(alice, totp)) + 1) % 1_000_000:06d}"
    problem(withdraw(alice, "BTC", "0.1", ADDRESS, totp_code=wrong), 403, "INVALID_TWO_FACTOR_CODE")
    assert holdings(exchange, "alice") == {"BTC": (Decimal(1), Decimal(0))}
    fresh = code(alice, totp)
    assert withdraw(alice, "BTC", "0.1", ADDRESS, totp_code=fresh).status_code == 201
    problem(withdraw(alice, "BTC", "0.1", ADDRESS, totp_code=fresh), 403, "INVALID_TWO_FACTOR_CODE")  # used once
    assert holdings(exchange, "alice") == {"BTC": (Decimal("0.9"), Decimal(0))}
    alice.clock.advance(seconds=30)
    assert withdraw(alice, "BTC", "0.1", ADDRESS, totp_code=code(alice, totp)).status_code == 201


def test_a_refusal_before_the_two_factor_check_does_not_burn_the_code(user, exchange):
    alice = user("alice")
    exchange.deposit("alice", "BTC", "1")
    totp = enable_two_factor(alice)
    whitelist(alice, "BTC", ADDRESS, totp_code=code(alice, totp))
    fresh = code(alice, totp)
    problem(withdraw(alice, "BTC", "0.123456789", ADDRESS, totp_code=fresh), 422, "AMOUNT_NOT_ON_PRECISION")
    problem(withdraw(alice, "BTC", "0.1", "bc1notwhitelisted00", totp_code=fresh), 403, "ADDRESS_NOT_WHITELISTED")
    assert withdraw(alice, "BTC", "0.1", ADDRESS, totp_code=fresh).status_code == 201


def test_a_withdraw_key_also_needs_the_code_when_two_factor_is_on(user, exchange):
    alice = user("alice")
    exchange.deposit("alice", "BTC", "1")
    totp = enable_two_factor(alice)
    whitelist(alice, "BTC", ADDRESS, totp_code=code(alice, totp))
    body = {"asset": "BTC", "amount": "0.1", "address": ADDRESS}
    problem(alice.signed("POST", "/v1/withdrawals", body, "withdraw"), 403, "TWO_FACTOR_REQUIRED")
    answer = alice.signed("POST", "/v1/withdrawals", {**body, "totp_code": code(alice, totp)}, "withdraw")
    assert answer.status_code == 201, answer.text

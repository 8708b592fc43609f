"""Two-factor authentication and the withdrawal whitelist through the HTTP API."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from tests.api.conftest import Caller, problem

ADDRESS = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"
OTHER_ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"


def code(caller: Caller, totp: pyotp.TOTP, steps: int = 0) -> str:
    return totp.at(caller.clock.now_ns() // 1_000_000_000 + 30 * steps)


def not_the(right: str) -> str:
    return f"{(int(right) + 1) % 1_000_000:06d}"


def enrol(caller: Caller) -> pyotp.TOTP:
    answer = caller.post("/v1/2fa")
    assert answer.status_code == 200, answer.text
    return pyotp.TOTP(answer.json()["secret"])


def enable(caller: Caller) -> pyotp.TOTP:
    totp = enrol(caller)
    assert caller.post("/v1/2fa/verify", {"code": code(caller, totp)}).status_code == 200
    caller.clock.advance(seconds=30)  # the next code is a fresh one
    return totp


def two_factor_enabled(caller: Caller) -> bool:
    return caller.get("/v1/account").json()["two_factor_enabled"]


def add(caller: Caller, asset: str = "BTC", address: str = ADDRESS, **extra):
    return caller.post("/v1/withdrawal-addresses", {"asset": asset, "address": address, "label": "cold", **extra})


def listed(caller: Caller, **params) -> list[tuple[str, str]]:
    answer = caller.get("/v1/withdrawal-addresses", params=params)
    assert answer.status_code == 200, answer.text
    return [(entry["asset"], entry["address"]) for entry in answer.json()]


# -- two-factor authentication --------------------------------------------------------------


def test_enrolment_answers_the_otpauth_uri_and_its_secret(user):
    alice = user("alice")
    body = alice.post("/v1/2fa").json()
    uri = urlparse(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/spotlab:alice")
    assert parse_qs(uri.query) == {"secret": [body["secret"]], "issuer": ["spotlab"]}
    assert not two_factor_enabled(alice)  # not on until a code confirms it


def test_a_correct_code_turns_two_factor_on(user):
    alice = user("alice")
    totp = enrol(alice)
    answer = alice.post("/v1/2fa/verify", {"code": code(alice, totp)})
    assert answer.status_code == 200
    assert answer.json() == {"two_factor_enabled": True}
    assert two_factor_enabled(alice)


def test_a_wrong_code_leaves_two_factor_off(user):
    alice = user("alice")
    totp = enrol(alice)
    problem(alice.post("/v1/2fa/verify", {"code": not_the(code(alice, totp))}), 403, "INVALID_TWO_FACTOR_CODE")
    assert not two_factor_enabled(alice)


def test_verifying_without_an_enrolment_is_409(user):
    problem(user("alice").post("/v1/2fa/verify", {"code": "123456"}), 409, "TWO_FACTOR_NOT_ENABLED")


def test_enrolling_again_while_on_is_409(user):
    alice = user("alice")
    enable(alice)
    problem(alice.post("/v1/2fa"), 409, "TWO_FACTOR_ALREADY_ENABLED")


def test_turning_two_factor_off_needs_a_current_code(user):
    alice = user("alice")
    totp = enable(alice)
    problem(alice.post("/v1/2fa/disable", {"code": not_the(code(alice, totp))}), 403, "INVALID_TWO_FACTOR_CODE")
    problem(alice.post("/v1/2fa/disable", {}), 422, "VALIDATION_ERROR")
    assert two_factor_enabled(alice)
    answer = alice.post("/v1/2fa/disable", {"code": code(alice, totp)})
    assert answer.json() == {"two_factor_enabled": False}
    assert not two_factor_enabled(alice)


def test_turning_two_factor_off_when_it_is_off_is_409(user):
    problem(user("alice").post("/v1/2fa/disable", {"code": "123456"}), 409, "TWO_FACTOR_NOT_ENABLED")


def test_the_code_that_turned_two_factor_on_cannot_turn_it_off(user):
    alice = user("alice")
    totp = enrol(alice)
    used = code(alice, totp)
    alice.post("/v1/2fa/verify", {"code": used})
    problem(alice.post("/v1/2fa/disable", {"code": used}), 403, "INVALID_TWO_FACTOR_CODE")
    assert two_factor_enabled(alice)


def test_codes_follow_the_servers_clock(user, clock):
    alice = user("alice")
    totp = enable(alice)
    stale = code(alice, totp)
    clock.advance(timedelta(minutes=2))
    problem(alice.post("/v1/2fa/disable", {"code": stale}), 403, "INVALID_TWO_FACTOR_CODE")
    assert alice.post("/v1/2fa/disable", {"code": code(alice, totp, -1)}).status_code == 200  # one step of drift


def test_two_factor_is_per_login(user):
    alice, bob = user("alice"), user("bob")
    totp = enable(alice)
    assert not two_factor_enabled(bob)
    problem(bob.post("/v1/2fa/disable", {"code": code(alice, totp)}), 409, "TWO_FACTOR_NOT_ENABLED")
    assert two_factor_enabled(alice)


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/v1/2fa", None),
        ("POST", "/v1/2fa/verify", {"code": "123456"}),
        ("POST", "/v1/2fa/disable", {"code": "123456"}),
        ("GET", "/v1/withdrawal-addresses", None),
        ("POST", "/v1/withdrawal-addresses", {"asset": "BTC", "address": ADDRESS}),
        ("DELETE", "/v1/withdrawal-addresses/1", None),
    ],
)
def test_security_settings_need_a_login_token_not_an_api_key(user, method, path, body):
    alice = user("alice")
    problem(alice.signed(method, path, body, "read", "trade", "withdraw"), 403, "FORBIDDEN")
    assert listed(alice) == []
    assert not two_factor_enabled(alice)


def test_security_settings_need_authentication(api):
    problem(api.post("/v1/2fa"), 401, "UNAUTHENTICATED")
    problem(api.get("/v1/withdrawal-addresses"), 401, "UNAUTHENTICATED")


# -- the withdrawal whitelist ---------------------------------------------------------------


def test_an_added_address_is_listed_and_usable_after_the_delay(user):
    alice = user("alice")
    answer = add(alice)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body == {
        "id": body["id"],
        "asset": "BTC",
        "address": ADDRESS,
        "label": "cold",
        "created_at": "2024-01-01T00:00:00Z",
        "usable_from": "2024-01-01T01:00:00Z",
    }
    assert alice.get("/v1/withdrawal-addresses").json() == [body]


def test_the_whitelist_is_per_asset(user):
    alice = user("alice")
    assert add(alice, "BTC").status_code == 201
    assert add(alice, "USDT").status_code == 201
    assert add(alice, "USDT", OTHER_ADDRESS).status_code == 201
    assert listed(alice) == [("BTC", ADDRESS), ("USDT", ADDRESS), ("USDT", OTHER_ADDRESS)]
    assert listed(alice, asset="USDT") == [("USDT", ADDRESS), ("USDT", OTHER_ADDRESS)]
    assert listed(alice, asset="ETH") == []


def test_the_same_address_twice_for_one_asset_is_409(user):
    alice = user("alice")
    add(alice)
    problem(add(alice), 409, "ADDRESS_EXISTS")
    assert listed(alice) == [("BTC", ADDRESS)]


def test_a_removed_address_is_gone_and_can_be_added_again_with_a_new_delay(user, clock):
    alice = user("alice")
    first = add(alice).json()
    assert alice.delete(f"/v1/withdrawal-addresses/{first['id']}").status_code == 204
    assert listed(alice) == []
    problem(alice.delete(f"/v1/withdrawal-addresses/{first['id']}"), 404, "NOT_FOUND")
    clock.advance(hours=2)
    again = add(alice).json()
    assert again["id"] != first["id"]
    assert again["usable_from"] == "2024-01-01T03:00:00Z"


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"asset": "BTC", "address": "short"}, 422, "VALIDATION_ERROR"),
        ({"asset": "BTC", "address": "a" * 129}, 422, "VALIDATION_ERROR"),
        ({"asset": "BTC", "address": "bc1 has spaces in it"}, 422, "VALIDATION_ERROR"),
        ({"asset": "BTC", "address": "bc1q<script>alert(1)</script>"}, 422, "VALIDATION_ERROR"),
        ({"asset": "BTC", "address": ADDRESS, "label": "x" * 101}, 422, "VALIDATION_ERROR"),
        ({"asset": "BTC", "address": ADDRESS, "usable_from": "2020-01-01T00:00:00Z"}, 422, "VALIDATION_ERROR"),
        ({"asset": "BTC"}, 422, "VALIDATION_ERROR"),
        ({"asset": "DOGE", "address": ADDRESS}, 404, "UNKNOWN_ASSET"),
    ],
)
def test_bad_addresses_are_refused(user, body, status, code):
    alice = user("alice")
    problem(alice.post("/v1/withdrawal-addresses", body), status, code)
    assert listed(alice) == []


def test_an_address_of_exactly_8_or_128_allowed_characters_is_accepted(user):
    alice = user("alice")
    assert add(alice, address="a:b_c.d-").status_code == 201
    assert add(alice, address="Z9" * 64).status_code == 201


def test_nobody_sees_or_removes_anothers_addresses(user):
    alice, bob = user("alice"), user("bob")
    entry = add(alice).json()
    assert listed(bob) == []
    problem(bob.delete(f"/v1/withdrawal-addresses/{entry['id']}"), 404, "NOT_FOUND")
    assert listed(alice) == [("BTC", ADDRESS)]
    assert add(bob).status_code == 201  # bob's own list is separate
    assert listed(alice) == [("BTC", ADDRESS)]


def test_with_two_factor_on_adding_an_address_needs_a_fresh_code(user, clock):
    alice = user("alice")
    totp = enable(alice)
    problem(add(alice), 403, "TWO_FACTOR_REQUIRED")
    problem(add(alice, totp_code=not_the(code(alice, totp))), 403, "INVALID_TWO_FACTOR_CODE")
    assert listed(alice) == []
    used = code(alice, totp)
    assert add(alice, totp_code=used).status_code == 201
    problem(add(alice, "USDT", totp_code=used), 403, "INVALID_TWO_FACTOR_CODE")
    clock.advance(seconds=30)
    assert add(alice, "USDT", totp_code=code(alice, totp)).status_code == 201
    assert listed(alice) == [("BTC", ADDRESS), ("USDT", ADDRESS)]


def test_removing_an_address_does_not_need_a_code(user):
    alice = user("alice")
    totp = enable(alice)
    entry = add(alice, totp_code=code(alice, totp)).json()
    assert alice.delete(f"/v1/withdrawal-addresses/{entry['id']}").status_code == 204
    assert listed(alice) == []

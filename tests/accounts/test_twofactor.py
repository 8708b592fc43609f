"""Two-factor authentication: enrolment, confirmation, the once-only rule, the time window, disabling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
import sqlalchemy as sa

from spotlab import SimulatedClock
from spotlab.accounts import AccountService
from spotlab.accounts.signing import derive_totp_seed
from spotlab.accounts.tables import users
from spotlab.accounts.twofactor import TwoFactor
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.store.sql import sql_engine

SERVER_KEY = b"unit-test-server-key-0123456789abcdef"


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC))  # on a 30 s step boundary


@pytest.fixture
def accounts(clock):
    engine = sql_engine(None, "accounts")
    service = AccountService(engine, SERVER_KEY, clock=clock)
    with engine.begin() as conn:  # logins without passwords: 2FA does not read them (and argon2 is slow)
        for name in ("alice", "bob"):
            conn.execute(users.insert().values(username=name, password_hash="-", created_at=clock.now_ns()))
    yield service
    engine.dispose()


@pytest.fixture
def two_factor(accounts) -> TwoFactor:
    return TwoFactor(accounts)


def code_at(secret: str, clock: SimulatedClock, steps: int = 0) -> str:
    """The code of ``secret`` ``steps`` 30 s steps from the clock's now."""
    return pyotp.TOTP(secret).at(clock.now_ns() // 1_000_000_000 + 30 * steps)


def refused(code: ErrorCode, call, *args) -> SpotlabError:
    with pytest.raises(SpotlabError) as caught:
        call(*args)
    assert caught.value.code == code, caught.value
    return caught.value


def enabled(clock, two_factor, username: str = "alice") -> str:
    """Enrol and confirm ``username``; returns the seed. The clock moves one step on, so the next code is fresh."""
    secret = two_factor.enrol(username).secret
    two_factor.confirm(username, code_at(secret, clock))
    clock.advance(seconds=30)
    return secret


def test_enrolment_shows_the_seed_derived_from_the_stored_nonce_and_its_otpauth_uri(accounts, two_factor):
    enrolment = two_factor.enrol("alice")
    row = accounts.user("alice")
    assert enrolment.secret == derive_totp_seed(SERVER_KEY, "alice", row.totp_nonce)
    uri = urlparse(enrolment.otpauth_uri)
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/spotlab:alice")
    assert parse_qs(uri.query) == {"secret": [enrolment.secret], "issuer": ["spotlab"]}
    assert row.totp_enabled is False and not two_factor.is_enabled("alice")


def test_no_seed_is_stored_anywhere_in_the_users_table(accounts, two_factor):
    secret = two_factor.enrol("alice").secret
    with accounts.engine.connect() as conn:
        values = conn.execute(sa.select(users).where(users.c.username == "alice")).one()
    assert all(secret not in str(value) for value in values)


def test_a_correct_code_turns_two_factor_on(clock, two_factor):
    enabled(clock, two_factor)
    assert two_factor.is_enabled("alice")
    assert not two_factor.is_enabled("bob")


def test_a_wrong_code_leaves_two_factor_off(clock, two_factor):
    secret = two_factor.enrol("alice").secret
    wrong = f"{(int(code_at(secret, clock)) + 1) % 1_000_000:06d}"
    refused(ErrorCode.INVALID_TWO_FACTOR_CODE, two_factor.confirm, "alice", wrong)
    assert not two_factor.is_enabled("alice")
    two_factor.confirm("alice", code_at(secret, clock))  # the refusal consumed nothing
    assert two_factor.is_enabled("alice")


def test_confirming_without_an_enrolment_is_refused(clock, two_factor):
    refused(ErrorCode.TWO_FACTOR_NOT_ENABLED, two_factor.confirm, "alice", "123456")


def test_enrolling_or_confirming_again_while_on_is_refused(clock, two_factor):
    secret = enabled(clock, two_factor)
    refused(ErrorCode.TWO_FACTOR_ALREADY_ENABLED, two_factor.enrol, "alice")
    refused(ErrorCode.TWO_FACTOR_ALREADY_ENABLED, two_factor.confirm, "alice", code_at(secret, clock))
    two_factor.require("alice", code_at(secret, clock))  # the seed is unchanged


def test_enrolling_again_before_confirming_replaces_the_seed(clock, two_factor):
    first = two_factor.enrol("alice").secret
    second = two_factor.enrol("alice").secret
    assert first != second
    refused(ErrorCode.INVALID_TWO_FACTOR_CODE, two_factor.confirm, "alice", code_at(first, clock))
    two_factor.confirm("alice", code_at(second, clock))


def test_require_lets_everything_through_while_two_factor_is_off(two_factor):
    two_factor.require("alice", None)
    two_factor.require("alice", "000000")


def test_require_with_two_factor_on_needs_a_code(clock, two_factor):
    enabled(clock, two_factor)
    error = refused(ErrorCode.TWO_FACTOR_REQUIRED, two_factor.require, "alice", None)
    assert "totp_code" in error.message


def test_a_code_is_accepted_once(clock, two_factor):
    secret = enabled(clock, two_factor)
    code = code_at(secret, clock)
    two_factor.require("alice", code)
    refused(ErrorCode.INVALID_TWO_FACTOR_CODE, two_factor.require, "alice", code)


def test_the_code_that_turned_two_factor_on_cannot_be_used_again(clock, two_factor):
    secret = two_factor.enrol("alice").secret
    code = code_at(secret, clock)
    two_factor.confirm("alice", code)
    refused(ErrorCode.INVALID_TWO_FACTOR_CODE, two_factor.require, "alice", code)


@pytest.mark.parametrize("steps, accepted", [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_codes_are_accepted_one_step_either_side_of_now(clock, two_factor, steps, accepted):
    secret = enabled(clock, two_factor)
    clock.advance(seconds=60)  # the step used to enable is now two behind
    code = code_at(secret, clock, steps)
    if accepted:
        two_factor.require("alice", code)
    else:
        refused(ErrorCode.INVALID_TWO_FACTOR_CODE, two_factor.require, "alice", code)


def test_after_a_code_is_used_older_codes_are_refused_even_inside_the_window(clock, two_factor):
    secret = enabled(clock, two_factor)
    clock.advance(seconds=60)
    two_factor.require("alice", code_at(secret, clock))
    refused(ErrorCode.INVALID_TWO_FACTOR_CODE, two_factor.require, "alice", code_at(secret, clock, -1))
    two_factor.require("alice", code_at(secret, clock, 1))  # a newer step is still fine


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 345", "１２３４５６"])
def test_malformed_codes_are_refused(clock, two_factor, code):
    enabled(clock, two_factor)
    refused(ErrorCode.INVALID_TWO_FACTOR_CODE, two_factor.require, "alice", code)


def test_one_users_code_does_not_work_for_another(clock, two_factor):
    alice = enabled(clock, two_factor, "alice")
    enabled(clock, two_factor, "bob")
    refused(ErrorCode.INVALID_TWO_FACTOR_CODE, two_factor.require, "bob", code_at(alice, clock))


def test_disabling_needs_a_current_code(clock, two_factor):
    secret = enabled(clock, two_factor)
    refused(
        ErrorCode.INVALID_TWO_FACTOR_CODE,
        two_factor.disable,
        "alice",
        "000000" if code_at(secret, clock) != "000000" else "111111",
    )
    assert two_factor.is_enabled("alice")
    two_factor.disable("alice", code_at(secret, clock))
    assert not two_factor.is_enabled("alice")
    two_factor.require("alice", None)


def test_disabling_when_off_is_refused(two_factor):
    refused(ErrorCode.TWO_FACTOR_NOT_ENABLED, two_factor.disable, "alice", "123456")


def test_a_new_enrolment_after_disabling_has_a_new_seed_and_accepts_codes_of_the_same_step(clock, two_factor):
    old = enabled(clock, two_factor)
    two_factor.disable("alice", code_at(old, clock))
    new = two_factor.enrol("alice").secret
    assert new != old
    two_factor.confirm("alice", code_at(new, clock))
    assert two_factor.is_enabled("alice")


def test_unknown_users_are_refused(two_factor):
    refused(ErrorCode.UNKNOWN_ACCOUNT, two_factor.enrol, "nobody")
    refused(ErrorCode.UNKNOWN_ACCOUNT, two_factor.require, "nobody", None)


def test_time_moves_the_code(clock, two_factor):
    secret = enabled(clock, two_factor)
    code = code_at(secret, clock)
    clock.advance(timedelta(minutes=5))
    refused(ErrorCode.INVALID_TWO_FACTOR_CODE, two_factor.require, "alice", code)

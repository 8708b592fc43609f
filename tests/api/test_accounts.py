"""Registration, login, tokens and API keys, through the HTTP API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from spotlab.accounts.signing import derive_secret, sign
from tests.api.conftest import PASSWORD, SECRET, problem


def test_registering_creates_the_login_and_the_exchange_account(api):
    answer = api.post("/v1/accounts", json={"username": "alice", "password": PASSWORD})
    assert answer.status_code == 201
    assert answer.json() == {"username": "alice", "created_at": "2024-01-01T00:00:00Z", "two_factor_enabled": False}
    assert "alice" in api.app.state.ctx.exchange.accounts()


def test_a_taken_username_is_409_and_leaves_one_account(api):
    api.post("/v1/accounts", json={"username": "alice", "password": PASSWORD})
    problem(api.post("/v1/accounts", json={"username": "alice", "password": "another password"}), 409, "USERNAME_TAKEN")
    assert api.app.state.ctx.exchange.accounts() == ["alice"]


def test_an_exchange_account_made_elsewhere_cannot_be_claimed_by_registering(api):
    api.app.state.ctx.exchange.create_account("bob")
    problem(api.post("/v1/accounts", json={"username": "bob", "password": PASSWORD}), 409, "USERNAME_TAKEN")
    problem(api.post("/v1/auth/token", json={"username": "bob", "password": PASSWORD}), 401, "INVALID_CREDENTIALS")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "al", "password": PASSWORD}, "body.username"),
        ({"username": "alice!", "password": PASSWORD}, "body.username"),
        ({"username": "alice", "password": "short"}, "body.password"),
        ({"username": "alice"}, "body.password"),
        ({"username": "alice", "password": PASSWORD, "admin": True}, "body.admin"),
        ({"username": 12345, "password": PASSWORD}, "body.username"),
    ],
)
def test_bad_registrations_name_the_field(api, body, field):
    body_ = problem(api.post("/v1/accounts", json=body), 422, "VALIDATION_ERROR")
    assert field in [error["field"] for error in body_["errors"]]
    assert api.app.state.ctx.exchange.accounts() == []


def test_login_gives_a_bearer_token_that_reads_the_account(user):
    alice = user("alice")
    assert alice.get("/v1/account").json()["username"] == "alice"


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(api, user):
    user("alice")
    wrong = problem(
        api.post("/v1/auth/token", json={"username": "alice", "password": "nope nope"}), 401, "INVALID_CREDENTIALS"
    )
    unknown = problem(
        api.post("/v1/auth/token", json={"username": "zed", "password": "nope nope"}), 401, "INVALID_CREDENTIALS"
    )
    assert wrong["detail"] == unknown["detail"]


def test_repeated_wrong_passwords_lock_the_login_and_say_until_when(api, user, clock, settings):
    user("alice")
    for _ in range(settings.login_max_failures - 1):
        problem(
            api.post("/v1/auth/token", json={"username": "alice", "password": "wrong one"}), 401, "INVALID_CREDENTIALS"
        )
    locked = problem(
        api.post("/v1/auth/token", json={"username": "alice", "password": "wrong one"}), 403, "ACCOUNT_LOCKED"
    )
    assert locked["details"]["locked_until"] == "2024-01-01T00:15:00Z"
    # even the right password is refused while locked
    problem(api.post("/v1/auth/token", json={"username": "alice", "password": PASSWORD}), 403, "ACCOUNT_LOCKED")
    clock.advance(timedelta(seconds=settings.login_lockout_seconds))
    assert api.post("/v1/auth/token", json={"username": "alice", "password": PASSWORD}).status_code == 200


def test_tokens_expire(user, clock, settings):
    alice = user("alice")
    clock.advance(timedelta(seconds=settings.token_ttl_seconds - 1))
    assert alice.get("/v1/account").status_code == 200
    clock.advance(timedelta(seconds=1))
    problem(alice.get("/v1/account"), 401, "TOKEN_EXPIRED")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not.a.token", "Bearer ", "Basic YWxpY2U6cGFzcw==", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."],
)
def test_bad_tokens_are_401_with_www_authenticate(api, user, authorization):
    user("alice")
    answer = api.get("/v1/account", headers={"Authorization": authorization})
    problem(answer, 401, "UNAUTHENTICATED")
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_no_credentials_is_401(api):
    problem(api.get("/v1/account"), 401, "UNAUTHENTICATED")


def test_an_api_key_secret_is_shown_once_and_never_stored(api, user):
    alice = user("alice")
    created = alice.post("/v1/api-keys", {"label": "bot", "scopes": ["read", "trade"]})
    assert created.status_code == 201
    key = created.json()
    assert key["secret"] == derive_secret(SECRET.encode(), key["key_id"])
    listed = alice.get("/v1/api-keys").json()
    assert listed == [
        {"key_id": key["key_id"], "label": "bot", "scopes": ["read", "trade"], "created_at": key["created_at"]}
    ]
    engine = api.app.state.ctx.accounts.engine
    with engine.connect() as conn:
        stored = [tuple(row) for row in conn.exec_driver_sql("SELECT * FROM api_keys")]
    assert all(key["secret"] not in str(value) for row in stored for value in row)


def test_a_signed_request_works_once(user):
    alice = user("alice")
    key_id, secret = alice.key("read")
    timestamp = str(alice.clock.now_ns() // 1_000_000)
    headers = {
        "SPOTLAB-KEY": key_id,
        "SPOTLAB-TIMESTAMP": timestamp,
        "SPOTLAB-SIGNATURE": sign(secret, timestamp, "GET", "/v1/account"),
    }
    assert alice.client.get("/v1/account", headers=headers).json()["username"] == "alice"
    problem(alice.client.get("/v1/account", headers=headers), 401, "REPLAYED_REQUEST")


def test_the_signature_covers_method_path_query_and_body(user):
    alice = user("alice")
    key_id, secret = alice.key("read", "trade")
    timestamp = str(alice.clock.now_ns() // 1_000_000)
    body = json.dumps({"label": "x", "scopes": ["read"]}).encode()
    good = sign(secret, timestamp, "GET", "/v1/account")
    for method, path, content in [
        ("POST", "/v1/account", b""),
        ("GET", "/v1/account?x=1", b""),
        ("GET", "/v1/account", body),
    ]:
        headers = {"SPOTLAB-KEY": key_id, "SPOTLAB-TIMESTAMP": timestamp, "SPOTLAB-SIGNATURE": good}
        answer = alice.client.request(method, path, headers=headers, content=content)
        assert answer.status_code in (401, 405), answer.text
        if answer.status_code == 401:
            assert answer.json()["code"] == "INVALID_SIGNATURE"


def test_a_timestamp_outside_the_window_is_refused(user, settings):
    alice = user("alice")
    key_id, secret = alice.key("read")
    for skew in (-settings.signature_window_ms - 1, settings.signature_window_ms + 1):
        timestamp = str(alice.clock.now_ns() // 1_000_000 + skew)
        headers = {
            "SPOTLAB-KEY": key_id,
            "SPOTLAB-TIMESTAMP": timestamp,
            "SPOTLAB-SIGNATURE": sign(secret, timestamp, "GET", "/v1/account"),
        }
        problem(alice.client.get("/v1/account", headers=headers), 401, "TIMESTAMP_OUT_OF_WINDOW")


def test_api_keys_cannot_manage_api_keys(user):
    alice = user("alice")
    problem(
        alice.signed("POST", "/v1/api-keys", {"label": "wider", "scopes": ["withdraw"]}, "read", "trade"),
        403,
        "FORBIDDEN",
    )
    assert len(alice.get("/v1/api-keys").json()) == 1


def test_a_revoked_key_stops_working_at_once(user):
    alice = user("alice")
    key_id, _ = alice.key("read")
    assert alice.signed("GET", "/v1/account", None, "read").status_code == 200
    assert alice.delete(f"/v1/api-keys/{key_id}").status_code == 204
    problem(alice.signed("GET", "/v1/account", None, "read"), 401, "UNAUTHENTICATED")
    problem(alice.delete(f"/v1/api-keys/{key_id}"), 404, "API_KEY_NOT_FOUND")


def test_one_user_cannot_revoke_another_users_key(user):
    alice, bob = user("alice"), user("bob")
    key_id, _ = alice.key("read")
    problem(bob.delete(f"/v1/api-keys/{key_id}"), 404, "API_KEY_NOT_FOUND")
    assert alice.signed("GET", "/v1/account", None, "read").status_code == 200
    assert bob.get("/v1/api-keys").json() == []


def test_scopes_must_be_known(user):
    alice = user("alice")
    problem(alice.post("/v1/api-keys", {"label": "x", "scopes": ["admin"]}), 422, "VALIDATION_ERROR")
    problem(alice.post("/v1/api-keys", {"label": "x", "scopes": []}), 422, "VALIDATION_ERROR")

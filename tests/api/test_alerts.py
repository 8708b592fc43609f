"""``/v1/alerts`` and ``/v1/markets/{market}/signal``: CRUD, validation, scopes, isolation, limits; and end to end,
trades -> a closed candle -> the alert fires -> the private WebSocket channel and a signed webhook."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
import pytest
from websockets.sync.client import connect

from spotlab import Exchange
from spotlab.api.app import create_app
from spotlab.api.asyncapi import SERVER_MESSAGES
from spotlab.api.routes.ws import WebSocketOptions, configure
from spotlab.settings import Settings
from tests.alerts.test_webhooks import Receiver, serving
from tests.api.conftest import PASSWORD, SECRET, problem
from tests.api.live import running
from tests.conftest import fund

RULE = "rsi(14) < 30 and close > ema(200)"
START = 1704067200 * 10**9  # 2024-01-01T00:00:00Z, the test clock's start


def create(caller, **fields):
    body = {"market": "BTC-USDT", "interval": "1h", "rule": RULE, **fields}
    return caller.post("/v1/alerts", body)


def created(caller, **fields) -> dict:
    answer = create(caller, **fields)
    assert answer.status_code == 201, answer.text
    return answer.json()


def service(api):
    return api.app.state.ctx.extras["alerts"]


# -- CRUD -----------------------------------------------------------------------------------------------


def test_create_answers_201_with_the_secret_shown_once_and_reads_never_show_it(api, user):
    alice = user("alice")
    alert = created(alice, webhook_url="https://example.com/hook", note="dip buy")
    assert alert["webhook_secret"].startswith("whsec_") and len(alert["webhook_secret"]) == 6 + 64
    public = {k: v for k, v in alert.items() if k != "webhook_secret"}
    assert public == {
        "id": alert["id"],
        "market": "BTC-USDT",
        "interval": "1h",
        "rule": RULE,
        "webhook_url": "https://example.com/hook",
        "note": "dip buy",
        "enabled": True,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }
    assert alice.get(f"/v1/alerts/{alert['id']}").json() == public
    assert alice.get("/v1/alerts").json() == [public]
    assert "webhook_secret" not in alice.get("/v1/alerts").text


def test_interval_defaults_to_one_minute_and_the_list_is_newest_first(api, user):
    alice = user("alice")
    first = alice.post("/v1/alerts", {"market": "BTC-USDT", "rule": RULE})
    assert first.status_code == 201 and first.json()["interval"] == "1m"
    second = created(alice, rule="close crosses_above sma(50)")
    assert [a["id"] for a in alice.get("/v1/alerts").json()] == [second["id"], first.json()["id"]]


def test_patch_disables_enables_and_changes_only_what_is_sent(api, user, clock):
    alice = user("alice")
    alert = created(alice, webhook_url="https://example.com/hook")
    clock.advance(minutes=5)
    answer = alice.patch(f"/v1/alerts/{alert['id']}", {"enabled": False})
    assert answer.status_code == 200, answer.text
    assert answer.json()["enabled"] is False and answer.json()["rule"] == RULE
    assert answer.json()["updated_at"] == "2024-01-01T00:05:00Z"
    assert service(api).engine.watched("BTC/USDT", "1h") == []  # a disabled alert is not evaluated
    changed = alice.patch(f"/v1/alerts/{alert['id']}", {"enabled": True, "rule": "close  >  ema(50)", "note": "x"})
    assert (changed.json()["enabled"], changed.json()["rule"], changed.json()["note"]) == (True, "close > ema(50)", "x")
    assert changed.json()["webhook_url"] == "https://example.com/hook"
    assert service(api).engine.watched("BTC/USDT", "1h") == [alert["id"]]
    removed = alice.patch(f"/v1/alerts/{alert['id']}", {"webhook_url": None})
    assert removed.json()["webhook_url"] is None
    assert alice.patch(f"/v1/alerts/{alert['id']}", {}).json() == removed.json()


def test_delete_removes_the_alert_and_stops_watching_it(api, user):
    alice = user("alice")
    alert = created(alice)
    assert alice.delete(f"/v1/alerts/{alert['id']}").status_code == 204
    problem(alice.get(f"/v1/alerts/{alert['id']}"), 404, "NOT_FOUND")
    problem(alice.delete(f"/v1/alerts/{alert['id']}"), 404, "NOT_FOUND")
    assert alice.get("/v1/alerts").json() == [] and len(service(api).engine) == 0


# -- validation ------------------------------------------------------------------------------------------


def test_a_bad_rule_is_422_saying_where_and_nothing_is_stored(api, user):
    alice = user("alice")
    body = problem(create(alice, rule="rsi(14) < 30 and close > emma(200)"), 422, "INVALID_ARGUMENT")
    assert "column 26" in body["detail"] and "did you mean 'ema'" in body["detail"]
    assert body["details"]["position"] == 25  # 0-based, under "emma"
    body = problem(create(alice, rule="__import__('os').system('id') > 0"), 422, "INVALID_ARGUMENT")
    assert "column 12: unexpected character" in body["detail"]
    problem(create(alice, rule="sma(5000) > 0"), 422, "INVALID_ARGUMENT")
    assert alice.get("/v1/alerts").json() == []


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"market": "NOPE-USDT"}, 404, "UNKNOWN_MARKET"),
        ({"interval": "2h"}, 422, "VALIDATION_ERROR"),
        ({"webhook_url": "ftp://example.com/x"}, 422, "INVALID_ARGUMENT"),
        ({"webhook_url": "https://user:pw@example.com/x"}, 422, "INVALID_ARGUMENT"),
        ({"webhook_url": "https://example.com/" + "x" * 600}, 422, "VALIDATION_ERROR"),
        ({"rule": "x" * 501}, 422, "VALIDATION_ERROR"),
        ({"rule": ""}, 422, "VALIDATION_ERROR"),
        ({"note": "n" * 201}, 422, "VALIDATION_ERROR"),
        ({"owner": "bob"}, 422, "VALIDATION_ERROR"),
    ],
)
def test_bad_fields_are_refused_and_change_nothing(api, user, fields, status, code):
    alice = user("alice")
    problem(create(alice, **fields), status, code)
    assert alice.get("/v1/alerts").json() == []


def test_patch_refuses_a_bad_rule_or_null_flags_and_keeps_the_alert(api, user):
    alice = user("alice")
    alert = created(alice)
    problem(alice.patch(f"/v1/alerts/{alert['id']}", {"rule": "close >"}), 422, "INVALID_ARGUMENT")
    problem(alice.patch(f"/v1/alerts/{alert['id']}", {"enabled": None}), 422, "VALIDATION_ERROR")
    problem(alice.patch(f"/v1/alerts/{alert['id']}", {"webhook_url": "mailto:a@b"}), 422, "INVALID_ARGUMENT")
    assert alice.get(f"/v1/alerts/{alert['id']}").json()["rule"] == RULE


def test_an_account_may_keep_only_so_many_alerts(api, user):
    alice = user("alice")
    service(api).store.max_per_account = 3
    for _ in range(3):
        created(alice)
    body = problem(create(alice), 409, "LIMIT_REACHED")
    assert "at most 3 alerts" in body["detail"]
    assert len(alice.get("/v1/alerts").json()) == 3


def test_reading_needs_read_and_changing_needs_trade(api, user):
    alice = user("alice")
    alert = created(alice)
    assert alice.signed("GET", "/v1/alerts", None, "read").status_code == 200
    problem(alice.signed("POST", "/v1/alerts", {"market": "BTC-USDT", "rule": RULE}, "read"), 403, "SCOPE_REQUIRED")
    problem(alice.signed("DELETE", f"/v1/alerts/{alert['id']}", None, "read"), 403, "SCOPE_REQUIRED")
    assert alice.signed("POST", "/v1/alerts", {"market": "BTC-USDT", "rule": RULE}, "trade").status_code == 201
    problem(api.get("/v1/alerts"), 401, "UNAUTHENTICATED")


# -- isolation -------------------------------------------------------------------------------------------


def test_one_account_never_sees_or_changes_anothers_alerts(api, user):
    alice, bob = user("alice"), user("bob")
    alert = created(alice)
    path = f"/v1/alerts/{alert['id']}"
    assert bob.get("/v1/alerts").json() == []
    problem(bob.get(path), 404, "NOT_FOUND")
    problem(bob.patch(path, {"enabled": False}), 404, "NOT_FOUND")
    problem(bob.delete(path), 404, "NOT_FOUND")
    problem(bob.get(path + "/triggers"), 404, "NOT_FOUND")
    mine = alice.get(path).json()
    assert mine["enabled"] is True and [a["id"] for a in alice.get("/v1/alerts").json()] == [alert["id"]]


# -- the signal -----------------------------------------------------------------------------------------


def trade(exchange, price: str, quantity: str = "0.01") -> None:
    exchange.place_order("maker", "BTC/USDT", "sell", "limit", price, quantity)
    exchange.place_order("taker", "BTC/USDT", "buy", "market", quantity=quantity)


def test_the_signal_of_a_young_market_is_neutral_with_every_rule_abstaining(api, exchange, clock):
    fund(exchange, "maker", BTC="10")
    fund(exchange, "taker", USDT="1000000")
    for minute, price in enumerate(["42000", "42100", "42200"]):
        clock.set(clock.now() + timedelta(minutes=1) if minute else clock.now())
        trade(exchange, price)
    history = api.app.state.ctx.history
    assert history.wait(exchange.last_sequence)
    answer = api.get("/v1/markets/BTC-USDT/signal", params={"interval": "1m"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["market"], body["interval"], body["verdict"], body["score"]) == ("BTC-USDT", "1m", "neutral", 0)
    assert body["candles"] == 2 and body["candle_open_time"] == "2024-01-01T00:01:00Z"  # the open one not counted
    assert [r["rule"] for r in body["reasons"]] == ["trend", "long_trend", "rsi", "macd"]
    assert not any(r["available"] for r in body["reasons"])
    problem(api.get("/v1/markets/NOPE-USDT/signal"), 404, "UNKNOWN_MARKET")
    problem(api.get("/v1/markets/BTC-USDT/signal", params={"interval": "2m"}), 422, "VALIDATION_ERROR")


# -- end to end ------------------------------------------------------------------------------------------


def wait_for(predicate, what: str, timeout: float = 10.0, detail=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what} {detail()}".rstrip())


def no_float(text: str):
    raise AssertionError(f"a float in a message: {text}")


def test_trades_close_a_candle_the_alert_fires_once_on_the_websocket_and_by_signed_webhook(clock):
    exchange = Exchange.open(clock=clock)
    settings = Settings(  # the receiver listens on 127.0.0.1: a private address, allowed here
        secret_key=SECRET, password_memory_kib=1024, password_time_cost=1, webhook_allow_private=True
    )
    app = create_app(settings, exchange=exchange, clock=clock)
    configure(app, WebSocketOptions(heartbeat_seconds=None))
    receiver = Receiver()
    fund(exchange, "maker", BTC="10")
    fund(exchange, "taker", USDT="1000000")
    with running(app) as url, serving(receiver) as hook, httpx.Client(base_url=url, trust_env=False) as http:
        tokens = {}
        for name in ("alice", "bob"):
            assert http.post("/v1/accounts", json={"username": name, "password": PASSWORD}).status_code == 201
            login = http.post("/v1/auth/token", json={"username": name, "password": PASSWORD})
            tokens[name] = {"Authorization": f"Bearer {login.json()['access_token']}"}
        answer = http.post(
            "/v1/alerts",
            headers=tokens["alice"],
            json={"market": "BTC-USDT", "interval": "1m", "rule": "close > 42050", "webhook_url": hook},
        )
        assert answer.status_code == 201, answer.text
        alert = answer.json()
        receiver.secret = alert["webhook_secret"]  # the receiver checks with the secret shown at creation

        ws_url = url.replace("http://", "ws://") + "/v1/ws"
        sockets = {}
        for name in ("alice", "bob"):
            sockets[name] = connect(ws_url, open_timeout=5, proxy=None, legacy=True)
            token = tokens[name]["Authorization"].split()[1]
            sockets[name].send(json.dumps({"op": "auth", "id": 1, "token": token}))
            assert json.loads(sockets[name].recv(timeout=5))["type"] == "authenticated"
            sockets[name].send(json.dumps({"op": "subscribe", "id": 2, "channels": ["alerts"]}))
            assert json.loads(sockets[name].recv(timeout=5)) == {"type": "subscribed", "id": 2, "channel": "alerts"}

        trade(exchange, "42000")  # 00:00: below the level
        clock.advance(minutes=1)
        trade(exchange, "42100")  # 00:01 closes 00:00 (42000: false)
        clock.advance(minutes=1)
        trade(exchange, "42200")  # 00:02 closes 00:01 (42100: true -> fires)
        clock.advance(minutes=1)
        trade(exchange, "42300")  # 00:03 closes 00:02 (still true: no second firing)

        message = json.loads(sockets["alice"].recv(timeout=10), parse_float=no_float)
        SERVER_MESSAGES.validate_python(message)  # the documented shape
        assert {k: message[k] for k in ("type", "channel", "alert_id", "market", "interval", "rule")} == {
            "type": "alert", "channel": "alerts", "alert_id": alert["id"], "market": "BTC-USDT", "interval": "1m",
            "rule": "close > 42050",
        }  # fmt: skip
        assert message["candle_open_time"] == "2024-01-01T00:01:00.000000Z"
        assert message["values"] == {"close": "42100"}

        wait_for(lambda: receiver.requests, "the webhook")
        (request,) = receiver.requests
        assert request["valid"] is True  # signed with the secret shown at creation...
        assert json.loads(request["body"]) == message  # ...over the same message the socket got

        engine = app.state.ctx.extras["alerts"].engine
        wait_for(lambda: engine.last_candle(alert["id"]) == 2 * 60 * 10**9 + START, "00:02 to be evaluated")
        path = f"/v1/alerts/{alert['id']}/triggers"
        # an attempt may time out (5 s) and be retried once on a starved machine: the outcome is what counts
        webhooks = app.state.ctx.extras["webhooks"]
        triggers = wait_for(
            lambda: (page := http.get(path, headers=tokens["alice"]).json()["items"]) and page[0]["delivery"] and page,
            "the delivery outcome",
            timeout=30.0,
            detail=lambda: (
                f"{len(receiver.requests)} request(s) received; worker sent {webhooks.sent}, "
                f"delivered {webhooks.delivered}, pending {webhooks.pending}"
            ),
        )
        assert [(t["candle_open_time"], t["values"], t["delivery"]) for t in triggers] == [
            ("2024-01-01T00:01:00Z", {"close": "42100"}, "delivered")
        ]
        assert http.get(path, headers=tokens["bob"]).status_code == 404
        with pytest.raises(TimeoutError):
            sockets["bob"].recv(timeout=0.3)  # bob's alerts channel carries only bob's firings
        for sock in sockets.values():
            sock.close()
    exchange.check_invariants()
    exchange.close()

"""``/v1/ws`` under a real uvicorn server on 127.0.0.1: channels, auth, isolation, order entry, limits.

Each test starts the app around a fresh exchange (in memory, or SQLite where durability
waits matter) and talks to it with the ``websockets`` client and ``httpx``. Every message
received is parsed with floats forbidden and validated against the documented server
messages (``spotlab.api.asyncapi.SERVER_MESSAGES``), so the AsyncAPI document and the
wire cannot drift apart.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal as D

import httpx
import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from spotlab import ErrorCode, Exchange, SpotlabError
from spotlab.accounts.signing import sign
from spotlab.api.app import create_app
from spotlab.api.asyncapi import SERVER_MESSAGES
from spotlab.api.routes.ws import WebSocketOptions, configure
from spotlab.api.ws_frames import FrameWebSocketProtocol
from spotlab.settings import Settings
from tests.api.conftest import PASSWORD, SECRET
from tests.api.test_book_stream import ClientBook, Gap
from tests.store.raw_log import stalled_writes
from tests.store.test_store_contract import terminate_sessions, with_application_name

M = "BTC-USDT"
BOOK, TRADES, TICKER = f"book:{M}", f"trades:{M}", f"ticker:{M}"


def no_float(text: str):
    raise AssertionError(f"a float in a message: {text}")


def parse(text: str) -> dict:
    message = json.loads(text, parse_float=no_float)
    SERVER_MESSAGES.validate_python(message)  # the shape /v1/asyncapi.json documents
    return message


class Socket:
    """A client connection; messages received while looking for another wait in ``backlog``, in order."""

    def __init__(self, url: str, **options) -> None:
        options = {"open_timeout": 5, "close_timeout": 2, "compression": None, "proxy": None, **options}
        self.conn: ClientConnection = connect(url, legacy=True, **options)
        self.backlog: deque[dict] = deque()
        self.last_id = 0

    def send(self, payload: dict | str | bytes) -> None:
        self.conn.send(payload if isinstance(payload, str | bytes) else json.dumps(payload))

    def recv(self, timeout: float = 5.0, heartbeats: bool = False) -> dict:
        if self.backlog:
            return self.backlog.popleft()
        deadline = time.monotonic() + timeout
        while True:
            message = parse(self.conn.recv(timeout=max(0.0, deadline - time.monotonic())))
            if heartbeats or message["type"] != "heartbeat":
                return message

    def until(self, predicate: Callable[[dict], bool], timeout: float = 5.0) -> dict:
        """The first message (backlog first) satisfying ``predicate``; the others stay in the backlog."""
        for message in list(self.backlog):
            if predicate(message):
                self.backlog.remove(message)
                return message
        deadline = time.monotonic() + timeout
        while True:
            message = parse(self.conn.recv(timeout=max(0.0, deadline - time.monotonic())))
            if predicate(message):
                return message
            if message["type"] != "heartbeat":
                self.backlog.append(message)

    def ask(self, op: str, **fields) -> dict:
        """Send an op with a fresh id; its (first) answer."""
        self.last_id += 1
        op_id = self.last_id
        self.send({"op": op, "id": op_id, **fields})
        return self.until(lambda m: m.get("id") == op_id)

    def drain(self, quiet: float = 0.2) -> list[dict]:
        """Everything received until nothing more comes for ``quiet`` seconds."""
        messages = list(self.backlog)
        self.backlog.clear()
        while True:
            try:
                messages.append(self.recv(timeout=quiet))
            except TimeoutError:
                return messages

    def closed_with(self, timeout: float = 5.0) -> tuple[int, str]:
        """Read until the server closes; its close code and reason."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.conn.recv(timeout=max(0.0, deadline - time.monotonic()))
        except ConnectionClosed as closed:
            return closed.rcvd.code, closed.rcvd.reason
        raise AssertionError("the server did not close the connection")

    def close(self) -> None:
        self.conn.close()


@dataclass
class Server:
    url: str
    app: object
    exchange: Exchange
    clock: object
    http: httpx.Client
    store_may_fail: bool = False  # a test that breaks the store: closing may report it

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v1/ws"

    @property
    def streams(self):
        return self.app.state.ctx.hub

    def socket(self, **options) -> Socket:
        return Socket(self.ws_url, **options)

    def user(self, name: str, **deposits: str) -> str:
        """Register ``name`` (funded with ``deposits``); its bearer token."""
        created = self.http.post("/v1/accounts", json={"username": name, "password": PASSWORD})
        assert created.status_code == 201, created.text
        for asset, amount in deposits.items():
            self.exchange.deposit(name, asset, D(amount))
        login = self.http.post("/v1/auth/token", json={"username": name, "password": PASSWORD})
        return login.json()["access_token"]

    def key(self, token: str, *scopes: str) -> tuple[str, str]:
        answer = self.http.post("/v1/api-keys", headers=bearer(token), json={"label": "ws", "scopes": list(scopes)})
        assert answer.status_code == 201, answer.text
        return answer.json()["key_id"], answer.json()["secret"]

    def book(self) -> tuple[list, list]:
        body = self.http.get(f"/v1/markets/{M}/book", params={"depth": 1000}).json()
        return [(D(p), D(q)) for p, q in body["bids"]], [(D(p), D(q)) for p, q in body["asks"]]

    def gauge(self) -> float:
        for line in self.http.get("/metrics").text.splitlines():
            if line.startswith("spotlab_websocket_connections "):
                return float(line.split()[1])
        raise AssertionError("no spotlab_websocket_connections in /metrics")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def limit(side: str, price: str, quantity: str, **extra) -> dict:
    return {"market": M, "side": side, "type": "limit", "price": price, "quantity": quantity, **extra}


@pytest.fixture
def start(clock, tmp_path) -> Iterator[Callable[..., Server]]:
    """``start(options, store=None)``: the app under uvicorn on a free port of 127.0.0.1."""
    running = []

    def run(options: WebSocketOptions | None = None, store: str | None = None) -> Server:
        exchange = Exchange.open(store, clock=clock) if store else Exchange.open(clock=clock)
        settings = Settings(secret_key=SECRET, password_memory_kib=1024, password_time_cost=1)
        app = create_app(settings, exchange=exchange, clock=clock)
        configure(app, options or WebSocketOptions(heartbeat_seconds=None))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            ws=FrameWebSocketProtocol,
            ws_per_message_deflate=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 5
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.005)
        url = f"http://127.0.0.1:{port}"
        served = Server(url, app, exchange, clock, httpx.Client(base_url=url, trust_env=False))
        running.append((server, thread, served))
        return served

    yield run
    for server, thread, served in running:
        served.http.close()
        server.should_exit = True
        thread.join(timeout=5)
        served.exchange.check_invariants()
        try:
            served.exchange.close()
        except SpotlabError as error:
            if not (served.store_may_fail and error.code is ErrorCode.STORE_UNAVAILABLE):
                raise


@pytest.fixture
def server(start) -> Server:
    return start()


# -- market data --------------------------------------------------------------------------------------------------


def test_the_book_channel_sends_a_snapshot_then_diffs_that_track_the_rest_book(server):
    token = server.user("alice", USDT="1000000")
    server.user("bob", BTC="10")
    server.exchange.place_order("bob", "BTC/USDT", "sell", "limit", D("30000"), D("0.1"))
    ws = server.socket()

    assert ws.ask("subscribe", channels=[BOOK]) == {"type": "subscribed", "id": 1, "channel": BOOK}
    client = ClientBook(ws.recv())
    assert client.view() == server.book()

    alice = server.socket()
    alice.ask("auth", token=token)
    assert alice.ask("place_order", order=limit("buy", "29990", "0.05"))["type"] == "result"
    server.exchange.place_order("bob", "BTC/USDT", "sell", "limit", D("30010"), D("0.05"))
    assert alice.ask("place_order", order=limit("buy", "30000", "0.05"))["data"]["status"] == "FILLED"
    server.exchange.place_order("bob", "BTC/USDT", "sell", "limit", D("29990"), D("0.05"))
    deadline = time.monotonic() + 5
    while client.view() != server.book():  # every diff follows the one before (ClientBook checks the chain)
        client.apply(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
    assert client.view() == ([], [(D("30000.00"), D("0.05000")), (D("30010.00"), D("0.05000"))])


def test_a_client_that_drops_a_diff_detects_the_gap_and_resubscribes_for_a_fresh_snapshot(server):
    server.user("alice", BTC="10")
    ws = server.socket()
    ws.ask("subscribe", channels=[BOOK])
    client = ClientBook(ws.recv())
    for price in ("30000", "30001", "30002"):
        server.exchange.place_order("alice", "BTC/USDT", "sell", "limit", D(price), D("0.1"))
        diff = ws.recv()  # one diff per command: the next is placed after this one arrived
        if price == "30001":
            continue  # dropped, as a lossy client might
        if price == "30002":
            with pytest.raises(Gap):
                client.apply(diff)
        else:
            client.apply(diff)

    ws.ask("subscribe", channels=[BOOK])  # the resync
    fresh = ClientBook(ws.recv())
    assert fresh.view() == server.book()
    assert sorted(fresh.asks) == [D("30000.00"), D("30001.00"), D("30002.00")]
    server.exchange.place_order("alice", "BTC/USDT", "sell", "limit", D("30003"), D("0.1"))
    fresh.apply(ws.recv())  # the chain continues from the fresh snapshot
    assert fresh.view() == server.book()


def test_a_cross_prints_on_the_trades_channel_and_moves_the_ticker(server):
    server.user("alice", BTC="10")
    bob = server.user("bob", USDT="1000000")
    server.exchange.place_order("alice", "BTC/USDT", "sell", "limit", D("30000"), D("0.1"))
    ws = server.socket()
    ws.ask("subscribe", channels=[TRADES, TICKER])
    ticker = ws.until(lambda m: m["type"] == "ticker")
    assert (ticker["last_price"], ticker["best_ask"]) == (None, "30000.00")

    trader = server.socket()
    trader.ask("auth", token=bob)
    trader.ask("place_order", order=limit("buy", "30000", "0.04"))

    trades = ws.until(lambda m: m["type"] == "trades")
    assert [(t["price"], t["quantity"], t["taker_side"]) for t in trades["trades"]] == [("30000.00", "0.04000", "buy")]
    ticker = ws.until(lambda m: m["type"] == "ticker")
    assert (ticker["last_price"], ticker["last_quantity"], ticker["best_ask_quantity"]) == (
        "30000.00",
        "0.04000",
        "0.06000",
    )

    ws.drain()
    assert ws.ask("unsubscribe", channels=[TRADES]) == {"type": "unsubscribed", "id": 2, "channel": TRADES}
    trader.ask("place_order", order=limit("buy", "30000", "0.01"))
    messages = ws.drain()
    assert [m["type"] for m in messages] == ["ticker"]
    # 24 h figures from the history's rolling window, which may trail by one batch: the first trade is in
    rolling = messages[0]
    assert rolling["trade_count"] in (1, 2) and rolling["high"] == rolling["low"] == "30000.00", rolling


def test_heartbeats_reach_an_idle_connection_and_ping_is_answered(start):
    server = start(WebSocketOptions(heartbeat_seconds=0.05))
    ws = server.socket()
    assert ws.recv(timeout=2, heartbeats=True)["type"] == "heartbeat"
    pong = ws.ask("ping")
    assert pong == {"type": "pong", "id": 1, "time": "2024-01-01T00:00:00.000000Z"}  # the server's (simulated) clock


# -- authentication -----------------------------------------------------------------------------------------------


def test_private_channels_and_orders_need_auth_and_a_bearer_token_unlocks_them(server):
    token = server.user("alice", USDT="100000")
    ws = server.socket()

    refused = ws.ask("subscribe", channels=["orders"])
    assert (refused["type"], refused["code"], refused["status"], refused["channel"]) == (
        "error",
        "UNAUTHENTICATED",
        401,
        "orders",
    )
    assert ws.ask("place_order", order=limit("buy", "30000", "0.01"))["code"] == "UNAUTHENTICATED"
    assert ws.ask("auth", token="not-a-token")["code"] == "UNAUTHENTICATED"

    assert ws.ask("auth", token=token) == {
        "type": "authenticated",
        "id": 4,
        "account": "alice",
        "scopes": ["read", "trade", "withdraw"],
        "via": "token",
    }
    assert ws.ask("subscribe", channels=["orders"])["type"] == "subscribed"
    assert ws.ask("place_order", order=limit("buy", "30000", "0.01"))["type"] == "result"
    assert ws.until(lambda m: m["type"] == "orders")["orders"][0]["event"] == "placed"


def test_a_signed_api_key_authenticates_once_per_signature_and_keeps_its_scopes(server):
    token = server.user("alice", USDT="100000")
    key_id, secret = server.key(token, "read")
    timestamp = str(server.clock.now_ns() // 1_000_000)
    signature = sign(secret, timestamp, "GET", "/v1/ws")
    ws = server.socket()

    wrong = ws.ask("auth", key=key_id, timestamp=timestamp, signature=sign(secret, timestamp, "GET", "/v1/orders"))
    assert (wrong["code"], wrong["status"]) == ("INVALID_SIGNATURE", 401)
    stale = str(int(timestamp) - 60_000)
    assert ws.ask("auth", key=key_id, timestamp=stale, signature=sign(secret, stale, "GET", "/v1/ws"))["code"] == (
        "TIMESTAMP_OUT_OF_WINDOW"
    )
    answer = ws.ask("auth", key=key_id, timestamp=timestamp, signature=signature)
    assert (answer["type"], answer["account"], answer["scopes"], answer["via"]) == (
        "authenticated",
        "alice",
        ["read"],
        "api_key",
    )
    assert ws.ask("subscribe", channels=["balances"])["type"] == "subscribed"
    refused = ws.ask("place_order", order=limit("buy", "30000", "0.01"))
    assert (refused["code"], refused["status"]) == ("SCOPE_REQUIRED", 403)

    replayed = server.socket().ask("auth", key=key_id, timestamp=timestamp, signature=signature)
    assert (replayed["code"], replayed["status"]) == ("REPLAYED_REQUEST", 401)


def test_revoking_the_key_stops_order_entry_on_a_socket_already_authenticated(server):
    token = server.user("alice", USDT="100000")
    key_id, secret = server.key(token, "read", "trade")
    timestamp = str(server.clock.now_ns() // 1_000_000)
    ws = server.socket()
    ws.ask("auth", key=key_id, timestamp=timestamp, signature=sign(secret, timestamp, "GET", "/v1/ws"))
    assert ws.ask("place_order", order=limit("buy", "30000", "0.01"))["type"] == "result"

    assert server.http.delete(f"/v1/api-keys/{key_id}", headers=bearer(token)).status_code in (200, 204)
    server.app.state.ctx.accounts._keys.clear()  # the service caches keys for a few seconds; skip the wait

    assert ws.ask("place_order", order=limit("buy", "30000", "0.01"))["code"] == "UNAUTHENTICATED"


def test_an_expired_token_stops_order_entry_until_the_connection_authenticates_again(server):
    old = server.user("alice", USDT="100000")
    ws = server.socket()
    ws.ask("auth", token=old)
    server.clock.advance(seconds=901)  # past the token's 900 s lifetime

    assert ws.ask("place_order", order=limit("buy", "30000", "0.01"))["code"] == "TOKEN_EXPIRED"
    fresh = server.http.post("/v1/auth/token", json={"username": "alice", "password": PASSWORD}).json()
    assert ws.ask("auth", token=fresh["access_token"])["type"] == "authenticated"
    assert ws.ask("place_order", order=limit("buy", "30000", "0.01"))["type"] == "result"


def test_private_channels_end_when_the_token_expires(start):
    server = start(WebSocketOptions(heartbeat_seconds=None, credential_check_seconds=0.05))
    old = server.user("alice", USDT="100000")
    ws = server.socket()
    ws.ask("auth", token=old)
    assert ws.ask("subscribe", channels=["orders", "balances"])["type"] == "subscribed"
    ws.drain()
    server.clock.advance(seconds=901)  # past the token's 900 s lifetime

    ended = ws.until(lambda m: m["type"] == "error")
    assert (ended["code"], sorted(ended["channels"])) == ("TOKEN_EXPIRED", ["balances", "orders"])
    fresh = server.http.post("/v1/auth/token", json={"username": "alice", "password": PASSWORD}).json()
    placed = server.http.post("/v1/orders", headers=bearer(fresh["access_token"]), json=limit("buy", "30000", "0.01"))
    assert placed.status_code == 201
    assert [m for m in ws.drain() if m["type"] in ("orders", "balances")] == []  # nothing private any more


# -- isolation ----------------------------------------------------------------------------------------------------


def test_accounts_see_only_their_own_orders_fills_and_balances_and_cannot_touch_anothers_orders(server):
    tokens = {name: server.user(name, BTC="10", USDT="1000000") for name in ("alice", "bob", "carol")}
    sockets = {}
    for name in ("alice", "bob"):
        sockets[name] = server.socket()
        sockets[name].ask("auth", token=tokens[name])
        sockets[name].ask("subscribe", channels=["orders", "fills", "balances"])
    alice, bob = sockets["alice"], sockets["bob"]
    carol_order = server.http.post("/v1/orders", headers=bearer(tokens["carol"]), json=limit("sell", "30000", "0.04"))
    bob.ask("place_order", order=limit("buy", "30000", "0.04"))  # bob takes from carol
    alice_order = alice.ask("place_order", order=limit("sell", "30100", "0.1"))["data"]
    bob.ask("place_order", order=limit("buy", "30100", "0.03"))  # bob takes from alice
    bob_resting = bob.ask("place_order", order=limit("buy", "29000", "0.01"))["data"]

    seen = {name: ws.drain() for name, ws in sockets.items()}
    for name, messages in seen.items():
        updates = [u for m in messages if m["type"] in ("orders", "fills") for u in m[m["type"]]]
        assert updates, f"{name} saw nothing of its own"
        for update in updates:  # the exchange answers ORDER_NOT_FOUND for another account's order
            assert server.exchange.order(name, update["order_id"]).id == update["order_id"]
        assert carol_order.json()["id"] not in {u["order_id"] for u in updates}
        balances = {b["asset"]: b for m in messages if m["type"] == "balances" for b in m["balances"]}
        assert {asset: (D(b["available"]), D(b["locked"])) for asset, b in balances.items()} == {
            asset: (row.available, row.locked) for asset, row in server.exchange.balances(name).items()
        }
    alice_fills = [f for m in seen["alice"] if m["type"] == "fills" for f in m["fills"]]
    assert [(f["order_id"], f["role"], f["quantity"]) for f in alice_fills] == [(alice_order["id"], "maker", "0.03000")]

    stolen = alice.ask("cancel_order", order_id=bob_resting["id"])
    assert (stolen["code"], stolen["status"]) == ("ORDER_NOT_FOUND", 404)
    assert alice.ask("cancel_all", market=M)["data"][0]["id"] == alice_order["id"]
    assert server.exchange.order("bob", bob_resting["id"]).status == "NEW"
    rest = server.http.delete(f"/v1/orders/{bob_resting['id']}", headers=bearer(tokens["alice"]))
    assert rest.status_code == 404
    switched = alice.ask("auth", token=tokens["bob"])
    assert (switched["code"], switched["status"]) == ("FORBIDDEN", 403)
    assert alice.ask("place_order", order=limit("buy", "1000", "0.01"))["data"]["id"] in {
        o.id for o in server.exchange.open_orders("alice")
    }


# -- order entry --------------------------------------------------------------------------------------------------


def test_orders_placed_and_canceled_over_the_socket_answer_in_the_rest_shape(server):
    token = server.user("alice", USDT="100000")
    ws = server.socket()
    ws.ask("auth", token=token)

    placed = ws.ask("place_order", order=limit("buy", "30000", "0.01", client_order_id="ws-1"))
    rest = server.http.post(
        "/v1/orders", headers=bearer(token), json=limit("buy", "30000", "0.01", client_order_id="r-1")
    )
    assert (placed["type"], placed["op"], placed["duplicate"]) == ("result", "place_order", False)
    differing = {"id", "client_order_id"}
    assert {k: v for k, v in placed["data"].items() if k not in differing} == {
        k: v for k, v in rest.json().items() if k not in differing
    }

    again = ws.ask("place_order", order=limit("buy", "30000", "0.01", client_order_id="ws-1"))
    assert (again["duplicate"], again["data"]["id"]) == (True, placed["data"]["id"])

    canceled = ws.ask("cancel_order", order_id=placed["data"]["id"])
    assert canceled["data"]["status"] == "CANCELED"
    assert canceled["data"] == server.http.get(f"/v1/orders/{placed['data']['id']}", headers=bearer(token)).json()
    everything = ws.ask("cancel_all", market=M)
    assert [o["id"] for o in everything["data"]] == [rest.json()["id"]]

    refused = ws.ask("place_order", order=limit("buy", "30000", "100"))
    assert (refused["code"], refused["status"]) == ("INSUFFICIENT_FUNDS", 409)
    assert ws.ask("cancel_order", order_id=999)["code"] == "ORDER_NOT_FOUND"


def test_a_re_quote_over_the_socket_answers_as_rest_does_and_the_orders_channel_tells_of_it(server):
    token = server.user("alice", USDT="100000", BTC="1")
    ws = server.socket()
    ws.ask("auth", token=token)
    old = ws.ask("place_order", order=limit("buy", "29000", "0.1"))["data"]
    ws.ask("subscribe", channels=["orders"])
    ladder = [
        {"side": "buy", "price": "29900", "quantity": "0.1"},
        {"side": "sell", "price": "30100", "quantity": "0.1"},
    ]
    answer = ws.ask("replace_quotes", market=M, quotes=ladder)
    assert (answer["type"], answer["op"]) == ("result", "replace_quotes")
    assert [o["id"] for o in answer["data"]["canceled"]] == [old["id"]]
    placed = answer["data"]["placed"]
    assert [(o["side"], o["price"], o["status"]) for o in placed] == [
        ("buy", "29900.00", "NEW"),
        ("sell", "30100.00", "NEW"),
    ]
    for order in placed:
        assert order == server.http.get(f"/v1/orders/{order['id']}", headers=bearer(token)).json()
    updates = [u for m in ws.drain() if m["type"] == "orders" for u in m["orders"]]
    assert [(u["event"], u["order_id"]) for u in updates][-3:] == [  # (the old order's placing may come first)
        ("canceled", old["id"]),
        *[("placed", o["id"]) for o in placed],
    ]

    before = server.exchange.state_hash()
    too_much = ws.ask("replace_quotes", market=M, quotes=[{"side": "sell", "price": "30100", "quantity": "2"}])
    assert (too_much["code"], too_much["status"]) == ("INSUFFICIENT_FUNDS", 409)
    floats = ws.ask("replace_quotes", market=M, quotes=[{"side": "sell", "price": 30100.5, "quantity": "0.1"}])
    assert (floats["code"], floats["status"]) == ("VALIDATION_ERROR", 422)
    assert server.exchange.state_hash() == before


def test_pipelined_order_ops_reach_the_exchange_in_the_order_sent(start, tmp_path):
    server = start(store=f"sqlite:///{tmp_path}/ws.sqlite")
    token = server.user("alice", USDT="100000")
    ws = server.socket()
    ws.ask("auth", token=token)

    for i in range(20):  # no waiting between: each awaits its durability while the next is applied
        ws.send({"op": "place_order", "id": f"p{i}", "order": limit("buy", str(20000 + i), "0.01")})
    ws.send({"op": "cancel_all", "id": "all", "market": M})

    answers = {m["id"]: m for m in (ws.until(lambda m: m["type"] == "result") for _ in range(21))}
    placed = [answers[f"p{i}"]["data"]["id"] for i in range(20)]
    assert sorted(o["id"] for o in answers["all"]["data"]) == placed == sorted(placed)
    assert server.exchange.open_orders("alice") == []


def test_results_wait_for_durability_and_reading_pauses_at_max_inflight(start, tmp_path):
    url = f"sqlite:///{tmp_path}/ws.sqlite"
    server = start(WebSocketOptions(heartbeat_seconds=None, max_inflight=3), store=url)
    token = server.user("alice", USDT="100000")
    ws = server.socket()
    ws.ask("auth", token=token)

    with stalled_writes(url):  # nothing becomes durable meanwhile
        for i in range(5):
            ws.send({"op": "place_order", "id": f"p{i}", "order": limit("buy", str(20000 + i), "0.01")})
        ws.send({"op": "ping", "id": "ping"})
        assert ws.drain(quiet=0.5) == []  # no result before durability; the ping is not even read yet
        assert len(server.exchange.open_orders("alice")) == 3  # three applied, then reading paused

    answers = [ws.until(lambda m: m["type"] in ("result", "pong")) for _ in range(6)]
    order = [m["id"] for m in answers]
    assert [i for i in order if i != "ping"] == ["p0", "p1", "p2", "p3", "p4"]  # results in the order applied
    # read only once results had made room: p3 and p4 were read before it, and with three in flight the first of
    # them waited for p0's result, the second for p1's (p2's may come later: it may become durable in a later commit)
    assert order.index("ping") > order.index("p1")
    assert {m["data"]["status"] for m in answers if m["type"] == "result"} == {"NEW"}
    assert len(server.exchange.open_orders("alice")) == 5


@pytest.mark.postgres
def test_a_store_failure_answers_every_op_awaiting_durability_with_store_unavailable(start, pg_url):
    url, name = with_application_name(pg_url)
    server = start(store=url)
    server.store_may_fail = True
    token = server.user("alice", USDT="100000")
    ws = server.socket()
    ws.ask("auth", token=token)

    with stalled_writes(pg_url):
        for i in range(3):
            ws.send({"op": "place_order", "id": f"p{i}", "order": limit("buy", str(20000 + i), "0.01")})
        assert ws.drain(quiet=0.3) == []  # applied, awaiting durability
        assert terminate_sessions(name, "lock") == 1  # the store's session ends: its commit fails
        answers = [ws.until(lambda m: m["type"] == "error", timeout=10) for _ in range(3)]

    assert [(m["id"], m["code"]) for m in answers] == [(f"p{i}", "STORE_UNAVAILABLE") for i in range(3)]
    assert ws.ask("place_order", order=limit("buy", "20000", "0.01"))["code"] == "STORE_UNAVAILABLE"


def test_order_entry_is_rate_limited_per_connection(start):
    server = start(WebSocketOptions(heartbeat_seconds=None, order_ops_per_second=1, order_ops_burst=2))
    token = server.user("alice")
    ws = server.socket()
    ws.ask("auth", token=token)

    codes = [ws.ask("cancel_order", order_id=7)["code"] for _ in range(3)]

    assert codes == ["ORDER_NOT_FOUND", "ORDER_NOT_FOUND", "RATE_LIMITED"]
    assert ws.ask("ping")["type"] == "pong"  # other ops are not limited


# -- bad input and limits -----------------------------------------------------------------------------------------


def test_bad_messages_get_error_answers_and_change_nothing(start):
    server = start(WebSocketOptions(heartbeat_seconds=None, max_subscriptions=2))
    token = server.user("alice", USDT="100000")
    ws = server.socket()
    ws.ask("auth", token=token)
    before = server.exchange.state_hash()

    cases = [
        ("not json", None, "MALFORMED_REQUEST", 400),
        ("[1, 2]", None, "VALIDATION_ERROR", 422),
        ('{"op": "dance", "id": 5}', 5, "VALIDATION_ERROR", 422),
        ('{"id": "x"}', "x", "VALIDATION_ERROR", 422),
        ('{"op": "subscribe", "id": 6}', 6, "VALIDATION_ERROR", 422),
        ('{"op": "ping", "id": 7, "extra": 1}', 7, "VALIDATION_ERROR", 422),
        ('{"op": "ping", "id": true}', None, "VALIDATION_ERROR", 422),
        ('{"op": "cancel_order", "id": 8, "order_id": 0}', 8, "VALIDATION_ERROR", 422),
        ('{"op": "cancel_all", "id": 9, "market": "nope"}', 9, "VALIDATION_ERROR", 422),
        ('{"op": "auth", "id": 10, "key": "k"}', 10, "VALIDATION_ERROR", 422),
        ('{"op": "subscribe", "id": 11, "channels": ["candles:BTC-USDT"]}', 11, "INVALID_ARGUMENT", 422),
        ('{"op": "subscribe", "id": 12, "channels": ["book:NOPE-USDT"]}', 12, "UNKNOWN_MARKET", 404),
        ('{"op": "cancel_all", "id": 13, "market": "NOPE-USDT"}', 13, "UNKNOWN_MARKET", 404),
        ("[" * 10_000 + "]" * 10_000, None, "MALFORMED_REQUEST", 400),
        (b"\xff\xfe", None, "MALFORMED_REQUEST", 400),
    ]
    for text, op_id, code, status in cases:
        ws.send(text)
        answer = ws.recv()
        assert (answer["type"], answer["id"], answer["code"], answer["status"]) == ("error", op_id, code, status), text
        assert "Traceback" not in answer["detail"]

    float_price = {"op": "place_order", "id": 14, "order": {**limit("buy", "1", "1"), "price": 30000.5}}
    ws.send(json.dumps(float_price))
    answer = ws.recv()
    assert (answer["code"], [e["field"] for e in answer["errors"]]) == ("VALIDATION_ERROR", ["order.price"])
    assert "as strings" in answer["detail"]
    ws.ask("subscribe", channels=[BOOK, TRADES])
    ws.backlog.clear()
    too_many = ws.ask("subscribe", channels=[TICKER])
    assert (too_many["code"], too_many["channel"]) == ("INVALID_ARGUMENT", TICKER)
    assert server.exchange.state_hash() == before
    assert ws.ask("ping")["type"] == "pong"  # still connected


def test_a_message_over_the_size_limit_closes_the_connection_with_1009(start):
    server = start(WebSocketOptions(heartbeat_seconds=None, max_message_bytes=1024))
    ws = server.socket()
    assert ws.ask("ping", pad="x" * 900)["code"] == "VALIDATION_ERROR"  # under the limit: an answer

    big = json.dumps({"op": "ping", "pad": "x" * 2000})
    ws.send(big)

    code, reason = ws.closed_with()
    assert (code, reason) == (1009, f"message too big: {len(big)} bytes, the limit is 1024")
    assert server.socket().ask("ping")["type"] == "pong"


def test_a_client_that_stops_reading_is_closed_as_a_slow_consumer_and_the_server_stays_healthy(start):
    """Frames go straight to the socket (``spotlab.api.ws_frames``): the bound is the bytes left unsent."""
    server = start(WebSocketOptions(heartbeat_seconds=None, max_chars=256 * 1024))
    server.user("alice", BTC="100")
    for i in range(2000):  # a deep book: each snapshot is ~60 KB
        server.exchange.place_order("alice", "BTC/USDT", "sell", "limit", D(30000 + i), D("0.01"))
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's writes stall
    stalled.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    slow = server.socket(sock=stalled, max_queue=1)
    assert server.gauge() == 1

    try:
        for i in range(300):  # resync after resync, never reading the snapshots
            slow.send({"op": "subscribe", "id": i, "channels": [BOOK]})
    except ConnectionClosed:
        pass  # the server may have closed before we were done
    deadline = time.monotonic() + 5
    while server.streams.hub.connected and time.monotonic() < deadline:
        time.sleep(0.01)

    assert server.streams.hub.connected == 0  # forgotten by the hub while the socket is still stalled
    code, reason = slow.closed_with()
    assert code == 1008 and re.fullmatch(r"slow consumer: \d+ bytes unsent", reason), (code, reason)
    assert int(reason.split()[2]) > 256 * 1024
    healthy = server.socket()
    assert healthy.ask("subscribe", channels=[TICKER])["type"] == "subscribed"
    assert server.http.get("/healthz").status_code == 200
    healthy.close()
    deadline = time.monotonic() + 2
    while server.gauge() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.gauge() == 0 and server.streams.hub.connected == 0

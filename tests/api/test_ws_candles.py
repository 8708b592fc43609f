"""``candles:{market}:{interval}`` under a real uvicorn server: the open candle, its updates, then its close.

Every message is validated against the AsyncAPI models (``tests.api.test_ws.parse``). The clock closes a
period that ends without a later trade (the streams check about once a second); a restart of the server on
the same store continues the open candle, seeded from the history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from spotlab import Exchange
from spotlab.api.app import create_app
from spotlab.api.routes.ws import WebSocketOptions, configure
from spotlab.settings import Settings
from tests.api import test_ws
from tests.api.conftest import SECRET
from tests.api.live import running
from tests.api.test_ws import Socket

start = test_ws.start  # the fixture: the app under uvicorn on a free port

M = "BTC-USDT"
MINUTE = f"candles:{M}:1m"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def trade(exchange: Exchange, clock, at: timedelta, price: str, quantity: str) -> None:
    clock.set(T0 + at)
    exchange.place_order("alice", "BTC/USDT", "sell", "limit", D(price), D(quantity))
    exchange.place_order("bob", "BTC/USDT", "buy", "market", quantity=D(quantity))


def fund(exchange: Exchange) -> None:
    for name, asset, amount in (("alice", "BTC", "10"), ("bob", "USDT", "1000000")):
        exchange.create_account(name)
        exchange.deposit(name, asset, D(amount))


def candles_of(ws: Socket, timeout: float = 5.0) -> list[dict]:
    message = ws.until(lambda m: m["type"] == "candles", timeout=timeout)
    assert message["channel"] == MINUTE and message["interval"] == "1m" and message["market"] == M
    return message["candles"]


def summary(candle: dict) -> tuple:
    return candle["open_time"][11:19], candle["close"], candle["trade_count"], candle["closed"]


def test_the_open_candle_first_then_its_updates_then_its_close_by_the_clock_or_a_later_trade(start):
    server = start()
    fund(server.exchange)
    ws = server.socket()
    assert ws.ask("subscribe", channels=[MINUTE])["type"] == "subscribed"
    trade(server.exchange, server.clock, timedelta(seconds=10), "30000", "0.1")
    assert [summary(c) for c in candles_of(ws)] == [("00:00:00", "30000.00", 1, False)]

    late = server.socket()  # a later subscriber gets the open candle first
    late.ask("subscribe", channels=[MINUTE])
    (first,) = candles_of(late)
    assert first == {
        "open_time": "2024-01-01T00:00:00.000000Z",
        "close_time": "2024-01-01T00:01:00.000000Z",
        "open": "30000.00",
        "high": "30000.00",
        "low": "30000.00",
        "close": "30000.00",
        "base_volume": "0.10000",
        "quote_volume": "3000.00000000",
        "trade_count": 1,
        "closed": False,
    }

    trade(server.exchange, server.clock, timedelta(seconds=40), "30010", "0.2")
    assert [summary(c) for c in candles_of(ws)] == [("00:00:00", "30010.00", 2, False)]

    server.clock.set(T0 + timedelta(seconds=61))  # no later trade: the clock closes the minute
    (closed,) = candles_of(ws, timeout=10)
    assert summary(closed) == ("00:00:00", "30010.00", 2, True)
    assert (closed["high"], closed["low"], closed["base_volume"]) == ("30010.00", "30000.00", "0.30000")
    assert summary(candles_of(late)[0]) == ("00:00:00", "30010.00", 2, False)
    assert summary(candles_of(late, timeout=10)[0]) == ("00:00:00", "30010.00", 2, True)

    trade(server.exchange, server.clock, timedelta(minutes=2, seconds=5), "29990", "0.1")  # 00:01 had no trade
    assert [summary(c) for c in candles_of(ws)] == [("00:02:00", "29990.00", 1, False)]
    trade(server.exchange, server.clock, timedelta(minutes=3, seconds=1), "29980", "0.1")
    seen: list[tuple] = []  # the clock may close 00:02 in a message of its own just before the trade's
    while ("00:03:00", "29980.00", 1, False) not in seen:
        seen += [summary(c) for c in candles_of(ws)]
    assert seen.count(("00:02:00", "29990.00", 1, True)) == 1  # closed exactly once
    assert seen.index(("00:02:00", "29990.00", 1, True)) < seen.index(("00:03:00", "29980.00", 1, False))


def test_other_intervals_and_markets_are_channels_of_their_own(start):
    server = start()
    fund(server.exchange)
    ws = server.socket()
    ws.ask("subscribe", channels=[f"candles:{M}:1h", f"candles:{M}:1w", "candles:ETH-USDT:1m"])
    trade(server.exchange, server.clock, timedelta(minutes=5), "30000", "0.1")
    messages = [ws.until(lambda m: m["type"] == "candles") for _ in range(2)]
    assert sorted(m["interval"] for m in messages) == ["1h", "1w"]
    assert [m for m in ws.drain() if m["type"] == "candles"] == []  # nothing for ETH-USDT


def test_bad_candle_channels_are_refused_with_a_code(start):
    server = start()
    ws = server.socket()
    for channel, code in (
        (f"candles:{M}:2m", "INVALID_ARGUMENT"),
        (f"candles:{M}", "INVALID_ARGUMENT"),
        ("candles:DOGE-USDT:1m", "UNKNOWN_MARKET"),
    ):
        answer = ws.ask("subscribe", channels=[channel])
        assert (answer["type"], answer["code"], answer["channel"]) == ("error", code, channel)


def test_a_restarted_server_continues_the_open_candle(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    settings = Settings(secret_key=SECRET, password_memory_kib=1024, password_time_cost=1)

    def serve(exchange: Exchange):
        app = create_app(settings, exchange=exchange, clock=clock)
        configure(app, WebSocketOptions(heartbeat_seconds=None))
        return running(app)

    with Exchange.open(url, clock=clock) as exchange, serve(exchange) as base:
        fund(exchange)
        trade(exchange, clock, timedelta(seconds=10), "30000", "0.1")
        ws = Socket(base.replace("http://", "ws://") + "/v1/ws")
        ws.ask("subscribe", channels=[MINUTE])
        assert summary(candles_of(ws)[0]) == ("00:00:00", "30000.00", 1, False)
        ws.close()

    clock.set(T0 + timedelta(seconds=20))
    with Exchange.open(url, clock=clock) as exchange, serve(exchange) as base:
        ws = Socket(base.replace("http://", "ws://") + "/v1/ws")
        ws.ask("subscribe", channels=[MINUTE])
        assert summary(candles_of(ws)[0]) == ("00:00:00", "30000.00", 1, False)  # from the history
        trade(exchange, clock, timedelta(seconds=30), "30020", "0.1")
        (continued,) = candles_of(ws)
        assert summary(continued) == ("00:00:00", "30020.00", 2, False)
        assert (continued["open"], continued["base_volume"]) == ("30000.00", "0.20000")
        ws.close()

"""The streaming core: subscribers with bounded queues, the hub's fan-out, and the exchange's channels.

Tests run on a real asyncio loop (``asyncio.run``) against a real in-memory exchange,
whose durable records reach the loop through ``call_soon_threadsafe`` as in serving;
one test uses a SQLite store, whose records come from the store's writer thread.
Every message is parsed with floats forbidden: money travels as decimal strings.
"""

from __future__ import annotations

import asyncio
import functools
import json
from decimal import Decimal as D

import pytest

from spotlab import Exchange, SpotlabError
from spotlab.api.channels import Streams
from spotlab.api.streams import Hub, Subscriber
from tests.api.test_book_stream import ClientBook
from tests.conftest import fund

M = "BTC/USDT"
BOOK, TRADES, TICKER = "book:BTC-USDT", "trades:BTC-USDT", "ticker:BTC-USDT"
T0 = "2024-01-01T00:00:00.000000Z"  # the simulated clock's time


def on_loop(test):
    """Run an ``async def`` test on a fresh event loop (pytest still sees its fixtures)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def no_float(text: str):
    raise AssertionError(f"a float in a message: {text}")


def parse(message: str) -> dict:
    return json.loads(message, parse_float=no_float)


async def settle() -> None:
    """Let the loop run the scheduled drains."""
    for _ in range(3):
        await asyncio.sleep(0)


async def received(subscriber: Subscriber) -> list[dict]:
    """Everything queued for ``subscriber`` now, parsed."""
    await settle()
    messages = []
    while subscriber.pending:
        messages.append(parse(await subscriber.next()))
    return messages


def limit(ex, account, side, price, quantity, **kw):
    return ex.place_order(account, M, side, "limit", D(price), D(quantity), **kw)


@pytest.fixture
def traders(ex):
    return tuple(fund(ex, name, BTC="100", USDT="10000000") for name in ("alice", "bob", "carol"))


def started(ex, clock=None, **options) -> Streams:
    streams = Streams(ex, heartbeat_seconds=None, clock=clock, **options)
    streams.start()
    return streams


# -- subscribers ---------------------------------------------------------------------------


@on_loop
async def test_a_subscriber_that_falls_behind_is_closed_with_a_reason_and_its_queue_dropped():
    subscriber = Subscriber(max_messages=3)
    assert [subscriber.deliver(f'"m{i}"') for i in range(3)] == [True, True, True]

    assert subscriber.deliver('"m3"') is False

    assert subscriber.closed
    assert (subscriber.close_code, subscriber.close_reason) == (1008, "slow consumer: 3 messages unread")
    assert (subscriber.pending, subscriber.pending_chars) == (0, 0)  # what it held is freed
    assert subscriber.deliver('"m4"') is False
    assert await subscriber.next() is None


def test_a_subscriber_over_its_character_budget_is_closed_too():
    subscriber = Subscriber(max_messages=100, max_chars=10)
    assert subscriber.deliver("x" * 6)
    assert not subscriber.deliver("y" * 5)
    assert (subscriber.close_code, subscriber.close_reason) == (1008, "slow consumer: 6 bytes unread")


@on_loop
async def test_next_waits_for_a_message_and_gives_none_once_closed():
    subscriber = Subscriber()
    waiting = asyncio.ensure_future(subscriber.next())
    await settle()
    assert not waiting.done()

    subscriber.deliver('"first"')
    assert await waiting == '"first"'
    assert subscriber.pending_chars == 0

    later = asyncio.ensure_future(subscriber.next())
    await settle()
    subscriber.close(1000, "bye")
    assert await later is None
    assert [m async for m in subscriber] == []


def test_limits_must_be_positive_integers():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(SpotlabError, match="max_messages must be a positive integer"):
            Subscriber(max_messages=bad)


def test_a_connection_stays_bound_to_the_account_it_authenticated_as():
    subscriber = Subscriber()
    subscriber.authenticate("alice")
    subscriber.authenticate("alice")  # again, the same: fine
    with pytest.raises(SpotlabError) as refused:
        subscriber.authenticate("bob")
    assert refused.value.code == "FORBIDDEN"
    assert subscriber.account == "alice"


def test_the_hub_serialises_once_and_hands_the_same_text_to_every_subscriber():
    hub = Hub()
    subscribers = [Subscriber() for _ in range(3)]
    for subscriber in subscribers:
        hub.connect(subscriber)
        hub.add(subscriber, "trades:X", "trades:X")

    assert hub.publish("trades:X", {"type": "trades", "price": "1.50"}) == 3

    texts = [subscriber._queue[0] for subscriber in subscribers]
    assert texts[0] == '{"type":"trades","price":"1.50"}'
    assert all(text is texts[0] for text in texts)
    assert hub.publish("trades:Y", {"type": "nobody listens"}) == 0


def test_the_hub_forgets_a_subscriber_that_fell_behind_and_keeps_serving_the_others():
    hub = Hub()
    slow, fast = Subscriber(max_messages=1), Subscriber(max_messages=10)
    for subscriber in (slow, fast):
        hub.connect(subscriber)
        hub.add(subscriber, "c", "c")

    assert hub.publish("c", {"n": 1}) == 2
    assert hub.publish("c", {"n": 2}) == 1

    assert slow.closed and not fast.closed
    assert (hub.count("c"), hub.connected, fast.pending) == (1, 1, 2)


# -- the exchange's channels ---------------------------------------------------------------


@on_loop
async def test_the_book_channel_gives_a_snapshot_then_diffs_chained_by_sequence(ex, traders):
    alice, bob, _ = traders
    limit(ex, alice, "sell", "30000", "0.1")
    streams = started(ex)
    subscriber = streams.connect()

    streams.subscribe(subscriber, BOOK, ack={"type": "subscribed", "channel": BOOK})
    limit(ex, alice, "sell", "30010", "0.2")
    await settle()  # one batch each
    limit(ex, bob, "buy", "30010", "0.15")

    ack, snapshot, first, second = await received(subscriber)
    assert ack == {"type": "subscribed", "channel": BOOK}
    assert snapshot["asks"] == [["30000.00", "0.10000"]]
    assert (first["previous_sequence"], first["asks"]) == (snapshot["sequence"], [["30010.00", "0.20000"]])
    assert (second["previous_sequence"], second["asks"]) == (
        first["sequence"],
        [["30000.00", "0"], ["30010.00", "0.15000"]],
    )
    assert second["sequence"] < ex.last_sequence  # the fills' seq; the balances came after


@on_loop
async def test_a_subscriber_that_missed_a_diff_detects_the_gap_and_resubscribes_for_a_fresh_snapshot(ex, traders):
    alice, _, _ = traders
    streams = started(ex)
    subscriber = streams.connect()
    streams.subscribe(subscriber, BOOK)
    (snapshot,) = await received(subscriber)
    limit(ex, alice, "sell", "30000", "0.1")
    await settle()
    limit(ex, alice, "sell", "30001", "0.1")
    first, lost = await received(subscriber)
    del lost  # as if the client had dropped it
    limit(ex, alice, "sell", "30002", "0.1")

    (third,) = await received(subscriber)
    assert first["previous_sequence"] == snapshot["sequence"]
    assert third["previous_sequence"] != first["sequence"]  # the client sees the gap

    streams.subscribe(subscriber, BOOK)  # again: a fresh snapshot on the same subscription
    limit(ex, alice, "sell", "30003", "0.1")
    fresh, fourth = await received(subscriber)
    assert fresh["type"] == "snapshot" and fresh["sequence"] == third["sequence"]
    assert fresh["asks"] == [["30000.00", "0.10000"], ["30001.00", "0.10000"], ["30002.00", "0.10000"]]
    assert fourth["previous_sequence"] == fresh["sequence"]
    assert streams.channels(subscriber) == [BOOK]


@on_loop
async def test_if_processing_a_batch_fails_the_books_start_afresh_and_book_clients_see_a_gap(ex, traders, caplog):
    alice, _, _ = traders
    streams = started(ex)
    subscriber = streams.connect()
    streams.subscribe(subscriber, BOOK)
    (snapshot,) = await received(subscriber)

    def broken(records):
        raise RuntimeError("a bug")

    streams.books.apply = broken
    limit(ex, alice, "sell", "30000", "0.1")  # lost with the failing batch
    await settle()
    limit(ex, alice, "sell", "30001", "0.1")

    (diff,) = await received(subscriber)
    assert "books start afresh" in caplog.text
    assert diff["previous_sequence"] != snapshot["sequence"]  # a gap, not a silently wrong book
    streams.subscribe(subscriber, BOOK)
    (fresh,) = await received(subscriber)
    assert fresh["asks"] == [["30000.00", "0.10000"], ["30001.00", "0.10000"]]


@on_loop
async def test_trades_and_the_ticker_follow_each_batch(ex, traders):
    alice, bob, _ = traders
    limit(ex, alice, "sell", "30000", "0.1")
    limit(ex, alice, "sell", "30000.5", "0.1")
    limit(ex, alice, "buy", "29000", "0.4")
    streams = started(ex)
    subscriber = streams.connect()
    streams.subscribe(subscriber, TRADES)
    streams.subscribe(subscriber, TICKER)
    (ticker,) = await received(subscriber)
    assert ticker["best_ask"] == "30000.00" and ticker["last_price"] is None

    ex.place_order(bob, M, "buy", "market", quantity=D("0.15"))

    trades, ticker = await received(subscriber)
    assert trades == {
        "type": "trades",
        "channel": TRADES,
        "market": "BTC-USDT",
        "sequence": trades["sequence"],
        "trades": [
            {"id": 1, "price": "30000.00", "quantity": "0.10000", "taker_side": "buy", "time": T0},
            {"id": 2, "price": "30000.50", "quantity": "0.05000", "taker_side": "buy", "time": T0},
        ],
    }  # fmt: skip
    assert {key: ticker[key] for key in ("last_price", "last_quantity", "best_bid", "best_bid_quantity")} == {
        "last_price": "30000.50",
        "last_quantity": "0.05000",
        "best_bid": "29000.00",
        "best_bid_quantity": "0.40000",
    }
    assert (ticker["best_ask"], ticker["best_ask_quantity"], ticker["status"]) == ("30000.50", "0.05000", "trading")


@on_loop
async def test_messages_of_a_channel_arrive_in_event_order_across_batches(ex, traders):
    alice, bob, _ = traders
    streams = started(ex)
    subscriber = streams.connect()
    subscriber.authenticate(bob)
    for channel in (TRADES, "orders", "balances"):
        streams.subscribe(subscriber, channel)
    for i in range(10):
        limit(ex, alice, "sell", str(30000 + i), "0.01")
        limit(ex, bob, "buy", str(30000 + i), "0.01")
        await settle()

    messages = await received(subscriber)
    for channel in (TRADES, "orders", "balances"):
        sequences = [m["sequence"] for m in messages if m["channel"] == channel]
        assert len(sequences) == 10 and sequences == sorted(sequences), channel
    trade_ids = [t["id"] for m in messages if m["channel"] == TRADES for t in m["trades"]]
    assert trade_ids == list(range(1, 11))


@on_loop
async def test_a_slow_consumer_is_closed_and_forgotten_while_the_others_keep_receiving(ex, traders):
    alice, bob, _ = traders
    streams = started(ex)
    slow, fast = streams.connect(max_messages=3), streams.connect()
    for subscriber in (slow, fast):
        streams.subscribe(subscriber, TRADES)

    for _ in range(5):
        limit(ex, alice, "sell", "30000", "0.01")
        limit(ex, bob, "buy", "30000", "0.01")
        assert len(await received(fast)) == 1

    assert slow.closed and (slow.close_code, slow.close_reason) == (1008, "slow consumer: 3 messages unread")
    assert (slow.pending, slow.pending_chars) == (0, 0)
    assert streams.hub.count(TRADES) == 1 and streams.hub.connected == 1
    assert await slow.next() is None


@on_loop
async def test_commands_between_two_turns_of_the_loop_make_one_message_per_channel(ex, traders):
    alice, bob, _ = traders
    streams = started(ex)
    subscriber = streams.connect()
    for channel in (BOOK, TRADES):
        streams.subscribe(subscriber, channel)
    (snapshot,) = await received(subscriber)

    for i in range(5):  # no await: the records wait in the inbox for one drain
        limit(ex, alice, "sell", str(30000 + i), "0.01")
        limit(ex, bob, "buy", str(30000 + i), "0.005")

    trades, diff = await received(subscriber)
    assert [t["id"] for t in trades["trades"]] == [1, 2, 3, 4, 5]
    assert diff["previous_sequence"] == snapshot["sequence"]
    # 0.025 sold from the lowest asks up; 30000 and 30001 came and went inside the batch: not mentioned
    assert diff["asks"] == [["30002.00", "0.00500"], ["30003.00", "0.01000"], ["30004.00", "0.01000"]]


@on_loop
async def test_a_coalescing_window_gathers_the_records_of_several_loop_turns_into_one_message(ex, traders):
    alice, bob, _ = traders
    streams = started(ex, coalesce_seconds=0.05)
    subscriber = streams.connect()
    streams.subscribe(subscriber, TRADES)

    for _ in range(3):
        limit(ex, alice, "sell", "30000", "0.01")
        limit(ex, bob, "buy", "30000", "0.01")
        await settle()
    assert subscriber.pending == 0  # still inside the window

    message = parse(await asyncio.wait_for(subscriber.next(), timeout=2))
    assert [t["id"] for t in message["trades"]] == [1, 2, 3]


@on_loop
async def test_after_unsubscribing_a_channel_sends_nothing_more(ex, traders):
    alice, bob, _ = traders
    streams = started(ex)
    subscriber = streams.connect()
    streams.subscribe(subscriber, TRADES)
    streams.subscribe(subscriber, BOOK)
    await received(subscriber)

    await settle()
    assert streams.unsubscribe(subscriber, TRADES) is True
    assert streams.unsubscribe(subscriber, TRADES) is False
    limit(ex, alice, "sell", "30000", "0.01")
    limit(ex, bob, "buy", "30000", "0.005")

    assert {m["channel"] for m in await received(subscriber)} == {BOOK}
    assert streams.hub.has(TRADES) is False


@on_loop
async def test_private_channels_carry_only_the_authenticated_accounts_events(ex, traders):
    alice, bob, carol = traders
    streams = started(ex)
    subscribers = {}
    for account in (alice, bob):
        subscribers[account] = streams.connect(account)
        for channel in ("orders", "fills", "balances"):
            streams.subscribe(subscribers[account], channel)

    carol_order = limit(ex, carol, "sell", "30000", "0.04")
    limit(ex, bob, "buy", "30000", "0.04")  # bob takes from carol: nothing for alice
    limit(ex, alice, "sell", "30100", "0.1")
    await settle()
    limit(ex, bob, "buy", "30100", "0.03")  # bob takes from alice

    seen = {account: await received(subscriber) for account, subscriber in subscribers.items()}
    for account, messages in seen.items():
        updates = [u for m in messages if m["channel"] in ("orders", "fills") for u in m[m["channel"]]]
        assert updates, f"{account} saw nothing of its own"
        for update in updates:  # each order named is the subscriber's own (another's would be ORDER_NOT_FOUND)
            assert ex.order(account, update["order_id"]).account == account
        assert carol_order.id not in {u["order_id"] for u in updates}
    alice_updates = [u["event"] for m in seen[alice] if m["channel"] == "orders" for u in m["orders"]]
    assert alice_updates == ["placed", "filled"]
    alice_fills = [f for m in seen[alice] if m["channel"] == "fills" for f in m["fills"]]
    bob_fills = [f for m in seen[bob] if m["channel"] == "fills" for f in m["fills"]]
    assert [(f["role"], f["side"], f["quantity"]) for f in alice_fills] == [("maker", "sell", "0.03000")]
    assert [(f["role"], f["side"], f["quantity"]) for f in bob_fills] == [
        ("taker", "buy", "0.04000"),
        ("taker", "buy", "0.03000"),
    ]
    alice_balances = [b for m in seen[alice] if m["channel"] == "balances" for b in m["balances"]]
    final = {b["asset"]: (b["available"], b["locked"]) for b in alice_balances}
    assert {asset: (D(a), D(locked)) for asset, (a, locked) in final.items()} == {
        asset: (balance.available, balance.locked) for asset, balance in ex.balances(alice).items()
    }


@on_loop
async def test_fills_and_order_updates_state_amounts_as_exact_decimal_strings(ex, traders):
    alice, bob, _ = traders
    streams = started(ex)
    subscriber = streams.connect(alice)
    streams.subscribe(subscriber, "orders")
    streams.subscribe(subscriber, "fills")
    limit(ex, bob, "sell", "30000.01", "0.00333")
    order = limit(ex, alice, "buy", "30000.01", "0.01")
    ex.reduce_order(alice, order.id, D("0.005"))
    ex.cancel_order(alice, order.id)

    messages = await received(subscriber)
    (fill,) = [f for m in messages if m["channel"] == "fills" for f in m["fills"]]
    assert {k: fill[k] for k in ("price", "quantity", "notional", "fee", "fee_asset")} == {
        "price": "30000.01",
        "quantity": "0.00333",
        "notional": "99.90003330",  # exact: 30000.01 x 0.00333
        "fee": "0.09990003",  # 0.1 %, rounded down to the minor unit
        "fee_asset": "USDT",
    }
    updates = [u for m in messages if m["channel"] == "orders" for u in m["orders"]]
    assert [u["event"] for u in updates] == ["placed", "filled", "reduced", "canceled"]
    placed, filled, reduced, canceled = updates
    assert (placed["price"], placed["quantity"], placed["quote_quantity"]) == ("30000.01", "0.01000", None)
    assert (filled["role"], filled["order_id"]) == ("taker", order.id)
    assert (reduced["quantity"], reduced["remaining_quantity"]) == ("0.00500", "0.00167")
    assert canceled["remaining_quantity"] == "0.00167"


@on_loop
async def test_subscribing_needs_a_known_channel_a_known_market_and_for_private_channels_an_account(ex):
    streams = started(ex)
    subscriber = streams.connect()
    cases = {
        "orders": "UNAUTHENTICATED",
        "book:BTC/USDT": "UNKNOWN_MARKET",
        "book:NOPE-USDT": "UNKNOWN_MARKET",
        "candles:BTC-USDT": "INVALID_ARGUMENT",
        "book": "INVALID_ARGUMENT",
        "orders:alice": "INVALID_ARGUMENT",
        42: "INVALID_ARGUMENT",
    }
    for channel, code in cases.items():
        with pytest.raises(SpotlabError) as refused:
            streams.subscribe(subscriber, channel, ack={"type": "subscribed"})
        assert refused.value.code == code, channel
    assert subscriber.pending == 0 and streams.channels(subscriber) == []


@on_loop
async def test_heartbeats_go_to_idle_connections_only(ex, traders, clock):
    alice, bob, _ = traders
    streams = started(ex, clock)
    idle, busy = streams.connect(), streams.connect()
    streams.subscribe(busy, TRADES)
    streams.heartbeat()  # first round: both counted idle so far
    await received(idle), await received(busy)

    limit(ex, alice, "sell", "30000", "0.01")
    limit(ex, bob, "buy", "30000", "0.01")
    await settle()

    assert streams.heartbeat() == 1
    assert await received(idle) == [{"type": "heartbeat", "time": T0}]
    assert [m["type"] for m in await received(busy)] == ["trades"]


@on_loop
async def test_heartbeats_run_on_their_own_every_interval(ex):
    streams = Streams(ex, heartbeat_seconds=0.01)
    streams.start()
    subscriber = streams.connect()
    message = await asyncio.wait_for(subscriber.next(), timeout=2)
    assert parse(message)["type"] == "heartbeat"
    streams.stop()


@on_loop
async def test_the_ticker_hook_enriches_the_ticker_and_a_broken_hook_falls_back_to_the_plain_one(ex, traders):
    calls = []

    def with_volume(market, payload):
        calls.append(market)
        if len(calls) > 1:
            raise RuntimeError("24 h stats unavailable")
        return {**payload, "volume_24h": "12.5"}

    streams = started(ex, ticker=with_volume)
    subscriber = streams.connect()
    streams.subscribe(subscriber, TICKER)
    limit(ex, traders[0], "sell", "30000", "0.01")

    enriched, plain = await received(subscriber)
    assert calls == [M, M]
    assert enriched["volume_24h"] == "12.5" and "volume_24h" not in plain
    assert plain["best_ask"] == "30000.00"


@on_loop
async def test_stopping_closes_every_connection_as_going_away(ex):
    streams = started(ex)
    subscribers = [streams.connect() for _ in range(3)]
    streams.stop()
    assert all((s.close_code, s.close_reason) == (1001, "server shutting down") for s in subscribers)
    assert streams.hub.connected == 0


@on_loop
async def test_records_from_a_durable_stores_writer_thread_reach_the_loop_in_order(tmp_path, clock):
    ex = Exchange.open(f"sqlite:///{tmp_path}/streams.sqlite", clock=clock)
    try:
        for name in ("alice", "bob"):
            await asyncio.to_thread(fund, ex, name, BTC="10", USDT="1000000")
        streams = started(ex)
        subscriber = streams.connect()
        streams.subscribe(subscriber, BOOK)

        async def place(account, side, price):
            await asyncio.to_thread(limit, ex, account, side, price, "0.01")

        await asyncio.gather(*(place("alice", "sell", str(30000 + i)) for i in range(20)))
        await asyncio.gather(*(place("bob", "buy", str(30000 + i)) for i in range(10)))

        client = ClientBook(parse(await subscriber.next()))
        while True:  # until nothing more comes for a moment
            try:
                client.apply(parse(await asyncio.wait_for(subscriber.next(), timeout=0.5)))  # checks the chain
            except TimeoutError:
                break
        book = ex.order_book(M, depth=None)
        assert client.view() == (book.bids, book.asks)
        assert len(book.asks) == 10 and not book.bids
        streams.stop()
    finally:
        ex.close()

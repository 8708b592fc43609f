"""The real engine against the naive reference book (``tests.core.reference_book``).

Random streams of commands (limit GTC/IOC/FOK, limit_maker, market by quantity and
by quote amount, on both sides around one price, from three accounts with every
self-trade prevention mode; cancels, cancel-alls and reduces of known orders) go
to both. After every command the two must agree on what happened (fills with
maker, taker, price and lots; self-trade expiries; cancels; the incoming order's
status; the error code of a refusal) and on the whole L3 book, and the engine's
own invariants must hold. Funds never limit: the market is fee-free and every
account holds far more than it can spend, so only the book decides.

Also DESIGN.md invariant 7: the same commands give the same events, byte for byte.
"""

from __future__ import annotations

import copy
import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotlab.core.commands import (
    CancelAllOrders,
    CancelOrder,
    PlaceOrder,
    ReduceOrder,
)
from spotlab.core.engine import Engine
from spotlab.core.events import OrderCanceled, OrderExpired, OrderFilled
from spotlab.core.orders import OrderType, SelfTradePrevention, Side, TimeInForce
from spotlab.errors import SpotlabError
from tests.core.reference_book import ReferenceBook, RefError
from tests.core.unit_market import unit_market

MARKET = "AAA/QQQ"
ACCOUNTS = ("a0", "a1", "a2")
MID = 100  # ticks
STP_MODES = [m.value for m in SelfTradePrevention]
PLACE_KINDS = ("limit_gtc", "limit_ioc", "limit_fok", "limit_maker", "market_quantity", "market_amount")
#: Drawn more often than the others so the book has depth (several orders a level, several levels).
RESTING_KINDS = ("limit_gtc", "limit_gtc", "limit_gtc", "limit_maker")


def new_engine() -> Engine:
    """One fee-free market, tick = lot = 1 minor unit, and three accounts rich beyond any order."""
    return unit_market(*ACCOUNTS, fees=("0", "0"), funds=(10**12, 10**15))


# -- the command stream ------------------------------------------------------------------
# Commands are drawn as plain tuples; references to orders ("ref") are resolved against
# the orders placed so far when the stream is run, so shrinking keeps them meaningful.

places = st.tuples(
    st.just("place"),
    st.sampled_from(PLACE_KINDS + RESTING_KINDS),
    st.integers(0, len(ACCOUNTS) - 1),  # account
    st.sampled_from(["buy", "sell"]),
    st.integers(-4, 4),  # price: buys MID-6..MID+2, sells MID-2..MID+6, so some cross and most rest
    st.integers(1, 6),  # quantity, lots
    st.sampled_from(STP_MODES),
    st.integers(20, 800),  # quote amount for market orders by amount
)
# ref: (which, among resting orders only?) -- mostly resting ones, so most cancels and reduces do something
refs = st.tuples(st.integers(0, 10**6), st.sampled_from([True, True, True, False]))
cancels = st.tuples(st.just("cancel"), refs, st.sampled_from([False] * 5 + [True]))  # by another account?
cancel_alls = st.tuples(st.just("cancel_all"), st.integers(0, len(ACCOUNTS) - 1))
reduces = st.tuples(st.just("reduce"), refs, st.integers(0, 4))  # lots taken off the total quantity
# Weighted by a drawn selector (``one_of`` would weigh its branches alike): 70 % places.
commands = st.tuples(st.integers(0, 19), places, cancels, reduces, cancel_alls).map(
    lambda t: t[1] if t[0] < 14 else t[2] if t[0] < 17 else t[3] if t[0] < 19 else t[4]
)


@st.composite
def streams(draw, max_length: int = 60) -> list[tuple]:
    """Up to ``max_length`` commands; the length is drawn uniformly so long streams are common."""
    return [draw(commands) for _ in range(draw(st.integers(1, max_length)))]


def to_commands(step: tuple, ref: ReferenceBook) -> tuple[object, tuple]:
    """The engine command for ``step`` and the matching call on the reference (method, args)."""
    kind = step[0]
    if kind == "place":
        _, place_kind, account_index, side, offset, lots, stp, amount = step
        account = ACCOUNTS[account_index]
        price = MID + offset + (-2 if side == "buy" else 2)
        quantity, budget, tif, otype = lots, 0, "GTC", "limit"
        if place_kind == "limit_ioc":
            tif = "IOC"
        elif place_kind == "limit_fok":
            tif = "FOK"
        elif place_kind == "limit_maker":
            otype = "limit_maker"
        elif place_kind == "market_quantity":
            otype, tif, price = "market", "IOC", 0
        elif place_kind == "market_amount":
            otype, tif, price, quantity, budget = "market", "IOC", 0, 0, amount
        command = PlaceOrder(
            account,
            MARKET,
            Side(side),
            OrderType(otype),
            TimeInForce(tif),
            SelfTradePrevention(stp),
            price,
            quantity,
            budget,
        )
        return command, ("place", (account, side, otype, tif, stp, price, quantity, budget))
    if kind == "cancel_all":
        account = ACCOUNTS[step[1]]
        return CancelAllOrders(account, MARKET), ("cancel_all", (account,))
    _, (pick, resting_only), *rest = step
    known = sorted(o.id for o in ref.resting) if resting_only and ref.resting else sorted(ref.orders)
    if known:
        order_id = known[pick % len(known)]
        owner = ref.orders[order_id].account
    else:
        order_id, owner = 1 + pick % 3, ACCOUNTS[0]  # no orders yet: an id nobody has
    if kind == "cancel":
        account = ACCOUNTS[(ACCOUNTS.index(owner) + 1) % len(ACCOUNTS)] if rest[0] else owner
        return CancelOrder(account, order_id), ("cancel", (account, order_id))
    quantity = (ref.orders[order_id].quantity if known else 1) - rest[0]
    return ReduceOrder(owner, order_id, quantity), ("reduce", (owner, order_id, quantity))


def engine_happenings(outcome, taker_id: int | None) -> list[tuple]:
    """The engine's events in the reference's vocabulary (the taker's own expiry is its status)."""
    out = []
    for event in outcome.events:
        if type(event) is OrderFilled:
            out.append(("fill", event.maker_order_id, event.taker_order_id, event.price, event.quantity))
        elif type(event) is OrderExpired and event.order_id != taker_id:
            out.append(("expire", event.order_id))
        elif type(event) is OrderCanceled:
            out.append(("cancel", event.order_id))
    return out


def engine_level3(engine: Engine) -> tuple[list, list]:
    bids, asks = engine.markets[MARKET].book.level3()
    return (
        [(o.id, o.account, o.price, o.remaining) for o in bids],
        [(o.id, o.account, o.price, o.remaining) for o in asks],
    )


def run_both(stream: list[tuple]) -> None:
    engine, ref = new_engine(), ReferenceBook()
    for ts, step in enumerate(stream, start=1):
        command, (method, args) = to_commands(step, ref)
        try:
            expected = getattr(ref, method)(*args)
        except RefError as error:
            expected = error
        try:
            outcome = engine.apply(command, ts)
        except SpotlabError as error:
            assert isinstance(expected, RefError), f"step {ts} {command}: engine refused ({error}), reference did not"
            assert str(error.code) == expected.code, f"step {ts} {command}: {error.code} != {expected.code}"
        else:
            assert not isinstance(expected, RefError), f"step {ts} {command}: reference refused ({expected.code})"
            if method == "place":
                if outcome.error is not None:
                    status, taker_id = "REJECTED", None
                    assert str(outcome.error.code) == "POST_ONLY_WOULD_TRADE", outcome.error
                else:
                    status, taker_id = str(outcome.order.status), outcome.order.id
                assert (taker_id, status) == (expected.order_id, expected.status), f"step {ts} {command}"
            else:
                taker_id = None
            assert engine_happenings(outcome, taker_id) == expected.happenings, f"step {ts} {command}"
        assert engine_level3(engine) == ref.level3(), f"L3 differs after step {ts} {command}"
        engine.check_invariants()
    for order_id, order in ref.orders.items():  # every order ended where the reference says
        real = engine.find_order(order.account, order_id)
        assert (str(real.status), real.filled) == (order.status, order.filled), f"order {order_id}"
    engine.check_invariants()


# -- the reference itself, on the rules it must get right ---------------------------------


def test_the_reference_book_follows_the_spec_on_hand_made_cases():
    book = ReferenceBook()
    book.place("a", "sell", "limit", price=101, quantity=2)  # 1
    book.place("b", "sell", "limit", price=100, quantity=1)  # 2
    book.place("c", "sell", "limit", price=100, quantity=3)  # 3
    # price first, then time; each trade at the maker's price; the rest of a GTC rests
    sweep = book.place("d", "buy", "limit", price=101, quantity=9)  # 4
    assert sweep.happenings == [("fill", 2, 4, 100, 1), ("fill", 3, 4, 100, 3), ("fill", 1, 4, 101, 2)]
    assert sweep.status == "PARTIALLY_FILLED" and book.level3() == ([(4, "d", 101, 3)], [])
    # fill or kill changes nothing unless it fills all; a post-only that would trade is rejected
    killed = book.place("e", "sell", "limit", "FOK", price=101, quantity=4)  # 5
    assert (killed.happenings, killed.status) == ([], "EXPIRED")
    assert book.place("e", "sell", "limit_maker", price=101, quantity=1).status == "REJECTED"
    assert book.level3() == ([(4, "d", 101, 3)], [])
    # reducing keeps the queue place
    book.place("f", "buy", "limit", price=101, quantity=3)  # 6
    book.reduce("d", 4, 8)
    assert book.level3() == ([(4, "d", 101, 2), (6, "f", 101, 3)], [])
    # self-trade prevention, by the taker's mode
    for mode, happenings, status, bids in [
        ("NONE", [("fill", 4, 7, 101, 1)], "FILLED", [(4, "d", 101, 1), (6, "f", 101, 3)]),
        ("EXPIRE_TAKER", [], "EXPIRED", [(4, "d", 101, 2), (6, "f", 101, 3)]),
        ("EXPIRE_MAKER", [("expire", 4), ("fill", 6, 7, 101, 1)], "FILLED", [(6, "f", 101, 2)]),
        ("EXPIRE_BOTH", [("expire", 4)], "EXPIRED", [(6, "f", 101, 3)]),
    ]:
        trial = copy.deepcopy(book)
        result = trial.place("d", "sell", "limit", "IOC", mode, price=101, quantity=1)  # 7
        assert (result.happenings, result.status, trial.level3()[0]) == (happenings, status, bids), mode
    # by quote amount: stop at the first price where not one more lot fits
    book.place("g", "sell", "limit", price=102, quantity=5)  # 7
    spend = book.place("h", "buy", "market", "IOC", budget=250)  # 8
    assert (spend.happenings, spend.status) == ([("fill", 7, 8, 102, 2)], "FILLED")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_the_engine_matches_the_reference_book_after_every_command(stream):
    run_both(stream)


# -- determinism (DESIGN.md invariant 7) ---------------------------------------------------


def event_bytes(stream: list[tuple]) -> bytes:
    """Every event a fresh engine emits for ``stream``, msgpack-encoded; refusals as their codes."""
    engine, ref = new_engine(), ReferenceBook()  # the reference only resolves order refs
    out = []
    for ts, step in enumerate(stream, start=1):
        command, (method, args) = to_commands(step, ref)
        try:
            getattr(ref, method)(*args)
        except RefError:
            pass
        try:
            out.append(engine.apply(command, ts).events)
        except SpotlabError as error:
            out.append(str(error.code))
    return msgspec.msgpack.encode(out)


@settings(max_examples=50, deadline=None)
@given(streams())
def test_the_same_commands_give_the_same_events_byte_for_byte(stream):
    assert event_bytes(stream) == event_bytes(stream)


def random_stream(seed: int, length: int) -> list[tuple]:
    rng = random.Random(seed)
    stream = []
    for _ in range(length):
        roll = rng.random()
        if roll < 0.7:
            kind, account, side = rng.choice(PLACE_KINDS + RESTING_KINDS), rng.randrange(3), rng.choice(["buy", "sell"])
            stream.append(
                (
                    "place",
                    kind,
                    account,
                    side,
                    rng.randint(-4, 4),
                    rng.randint(1, 6),
                    rng.choice(STP_MODES),
                    rng.randint(20, 800),
                )
            )
        elif roll < 0.85:
            stream.append(("cancel", (rng.randrange(10**6), rng.random() < 0.8), rng.random() < 0.2))
        elif roll < 0.95:
            stream.append(("reduce", (rng.randrange(10**6), rng.random() < 0.8), rng.randint(0, 4)))
        else:
            stream.append(("cancel_all", rng.randrange(len(ACCOUNTS))))
    return stream


def test_the_events_do_not_depend_on_the_process_or_its_hash_seed():
    """Two interpreters with different string-hash seeds produce the same bytes for one stream."""
    root = Path(__file__).resolve().parents[2]
    script = (
        "import hashlib\n"
        "from tests.core.test_matching_oracle import event_bytes, random_stream\n"
        "print(hashlib.sha256(event_bytes(random_stream(7, 2000))).hexdigest())\n"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, check=True
        )
        digests.add(result.stdout.strip())
    digests.add(hashlib.sha256(event_bytes(random_stream(7, 2000))).hexdigest())
    assert len(digests) == 1, digests

"""Bad input gets a clear, typed error and changes nothing.

Every case runs against the same populated exchange; afterwards the state hash
is what it was. Input that is not a valid command also leaves the event log
untouched; a well-formed order that is refused is recorded as ``OrderRejected``
(one event, no state change).
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from spotlab import SpotlabError
from tests.conftest import fund

M = "BTC/USDT"


@pytest.fixture
def market(ex):
    alice = fund(ex, "alice", BTC="1", USDT="100000")
    bob = fund(ex, "bob", BTC="1", USDT="100000")
    resting = ex.place_order(bob, M, side="sell", type="limit", price=D("52000"), quantity=D("0.1"))
    ex.place_order(alice, M, side="buy", type="limit", price=D("49000"), quantity=D("0.1"), client_order_id="a-1")
    ex.place_order(bob, M, side="sell", type="limit", price=D("51000"), quantity=D("0.1"))
    filled = ex.place_order(alice, M, side="buy", type="limit", price=D("51000"), quantity=D("0.1"))
    return {"alice": alice, "bob": bob, "resting_of_bob": resting.id, "filled_of_alice": filled.id}


def limit(ex, price="50000", quantity="0.1", **kw):
    args = dict(side="buy", type="limit", price=price, quantity=quantity)
    args.update(kw)
    return lambda s: ex.place_order(s["alice"], args.pop("market", M), **args)


CASES = {
    "float price": (lambda ex: limit(ex, price=50000.0), "INVALID_NUMBER"),
    "float quantity": (lambda ex: limit(ex, quantity=0.1), "INVALID_NUMBER"),
    "NaN price": (lambda ex: limit(ex, price=D("NaN")), "INVALID_NUMBER"),
    "infinite quantity": (lambda ex: limit(ex, quantity="Infinity"), "INVALID_NUMBER"),
    "negative quantity": (lambda ex: limit(ex, quantity="-0.1"), "INVALID_NUMBER"),
    "zero quantity": (lambda ex: limit(ex, quantity="0"), "INVALID_NUMBER"),
    "zero price": (lambda ex: limit(ex, price="0"), "INVALID_NUMBER"),
    "bool quantity": (lambda ex: limit(ex, quantity=True), "INVALID_NUMBER"),
    "text price": (lambda ex: limit(ex, price="fifty"), "INVALID_NUMBER"),
    "price off the tick": (lambda ex: limit(ex, price="50000.005"), "PRICE_NOT_ON_TICK"),
    "quantity off the lot": (lambda ex: limit(ex, quantity="0.000001"), "QUANTITY_NOT_ON_LOT"),
    "below the minimum notional": (lambda ex: limit(ex, price="1", quantity="0.001"), "BELOW_MIN_NOTIONAL"),
    "quote amount below the minimum notional": (
        lambda ex: limit(ex, type="market", price=None, quantity=None, quote_quantity="1"),
        "BELOW_MIN_NOTIONAL",
    ),
    "unknown market": (lambda ex: limit(ex, market="DOGE/USDT"), "UNKNOWN_MARKET"),
    "unknown side": (lambda ex: limit(ex, side="long"), "INVALID_ARGUMENT"),
    "unknown order type": (lambda ex: limit(ex, type="stop"), "INVALID_ARGUMENT"),
    "unknown time in force": (lambda ex: limit(ex, time_in_force="GTD"), "INVALID_ARGUMENT"),
    "unknown self-trade prevention": (lambda ex: limit(ex, self_trade_prevention="DECREMENT"), "INVALID_ARGUMENT"),
    "market order with a price": (lambda ex: limit(ex, type="market"), "INVALID_ARGUMENT"),
    "market order fill-or-kill": (
        lambda ex: limit(ex, type="market", price=None, time_in_force="FOK"),
        "INVALID_ARGUMENT",
    ),
    "market order with quantity and quote amount": (
        lambda ex: limit(ex, type="market", price=None, quote_quantity="100"),
        "INVALID_ARGUMENT",
    ),
    "limit order without a price": (lambda ex: limit(ex, price=None), "INVALID_ARGUMENT"),
    "post-only IOC": (lambda ex: limit(ex, type="limit_maker", price="40000", time_in_force="IOC"), "INVALID_ARGUMENT"),
    "client order id with spaces": (lambda ex: limit(ex, client_order_id="a b"), "INVALID_ARGUMENT"),
    "reused client order id, other parameters": (
        lambda ex: limit(ex, client_order_id="a-1"),
        "DUPLICATE_CLIENT_ORDER_ID",
    ),
    "unknown account": (
        lambda ex: lambda s: ex.place_order("mallory", M, "buy", "limit", "50000", "0.1"),
        "UNKNOWN_ACCOUNT",
    ),
    "account id not a string": (lambda ex: lambda s: ex.balances(42), "UNKNOWN_ACCOUNT"),
    "cancel an unknown order": (lambda ex: lambda s: ex.cancel_order(s["alice"], 999_999), "ORDER_NOT_FOUND"),
    "cancel an order id that is not a number": (
        lambda ex: lambda s: ex.cancel_order(s["alice"], "abc"),
        "ORDER_NOT_FOUND",
    ),
    "cancel another account's order": (
        lambda ex: lambda s: ex.cancel_order(s["alice"], s["resting_of_bob"]),
        "ORDER_NOT_FOUND",
    ),
    "read another account's order": (lambda ex: lambda s: ex.order(s["alice"], s["resting_of_bob"]), "ORDER_NOT_FOUND"),
    "reduce another account's order": (
        lambda ex: lambda s: ex.reduce_order(s["alice"], s["resting_of_bob"], "0.05"),
        "ORDER_NOT_FOUND",
    ),
    "cancel a filled order": (lambda ex: lambda s: ex.cancel_order(s["alice"], s["filled_of_alice"]), "ORDER_NOT_OPEN"),
    "reduce to more than the order": (
        lambda ex: lambda s: ex.reduce_order(s["bob"], s["resting_of_bob"], "0.2"),
        "INVALID_ARGUMENT",
    ),
    "reduce with a float": (
        lambda ex: lambda s: ex.reduce_order(s["bob"], s["resting_of_bob"], 0.05),
        "INVALID_NUMBER",
    ),
    "withdraw more than available": (lambda ex: lambda s: ex.withdraw(s["alice"], "BTC", "5"), "INSUFFICIENT_FUNDS"),
    "withdraw an unknown asset": (lambda ex: lambda s: ex.withdraw(s["alice"], "XYZ", "1"), "UNKNOWN_ASSET"),
    "deposit a float": (lambda ex: lambda s: ex.deposit(s["alice"], "BTC", 0.5), "INVALID_NUMBER"),
    "deposit a negative amount": (lambda ex: lambda s: ex.deposit(s["alice"], "BTC", "-1"), "INVALID_NUMBER"),
    "deposit below the asset's precision": (
        lambda ex: lambda s: ex.deposit(s["alice"], "BTC", "0.000000001"),
        "AMOUNT_NOT_ON_PRECISION",
    ),
    "deposit to an unknown account": (lambda ex: lambda s: ex.deposit("mallory", "BTC", "1"), "UNKNOWN_ACCOUNT"),
    "create an existing account": (lambda ex: lambda s: ex.create_account("alice"), "ACCOUNT_EXISTS"),
    "create an account with a bad name": (lambda ex: lambda s: ex.create_account("a b/c"), "INVALID_ARGUMENT"),
    "book depth zero": (lambda ex: lambda s: ex.order_book(M, depth=0), "INVALID_ARGUMENT"),
    "trades limit not a number": (lambda ex: lambda s: ex.trades(M, limit="10"), "INVALID_ARGUMENT"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_with_its_code_and_changes_nothing(ex, market, case):
    build, code = CASES[case]
    attempt = build(ex)
    before, sequence, records = ex.state_hash(), ex.last_sequence, ex.stats()["records"]
    with pytest.raises(SpotlabError) as refused:
        attempt(market)
    assert refused.value.code == code, refused.value.message
    assert refused.value.message and "Traceback" not in refused.value.message
    assert ex.state_hash() == before
    assert (ex.last_sequence, ex.stats()["records"]) == (sequence, records)


@pytest.mark.parametrize(
    "case, code",
    [
        ("more than the account has", "INSUFFICIENT_FUNDS"),
        ("post-only that would trade", "POST_ONLY_WOULD_TRADE"),
        ("a halted market", "MARKET_HALTED"),
    ],
)
def test_a_refused_well_formed_order_is_recorded_and_changes_no_state(ex, market, case, code):
    if case == "a halted market":
        ex.halt_market(M)
    before, sequence = ex.state_hash(), ex.last_sequence
    with pytest.raises(SpotlabError) as refused:
        if case == "more than the account has":
            ex.place_order(market["alice"], M, side="buy", type="limit", price="50000", quantity="10")
        elif case == "post-only that would trade":
            ex.place_order(market["alice"], M, side="buy", type="limit_maker", price="52000", quantity="0.1")
        else:
            ex.place_order(market["alice"], M, side="buy", type="limit", price="50000", quantity="0.1")
    assert refused.value.code == code
    assert ex.state_hash() == before
    assert ex.last_sequence == sequence + 1
    (event,) = list(ex.events(after=sequence))
    assert type(event).__name__ == "OrderRejected" and event.code == code


def test_errors_carry_their_figures_for_programs(ex, market):
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(market["alice"], M, side="buy", type="limit", price="50000.001", quantity="0.1")
    assert refused.value.to_dict() == {
        "code": "PRICE_NOT_ON_TICK",
        "message": "price 50000.001 is not a multiple of 0.01; the nearest valid values are 50000.00 and 50000.01",
        "details": {"field": "price", "given": "50000.001", "step": "0.01"},
    }


@pytest.mark.parametrize(
    "attempt",
    [
        lambda ex, s: ex.deposit(s["alice"], "USDT", "100000000000"),  # 1e19 minor units on top of what is there
        lambda ex, s: ex.place_order(s["bob"], M, side="sell", type="limit", price="1e25", quantity="0.1"),
        lambda ex, s: ex.place_order(s["bob"], M, side="sell", type="limit", price="50000", quantity="1e20"),
        lambda ex, s: ex.place_order(s["alice"], M, side="buy", type="market", quote_quantity="1e20"),
    ],
    ids=["deposit past capacity", "absurd price", "absurd quantity", "absurd quote amount"],
)
def test_amounts_beyond_64_bits_are_refused_so_the_log_can_always_be_written(ex, market, attempt):
    before = ex.state_hash()
    with pytest.raises(SpotlabError) as refused:
        attempt(ex, market)
    assert refused.value.code == "INVALID_NUMBER" and "represent" in refused.value.message
    assert ex.state_hash() == before


def test_a_durable_exchange_keeps_working_after_absurd_input(tmp_path):
    from spotlab import Exchange

    url = f"sqlite:///{tmp_path}/x.sqlite"
    with Exchange.open(url) as ex:
        alice = fund(ex, "alice", USDT="90000000000")
        with pytest.raises(SpotlabError):
            ex.deposit(alice, "USDT", "90000000000")
        with pytest.raises(SpotlabError):
            ex.place_order(alice, M, side="sell", type="limit", price="1e25", quantity="0.1")
        ex.place_order(alice, M, side="buy", type="limit", price="50000", quantity="0.1")
        expected = ex.state_hash()
    with Exchange.open(url) as reopened:
        assert reopened.state_hash() == expected

"""The eight invariants of ../shared/DESIGN.md, one test each, through the public facade.

Each is also proved at scale elsewhere: conservation and no-negative after every one
of thousands of random commands (tests/exchange/test_conservation_random.py), price-
time priority against a reference book (tests/core/test_matching_oracle.py), book
integrity at the end of every test using the ``ex`` fixture, durability under SIGKILL
(tests/exchange/test_crash_recovery.py).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import msgspec
import pytest

from spotlab import Exchange, SimulatedClock, SpotlabError
from tests.conftest import fund

M = "BTC/USDT"


def trade_a_little(ex: Exchange) -> tuple[str, str]:
    alice = fund(ex, "alice", USDT="100000", BTC="1")
    bob = fund(ex, "bob", BTC="2", ETH="10")
    ex.place_order(bob, M, side="sell", type="limit", price="50000", quantity="0.5")
    ex.place_order(alice, M, side="buy", type="limit", price="50100", quantity="0.3")
    ex.place_order(alice, M, side="buy", type="market", quote_quantity="2000")
    ex.place_order(bob, "ETH/BTC", side="sell", type="limit", price="0.05", quantity="3")
    ex.place_order(alice, "ETH/BTC", side="buy", type="limit", price="0.05", quantity="2")
    ex.withdraw(bob, "USDT", "1000")
    ex.withdraw(alice, "ETH", "1")
    return alice, bob


def test_1_conservation_every_asset_sums_to_deposits_minus_withdrawals(ex):
    alice, bob = trade_a_little(ex)
    deposited = {"USDT": D("100000"), "BTC": D("3"), "ETH": D("10")}
    sent = {"USDT": D("1000") - D("1"), "ETH": D("1") - D("0.0015")}  # what withdrawals sent out, net of fees
    fees = ex.fee_balances()
    for asset, amount in deposited.items():
        held = sum(ex.balances(account)[asset].total for account in (alice, bob) if asset in ex.balances(account))
        earned = fees[asset].total if asset in fees else D(0)
        assert held + earned == amount - sent.get(asset, D(0)), asset


def test_2_no_negative_balance_and_no_oversell(ex):
    alice, bob = trade_a_little(ex)
    for account in (alice, bob):
        for balance in ex.balances(account).values():
            assert balance.available >= 0 and balance.locked >= 0
    btc = ex.balances(bob)["BTC"].available
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(bob, M, side="sell", type="limit", price="50000", quantity=btc + D("0.00001"))
    assert refused.value.code == "INSUFFICIENT_FUNDS"


def test_3_price_time_priority_and_the_makers_price(ex):
    maker = fund(ex, "maker", BTC="1")
    taker = fund(ex, "taker", USDT="100000")
    late_better = [ex.place_order(maker, M, side="sell", type="limit", price=p, quantity="0.1").id
                   for p in ("50010", "50000", "50000")]  # fmt: skip
    order = ex.place_order(taker, M, side="buy", type="limit", price="50010", quantity="0.3")
    makers = [e.maker_order_id for e in ex.events() if type(e).__name__ == "OrderFilled"]
    assert makers == [late_better[1], late_better[2], late_better[0]]  # better price first, then arrival
    assert [f.price for f in order.fills] == [D("50000"), D("50000"), D("50010")]  # the makers' prices


def test_4_book_integrity_after_cancels_and_partial_fills(ex):
    maker = fund(ex, "maker", BTC="1")
    taker = fund(ex, "taker", USDT="100000")
    ids = [ex.place_order(maker, M, side="sell", type="limit", price="50000", quantity="0.1").id for _ in range(5)]
    ex.cancel_order(maker, ids[0])
    ex.cancel_order(maker, ids[3])
    ex.place_order(taker, M, side="buy", type="limit", price="50000", quantity="0.15")
    assert [o.order_id for o in ex.order_book_orders(M).asks] == [ids[2], ids[4]]  # ids[1] filled, ids[2] half
    assert ex.order_book_orders(M).asks[0].quantity == D("0.05")
    ex.check_invariants()  # no crossed book, no empty or phantom level, holds match the open orders


def test_5_exactness_no_float_and_fees_to_the_minor_unit(ex):
    alice = fund(ex, "alice", USDT="1000")
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(alice, M, side="buy", type="limit", price=50000.0, quantity="0.01")
    assert refused.value.code == "INVALID_NUMBER"
    bob = fund(ex, "bob", BTC="1")
    ex.place_order(bob, M, side="sell", type="limit", price="33333.33", quantity="0.00033")
    order = ex.place_order(alice, M, side="buy", type="limit", price="33333.33", quantity="0.00033")
    # notional 10.9999989 USDT; fee 0.1 % = 0.0109999989, rounded down to 0.01099999 (the named rule)
    assert (order.filled_notional, order.fees) == (D("10.99999890"), D("0.01099999"))


STOP_ABRUPTLY = """
import os, sys
from datetime import UTC, datetime
from spotlab import Exchange, SimulatedClock
from tests.test_design_invariants import trade_a_little
ex = Exchange.open(sys.argv[1], clock=SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC)))
trade_a_little(ex)
print(ex.state_hash(), ex.last_sequence, flush=True)
os._exit(0)  # no close, no final snapshot: only what each acknowledged command made durable
"""


def test_6_durability_what_was_acknowledged_survives_an_abrupt_stop(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/x.sqlite"
    stopped = subprocess.run([sys.executable, "-c", STOP_ABRUPTLY, url], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent.parent, timeout=120)  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    state, sequence = stopped.stdout.split()
    with Exchange.open(url, clock=clock) as again:
        assert (again.state_hash(), again.last_sequence) == (state, int(sequence))


def test_7_determinism_same_commands_same_events_byte_for_byte():
    def run() -> list[bytes]:
        ex = Exchange.open(clock=SimulatedClock(datetime(2024, 5, 1, tzinfo=UTC)))
        trade_a_little(ex)
        encoded = [msgspec.msgpack.encode(e) for e in ex.events()]
        ex.close()
        return encoded

    assert run() == run()


def test_8_isolation_one_account_cannot_see_or_change_anothers_orders(ex):
    alice = fund(ex, "alice", USDT="100000")
    mallory = fund(ex, "mallory", USDT="100")
    order = ex.place_order(alice, M, side="buy", type="limit", price="50000", quantity="0.1")
    before = ex.state_hash()
    for attempt in (
        lambda: ex.order(mallory, order.id),
        lambda: ex.cancel_order(mallory, order.id),
        lambda: ex.reduce_order(mallory, order.id, "0.05"),
    ):
        with pytest.raises(SpotlabError) as refused:
            attempt()
        assert refused.value.code == "ORDER_NOT_FOUND"  # not even told that the order exists
    assert ex.open_orders(mallory) == [] and ex.cancel_all_orders(mallory, M) == []
    assert ex.state_hash() == before and ex.order(alice, order.id).status == "NEW"

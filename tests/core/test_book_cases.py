"""The order-book cases every exchange must get right, as scenarios through the facade.

Each test ends with the invariants checked by the ``ex`` fixture (book integrity,
conservation, holds).
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from spotlab import SpotlabError
from tests.conftest import fund
from tests.scenario import assert_book, fills_of

M = "BTC/USDT"


@pytest.fixture
def traders(ex):
    maker = fund(ex, "maker", BTC="100", USDT="10000000")
    taker = fund(ex, "taker", BTC="100", USDT="10000000")
    return maker, taker


def sell(ex, account, price, quantity, **kw):
    return ex.place_order(account, M, side="sell", type="limit", price=D(price), quantity=D(quantity), **kw)


def buy(ex, account, price, quantity, **kw):
    return ex.place_order(account, M, side="buy", type="limit", price=D(price), quantity=D(quantity), **kw)


def test_cancelling_the_head_of_a_queue_then_sweeping_fills_the_others_in_order(ex, traders):
    maker, taker = traders
    ids = [sell(ex, maker, "50000", "0.1").id for _ in range(4)]
    ex.cancel_order(maker, ids[0])
    sweep = buy(ex, taker, "50000", "0.3")
    assert [f.trade_id for f in sweep.fills] == [1, 2, 3]
    assert [ex.order(maker, i).status for i in ids] == ["CANCELED", "FILLED", "FILLED", "FILLED"]
    assert_book(ex, M, "asks\nbids")


def test_cancelling_a_middle_order_keeps_the_queue_order_of_the_rest(ex, traders):
    maker, taker = traders
    a, b, c = (sell(ex, maker, "50000", q).id for q in ("0.1", "0.2", "0.3"))
    ex.cancel_order(maker, b)
    assert_book(ex, M, f"asks\n 50000.00 0.10000 #{a}\n 50000.00 0.30000 #{c}\nbids")
    sweep = buy(ex, taker, "50000", "0.25")
    assert fills_of(sweep) == [("50000.00", "0.10000"), ("50000.00", "0.15000")]
    assert_book(ex, M, f"asks\n 50000.00 0.15000 #{c}\nbids")


def test_fifo_survives_several_scattered_cancels(ex, traders):
    maker, taker = traders
    ids = [sell(ex, maker, "50000", "0.01").id for _ in range(10)]
    for i in (1, 4, 5, 8):
        ex.cancel_order(maker, ids[i])
    survivors = [ids[i] for i in (0, 2, 3, 6, 7, 9)]
    sweep = buy(ex, taker, "50000", "0.06")
    filled = [ex.order(maker, i).status for i in survivors]
    assert filled == ["FILLED"] * 6
    trades = ex.trades(M, limit=10)
    assert len(trades) == 6 and sweep.status == "FILLED"
    # the makers filled in the order they arrived: trade ids follow survivor order
    maker_orders = [e.maker_order_id for e in ex.events() if type(e).__name__ == "OrderFilled"]
    assert maker_orders == survivors


def test_a_sweep_across_levels_fills_best_price_first_and_an_exact_fill_leaves_nothing(ex, traders):
    maker, taker = traders
    sell(ex, maker, "50020", "0.3")
    sell(ex, maker, "50000", "0.1")
    sell(ex, maker, "50010", "0.2")
    sweep = buy(ex, taker, "50020", "0.6")
    assert fills_of(sweep) == [("50000.00", "0.10000"), ("50010.00", "0.20000"), ("50020.00", "0.30000")]
    assert sweep.status == "FILLED" and sweep.remaining_quantity == 0
    assert_book(ex, M, "asks\nbids")
    book = ex.order_book(M)
    assert (book.best_bid, book.best_ask, book.spread, book.mid) == (None, None, None, None)


def test_the_rest_of_a_gtc_aggressor_becomes_the_new_best_price_and_can_be_filled(ex, traders):
    maker, taker = traders
    sell(ex, maker, "50000", "0.1")
    aggressor = buy(ex, taker, "50010", "0.3")
    assert aggressor.status == "PARTIALLY_FILLED"
    assert fills_of(aggressor) == [("50000.00", "0.10000")]
    book = ex.order_book(M)
    assert book.bids == [(D("50010.00"), D("0.20000"))] and book.asks == []
    hit = ex.place_order(maker, M, side="sell", type="market", quantity=D("0.2"))
    assert fills_of(hit) == [("50010.00", "0.20000")]
    assert ex.order(taker, aggressor.id).status == "FILLED"


def test_a_buy_lifting_a_cheaper_ask_prints_at_the_ask(ex, traders):
    maker, taker = traders
    sell(ex, maker, "49000", "0.1")
    lifted = buy(ex, taker, "51000", "0.1")
    assert fills_of(lifted) == [("49000.00", "0.10000")]
    assert lifted.average_price == D("49000.00")
    assert ex.trades(M)[0].price == D("49000.00")


def test_a_sell_hitting_a_higher_bid_prints_at_the_bid(ex, traders):
    maker, taker = traders
    buy(ex, maker, "51000", "0.1")
    hit = sell(ex, taker, "49000", "0.1")
    assert fills_of(hit) == [("51000.00", "0.10000")]
    assert ex.trades(M)[0].price == D("51000.00")


def test_cancelling_the_best_level_leaves_no_phantom_best_price(ex, traders):
    maker, _ = traders
    best = buy(ex, maker, "50000", "0.1")
    buy(ex, maker, "49990", "0.1")
    ex.cancel_order(maker, best.id)
    book = ex.order_book(M)
    assert book.best_bid == D("49990.00")
    assert book.bids == [(D("49990.00"), D("0.10000"))]
    only = ex.order_book(M, depth=None)
    assert len(only.bids) == 1


def test_an_ioc_rest_expires_and_does_not_rest(ex, traders):
    maker, taker = traders
    sell(ex, maker, "50000", "0.1")
    ioc = buy(ex, taker, "50000", "0.3", time_in_force="IOC")
    assert ioc.status == "EXPIRED"
    assert ioc.filled_quantity == D("0.1") and ioc.remaining_quantity == 0
    assert "immediate or cancel" in ioc.reason
    assert_book(ex, M, "asks\nbids")
    # nothing of the IOC stays locked
    assert ex.balances(taker)["USDT"].locked == 0


def test_a_marketable_limit_does_not_walk_past_its_own_price(ex, traders):
    maker, taker = traders
    sell(ex, maker, "50000", "0.1")
    far = sell(ex, maker, "50001", "0.1")
    limited = buy(ex, taker, "50000", "0.2")
    assert fills_of(limited) == [("50000.00", "0.10000")]
    assert_book(ex, M, f"asks\n 50001.00 0.10000 #{far.id}\nbids\n 50000.00 0.10000 #{limited.id}")


@pytest.mark.parametrize("change", ["cancel", "reduce"])
def test_cancel_or_reduce_of_a_filled_order_is_rejected(ex, traders, change):
    maker, taker = traders
    resting = sell(ex, maker, "50000", "0.1")
    buy(ex, taker, "50000", "0.1")
    before = ex.state_hash()
    with pytest.raises(SpotlabError) as refused:
        if change == "cancel":
            ex.cancel_order(maker, resting.id)
        else:
            ex.reduce_order(maker, resting.id, D("0.05"))
    assert refused.value.code == "ORDER_NOT_OPEN"
    assert "FILLED" in refused.value.message
    assert ex.state_hash() == before


def test_an_id_freed_by_cancel_or_fill_is_not_confused_with_a_live_one(ex, traders):
    maker, taker = traders
    canceled = sell(ex, maker, "50000", "0.1")
    ex.cancel_order(maker, canceled.id)
    filled = sell(ex, maker, "50000", "0.1")
    buy(ex, taker, "50000", "0.1")
    live = sell(ex, maker, "50000", "0.1")
    assert len({canceled.id, filled.id, live.id}) == 3
    for gone in (canceled.id, filled.id):
        with pytest.raises(SpotlabError) as refused:
            ex.cancel_order(maker, gone)
        assert refused.value.code == "ORDER_NOT_OPEN"
    assert ex.order(maker, live.id).status == "NEW"
    assert ex.cancel_order(maker, live.id).status == "CANCELED"


def test_reducing_keeps_the_queue_place(ex, traders):
    maker, taker = traders
    first = sell(ex, maker, "50000", "0.3")
    second = sell(ex, maker, "50000", "0.1")
    reduced = ex.reduce_order(maker, first.id, D("0.1"))
    assert reduced.quantity == D("0.1") and reduced.remaining_quantity == D("0.1")
    assert_book(ex, M, f"asks\n 50000.00 0.10000 #{first.id}\n 50000.00 0.10000 #{second.id}\nbids")
    sweep = buy(ex, taker, "50000", "0.1")
    assert sweep.fills[0].price == D("50000.00")
    assert ex.order(maker, first.id).status == "FILLED"
    assert ex.order(maker, second.id).status == "NEW"
    # the base released by the reduction is available again
    assert ex.balances(maker)["BTC"].locked == D("0.1")


def test_a_5000_fill_sweep_at_one_price_is_correct(ex):
    maker = fund(ex, "maker", BTC="10")
    taker = fund(ex, "taker", USDT="10000000")
    for _ in range(5000):
        ex.place_order(maker, M, side="sell", type="limit", price=D("50000"), quantity=D("0.0002"))
    sweep = ex.place_order(taker, M, side="buy", type="limit", price=D("50000"), quantity=D("1"))
    assert len(sweep.fills) == 5000
    assert sweep.status == "FILLED" and sweep.filled_quantity == D("1")
    assert [f.trade_id for f in sweep.fills] == list(range(1, 5001))
    notional = D("50000")  # 1 BTC at 50,000
    fee = notional * D("0.001")
    assert sweep.filled_notional == notional and sweep.fees == fee
    assert ex.balances(taker)["USDT"].available == D("10000000") - notional - fee
    assert ex.balances(maker)["USDT"].available == notional - fee
    assert ex.fee_balances()["USDT"].available == 2 * fee
    assert_book(ex, M, "asks\nbids")


def test_every_change_moves_the_book_sequence_forward(ex, traders):
    maker, taker = traders
    sequences = [ex.order_book(M).sequence]
    order = sell(ex, maker, "50000", "0.3")
    sequences.append(ex.order_book(M).sequence)
    ex.reduce_order(maker, order.id, D("0.2"))
    sequences.append(ex.order_book(M).sequence)
    buy(ex, taker, "50000", "0.1")
    sequences.append(ex.order_book(M).sequence)
    ex.cancel_order(maker, order.id)
    sequences.append(ex.order_book(M).sequence)
    assert sequences == sorted(set(sequences)), sequences


def test_depth_aggregates_levels_best_first_and_respects_the_depth(ex, traders):
    maker, _ = traders
    for price, quantity in (("50010", "0.1"), ("50000", "0.1"), ("50000", "0.2"), ("50020", "0.4")):
        sell(ex, maker, price, quantity)
    for price in ("49990", "49980", "49970"):
        buy(ex, maker, price, "0.1")
    book = ex.order_book(M, depth=2)
    assert book.asks == [(D("50000.00"), D("0.30000")), (D("50010.00"), D("0.10000"))]
    assert book.bids == [(D("49990.00"), D("0.10000")), (D("49980.00"), D("0.10000"))]
    assert book.spread == D("10.00") and book.mid == D("49995.00")

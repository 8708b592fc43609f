"""The pending set of one market: which conditional orders a last trade price crosses, and in what order."""

from __future__ import annotations

import pytest

from spotlab.core.conditional import PendingConditionals, triggers_falling
from spotlab.core.orders import Order, OrderType, SelfTradePrevention, Side, TimeInForce

SL, TP = OrderType.STOP_LOSS, OrderType.TAKE_PROFIT_LIMIT
BUY, SELL = Side.BUY, Side.SELL


def conditional(order_id: int, side: Side, otype: OrderType, stop: int) -> Order:
    order = Order(order_id, "a", "BTC/USDT", side, otype, TimeInForce.IOC, SelfTradePrevention.NONE, 0, 1, 0, None, 0)
    order.stop_price = stop
    return order


@pytest.mark.parametrize(
    "side, otype, falling",
    [(SELL, SL, True), (BUY, SL, False), (SELL, TP, False), (BUY, TP, True)],
)
def test_sell_stops_and_buy_take_profits_wait_for_a_fall_the_others_for_a_rise(side, otype, falling):
    assert triggers_falling(conditional(1, side, otype, 100)) is falling


def drain(pending: PendingConditionals, last: int) -> list[int]:
    triggered = []
    while (order := pending.crossed(last)) is not None:
        pending.remove(order)
        triggered.append(order.id)
    return triggered


def test_a_falling_price_triggers_the_highest_stop_first_and_the_earliest_at_one_stop():
    pending = PendingConditionals()
    for order_id, stop in [(1, 95), (2, 99), (3, 99), (4, 90), (5, 80)]:
        pending.add(conditional(order_id, SELL, SL, stop))
    assert pending.crossed(100) is None
    assert drain(pending, 90) == [2, 3, 1, 4]
    assert list(pending.orders) == [5]


def test_a_rising_price_triggers_the_lowest_trigger_first():
    pending = PendingConditionals()
    for order_id, stop in [(1, 105), (2, 101), (3, 110), (4, 101)]:
        pending.add(conditional(order_id, BUY if order_id % 2 else SELL, SL if order_id % 2 else TP, stop))
    assert drain(pending, 105) == [2, 4, 1]
    assert list(pending.orders) == [3]


def test_the_exact_stop_price_triggers_and_one_tick_short_does_not():
    pending = PendingConditionals()
    pending.add(conditional(1, SELL, SL, 100))
    pending.add(conditional(2, BUY, SL, 200))
    assert pending.crossed(101) is None and pending.crossed(199) is None
    assert pending.crossed(100).id == 1
    assert pending.crossed(200).id == 2


def test_removing_a_pending_order_leaves_the_others_in_their_order():
    pending = PendingConditionals()
    orders = [conditional(i, SELL, SL, 100 - i) for i in range(1, 6)]
    for order in orders:
        pending.add(order)
    pending.remove(orders[2])
    assert len(pending) == 4 and drain(pending, 0) == [1, 2, 4, 5]

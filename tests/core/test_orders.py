"""The order lifecycle is an explicit transition table; anything outside it raises."""

from __future__ import annotations

import itertools

import pytest

from spotlab.core.orders import TERMINAL, TRANSITIONS, Action, OrderStatus, transition
from spotlab.errors import ErrorCode, SpotlabError

NEW, PARTIAL, FILLED = OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED
CANCELED, REJECTED, EXPIRED = OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED

EXPECTED = {
    (None, Action.ACCEPT): NEW,
    (None, Action.REJECT): REJECTED,
    (NEW, Action.FILL_PART): PARTIAL,
    (NEW, Action.FILL_REST): FILLED,
    (NEW, Action.REDUCE): NEW,
    (NEW, Action.CANCEL): CANCELED,
    (NEW, Action.EXPIRE): EXPIRED,
    (NEW, Action.TRIGGER): OrderStatus.TRIGGERED,  # a pending conditional order: its child takes over
    (PARTIAL, Action.FILL_PART): PARTIAL,
    (PARTIAL, Action.FILL_REST): FILLED,
    (PARTIAL, Action.BUDGET_SPENT): FILLED,
    (PARTIAL, Action.REDUCE): PARTIAL,
    (PARTIAL, Action.CANCEL): CANCELED,
    (PARTIAL, Action.EXPIRE): EXPIRED,
}


def test_the_table_is_exactly_the_documented_lifecycle():
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize("status, action", [k for k in EXPECTED])
def test_every_listed_transition_is_allowed(status, action):
    assert transition(status, action) is EXPECTED[status, action]


ILLEGAL = [
    (status, action)
    for status, action in itertools.product([None, *OrderStatus], Action)
    if (status, action) not in EXPECTED
]


@pytest.mark.parametrize("status, action", ILLEGAL)
def test_every_other_transition_raises(status, action):
    with pytest.raises(SpotlabError) as refused:
        transition(status, action)
    assert refused.value.code == ErrorCode.ILLEGAL_TRANSITION


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_statuses_have_no_way_out(status):
    assert not any(s == status for s, _ in TRANSITIONS)


def test_an_order_and_its_record_agree_on_every_field():
    from spotlab.core.orders import (
        FIELDS,
        Order,
        OrderType,
        SelfTradePrevention,
        Side,
        TimeInForce,
        order_of,
        record_of,
    )

    order = Order(7, "alice", "BTC/USDT", Side.SELL, OrderType.LIMIT, TimeInForce.IOC,
                  SelfTradePrevention.EXPIRE_BOTH, 5, 9, 0, "cid-7", 123)  # fmt: skip
    for number, name in enumerate(FIELDS):  # distinct values everywhere but the enums
        if name not in ("side", "type", "time_in_force", "self_trade_prevention", "status"):
            setattr(order, name, f"{name}-{number}" if name in ("account", "market", "reason") else 1000 + number)
    record = record_of(order)
    assert [getattr(record, name) for name in FIELDS] == [getattr(order, name) for name in FIELDS]
    again = order_of(record)
    assert [getattr(again, name) for name in FIELDS] == [getattr(order, name) for name in FIELDS]

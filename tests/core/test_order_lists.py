"""Order lists in the engine: a buy OCO's one hold for both legs, and list client ids (idempotency, durability).

The market has tick = lot = one minor unit, a 0.1 % maker and a 0.2 % taker fee, so a buy of ``q`` lots at
``p`` holds ``p*q + floor(p*q * 0.002)`` (the larger rate: ``spotlab.core.fees.buy_hold``), by hand below.
"""

from __future__ import annotations

import msgspec
import pytest

from spotlab.core import state
from spotlab.core.commands import (
    AnyCommand,
    CancelOrderList,
    Deposit,
    PlaceOrder,
    PlaceOrderList,
)
from spotlab.core.engine import Engine
from spotlab.core.events import (
    AnyEvent,
    BalanceChanged,
    ConditionalOrderCanceled,
    ConditionalOrderPlaced,
    OrderListPlaced,
    OrderPlaced,
    OrderRejected,
    OrderTriggered,
)
from spotlab.core.order_lists import OrderList
from spotlab.core.orders import OrderType, SelfTradePrevention, Side, TimeInForce
from spotlab.errors import SpotlabError
from tests.core.unit_market import M, unit_market

BUY, SELL = Side.BUY, Side.SELL
NONE = SelfTradePrevention.NONE


@pytest.fixture
def engine() -> Engine:
    engine = unit_market("alice", "bob", "carol")
    trade(engine, 100, 1)  # the last trade price is 100
    return engine


def trade(engine: Engine, price: int, lots: int):
    """bob's ask and carol's bid meet at ``price``: the outcome of carol's (the taker's) command."""
    engine.apply(limit("bob", SELL, price, lots), 1)
    return engine.apply(limit("carol", BUY, price, lots), 1)


def limit(account: str, side: Side, price: int, lots: int) -> PlaceOrder:
    return PlaceOrder(account, M, side, OrderType.LIMIT, TimeInForce.GTC, NONE, price, lots)


def buy_oco(lots=50, price=90, stop=110, stop_limit=112, client_order_id=None, account="alice") -> PlaceOrderList:
    return PlaceOrderList(
        account, M, "oco", BUY, lots, price, stop, stop_limit, self_trade_prevention=NONE,
        client_order_id=client_order_id,
    )  # fmt: skip


def quote(engine: Engine, account: str = "alice") -> tuple[int, int]:
    available, locked, *_ = engine.row(account, "QQQ")
    return available, locked


def legs(engine: Engine, list_id: int):
    take_profit_id, stop_id = engine.order_lists[list_id].pairs[0]
    return engine.find_order("alice", take_profit_id), engine.find_order("alice", stop_id)


# -- a buy OCO's hold ---------------------------------------------------------------------------


def test_a_buy_oco_holds_once_for_its_dearer_leg_with_the_fee_on_the_resting_limit(engine):
    outcome = engine.apply(buy_oco(), 2)
    # limit leg: 90 x 50 = 4500 + floor(9.0) = 4509; stop-limit leg: 112 x 50 = 5600 + floor(11.2) = 5611
    placed = [e for e in outcome.events if type(e) in (OrderPlaced, ConditionalOrderPlaced)]
    assert [(type(e).__name__, e.side, e.price, e.hold) for e in placed] == [
        ("ConditionalOrderPlaced", BUY, 112, 0),
        ("OrderPlaced", BUY, 90, 5611),
    ]
    assert quote(engine) == (100_000 - 5611, 5611)
    balance = [e for e in outcome.events if type(e) is BalanceChanged][-1]
    assert (balance.account, balance.asset, balance.available, balance.locked) == ("alice", "QQQ", 94_389, 5611)
    take_profit, stop = legs(engine, outcome.order.list_id)
    assert (take_profit.type, take_profit.hold, stop.type, stop.stop_price, stop.hold) == (
        OrderType.LIMIT, 5611, OrderType.STOP_LOSS_LIMIT, 110, 0,
    )  # fmt: skip
    engine.check_invariants()


def test_a_partial_fill_of_the_buy_limit_trims_its_hold_to_its_rest_and_cancels_the_stop(engine):
    list_id = engine.apply(buy_oco(), 2).order.list_id
    outcome = engine.apply(limit("bob", SELL, 90, 20), 3)  # bob sells 20 into alice's resting buy at 90
    take_profit, stop = legs(engine, list_id)
    assert (take_profit.filled, str(take_profit.status)) == (20, "PARTIALLY_FILLED")
    canceled = [e for e in outcome.events if type(e) is ConditionalOrderCanceled]
    assert [(e.order_id, e.released, e.reason) for e in canceled] == [(stop.id, 0, "the take-profit of its OCO filled")]
    # paid 1800 + maker fee floor(1.8) = 1; the rest (30 at 90) holds 2700 + floor(5.4) = 2705
    assert quote(engine) == (100_000 - 1801 - 2705, 2705)
    assert engine.row("alice", "AAA")[0] == 1_020
    engine.check_invariants()


def test_the_stop_triggering_cancels_the_buy_limit_and_places_the_stop_limit_with_its_own_hold(engine):
    list_id = engine.apply(buy_oco(), 2).order.list_id
    outcome = trade(engine, 110, 1)  # the last price rises to the stop
    take_profit, stop = legs(engine, list_id)
    assert (str(take_profit.status), take_profit.reason) == ("CANCELED", "the stop-loss of its OCO triggered")
    assert str(stop.status) == "TRIGGERED"
    child = engine.open_orders[next(e.child_id for e in outcome.events if type(e) is OrderTriggered)]
    assert (child.side, child.type, child.price, child.quantity, child.hold) == (BUY, OrderType.LIMIT, 112, 50, 5611)
    assert quote(engine) == (100_000 - 5611, 5611)
    assert engine.order_lists[list_id].status == "ALL_DONE"
    engine.check_invariants()


def test_a_triggered_stop_limit_that_trades_at_once_pays_at_most_its_limit(engine):
    list_id = engine.apply(buy_oco(), 2).order.list_id
    engine.apply(limit("bob", SELL, 111, 50), 3)  # an ask the stop-limit can take
    trade(engine, 110, 1)
    take_profit, stop = legs(engine, list_id)
    assert str(stop.status) == "TRIGGERED" and str(take_profit.status) == "CANCELED"
    # 111 x 50 = 5550 + taker fee floor(11.1) = 11; nothing is left locked
    assert quote(engine) == (100_000 - 5561, 0)
    assert engine.row("alice", "AAA")[:2] == [1_050, 0]
    engine.check_invariants()


def test_cancelling_a_buy_oco_releases_its_whole_hold(engine):
    list_id = engine.apply(buy_oco(), 2).order.list_id
    engine.apply(CancelOrderList("alice", list_id), 3)
    assert quote(engine) == (100_000, 0)
    assert engine.order_lists[list_id].status == "ALL_DONE"
    engine.check_invariants()


@pytest.mark.parametrize(
    "command, fragment",
    [
        (buy_oco(price=110, stop=90, stop_limit=92), "below its stop price"),
        (buy_oco(stop_limit=0), "needs stop_limit_price"),
        (buy_oco(stop_limit=109), "at or above its stop price"),
        (PlaceOrderList("alice", M, "bracket", SELL, 10, 120, 80, 0, 100), "buy-entry only"),
        (buy_oco(client_order_id="not ok!"), "client order id"),
    ],
)
def test_a_malformed_buy_oco_or_sell_bracket_is_refused_before_anything_changes(engine, command, fragment):
    before, seq = state.state_hash(engine), engine.seq
    with pytest.raises(SpotlabError) as refused:
        engine.apply(command, 2)
    assert refused.value.code == "INVALID_ARGUMENT" and fragment in refused.value.message
    assert (state.state_hash(engine), engine.seq) == (before, seq)


@pytest.mark.parametrize(
    "command, code",
    [
        (buy_oco(price=100, stop=110), "INVALID_ARGUMENT"),  # an ask rests at 100: the limit would trade
        (buy_oco(stop=100, stop_limit=101, price=95), "INVALID_ARGUMENT"),  # last 100 >= stop: triggers at once
        (buy_oco(lots=1000), "INSUFFICIENT_FUNDS"),  # 112 x 1000 + fee > 100000
    ],
)
def test_a_buy_oco_that_cannot_start_is_rejected_with_an_event_and_no_state_change(engine, command, code):
    engine.apply(limit("bob", SELL, 100, 5), 2)
    before = state.state_hash(engine)
    outcome = engine.apply(command, 3)
    assert outcome.error is not None and outcome.error.code == code
    assert [type(e) for e in outcome.events] == [OrderRejected]
    assert state.state_hash(engine) == before and not engine.order_lists


# -- list client ids ------------------------------------------------------------------------------


def test_the_same_client_id_and_parameters_returns_the_original_list_and_changes_nothing(engine):
    first = engine.apply(buy_oco(client_order_id="dip-1"), 2)
    list_id = first.order.list_id
    placed = next(e for e in first.events if type(e) is OrderListPlaced)
    assert placed.client_order_id == "dip-1" and engine.order_lists[list_id].client_order_id == "dip-1"
    before, seq = state.state_hash(engine), engine.seq
    again = engine.apply(buy_oco(client_order_id="dip-1"), 3)
    assert (again.duplicate, again.events, again.error) == (True, [], None)
    assert (state.state_hash(engine), engine.seq, len(engine.order_lists)) == (before, seq, 1)


def test_the_same_client_id_with_other_parameters_is_refused_naming_the_list(engine):
    list_id = engine.apply(buy_oco(client_order_id="dip-1"), 2).order.list_id
    before = state.state_hash(engine)
    with pytest.raises(SpotlabError) as refused:
        engine.apply(buy_oco(lots=40, client_order_id="dip-1"), 3)
    assert refused.value.code == "DUPLICATE_CLIENT_ORDER_ID"
    assert refused.value.details["list_id"] == list_id and f"order list {list_id}" in refused.value.message
    assert state.state_hash(engine) == before


def test_list_client_ids_belong_to_one_account_and_live_apart_from_order_client_ids(engine):
    mine = engine.apply(buy_oco(client_order_id="x"), 2).order.list_id
    theirs = engine.apply(buy_oco(client_order_id="x", account="bob"), 2).order.list_id
    order = engine.apply(PlaceOrder("alice", M, BUY, OrderType.LIMIT, TimeInForce.GTC, NONE, 80, 5, 0, "x"), 2)
    assert mine != theirs and order.order.client_order_id == "x" and not order.duplicate
    assert engine.list_client_ids == {("alice", "x"): mine, ("bob", "x"): theirs}
    engine.check_invariants()


def test_a_rejected_list_does_not_take_its_client_id(engine):
    rejected = engine.apply(buy_oco(lots=1000, client_order_id="big"), 2)
    assert rejected.error.code == "INSUFFICIENT_FUNDS" and not engine.list_client_ids
    engine.apply(Deposit("alice", "QQQ", 100_000), 3)
    placed = engine.apply(buy_oco(lots=1000, client_order_id="big"), 4)
    assert placed.error is None and not placed.duplicate
    assert engine.list_client_ids == {("alice", "big"): placed.order.list_id}


def test_a_snapshot_keeps_list_client_ids_and_the_restored_engine_answers_repeats_the_same(engine):
    list_id = engine.apply(buy_oco(client_order_id="dip-1"), 2).order.list_id
    restored = state.restore(state.decode(state.encode(state.snapshot(engine))))
    assert state.state_hash(restored) == state.state_hash(engine)
    assert restored.list_client_ids == {("alice", "dip-1"): list_id}
    assert restored.order_lists[list_id].oco_side is BUY
    restored.check_invariants()
    assert restored.apply(buy_oco(client_order_id="dip-1"), 3).duplicate
    with pytest.raises(SpotlabError) as refused:
        restored.apply(buy_oco(stop_limit=115, client_order_id="dip-1"), 3)
    assert refused.value.code == "DUPLICATE_CLIENT_ORDER_ID"


def test_the_state_hash_covers_a_lists_client_id(engine):
    twin = state.restore(state.snapshot(engine))
    engine.apply(buy_oco(client_order_id="a"), 2)
    twin.apply(buy_oco(client_order_id="b"), 2)
    assert state.state_hash(engine) != state.state_hash(twin)


# -- old logs and snapshots still decode ---------------------------------------------------------------


def without_last_field(value: msgspec.Struct) -> bytes:
    """``value`` as a spotlab built before its last field existed would have encoded it."""
    return msgspec.msgpack.encode(msgspec.msgpack.decode(msgspec.msgpack.encode(value))[:-1])


def test_commands_and_events_written_before_list_client_ids_decode_with_none():
    command = PlaceOrderList("alice", M, "oco", SELL, 10, 120, 80)
    event = OrderListPlaced(1, 2, 3, "alice", M, "oco", SELL, 10, 120, 80, 0, 0)
    assert msgspec.msgpack.decode(without_last_field(command), type=AnyCommand) == command
    assert msgspec.msgpack.decode(without_last_field(event), type=AnyEvent) == event
    assert event.client_order_id is None and command.client_order_id is None


def test_a_list_snapshotted_before_buy_ocos_and_client_ids_decodes_as_a_sell_list():
    lst = OrderList(1, "alice", M, "bracket", 10, 120, 80, 0, 100, NONE, order_ids=[4, 5], status="ALL_DONE")
    old = msgspec.msgpack.encode(msgspec.msgpack.decode(msgspec.msgpack.encode(lst))[:-2])
    decoded = msgspec.msgpack.decode(old, type=OrderList)
    assert decoded == lst and (decoded.oco_side, decoded.client_order_id, decoded.side) == (SELL, None, BUY)

"""Buy OCOs and order-list client ids through the facade (``Exchange.place_oco(side="buy")``, ``client_order_id=``).

BTC/USDT charges 0.1 % to maker and taker, so a buy of ``q`` at ``p`` holds ``p*q`` plus 0.1 % of it.
A buy OCO of 0.1 BTC with its limit at 29000 and its stop-limit at 31100 (stop 31000) holds the dearer
leg: 0.1 x 31100 = 3110 USDT + 3.11 fee = 3113.11 USDT (the limit leg alone would need 2902.90).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from spotlab import Exchange, SimulatedClock, SpotlabError
from spotlab.core.events import OrderListPlaced, OrderTriggered
from spotlab.exchange.views import Balance
from tests.exchange.test_conditional_order_lists import M, by_type, people, trade_at, trade_down_to

HOLD = D("3113.11")  # see the module docstring


@pytest.fixture
def market(ex):
    people(ex)
    trade_at(ex, "30000.00")
    return ex


def buy_oco(ex: Exchange, quantity: str = "0.1", **extra):
    return ex.place_oco("alice", M, quantity, "29000", "31000", stop_limit_price="31100", side="buy", **extra)


def usdt(ex: Exchange) -> Balance:
    return ex.balances("alice")["USDT"]


# -- buy OCO --------------------------------------------------------------------------------------


def test_a_buy_oco_rests_a_limit_below_and_waits_with_a_stop_limit_above_holding_the_dearer_leg_once(market):
    ex = market
    oco = buy_oco(ex)
    assert (oco.kind, oco.side, oco.status, oco.stop_limit_price) == ("oco", "buy", "EXECUTING", D("31100.00"))
    legs = by_type(oco)
    assert (legs["limit"].side, legs["limit"].price, legs["limit"].status) == ("buy", D("29000.00"), "NEW")
    stop = legs["stop_loss_limit"]
    assert (stop.side, stop.stop_price, stop.price, stop.status) == ("buy", D("31000.00"), D("31100.00"), "NEW")
    assert usdt(ex) == Balance(D("100000") - HOLD, HOLD)
    assert ex.order_book(M).bids == [(D("29000.00"), D("0.1"))]


def test_the_buy_limit_filling_cancels_the_stop_and_leaves_no_hold(market):
    ex = market
    oco = buy_oco(ex)
    ex.place_order("bob", M, "sell", "limit", "29000", "0.1")  # fills the whole limit
    view = ex.order_list("alice", oco.id)
    legs = by_type(view)
    assert (legs["limit"].status, legs["stop_loss_limit"].status) == ("FILLED", "CANCELED")
    assert legs["stop_loss_limit"].reason == "the take-profit of its OCO filled"
    assert view.status == "ALL_DONE"
    # paid 2900 + 2.90 maker fee; nothing stays locked
    assert usdt(ex) == Balance(D("100000") - D("2902.90"), D("0"))
    assert ex.balances("alice")["BTC"] == Balance(D("1.1"), D("0"))
    trade_at(ex, "31500")  # far past the old stop: nothing triggers
    assert not [e for e in ex.events() if type(e) is OrderTriggered]


def test_a_partial_fill_of_the_buy_limit_cancels_the_stop_and_trims_the_hold_to_the_rest(market):
    ex = market
    oco = buy_oco(ex)
    ex.place_order("bob", M, "sell", "limit", "29000", "0.04")
    view = ex.order_list("alice", oco.id)
    legs = by_type(view)
    assert (legs["limit"].status, legs["limit"].filled_quantity) == ("PARTIALLY_FILLED", D("0.04"))
    assert legs["stop_loss_limit"].status == "CANCELED" and view.status == "EXECUTING"
    # paid 1160 + 1.16; the rest (0.06 at 29000) holds 1740 + 1.74
    assert usdt(ex) == Balance(D("100000") - D("1161.16") - D("1741.74"), D("1741.74"))
    ex.place_order("bob", M, "sell", "limit", "29000", "0.06")
    assert ex.order_list("alice", oco.id).status == "ALL_DONE"
    assert usdt(ex).locked == 0


def test_the_price_rising_to_the_stop_cancels_the_limit_and_places_the_stop_limit_buy(market):
    ex = market
    oco = buy_oco(ex)
    ex.place_order("bob", M, "sell", "limit", "31050", "0.1")  # what the breakout buy will take
    trade_at(ex, "31000")
    view = ex.order_list("alice", oco.id)
    legs = by_type(view)
    assert legs["stop_loss_limit"].status == "TRIGGERED"
    assert (legs["limit"].status, legs["limit"].reason) == ("CANCELED", "the stop-loss of its OCO triggered")
    child = ex.order("alice", next(e.child_id for e in ex.events() if type(e) is OrderTriggered))
    assert (child.type, child.side, child.price, child.status) == ("limit", "buy", D("31100.00"), "FILLED")
    assert (child.average_price, child.parent_id) == (D("31050.00"), legs["stop_loss_limit"].id)
    assert view.status == "ALL_DONE" and ex.order_book(M).bids == []
    # 3105 + 3.105 taker fee (USDT has 8 decimals: nothing to round); nothing stays locked
    assert usdt(ex) == Balance(D("100000") - D("3108.105"), D("0"))


def test_a_triggered_stop_limit_with_nothing_to_buy_rests_holding_its_own_worst_case(market):
    ex = market
    buy_oco(ex)
    trade_at(ex, "31200")
    assert usdt(ex) == Balance(D("100000") - HOLD, HOLD)  # the child: 0.1 at 31100 + 0.1 % fee
    assert ex.order_book(M).bids == [(D("31100.00"), D("0.1"))]


@pytest.mark.parametrize(
    "cancel",
    [
        lambda ex, oco: ex.cancel_order_list("alice", oco.id),
        lambda ex, oco: ex.cancel_order("alice", by_type(oco)["limit"].id),
        lambda ex, oco: ex.cancel_order("alice", by_type(oco)["stop_loss_limit"].id),
        lambda ex, oco: ex.cancel_all_orders("alice", M),
    ],
    ids=["the list", "the limit", "the stop", "all"],
)
def test_cancelling_a_buy_oco_any_way_ends_it_and_releases_the_hold(market, cancel):
    ex = market
    oco = buy_oco(ex)
    cancel(ex, oco)
    view = ex.order_list("alice", oco.id)
    assert view.status == "ALL_DONE" and {o.status for o in view.orders} == {"CANCELED"}
    assert usdt(ex) == Balance(D("100000"), D("0"))


def test_a_buy_limit_expired_by_self_trade_prevention_takes_its_stop_with_it(market):
    ex = market
    oco = buy_oco(ex)
    ex.place_order("alice", M, "sell", "limit", "29000", "0.01")  # meets her own limit: it expires
    legs = by_type(ex.order_list("alice", oco.id))
    assert (legs["limit"].status, legs["stop_loss_limit"].status) == ("EXPIRED", "CANCELED")
    assert usdt(ex) == Balance(D("100000"), D("0"))


@pytest.mark.parametrize(
    "args, code",
    [
        (dict(take_profit_price="31000", stop_price="29000", stop_limit_price="29100"), "INVALID_ARGUMENT"),
        (dict(take_profit_price="29000", stop_price="31000"), "INVALID_ARGUMENT"),  # no stop limit
        (dict(take_profit_price="29000", stop_price="31000", stop_limit_price="30900"), "INVALID_ARGUMENT"),
        (dict(take_profit_price="30100", stop_price="31000", stop_limit_price="31100"), "INVALID_ARGUMENT"),  # trades
        (dict(take_profit_price="29000", stop_price="30000", stop_limit_price="30100"), "INVALID_ARGUMENT"),  # fires
        (dict(take_profit_price="29000", stop_price="31000", stop_limit_price="31100", quantity="4"),
         "INSUFFICIENT_FUNDS"),
        (dict(take_profit_price="29000", stop_price="31000", stop_limit_price="31100.005"), "PRICE_NOT_ON_TICK"),
        (dict(take_profit_price="29000", stop_price="31000", stop_limit_price="31100", client_order_id="a b"),
         "INVALID_ARGUMENT"),
    ],
)  # fmt: skip
def test_bad_buy_ocos_are_refused_and_change_nothing(market, args, code):
    ex = market
    ex.place_order("bob", M, "sell", "limit", "30100", "0.01")  # an ask a limit at 30100 would take
    before = ex.state_hash()
    args = dict(args)
    with pytest.raises(SpotlabError) as refused:
        ex.place_oco("alice", M, args.pop("quantity", "0.1"), side="buy", **args)
    assert refused.value.code == code, refused.value.message
    assert ex.state_hash() == before


def test_a_buy_oco_without_a_stop_limit_says_why(market):
    with pytest.raises(SpotlabError) as refused:
        market.place_oco("alice", M, "0.1", "29000", "31000", side="buy")
    assert "stop_limit_price" in refused.value.message and "no bounded cost" in refused.value.message


def test_a_sell_bracket_is_refused_saying_brackets_are_buy_entry_only(market):
    before = market.state_hash()
    with pytest.raises(SpotlabError) as refused:
        market.place_bracket("alice", M, "0.05", "30500", "29500", "31000", side="sell")
    assert refused.value.code == "INVALID_ARGUMENT" and "buy-entry only" in refused.value.message
    assert market.state_hash() == before


# -- client ids -----------------------------------------------------------------------------------


def test_a_repeated_list_client_id_with_the_same_terms_returns_the_original_list(market):
    ex = market
    first = buy_oco(ex, client_order_id="dip-or-breakout-1")
    assert (first.client_order_id, first.duplicate) == ("dip-or-breakout-1", False)
    sequence, before = ex.last_sequence, ex.state_hash()
    again = buy_oco(ex, client_order_id="dip-or-breakout-1")
    assert again.duplicate and again.id == first.id
    assert again.orders == ex.order_list("alice", first.id).orders
    assert (ex.last_sequence, ex.state_hash()) == (sequence, before)  # nothing logged, nothing changed
    assert usdt(ex) == Balance(D("100000") - HOLD, HOLD)  # held once
    assert ex.order_list("alice", first.id).client_order_id == "dip-or-breakout-1"


def test_a_repeated_list_client_id_with_other_terms_is_refused_naming_the_list(market):
    ex = market
    first = ex.place_bracket("alice", M, "0.05", "29500", "30500", "29000", client_order_id="b-1")
    before = ex.state_hash()
    with pytest.raises(SpotlabError) as refused:
        ex.place_bracket("alice", M, "0.05", "29400", "30500", "29000", client_order_id="b-1")
    assert refused.value.code == "DUPLICATE_CLIENT_ORDER_ID"
    assert refused.value.details["list_id"] == first.id
    with pytest.raises(SpotlabError) as refused:  # an OCO is other terms too
        ex.place_oco("alice", M, "0.05", "30500", "29000", client_order_id="b-1")
    assert refused.value.code == "DUPLICATE_CLIENT_ORDER_ID"
    assert ex.state_hash() == before


def test_a_finished_list_still_answers_its_client_id(market):
    ex = market
    first = buy_oco(ex, client_order_id="done-1")
    ex.cancel_order_list("alice", first.id)
    again = buy_oco(ex, client_order_id="done-1")
    assert again.duplicate and again.id == first.id and again.status == "ALL_DONE"


def test_the_async_facade_takes_list_client_ids_too(market):
    ex = market

    async def go():
        first = await ex.aio.place_oco("alice", M, "0.1", "31000", "29000", client_order_id="s-1")
        again = await ex.aio.place_oco("alice", M, "0.1", "31000", "29000", client_order_id="s-1")
        bracket = await ex.aio.place_bracket("alice", M, "0.01", "29500", "30500", "29000", client_order_id="b-1")
        return first, again, bracket

    first, again, bracket = asyncio.run(go())
    assert (again.id, again.duplicate, first.duplicate) == (first.id, True, False)
    assert bracket.client_order_id == "b-1"
    placed = [e.client_order_id for e in ex.events() if type(e) is OrderListPlaced]
    assert placed == ["s-1", "b-1"]


# -- restart -------------------------------------------------------------------------------------


def test_a_pending_buy_oco_and_list_client_ids_survive_a_restart(store_url):
    start = datetime(2024, 5, 1, tzinfo=UTC)

    def build(ex: Exchange) -> int:
        people(ex)
        trade_at(ex, "30000.00")
        oco = buy_oco(ex, client_order_id="dip-1").id
        ex.place_oco("alice", M, "0.1", "32000", "29000", client_order_id="sell-1")
        return oco

    ex = Exchange.open(store_url, clock=SimulatedClock(start), snapshot_every=3)  # a snapshot, then log replay
    twin = Exchange.open(clock=SimulatedClock(start))
    oco = build(ex)
    build(twin)
    ex.close()
    ex = Exchange.open(store_url, clock=SimulatedClock(start))
    try:
        assert ex.state_hash() == twin.state_hash()
        assert ex.order_list("alice", oco) == twin.order_list("alice", oco)
        assert ex.order_list("alice", oco).client_order_id == "dip-1"
        again = buy_oco(ex, client_order_id="dip-1")
        assert again.duplicate and again.id == oco
        with pytest.raises(SpotlabError) as refused:
            buy_oco(ex, "0.2", client_order_id="dip-1")
        assert refused.value.code == "DUPLICATE_CLIENT_ORDER_ID"
        for exchange in (ex, twin):
            exchange.place_order("bob", M, "sell", "limit", "31050", "0.1")
            trade_at(exchange, "31000")  # the buy OCO's stop triggers and buys at 31050
            exchange.check_invariants()
        assert ex.state_hash() == twin.state_hash()
        assert [o.status for o in ex.order_list("alice", oco).orders] == ["TRIGGERED", "CANCELED"]
        assert ex.balances("alice") == twin.balances("alice")
    finally:
        ex.close()
        twin.close()


def test_a_sell_oco_still_falls_to_its_stop(market):
    """The sell side is unchanged by the buy side (a guard against swapping the directions)."""
    ex = market
    oco = ex.place_oco("alice", M, "0.1", "31000", "29000", stop_limit_price="28900")
    assert oco.side == "sell"
    ex.place_order("carol", M, "buy", "limit", "28950", "0.1")
    trade_down_to(ex, "29000")
    legs = by_type(ex.order_list("alice", oco.id))
    assert (legs["stop_loss_limit"].status, legs["limit"].status) == ("TRIGGERED", "CANCELED")

"""OCO and bracket order lists through the facade: one shared hold, links both ways, one cancels the other."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from spotlab import Exchange, SimulatedClock, SpotlabError
from spotlab.core.events import OrderListPlaced, OrderListUpdated, OrderTriggered
from spotlab.exchange.views import Balance
from tests.conftest import fund

M = "BTC/USDT"


def people(ex: Exchange) -> None:
    fund(ex, "alice", BTC="1", USDT="100000")
    fund(ex, "bob", BTC="5", USDT="500000")
    fund(ex, "carol", BTC="5", USDT="500000")


@pytest.fixture
def market(ex):
    people(ex)
    trade_at(ex, "30000.00")
    return ex


def trade_at(ex: Exchange, price: str, quantity: str = "0.01") -> None:
    ex.place_order("bob", M, "sell", "limit", price, quantity)
    ex.place_order("carol", M, "buy", "limit", price, quantity)


def trade_down_to(ex: Exchange, price: str, quantity: str = "0.01") -> None:
    ex.place_order("carol", M, "buy", "limit", price, quantity)
    ex.place_order("bob", M, "sell", "limit", price, quantity)


def by_type(view) -> dict:
    return {o.type: o for o in view.orders}


def test_an_oco_holds_its_base_once_for_both_orders_and_links_them_both_ways(market):
    ex = market
    oco = ex.place_oco("alice", M, "0.1", "31000", "29000")
    assert (oco.kind, oco.status, oco.quantity) == ("oco", "EXECUTING", D("0.1"))
    legs = by_type(oco)
    assert set(legs) == {"limit", "stop_loss"}
    assert all(o.list_id == oco.id for o in oco.orders)
    assert ex.order("alice", legs["limit"].id).list_id == oco.id
    assert ex.balances("alice")["BTC"] == Balance(D("0.9"), D("0.1"))  # not 0.2: no double hold
    assert ex.order_book(M).asks == [(D("31000.00"), D("0.1"))]
    with pytest.raises(SpotlabError) as refused:  # spot: what the OCO sells cannot be sold again
        ex.place_order("alice", M, "sell", "limit", "35000", "0.95")
    assert refused.value.code == "INSUFFICIENT_FUNDS"
    placed = [e for e in ex.events() if type(e) is OrderListPlaced]
    assert [(e.list_id, e.list_type, e.quantity) for e in placed] == [(oco.id, "oco", 10000)]


def test_a_partial_fill_of_the_take_profit_cancels_the_stop_loss(market):
    ex = market
    oco = ex.place_oco("alice", M, "0.1", "31000", "29000")
    ex.place_order("carol", M, "buy", "limit", "31000", "0.04")
    view = ex.order_list("alice", oco.id)
    legs = by_type(view)
    assert legs["limit"].status == "PARTIALLY_FILLED" and legs["limit"].filled_quantity == D("0.04")
    assert (legs["stop_loss"].status, legs["stop_loss"].reason) == ("CANCELED", "the take-profit of its OCO filled")
    assert view.status == "EXECUTING"  # the rest of the take-profit still rests
    trade_down_to(ex, "28000")  # far past the old stop: nothing triggers
    assert not [e for e in ex.events() if type(e) is OrderTriggered]
    ex.place_order("carol", M, "buy", "limit", "31000", "0.06")
    assert ex.order_list("alice", oco.id).status == "ALL_DONE"
    assert ex.balances("alice")["BTC"] == Balance(D("0.9"), D("0"))


def test_the_stop_loss_triggering_cancels_the_take_profit_and_sells_at_market(market):
    ex = market
    oco = ex.place_oco("alice", M, "0.1", "31000", "29000")
    ex.place_order("carol", M, "buy", "limit", "28900", "0.2")
    trade_down_to(ex, "29000")
    view = ex.order_list("alice", oco.id)
    legs = by_type(view)
    assert legs["stop_loss"].status == "TRIGGERED"
    assert (legs["limit"].status, legs["limit"].reason) == ("CANCELED", "the stop-loss of its OCO triggered")
    triggered = next(e for e in ex.events() if type(e) is OrderTriggered)
    child = ex.order("alice", triggered.child_id)
    assert (child.status, child.parent_id, child.filled_quantity) == ("FILLED", legs["stop_loss"].id, D("0.1"))
    assert view.status == "ALL_DONE"
    assert ex.order_book(M).asks == []
    assert ex.balances("alice")["BTC"] == Balance(D("0.9"), D("0"))


def test_an_oco_with_a_stop_limit_places_a_limit_when_triggered(market):
    ex = market
    oco = ex.place_oco("alice", M, "0.1", "31000", "29000", stop_limit_price="28800")
    assert by_type(oco)["stop_loss_limit"].price == D("28800.00")
    trade_down_to(ex, "28950")
    child_id = next(e.child_id for e in ex.events() if type(e) is OrderTriggered)
    child = ex.order("alice", child_id)
    assert (child.type, child.price, child.status) == ("limit", D("28800.00"), "NEW")
    assert ex.balances("alice")["BTC"].locked == D("0.1")


def test_cancelling_one_order_of_an_oco_cancels_the_list_and_releases_the_hold(market):
    ex = market
    oco = ex.place_oco("alice", M, "0.1", "31000", "29000")
    ex.cancel_order("alice", by_type(oco)["stop_loss"].id)
    view = ex.order_list("alice", oco.id)
    assert view.status == "ALL_DONE" and {o.status for o in view.orders} == {"CANCELED"}
    assert ex.balances("alice")["BTC"] == Balance(D("1"), D("0"))
    with pytest.raises(SpotlabError) as refused:
        ex.cancel_order_list("alice", oco.id)
    assert refused.value.code == "ORDER_NOT_OPEN"


def test_cancel_order_list_and_cancel_all_end_the_list(market):
    ex = market
    first = ex.place_oco("alice", M, "0.1", "31000", "29000")
    second = ex.place_oco("alice", M, "0.1", "32000", "28000")
    assert ex.cancel_order_list("alice", first.id).status == "ALL_DONE"
    ex.cancel_all_orders("alice", M)
    assert ex.order_list("alice", second.id).status == "ALL_DONE"
    assert ex.balances("alice")["BTC"] == Balance(D("1"), D("0"))


def test_orders_of_a_list_cannot_be_reduced_and_other_accounts_cannot_see_it(market):
    ex = market
    oco = ex.place_oco("alice", M, "0.1", "31000", "29000")
    with pytest.raises(SpotlabError) as refused:
        ex.reduce_order("alice", by_type(oco)["limit"].id, "0.05")
    assert refused.value.code == "INVALID_ARGUMENT"
    for call in (lambda: ex.order_list("bob", oco.id), lambda: ex.cancel_order_list("bob", oco.id)):
        with pytest.raises(SpotlabError) as refused:
            call()
        assert refused.value.code == "ORDER_NOT_FOUND"


@pytest.mark.parametrize(
    "args, code",
    [
        (dict(quantity="0.1", take_profit_price="29000", stop_price="31000"), "INVALID_ARGUMENT"),  # upside down
        (dict(quantity="0.1", take_profit_price="31000", stop_price="29000", side="buy"), "INVALID_ARGUMENT"),
        (dict(quantity="0.1", take_profit_price="29990", stop_price="29000"), "INVALID_ARGUMENT"),  # limit crosses
        (dict(quantity="0.1", take_profit_price="31000", stop_price="30000"), "INVALID_ARGUMENT"),  # stop at once
        (dict(quantity="2", take_profit_price="31000", stop_price="29000"), "INSUFFICIENT_FUNDS"),
        (dict(quantity="0.1", take_profit_price="31000", stop_price="29000", stop_limit_price="29100"),
         "INVALID_ARGUMENT"),
        (dict(quantity="0.1", take_profit_price="31000.001", stop_price="29000"), "PRICE_NOT_ON_TICK"),
    ],
)  # fmt: skip
def test_bad_ocos_are_refused_and_change_nothing(market, args, code):
    ex = market
    ex.place_order("carol", M, "buy", "limit", "29990", "0.01")
    before = ex.state_hash()
    with pytest.raises(SpotlabError) as refused:
        ex.place_oco("alice", M, **args)
    assert refused.value.code == code, refused.value.message
    assert ex.state_hash() == before


# -- brackets ------------------------------------------------------------------------------


def test_a_bracket_waits_for_its_entry_and_then_protects_what_it_bought(market):
    ex = market
    bracket = ex.place_bracket("alice", M, "0.05", "29500", "30500", "29000")
    assert [(o.type, o.side, o.status, o.list_id) for o in bracket.orders] == [("limit", "buy", "NEW", bracket.id)]
    ex.place_order("bob", M, "sell", "limit", "29500", "0.02")  # the entry buys 0.02
    view = ex.order_list("alice", bracket.id)
    entry, stop, take_profit = view.orders
    assert (entry.status, entry.filled_quantity) == ("PARTIALLY_FILLED", D("0.02"))
    assert (stop.type, stop.stop_price, stop.quantity) == ("stop_loss", D("29000.00"), D("0.02"))
    assert (take_profit.type, take_profit.side, take_profit.price, take_profit.quantity) == (
        "limit", "sell", D("30500.00"), D("0.02"),
    )  # fmt: skip
    assert {o.list_id for o in view.orders} == {bracket.id}
    assert ex.balances("alice")["BTC"] == Balance(D("1"), D("0.02"))  # the bought BTC, held once for both exits
    ex.place_order("bob", M, "sell", "limit", "29500", "0.03")  # the rest of the entry
    view = ex.order_list("alice", bracket.id)
    assert [o.quantity for o in view.orders[1:]] == [D("0.02"), D("0.02"), D("0.03"), D("0.03")]
    updates = [e for e in ex.events() if type(e) is OrderListUpdated and e.list_id == bracket.id]
    assert updates[-1].order_ids == [o.id for o in view.orders]


def test_a_bracket_stop_sells_what_it_bought_when_the_price_falls(market):
    ex = market
    bracket = ex.place_bracket("alice", M, "0.02", "29500", "30500", "29000")
    ex.place_order("bob", M, "sell", "limit", "29500", "0.02")
    ex.place_order("carol", M, "buy", "limit", "28900", "0.1")
    trade_down_to(ex, "29000")
    view = ex.order_list("alice", bracket.id)
    assert [o.status for o in view.orders] == ["FILLED", "TRIGGERED", "CANCELED"]
    assert view.status == "ALL_DONE"
    assert ex.balances("alice")["BTC"] == Balance(D("1"), D("0"))


def test_a_bracket_entry_that_fills_at_once_gets_its_exits_in_the_same_command(market):
    ex = market
    ex.place_order("bob", M, "sell", "limit", "29400", "0.02")
    bracket = ex.place_bracket("alice", M, "0.02", "29500", "30500", "29000")
    assert [(o.type, o.status) for o in bracket.orders] == [("limit", "FILLED"), ("stop_loss", "NEW"), ("limit", "NEW")]


def test_cancelling_a_bracket_cancels_the_entry_and_its_exits(market):
    ex = market
    bracket = ex.place_bracket("alice", M, "0.05", "29500", "30500", "29000")
    ex.place_order("bob", M, "sell", "limit", "29500", "0.02")
    view = ex.cancel_order_list("alice", bracket.id)
    assert view.status == "ALL_DONE" and [o.status for o in view.orders] == ["CANCELED"] * 3
    assert ex.balances("alice")["USDT"].locked == 0 and ex.balances("alice")["BTC"].locked == 0


def test_a_bracket_is_refused_when_its_prices_are_out_of_order_or_the_quote_is_short(market):
    ex = market
    with pytest.raises(SpotlabError) as refused:
        ex.place_bracket("alice", M, "0.05", "31000", "30500", "29000")
    assert refused.value.code == "INVALID_ARGUMENT"
    with pytest.raises(SpotlabError) as refused:
        ex.place_bracket("alice", M, "5", "29500", "30500", "29000")
    assert refused.value.code == "INSUFFICIENT_FUNDS"


def test_order_lists_survive_a_restart(store_url):
    start = datetime(2024, 5, 1, tzinfo=UTC)

    def build(ex: Exchange) -> tuple[int, int]:
        people(ex)
        trade_at(ex, "30000.00")
        oco = ex.place_oco("alice", M, "0.1", "31000", "29000").id
        bracket = ex.place_bracket("alice", M, "0.05", "29500", "30500", "29200").id
        ex.place_order("bob", M, "sell", "limit", "29500", "0.05")  # the entry fills: its exits rest and wait
        return oco, bracket

    ex = Exchange.open(store_url, clock=SimulatedClock(start), snapshot_every=2)
    twin = Exchange.open(clock=SimulatedClock(start))
    oco, bracket = build(ex)
    build(twin)
    ex.close()
    ex = Exchange.open(store_url, clock=SimulatedClock(start))
    try:
        assert ex.state_hash() == twin.state_hash()
        assert ex.order_list("alice", bracket) == twin.order_list("alice", bracket)
        for exchange in (ex, twin):
            exchange.place_order("carol", M, "buy", "limit", "28900", "0.5")
            # the bracket's stop (29200) triggers; its market sell prints 28900, which triggers the OCO's (29000)
            trade_down_to(exchange, "29100")
            exchange.check_invariants()
        assert ex.state_hash() == twin.state_hash()
        assert [o.status for o in ex.order_list("alice", oco).orders] == ["TRIGGERED", "CANCELED"]
        assert [o.status for o in ex.order_list("alice", bracket).orders] == ["FILLED", "TRIGGERED", "CANCELED"]
        assert ex.order_list("alice", bracket).status == "ALL_DONE"
    finally:
        ex.close()
        twin.close()


def test_a_take_profit_expired_by_self_trade_prevention_takes_its_stop_loss_with_it(market):
    ex = market
    oco = ex.place_oco("alice", M, "0.1", "31000", "29000")
    ex.place_order("bob", M, "sell", "limit", "31500", "0.1")
    ex.place_order("alice", M, "buy", "limit", "31500", "0.01")  # meets her own take-profit first: it expires
    view = ex.order_list("alice", oco.id)
    legs = by_type(view)
    assert (legs["limit"].status, legs["limit"].reason) == ("EXPIRED", "self-trade prevention")
    assert (legs["stop_loss"].status, legs["stop_loss"].reason) == ("CANCELED", "the take-profit of its OCO expired")
    assert view.status == "ALL_DONE"


def test_the_async_facade_places_conditionals_and_lists_too(market):
    ex = market

    async def go():
        trail = await ex.aio.place_order("alice", M, "sell", "trailing_stop", quantity="0.01", trailing_distance="100")
        oco = await ex.aio.place_oco("alice", M, "0.1", "31000", "29000")
        bracket = await ex.aio.place_bracket("alice", M, "0.01", "29500", "30500", "29000")
        canceled = await ex.aio.cancel_order_list("alice", bracket.id)
        return trail, oco, canceled

    trail, oco, canceled = asyncio.run(go())
    assert (trail.type, trail.stop_price) == ("trailing_stop", D("29900.00"))
    assert oco.status == "EXECUTING" and canceled.status == "ALL_DONE"


def test_the_orders_of_a_list_keep_its_self_trade_prevention_mode_after_a_restart(tmp_path):
    url = f"sqlite:///{tmp_path}/lists.sqlite"
    ex = Exchange.open(url, clock=SimulatedClock(datetime(2024, 5, 1, tzinfo=UTC)), snapshot_every=1)
    people(ex)
    trade_at(ex, "30000.00")
    bracket = ex.place_bracket("alice", M, "0.01", "29500", "30500", "29000", self_trade_prevention="EXPIRE_BOTH")
    ex.close()
    ex = Exchange.open(url, clock=SimulatedClock(datetime(2024, 5, 1, tzinfo=UTC)))
    try:
        ex.place_order("bob", M, "sell", "limit", "29500", "0.01")
        modes = {o.self_trade_prevention for o in ex.order_list("alice", bracket.id).orders}
        assert modes == {"EXPIRE_BOTH"}
        with ex._lock:
            stops = [o for o in ex._engine.pending_orders.values() if o.list_id == bracket.id]
        assert [type(o.self_trade_prevention).__name__ for o in stops] == ["SelfTradePrevention"]
    finally:
        ex.close()

"""Conditional orders through the facade: stop-loss and take-profit, plain (market) and limit.

They wait outside the book with their funds held, trigger on the LAST TRADE PRICE,
place a child order that names them (``parent_id``) in the same command, and survive
a restart. Every test ends with the exchange's invariants checked (the ``ex`` fixture).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from spotlab import Exchange, SimulatedClock, SpotlabError
from spotlab.core.events import (
    BalanceChanged,
    ConditionalOrderCanceled,
    ConditionalOrderPlaced,
    OrderFilled,
    OrderPlaced,
    OrderTriggered,
)
from spotlab.exchange.views import Balance, order_view
from tests.conftest import fund

M = "BTC/USDT"


@pytest.fixture
def people(ex):
    """alice holds BTC and places conditionals; bob and carol make the market and print trades."""
    fund(ex, "alice", BTC="1", USDT="100000")
    fund(ex, "bob", BTC="5", USDT="500000")
    fund(ex, "carol", BTC="5", USDT="500000")
    return "alice", "bob", "carol"


def trade_at(ex: Exchange, price: str, quantity: str = "0.01") -> None:
    """bob rests a sell at ``price`` and carol buys it: the last trade price becomes ``price``."""
    ex.place_order("bob", M, "sell", "limit", price, quantity)
    ex.place_order("carol", M, "buy", "limit", price, quantity)


def trade_down_to(ex: Exchange, price: str, quantity: str = "0.01") -> None:
    """carol rests a buy at ``price`` and bob sells into it."""
    ex.place_order("carol", M, "buy", "limit", price, quantity)
    ex.place_order("bob", M, "sell", "limit", price, quantity)


def events_since(ex: Exchange, seq: int) -> list:
    return list(ex.events(after=seq))


def test_a_stop_loss_sell_holds_its_base_and_waits_outside_the_book(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    stop = ex.place_order(alice, M, "sell", "stop_loss", quantity="0.5", stop_price="29000.00")
    assert (stop.status, stop.type, stop.stop_price, stop.price) == ("NEW", "stop_loss", D("29000.00"), None)
    assert ex.balances(alice)["BTC"].locked == D("0.5")
    assert ex.order_book(M).asks == [] and ex.order_book(M).bids == []
    assert ex.order(alice, stop.id).status == "NEW"
    assert [o.id for o in ex.open_orders(alice)] == []  # open orders are the ones in the book
    with pytest.raises(SpotlabError) as refused:  # spot: the held BTC cannot be sold twice
        ex.place_order(alice, M, "sell", "limit", "31000.00", "0.6")
    assert refused.value.code == "INSUFFICIENT_FUNDS"


def test_a_stop_loss_sell_triggers_when_the_last_price_falls_to_its_stop_and_sells_into_the_bids(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    stop = ex.place_order(alice, M, "sell", "stop_loss", quantity="0.02", stop_price="29000.00")
    ex.place_order("carol", M, "buy", "limit", "28900.00", "0.05")  # the bid the stop will hit
    trade_down_to(ex, "29100.00")
    assert ex.order(alice, stop.id).status == "NEW"  # 29100 is above the stop
    seq = ex.last_sequence
    trade_down_to(ex, "29000.00")  # at the stop: triggers in this command
    events = events_since(ex, seq)
    triggered = [e for e in events if type(e) is OrderTriggered]
    assert [(e.order_id, e.stop_price, e.last_price) for e in triggered] == [(stop.id, 2900000, 2900000)]
    child_id = triggered[0].child_id
    placed = [e for e in events if type(e) is OrderPlaced and e.order_id == child_id]
    assert placed and placed[0].type == "market" and events.index(triggered[0]) < events.index(placed[0])
    parent = ex.order(alice, stop.id)
    assert (parent.status, parent.reason) == ("TRIGGERED", "triggered by the last trade price")
    child = ex.order(alice, child_id)
    assert (child.status, child.parent_id, child.side, child.filled_quantity) == ("FILLED", stop.id, "sell", D("0.02"))
    assert child.average_price == D("28900.00")  # the gap: it fills at what the book offers
    assert child.arrival_price == D("29000.00")  # slippage is reported against the stop price
    fills = [e for e in events if type(e) is OrderFilled and e.taker_order_id == child_id]
    assert [(f.price, f.quantity) for f in fills] == [(2890000, 2000)]
    assert ex.balances(alice)["BTC"] == Balance(D("0.98"), D("0"))


def test_a_triggered_order_reports_its_slippage_against_the_stop(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    stop = ex.place_order(alice, M, "sell", "stop_loss", quantity="0.02", stop_price="29000.00")
    ex.place_order("carol", M, "buy", "limit", "28710.00", "0.05")
    trade_down_to(ex, "28800.00")  # a gap straight through the stop
    triggered = next(e for e in ex.events() if type(e) is OrderTriggered)
    # a view built with the triggering command's events carries the child's fills and slippage
    order = ex._engine.find_order(alice, triggered.child_id)
    view = order_view(order, ex.market_spec(M), events_since(ex, triggered.seq))
    assert view.parent_id == stop.id
    assert view.slippage == D("290.00") and view.slippage_bps == D("100.00")  # 29000 -> 28710: 1 % worse


def test_a_stop_loss_limit_places_a_limit_order_that_can_rest_and_fill_in_parts(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    stop = ex.place_order(alice, M, "sell", "stop_loss_limit", price="28950.00", quantity="0.03", stop_price="29000.00")
    ex.place_order("carol", M, "buy", "limit", "28960.00", "0.01")  # only part of it can fill at once
    trade_down_to(ex, "28990.00")
    child_id = next(e.child_id for e in ex.events() if type(e) is OrderTriggered)
    child = ex.order(alice, child_id)
    assert (child.type, child.price, child.parent_id) == ("limit", D("28950.00"), stop.id)
    assert child.status == "PARTIALLY_FILLED"
    assert child.filled_quantity == D("0.01") and child.remaining_quantity == D("0.02")
    assert ex.order_book(M).asks == [(D("28950.00"), D("0.02"))]
    assert ex.balances(alice)["BTC"].locked == D("0.02")  # the hold passed to the child
    ex.cancel_order(alice, child_id)
    assert ex.balances(alice)["BTC"] == Balance(D("0.99"), D("0"))


def test_a_take_profit_sell_triggers_when_the_last_price_rises_to_its_stop(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    tp = ex.place_order(alice, M, "sell", "take_profit", quantity="0.01", stop_price="31000.00")
    trade_at(ex, "30500.00")
    assert ex.order(alice, tp.id).status == "NEW"
    ex.place_order("carol", M, "buy", "limit", "30990.00", "0.01")
    trade_at(ex, "31000.00")
    assert ex.order(alice, tp.id).status == "TRIGGERED"
    child_id = next(e.child_id for e in ex.events() if type(e) is OrderTriggered)
    child = ex.order(alice, child_id)
    assert (child.status, child.average_price, child.parent_id) == ("FILLED", D("30990.00"), tp.id)


def test_a_take_profit_limit_buy_triggers_when_the_last_price_falls_to_its_stop(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    tp = ex.place_order(alice, M, "buy", "take_profit_limit", price="29000.00", quantity="0.01", stop_price="29000.00")
    hold = D("29000.00") * D("0.01") * D("1.001")
    assert ex.balances(alice)["USDT"].locked == hold  # a limit buy's worst case, fees included
    trade_down_to(ex, "28990.00")
    child_id = next(e.child_id for e in ex.events() if type(e) is OrderTriggered)
    child = ex.order(alice, child_id)
    assert (child.type, child.status, child.price, child.parent_id) == ("limit", "NEW", D("29000.00"), tp.id)
    assert ex.order_book(M).bids[0] == (D("29000.00"), D("0.01"))
    assert ex.balances(alice)["USDT"].locked == hold


def test_a_stop_loss_buy_spends_a_held_quote_amount_when_the_price_rises(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    stop = ex.place_order(alice, M, "buy", "stop_loss", quote_quantity="310", stop_price="30500.00")
    assert ex.balances(alice)["USDT"].locked == D("310")
    ex.place_order("bob", M, "sell", "limit", "31000.00", "1")
    trade_at(ex, "30600.00")
    child_id = next(e.child_id for e in ex.events() if type(e) is OrderTriggered)
    child = ex.order(alice, child_id)
    assert (child.status, child.parent_id, child.quote_quantity) == ("FILLED", stop.id, D("310"))
    assert child.filled_quantity == D("0.00999")  # 310 USDT buys 0.00999 BTC at 31000 with the 0.1 % fee
    assert child.filled_notional + child.fees <= D("310")
    assert ex.balances(alice)["USDT"].locked == 0


def test_a_market_child_with_no_liquidity_expires_and_returns_the_hold(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    ex.place_order(alice, M, "sell", "stop_loss", quantity="0.01", stop_price="29000.00")
    trade_down_to(ex, "29000.00")  # nothing else bids: the market sell finds no liquidity
    child_id = next(e.child_id for e in ex.events() if type(e) is OrderTriggered)
    child = ex.order(alice, child_id)
    assert (child.status, child.reason) == ("EXPIRED", "no liquidity")
    assert ex.balances(alice)["BTC"].locked == 0 and ex.balances(alice)["BTC"].available == D("1")


def test_one_trade_triggers_every_crossed_stop_in_price_then_time_order_and_cascades(ex, people):
    alice, _, _ = people
    fund(ex, "dave", BTC="1")
    trade_at(ex, "30000.00")
    s1 = ex.place_order(alice, M, "sell", "stop_loss", quantity="0.01", stop_price="29500.00")
    s2 = ex.place_order("dave", M, "sell", "stop_loss", quantity="0.01", stop_price="29800.00")
    s3 = ex.place_order(alice, M, "sell", "stop_loss", quantity="0.01", stop_price="29800.00")
    s4 = ex.place_order("dave", M, "sell", "stop_loss", quantity="0.01", stop_price="29000.00")
    s5 = ex.place_order(alice, M, "sell", "stop_loss", quantity="0.01", stop_price="28000.00")  # not reached
    for price in ("29700.00", "29400.00", "28900.00"):  # each child's fill walks the price down further
        ex.place_order("carol", M, "buy", "limit", price, "0.01")
    seq = ex.last_sequence
    trade_down_to(ex, "29750.00")  # crosses s2 and s3 (29800); s3's child prints 29400, crossing s1; then s4
    triggered = [e.order_id for e in events_since(ex, seq) if type(e) is OrderTriggered]
    assert triggered == [s2.id, s3.id, s1.id, s4.id]
    assert ex.order(alice, s5.id).status == "NEW"
    assert ex.trades(M, 1)[0].price == D("28900.00")


def test_cancelling_a_pending_conditional_releases_its_hold(ex, people):
    alice, _, _ = people
    stop = ex.place_order(alice, M, "sell", "stop_loss_limit", price="28000.00", quantity="0.4", stop_price="29000.00")
    seq = ex.last_sequence
    canceled = ex.cancel_order(alice, stop.id)
    assert canceled.status == "CANCELED" and canceled.stop_price == D("29000.00")
    events = events_since(ex, seq)
    assert [type(e) for e in events] == [ConditionalOrderCanceled, BalanceChanged]
    assert events[0].released == 40000 * 1000  # 0.4 BTC in satoshi-like minor units
    assert ex.balances(alice)["BTC"].locked == 0
    with pytest.raises(SpotlabError) as refused:
        ex.cancel_order(alice, stop.id)
    assert refused.value.code == "ORDER_NOT_OPEN"


def test_cancel_all_includes_pending_conditionals_and_reduce_refuses_them(ex, people):
    alice, _, _ = people
    stop = ex.place_order(alice, M, "sell", "stop_loss", quantity="0.1", stop_price="29000.00")
    resting = ex.place_order(alice, M, "sell", "limit", "35000.00", "0.1")
    with pytest.raises(SpotlabError) as refused:
        ex.reduce_order(alice, stop.id, "0.05")
    assert refused.value.code == "INVALID_ARGUMENT"
    canceled = ex.cancel_all_orders(alice, M)
    assert [(o.id, o.status) for o in canceled] == [(resting.id, "CANCELED"), (stop.id, "CANCELED")]
    assert ex.balances(alice)["BTC"].locked == 0


def test_another_account_cannot_see_or_cancel_a_conditional(ex, people):
    alice, bob, _ = people
    stop = ex.place_order(alice, M, "sell", "stop_loss", quantity="0.1", stop_price="29000.00")
    for call in (lambda: ex.order(bob, stop.id), lambda: ex.cancel_order(bob, stop.id)):
        with pytest.raises(SpotlabError) as refused:
            call()
        assert refused.value.code == "ORDER_NOT_FOUND"


def test_a_conditional_placement_is_an_event_with_its_hold(ex, people):
    alice, _, _ = people
    seq = ex.last_sequence
    stop = ex.place_order(alice, M, "sell", "stop_loss", quantity="0.1", stop_price="29000.00", client_order_id="s1")
    placed = events_since(ex, seq)[0]
    assert type(placed) is ConditionalOrderPlaced
    assert (placed.order_id, placed.stop_price, placed.quantity, placed.hold) == (stop.id, 2900000, 10000, 10000000)
    again = ex.place_order(alice, M, "sell", "stop_loss", quantity="0.1", stop_price="29000.00", client_order_id="s1")
    assert again.duplicate and again.id == stop.id
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(alice, M, "sell", "stop_loss", quantity="0.1", stop_price="28000.00", client_order_id="s1")
    assert refused.value.code == "DUPLICATE_CLIENT_ORDER_ID"


@pytest.mark.parametrize(
    "args, code",
    [
        (dict(side="sell", type="stop_loss", quantity="0.1"), "INVALID_ARGUMENT"),  # no stop price
        (dict(side="sell", type="limit", price="30000", quantity="0.1", stop_price="29000"), "INVALID_ARGUMENT"),
        (dict(side="buy", type="stop_loss", quantity="0.1", stop_price="31000"), "INVALID_ARGUMENT"),  # buy by amount
        (dict(side="sell", type="stop_loss", quote_quantity="100", stop_price="29000"), "INVALID_ARGUMENT"),
        (dict(side="sell", type="stop_loss", quantity="0.1", stop_price="29000.001"), "PRICE_NOT_ON_TICK"),
        (dict(side="sell", type="stop_loss", quantity="0.1", stop_price="0"), "INVALID_NUMBER"),
        (dict(side="sell", type="stop_loss_limit", quantity="0.1", stop_price="29000"), "INVALID_ARGUMENT"),  # no price
        (dict(side="sell", type="stop_loss", quantity="0.00001", stop_price="29000"), "BELOW_MIN_NOTIONAL"),
        (dict(side="sell", type="stop_loss", quantity="0.1", stop_price="29000", time_in_force="GTC"),
         "INVALID_ARGUMENT"),
        (dict(side="sell", type="stop_loss", quantity="2", stop_price="29000"), "INSUFFICIENT_FUNDS"),
        (dict(side="sell", type="stop_loss", quantity="0.1", stop_price="30000"), "INVALID_ARGUMENT"),  # at once
        (dict(side="buy", type="take_profit", quote_quantity="100", stop_price="30000.01"), "INVALID_ARGUMENT"),
    ],
)  # fmt: skip
def test_bad_conditional_orders_are_refused_and_change_nothing(ex, people, args, code):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    before = ex.state_hash()
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(alice, M, **args)
    assert refused.value.code == code, refused.value.message
    assert ex.state_hash() == before


def test_a_halted_market_rejects_conditionals(ex, people):
    alice, _, _ = people
    ex.halt_market(M)
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(alice, M, "sell", "stop_loss", quantity="0.1", stop_price="29000.00")
    assert refused.value.code == "MARKET_HALTED"


# -- restart while pending ---------------------------------------------------------------


def build(ex: Exchange) -> dict[str, int]:
    fund(ex, "alice", BTC="1", USDT="100000")
    fund(ex, "bob", BTC="5", USDT="500000")
    fund(ex, "carol", BTC="5", USDT="500000")
    trade_at(ex, "30000.00")
    ids = {
        "stop": ex.place_order("alice", M, "sell", "stop_loss", quantity="0.02", stop_price="29000.00").id,
        "tp": ex.place_order("alice", M, "buy", "take_profit_limit", price="28000.00", quantity="0.01",
                             stop_price="28500.00", client_order_id="tp-1").id,
        "buy_stop": ex.place_order("alice", M, "buy", "stop_loss", quote_quantity="100", stop_price="31000.00").id,
    }  # fmt: skip
    ex.place_order("carol", M, "buy", "limit", "28900.00", "0.05")
    return ids


@pytest.mark.parametrize("snapshot_every", [None, 1])
def test_pending_conditionals_survive_a_restart_and_then_trigger(store_url, snapshot_every):
    start = datetime(2024, 5, 1, tzinfo=UTC)
    ex = Exchange.open(store_url, clock=SimulatedClock(start), snapshot_every=snapshot_every)
    twin = Exchange.open(clock=SimulatedClock(start))
    ids = build(ex)
    build(twin)
    before = ex.state_hash()
    ex.close()
    ex = Exchange.open(store_url, clock=SimulatedClock(start), snapshot_every=snapshot_every)
    try:
        assert ex.state_hash() == before == twin.state_hash()
        assert ex.order("alice", ids["stop"]).status == "NEW"
        assert ex.order_by_client_id("alice", "tp-1").id == ids["tp"]
        for exchange in (ex, twin):
            trade_down_to(exchange, "29000.00")
            exchange.check_invariants()
        assert ex.order("alice", ids["stop"]).status == "TRIGGERED"
        assert ex.state_hash() == twin.state_hash()
        assert [e for e in ex.events() if type(e) is OrderTriggered] == [
            e for e in twin.events() if type(e) is OrderTriggered
        ]
        ex.cancel_order("alice", ids["buy_stop"])
        ex.close()
        ex = Exchange.open(store_url, clock=SimulatedClock(start))
        ex.check_invariants()
        assert ex.order("alice", ids["buy_stop"]).status == "CANCELED"
        assert ex.order("alice", ids["tp"]).status == "NEW"
    finally:
        ex.close()
        twin.close()


# -- trailing stops ----------------------------------------------------------------------


def test_a_trailing_stop_sell_follows_the_rising_price_and_triggers_its_distance_below_the_peak(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    trail = ex.place_order(alice, M, "sell", "trailing_stop", quantity="0.01", trailing_distance="500")
    assert (trail.stop_price, trail.trailing_distance, trail.status) == (D("29500.00"), D("500.00"), "NEW")
    assert ex.balances(alice)["BTC"].locked == D("0.01")
    trade_at(ex, "30800.00")
    assert ex.order(alice, trail.id).stop_price == D("30300.00")  # follows the peak up
    trade_down_to(ex, "30400.00")
    assert ex.order(alice, trail.id).stop_price == D("30300.00")  # never back down
    ex.place_order("carol", M, "buy", "limit", "30250.00", "0.01")
    trade_down_to(ex, "30300.00")
    assert ex.order(alice, trail.id).status == "TRIGGERED"
    triggered = next(e for e in ex.events() if type(e) is OrderTriggered)
    assert (triggered.stop_price, triggered.last_price) == (3030000, 3030000)
    child = ex.order(alice, triggered.child_id)
    assert (child.type, child.status, child.parent_id) == ("market", "FILLED", trail.id)
    assert child.average_price == D("30250.00")


def test_a_trailing_stop_by_percent_rounds_its_stop_away_from_the_peak(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.01")
    trail = ex.place_order(alice, M, "sell", "trailing_stop", quantity="0.01", trailing_percent="1.5")
    # 1.5 % of 30000.01 is 450.00015: the stop is 30000.01 - 450.01 (rounded down to the tick)
    assert trail.stop_price == D("29550.00") and trail.trailing_percent == D("1.5")


def test_a_trailing_stop_buy_follows_the_falling_price_and_spends_its_quote_amount(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    trail = ex.place_order(alice, M, "buy", "trailing_stop", quote_quantity="100", trailing_distance="300")
    assert trail.stop_price == D("30300.00") and ex.balances(alice)["USDT"].locked == D("100")
    trade_down_to(ex, "29000.00")
    assert ex.order(alice, trail.id).stop_price == D("29300.00")
    ex.place_order("bob", M, "sell", "limit", "29400.00", "0.01")
    trade_at(ex, "29300.00")
    assert ex.order(alice, trail.id).status == "TRIGGERED"
    child_id = next(e.child_id for e in ex.events() if type(e) is OrderTriggered)
    assert ex.order(alice, child_id).filled_quantity > 0 and ex.balances(alice)["USDT"].locked == 0


def test_a_trailing_stop_with_an_activation_price_waits_until_the_price_reaches_it(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    trail = ex.place_order(
        alice, M, "sell", "trailing_stop", quantity="0.01", trailing_distance="200", activation_price="31000"
    )
    assert trail.stop_price is None and trail.activation_price == D("31000.00")
    ex.place_order("carol", M, "buy", "limit", "29000.00", "0.05")
    trade_down_to(ex, "29500.00")  # far below where an active stop would be: nothing happens
    assert ex.order(alice, trail.id).status == "NEW"
    trade_at(ex, "31100.00")
    assert ex.order(alice, trail.id).stop_price == D("30900.00")
    trade_down_to(ex, "30900.00")
    assert ex.order(alice, trail.id).status == "TRIGGERED"


@pytest.mark.parametrize(
    "args",
    [
        dict(quantity="0.01"),  # no distance
        dict(quantity="0.01", trailing_distance="100", trailing_percent="1"),  # both
        dict(quantity="0.01", trailing_distance="100", stop_price="29000"),
        dict(quantity="0.01", trailing_percent="100"),
    ],
)
def test_bad_trailing_stops_are_refused(ex, people, args):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    before = ex.state_hash()
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(alice, M, "sell", "trailing_stop", **args)
    assert refused.value.code in ("INVALID_ARGUMENT", "INVALID_NUMBER")
    assert ex.state_hash() == before


def test_a_trailing_stop_without_a_last_price_needs_an_activation_price(ex, people):
    alice, _, _ = people
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(alice, M, "sell", "trailing_stop", quantity="0.01", trailing_distance="100")
    assert refused.value.code == "INVALID_ARGUMENT"
    waiting = ex.place_order(
        alice, M, "sell", "trailing_stop", quantity="0.01", trailing_distance="100", activation_price="30000"
    )
    assert waiting.status == "NEW" and waiting.stop_price is None


def build_trailing(ex: Exchange) -> int:
    build(ex)
    trade_at(ex, "30200.00")
    return ex.place_order("alice", M, "sell", "trailing_stop", quantity="0.01", trailing_distance="400").id


def test_a_trailing_stop_keeps_its_peak_across_a_restart(store_url):
    start = datetime(2024, 5, 1, tzinfo=UTC)
    ex = Exchange.open(store_url, clock=SimulatedClock(start), snapshot_every=1)
    twin = Exchange.open(clock=SimulatedClock(start))
    trail = build_trailing(ex)
    build_trailing(twin)
    for exchange in (ex, twin):
        trade_at(exchange, "30900.00")
    ex.close()
    ex = Exchange.open(store_url, clock=SimulatedClock(start))
    try:
        assert ex.state_hash() == twin.state_hash()
        assert ex.order("alice", trail).stop_price == D("30500.00")
        for exchange in (ex, twin):
            trade_at(exchange, "31000.00")
            trade_down_to(exchange, "30600.00")
            exchange.check_invariants()
        assert ex.order("alice", trail).status == twin.order("alice", trail).status == "TRIGGERED"
        assert ex.state_hash() == twin.state_hash()
    finally:
        ex.close()
        twin.close()


def test_pending_conditional_orders_are_listed_apart_from_the_open_ones(ex, people):
    alice, _, _ = people
    trade_at(ex, "30000.00")
    stop = ex.place_order(alice, M, "sell", "stop_loss", quantity="0.1", stop_price="29000.00")
    limit = ex.place_order(alice, M, "sell", "limit", "31000", "0.1")
    assert [o.id for o in ex.conditional_orders(alice)] == [stop.id]
    assert [o.id for o in ex.conditional_orders(alice, M)] == [stop.id]
    assert ex.conditional_orders(alice, "ETH/USDT") == []
    assert [o.id for o in ex.open_orders(alice)] == [limit.id]

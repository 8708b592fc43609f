"""Order views read field by field: each figure lands in the field that names it (``order_view`` builds the view
positionally, so a field out of place would show here as a value under the wrong name)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from spotlab import Exchange
from spotlab.clock import SimulatedClock
from spotlab.core.events import OrderTriggered

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def clock():
    return SimulatedClock(T0)


@pytest.fixture
def ex(clock):
    with Exchange.open(clock=clock) as exchange:
        for account in ("maker", "alice"):
            exchange.create_account(account)
        exchange.deposit("maker", "BTC", "10")
        exchange.deposit("maker", "USDT", "1000000")
        exchange.deposit("alice", "USDT", "1000000")
        exchange.deposit("alice", "BTC", "2")
        yield exchange


def test_a_market_buy_that_walked_two_levels(ex, clock):
    ex.place_order("maker", "BTC/USDT", "sell", "limit", "50000.00", "0.5")
    ex.place_order("maker", "BTC/USDT", "sell", "limit", "50010.00", "1")
    clock.advance(seconds=2)
    view = ex.place_order("alice", "BTC/USDT", "buy", "market", quantity="1.2", client_order_id="walk-1")
    assert (view.account, view.market, view.side, view.type) == ("alice", "BTC/USDT", "buy", "market")
    assert (view.time_in_force, view.self_trade_prevention, view.status) == ("IOC", "EXPIRE_MAKER", "FILLED")
    assert (view.price, view.quantity, view.quote_quantity) == (None, D("1.2"), None)
    assert (view.filled_quantity, view.remaining_quantity) == (D("1.2"), D(0))
    assert view.filled_notional == D("25000") + D("35007")  # 0.5 x 50000 + 0.7 x 50010
    assert view.average_price == D("50005.8333333333")  # 60007 / 1.2, eight decimals past the 0.01 tick
    assert (view.fees, view.fee_asset) == (D("60.007"), "USDT")  # the 0.1 % taker fee
    assert (view.client_order_id, view.reason) == ("walk-1", None)
    assert view.created_at == view.updated_at == datetime(2026, 1, 2, 3, 4, 7, tzinfo=UTC)
    assert [(f.price, f.quantity, f.role) for f in view.fills] == [
        (D("50000.00"), D("0.5"), "taker"), (D("50010.00"), D("0.7"), "taker"),
    ]  # fmt: skip
    assert (view.arrival_price, view.slippage, view.slippage_bps) == (D("50000.00"), D("5.8333333333"), D("1.17"))
    assert (view.duplicate, view.stop_price, view.parent_id, view.list_id) == (False, None, None, None)
    assert (view.trailing_distance, view.trailing_percent, view.activation_price) == (None, None, None)


def test_a_market_buy_by_amount_shows_the_amount_and_no_quantity(ex):
    ex.place_order("maker", "BTC/USDT", "sell", "limit", "50000.00", "1")
    view = ex.place_order("alice", "BTC/USDT", "buy", "market", quote_quantity="1001")
    assert (view.quantity, view.quote_quantity, view.price) == (None, D("1001"), None)


def test_a_resting_stop_limit_and_a_trailing_stop_show_their_own_prices(ex):
    ex.place_order("maker", "BTC/USDT", "sell", "limit", "50000.00", "0.1")
    ex.place_order("alice", "BTC/USDT", "buy", "limit", "50000.00", "0.1")  # the last price is 50,000
    stop = ex.place_order("alice", "BTC/USDT", "sell", "stop_loss_limit", "48000.00", "0.3", stop_price="49000.00")
    assert (stop.price, stop.stop_price, stop.quantity, stop.remaining_quantity) == (
        D("48000.00"), D("49000.00"), D("0.3"), D("0.3"),
    )  # fmt: skip
    trailing = ex.place_order(
        "alice", "BTC/USDT", "sell", "trailing_stop", quantity="0.2", trailing_distance="700.00",
        activation_price="51000.00",
    )  # fmt: skip
    assert (trailing.trailing_distance, trailing.activation_price, trailing.trailing_percent) == (
        D("700.00"), D("51000.00"), None,
    )  # fmt: skip
    percent = ex.place_order("alice", "BTC/USDT", "sell", "trailing_stop", quantity="0.1", trailing_percent="1.25")
    assert (percent.trailing_percent, percent.trailing_distance) == (D("1.25"), None)


def test_an_oco_leg_names_its_list_and_a_triggered_order_its_parent(ex):
    ex.place_order("maker", "BTC/USDT", "sell", "limit", "50000.00", "0.1")
    ex.place_order("alice", "BTC/USDT", "buy", "limit", "50000.00", "0.1")
    oco = ex.place_oco("alice", "BTC/USDT", "0.5", "55000.00", "45000.00")
    assert {order.list_id for order in oco.orders} == {oco.id} and all(o.parent_id is None for o in oco.orders)
    stop = ex.place_order("alice", "BTC/USDT", "sell", "stop_loss", quantity="0.1", stop_price="49500.00")
    ex.place_order("maker", "BTC/USDT", "buy", "limit", "49000.00", "1")
    ex.place_order("alice", "BTC/USDT", "sell", "limit", "49000.00", "0.05")  # prints 49,000: the stop triggers
    [triggered] = [e for e in ex.events() if type(e) is OrderTriggered]
    child = ex.order("alice", triggered.child_id)
    assert (child.type, child.parent_id, child.list_id, child.stop_price) == ("market", stop.id, None, None)
    assert child.arrival_price == D("49500.00")  # slippage is measured from the stop

"""The history read model with conditional orders and order lists: it answers what the engine answers.

Pending, triggered and canceled stop-loss / take-profit / trailing orders, the children their
triggers placed (``parent_id``), and the members of OCOs and brackets (``list_id``) are rows
equal field by field to ``ex.order``; they survive a restart; and a history file written
before conditional orders (its orders table lacks their columns) is rebuilt from the log.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from spotlab import Exchange, SimulatedClock
from spotlab.store.history import History
from tests.conftest import fund

M = "BTC/USDT"


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC))


def trade_at(ex: Exchange, price: str, quantity: str = "0.01") -> None:
    """bob rests a sell at ``price`` and carol buys it: the last trade price becomes ``price``."""
    ex.place_order("bob", M, "sell", "limit", price, quantity)
    ex.place_order("carol", M, "buy", "limit", price, quantity)


def scenario(ex: Exchange) -> dict[str, int]:
    """Every kind of conditional order and list, some triggered, some canceled, some pending."""
    fund(ex, "alice", BTC="2", USDT="100000")
    fund(ex, "bob", BTC="20", USDT="900000")
    fund(ex, "carol", BTC="20", USDT="900000")
    trade_at(ex, "30000")
    ids = {
        "stop": ex.place_order("alice", M, "sell", "stop_loss", quantity="0.1", stop_price="29000").id,
        "stop_limit": ex.place_order("alice", M, "sell", "stop_loss_limit", "28800", "0.1", stop_price="28900").id,
        "take_profit": ex.place_order("alice", M, "sell", "take_profit", quantity="0.1", stop_price="32000").id,
        "buy_stop": ex.place_order("alice", M, "buy", "stop_loss", quote_quantity="500", stop_price="33000").id,
        "trailing": ex.place_order("alice", M, "sell", "trailing_stop", quantity="0.1", trailing_percent="5").id,
    }
    ids["canceled"] = ex.place_order("alice", M, "sell", "take_profit", quantity="0.1", stop_price="35000").id
    ex.cancel_order("alice", ids["canceled"])
    oco = ex.place_oco("alice", M, "0.2", "31000", "27000")
    ids["oco"] = oco.id
    ids["bracket"] = ex.place_bracket("alice", M, "0.1", "30000", "34000", "26000").id
    ex.place_order("bob", M, "sell", "limit", "30000", "0.1")  # fills the bracket's entry: its OCO follows
    ex.place_order("carol", M, "buy", "limit", "29000", "1")  # the bid the stop sells into
    trade_at(ex, "29000")  # triggers the stop-loss (market)
    return ids


def assert_every_order_matches_the_engine(ex: Exchange, history: History) -> None:
    assert history.wait(ex.last_sequence)
    assert history.failure is None
    for account in ("alice", "bob", "carol"):
        orders = history.orders(account, limit=1000).items
        assert orders, account
        for order in orders:
            engine = ex.order(account, order.id)
            if engine.type == "trailing_stop" and engine.status == "NEW":  # the history keeps its first stop
                assert order.stop_price is not None and engine.stop_price is not None
                engine = engine.__class__(**{**_fields(engine), "stop_price": order.stop_price})
            assert order == engine


def _fields(view) -> dict:
    return {name: getattr(view, name) for name in view.__slots__}


def test_conditional_orders_and_lists_are_rows_equal_to_the_engines_orders(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        ids = scenario(ex)
        assert_every_order_matches_the_engine(ex, history)
        stop = history.order("alice", ids["stop"])
        assert (stop.status, stop.stop_price) == ("TRIGGERED", D("29000"))
        children = [o for o in history.orders("alice", limit=1000).items if o.parent_id == ids["stop"]]
        assert [(c.type, c.side, c.quantity) for c in children] == [("market", "sell", D("0.1"))]
        assert history.order("alice", ids["stop_limit"]).status == "NEW"  # 28900 not reached
        assert history.orders("alice", status="TRIGGERED", limit=10).items[0].id == ids["stop"]
        canceled = history.order("alice", ids["canceled"])
        assert (canceled.status, canceled.stop_price) == ("CANCELED", D("35000"))
        trailing = history.order("alice", ids["trailing"])
        assert (trailing.status, trailing.trailing_percent) == ("NEW", D("5"))
        members = {o.id: o.list_id for o in history.orders("alice", limit=1000).items if o.list_id}
        assert sorted(set(members.values())) == [ids["oco"], ids["bracket"]]
        bracket_members = sorted(i for i, list_id in members.items() if list_id == ids["bracket"])
        assert bracket_members == sorted(o.id for o in ex.order_list("alice", ids["bracket"]).orders)
        assert len(bracket_members) == 3  # the (filled) entry and the OCO it got


def test_pending_conditional_orders_survive_a_restart_of_the_history(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        ids = scenario(ex)
        assert history.wait(ex.last_sequence)
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        ex.cancel_all_orders("carol", M)
        trade_at(ex, "28900")  # the stop-limit triggers after the restart
        assert_every_order_matches_the_engine(ex, history)
        assert history.order("alice", ids["stop_limit"]).status == "TRIGGERED"
        assert history.order("alice", ids["buy_stop"]).status == "NEW"  # a pending buy by amount stays pending


def test_a_history_file_from_before_conditional_orders_is_rebuilt_from_the_log(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        ids = scenario(ex)
        assert history.wait(ex.last_sequence)
    side = sqlite3.connect(tmp_path / "spotlab-history.sqlite", isolation_level=None)
    for column in ("stop_price", "parent_id", "list_id", "trailing_distance", "trailing_bps", "activation_price"):
        side.execute(f"ALTER TABLE history_orders DROP COLUMN {column}")  # as a file written before them
    assert "stop_price" not in {row[1] for row in side.execute("PRAGMA table_info(history_orders)")}
    side.close()
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        assert_every_order_matches_the_engine(ex, history)
        assert history.order("alice", ids["stop"]).stop_price == D("29000")

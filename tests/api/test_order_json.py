"""order_json: the hot answer of order entry is the OrderPublic model's JSON, byte for byte, for every kind of order."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from spotlab import Exchange
from spotlab.api.routes.order_schemas import order_json, order_public, orders_json
from spotlab.clock import SimulatedClock, ns_to_datetime
from spotlab.exchange.views import OrderView

MARKET = "BTC/USDT"


@pytest.fixture
def exchange():
    clock = SimulatedClock(ns_to_datetime(1_767_225_600_123_456_000))  # a time with microseconds
    with Exchange.open(clock=clock) as exchange:
        for account in ("maker", "taker"):
            exchange.create_account(account)
            exchange.deposit(account, "BTC", 50)
            exchange.deposit(account, "USDT", 5_000_000)
        yield exchange


def every_kind_of_order(exchange: Exchange) -> list[OrderView]:
    place = exchange.place_order
    views = [
        place("maker", MARKET, "sell", "limit", D("60000.5"), D("0.25")),
        place("maker", MARKET, "sell", "limit", D("60010"), D("3"), client_order_id="ask-2"),
        place("maker", MARKET, "buy", "limit", D("59990"), D("1.00001")),
        place("taker", MARKET, "buy", "market", quantity=D("0.5")),  # walks two asks: slippage
        place("taker", MARKET, "buy", "market", quote_quantity=D("1000")),  # by amount
        place("taker", MARKET, "sell", "limit", D("59000"), D("0.3"), time_in_force="IOC"),  # partly, then expired
        place("taker", MARKET, "buy", "limit", D("1"), D("100000"), time_in_force="FOK"),  # nothing: expired
        place("taker", MARKET, "sell", "stop_loss", quantity=D("0.1"), stop_price=D("50000")),
        place("taker", MARKET, "sell", "stop_loss_limit", D("49900"), D("0.1"), stop_price=D("50000")),
        place("taker", MARKET, "buy", "take_profit", quote_quantity=D("500"), stop_price=D("40000")),
        place("taker", MARKET, "sell", "trailing_stop", quantity=D("0.1"), trailing_distance=D("250.5")),
        place("taker", MARKET, "sell", "trailing_stop", quantity=D("0.1"), trailing_percent=D("1.5"),
              activation_price=D("70000")),
        place("maker", MARKET, "sell", "limit", D("60010"), D("3"), client_order_id="ask-2"),  # a duplicate
    ]  # fmt: skip
    views.append(exchange.cancel_order("maker", views[2].id))
    oco = exchange.place_oco("taker", MARKET, D("0.2"), D("90000"), D("40000"))
    bracket = exchange.place_bracket("taker", MARKET, D("0.1"), D("55000"), D("80000"), D("50000"))
    views += [*oco.orders, *bracket.orders, *exchange.open_orders("taker"), *exchange.conditional_orders("taker")]
    views += [exchange.order("taker", view.id) for view in views[3:7]]  # as looked up later: no fills attached
    return views


def test_order_json_is_the_models_json_for_every_kind_of_order(exchange):
    views = every_kind_of_order(exchange)
    kinds = {(v.type, v.status, bool(v.fills), v.quote_quantity is not None, v.duplicate) for v in views}
    assert len(kinds) >= 12  # the cases really differ
    assert any(v.slippage for v in views) and any(v.trailing_percent for v in views) and any(v.list_id for v in views)
    for view in views:
        assert order_json(view) == order_public(view).model_dump_json().encode(), view


def test_amounts_are_plain_decimals_even_where_str_would_write_an_exponent(exchange):
    view = exchange.place_order("maker", MARKET, "sell", "limit", D("60000"), D("0.001"))  # rests: nothing filled
    assert "E" in str(view.fees) or "E" in str(view.filled_notional)  # zero units at a fine step: 0E-8
    text = order_json(view)
    assert b"E-" not in text and b"E+" not in text
    assert b'"fees":"0.' in text
    assert text == order_public(view).model_dump_json().encode()


def test_orders_json_is_a_list_of_them(exchange):
    views = every_kind_of_order(exchange)
    assert orders_json(views) == b"[" + b",".join(order_json(v) for v in views) + b"]"

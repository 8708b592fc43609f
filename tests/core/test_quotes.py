"""``ReplaceQuotes``: a market maker's re-quote in one command, the same as canceling and placing one by one,
all or nothing, durable.

The market is ``tests.core.unit_market``'s: tick = lot = one minor unit, a 0.1 % maker and a 0.2 % taker fee, so a
buy of ``q`` lots at ``p`` holds ``p*q + floor(p*q * 0.002)``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from spotlab import Exchange
from spotlab.core import state
from spotlab.core.commands import (
    CancelAllOrders,
    PlaceOrder,
    PlaceOrderList,
    Quote,
    ReplaceQuotes,
    SetMarketStatus,
)
from spotlab.core.engine import Engine
from spotlab.core.events import OrderCanceled, OrderFilled, OrderPlaced, OrderTriggered
from spotlab.core.markets import MarketStatus
from spotlab.core.orders import DEFAULT_SELF_TRADE_PREVENTION, OrderStatus, OrderType, Side, TimeInForce
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.profile import RiskProfile
from tests.core.unit_market import M, unit_market

BUY, SELL = Side.BUY, Side.SELL


def fresh() -> Engine:
    return unit_market("maker", "bob", "carol")


def limit(account: str, side: Side, price: int, lots: int) -> PlaceOrder:
    return PlaceOrder(account, M, side, OrderType.LIMIT, TimeInForce.GTC, DEFAULT_SELF_TRADE_PREVENTION, price, lots)


def ladder(*quotes: tuple[Side, int, int]) -> ReplaceQuotes:
    return ReplaceQuotes("maker", M, tuple(Quote(*q) for q in quotes))


@pytest.fixture
def engine() -> Engine:
    engine = fresh()
    for command in (limit("maker", BUY, 95, 10), limit("maker", SELL, 105, 10), limit("bob", BUY, 99, 5)):
        engine.apply(command, 1)
    return engine


def one_by_one(engine: Engine, command: ReplaceQuotes, ts: int) -> list:
    events = engine.apply(CancelAllOrders(command.account, command.market), ts).events
    for q in command.quotes:
        events += engine.apply(limit(command.account, q.side, q.price, q.quantity), ts).events
    return events


def test_it_cancels_the_resting_quotes_and_places_the_new_ones_exactly_as_one_command_each_would():
    twin, engine = fresh(), fresh()
    for e in (twin, engine):
        for command in (limit("maker", BUY, 95, 10), limit("maker", SELL, 105, 10), limit("bob", BUY, 99, 5)):
            e.apply(command, 1)
    quotes = ladder((SELL, 98, 8), (SELL, 101, 10), (BUY, 96, 10))  # the first ask crosses bob's bid at 99
    outcome = engine.apply(quotes, 2)
    assert outcome.events == one_by_one(twin, quotes, 2)
    assert state.state_hash(engine) == state.state_hash(twin)
    canceled = [e.order_id for e in outcome.events if type(e) is OrderCanceled]
    assert canceled == [1, 2]  # the old bid and ask
    [fill] = [e for e in outcome.events if type(e) is OrderFilled]
    assert (fill.price, fill.quantity, fill.taker_account, fill.maker_account) == (99, 5, "maker", "bob")
    assert [(o.id, o.status) for o in outcome.orders[:2]] == [(1, OrderStatus.CANCELED), (2, OrderStatus.CANCELED)]
    assert [(o.side, o.price, o.remaining) for o in outcome.orders[2:]] == [
        (SELL, 98, 3),
        (SELL, 101, 10),
        (BUY, 96, 10),
    ]
    engine.check_invariants()


def test_funds_held_by_the_quotes_it_replaces_count_as_available(engine):
    # maker holds 95 x 10 + floor(950 x 0.002) = 951 QQQ for its bid; 99,049 more are available
    everything = 100_000 * 1000 // 1002  # the most lots at 1 QQQ whose hold fits in 100,000 QQQ
    outcome = engine.apply(ladder((BUY, 1, everything)), 2)
    assert [type(e).__name__ for e in outcome.events[:4]] == ["OrderCanceled", "BalanceChanged"] * 2
    assert engine.row("maker", "QQQ")[1] == everything + everything * 2 // 1000
    engine.check_invariants()


def refused(engine: Engine, command, code: ErrorCode) -> SpotlabError:
    before = state.state_hash(engine)
    with pytest.raises(SpotlabError) as caught:
        engine.apply(command, 2)
    assert caught.value.code is code
    assert state.state_hash(engine) == before  # nothing changed: not even the cancels
    return caught.value


def test_quotes_holding_more_than_is_available_are_refused_and_nothing_changes(engine):
    error = refused(engine, ladder((SELL, 110, 500), (SELL, 111, 501)), ErrorCode.INSUFFICIENT_FUNDS)
    assert error.details["needed"] == "1001" and error.details["available"] == "1000"  # 990 free + 10 held


@pytest.mark.parametrize(
    ("quote", "code"),
    [
        ((BUY, 0, 10), ErrorCode.INVALID_NUMBER),  # no price
        ((SELL, 100, 0), ErrorCode.INVALID_NUMBER),  # no quantity
        ((BUY, 1 << 63, 1), ErrorCode.INVALID_NUMBER),  # too large for the engine's integers
    ],
)
def test_a_quote_that_is_not_a_valid_limit_order_refuses_the_whole_command(engine, quote, code):
    refused(engine, ladder((BUY, 94, 10), quote), code)


def test_a_quote_side_that_is_not_a_side_is_refused(engine):
    refused(engine, ReplaceQuotes("maker", M, (Quote("buy", 94, 10),)), ErrorCode.INVALID_ARGUMENT)


def test_a_halted_market_refuses_it(engine):
    engine.apply(SetMarketStatus(M, MarketStatus.HALTED), 2)
    refused(engine, ladder((BUY, 94, 10)), ErrorCode.MARKET_HALTED)


def test_an_account_with_conditional_orders_or_order_lists_there_must_cancel_them_first(engine):
    stop = PlaceOrder("maker", M, SELL, OrderType.STOP_LOSS, TimeInForce.IOC, DEFAULT_SELF_TRADE_PREVENTION,
                      0, 5, stop_price=90)  # fmt: skip
    engine.apply(stop, 2)
    error = refused(engine, ladder((BUY, 94, 10)), ErrorCode.INVALID_ARGUMENT)
    assert "cancel them" in str(error)
    other = fresh()
    other.apply(PlaceOrderList("maker", M, "oco", SELL, 5, 120, 90), 2)
    refused(other, ladder((BUY, 94, 10)), ErrorCode.INVALID_ARGUMENT)


def test_conditional_orders_its_trades_trigger_meet_the_whole_new_ladder():
    engine = fresh()
    engine.apply(limit("bob", BUY, 99, 5), 1)
    carol_stop = PlaceOrder("carol", M, SELL, OrderType.STOP_LOSS, TimeInForce.IOC, DEFAULT_SELF_TRADE_PREVENTION,
                            0, 4, stop_price=99)  # fmt: skip
    engine.apply(carol_stop, 1)
    outcome = engine.apply(ladder((SELL, 99, 5), (BUY, 97, 10)), 2)  # the ask trades at 99: carol's stop triggers
    assert [type(e) for e in outcome.events].index(OrderTriggered) > max(
        i for i, e in enumerate(outcome.events) if type(e) is OrderPlaced and e.account == "maker"
    )  # after the last quote rests
    carol = [e for e in outcome.events if type(e) is OrderFilled and e.taker_account == "carol"]
    assert [(f.price, f.quantity, f.maker_account) for f in carol] == [(97, 4, "maker")]  # the new bid
    engine.check_invariants()


def test_a_replace_survives_a_restart_from_the_log(tmp_path):
    url = f"sqlite:///{tmp_path / 'quotes.db'}"
    with Exchange.open(url, snapshot_every=None) as ex:
        ex.create_account("maker")
        ex.deposit("maker", "BTC", "1")
        ex.deposit("maker", "USDT", "100000")
        spec = ex.market_spec("BTC/USDT")
        ex.place_order("maker", "BTC/USDT", "buy", "limit", "49000", "0.1")
        ticks, lots = int(Decimal(50_000) / spec.tick_size), int(Decimal("0.2") / spec.lot_size)
        ex.execute(ReplaceQuotes("maker", "BTC/USDT", (Quote(SELL, ticks, lots), Quote(BUY, ticks - 100, lots))))
        before = ex.state_hash()
        book = ex.order_book("BTC/USDT")
    with Exchange.open(url, snapshot_every=None) as ex:  # replays every record, the replace among them
        assert ex.state_hash() == before
        assert ex.order_book("BTC/USDT") == book
    assert (book.bids, book.asks) == ([(Decimal("49999.00"), Decimal("0.20000"))], [(Decimal("50000.00"),
                                      Decimal("0.20000"))])  # fmt: skip


def test_an_account_with_a_risk_profile_cannot_replace_quotes():
    with Exchange.open() as ex:
        ex.create_account("maker")
        ex.deposit("maker", "USDT", "100000")
        ex.risk.set_profile("maker", RiskProfile(max_trades_per_day=5))
        spec = ex.market_spec("BTC/USDT")
        before = ex.state_hash()
        with pytest.raises(SpotlabError) as caught:
            ex.execute(ReplaceQuotes("maker", "BTC/USDT", (Quote(BUY, int(Decimal(49_000) / spec.tick_size), 100),)))
        assert caught.value.code is ErrorCode.INVALID_ARGUMENT and "risk profile" in str(caught.value)
        assert ex.state_hash() == before

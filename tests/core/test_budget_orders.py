"""Market orders by quote amount: each fill pays its own fee, and the order stops when not one more lot fits."""

from __future__ import annotations

from spotlab.core.commands import CreateAccount, Deposit, ListAsset, ListMarket, PlaceOrder
from spotlab.core.engine import Engine
from spotlab.core.markets import MarketStatus
from spotlab.core.orders import OrderType, SelfTradePrevention, Side, TimeInForce

NONE = SelfTradePrevention.NONE


def engine_with_fee(taker_fee: str) -> Engine:
    """tick = lot = 1 minor unit, so a lot at price p costs p minor units before fees."""
    engine = Engine()
    setup = [
        ListAsset("AAA", 0, "0", "0"),
        ListAsset("QQQ", 0, "0", "0"),
        ListMarket("AAA/QQQ", "1", "1", "1", "0", "0", taker_fee, MarketStatus.TRADING),
    ]
    for account in ("s1", "s2", "buyer"):
        setup += [CreateAccount(account), Deposit(account, "AAA", 1000), Deposit(account, "QQQ", 100_000)]
    for command in setup:
        engine.apply(command, 0)
    return engine


def sell(engine, account, price, lots):
    engine.apply(PlaceOrder(account, "AAA/QQQ", Side.SELL, OrderType.LIMIT, TimeInForce.GTC, NONE, price, lots), 1)


def buy_for(engine, amount):
    command = PlaceOrder("buyer", "AAA/QQQ", Side.BUY, OrderType.MARKET, TimeInForce.IOC, NONE, 0, 0, amount)
    return engine.apply(command, 2).order


def test_a_fill_whose_own_fee_rounds_to_zero_is_affordable():
    # 0.1 % of 999 rounds down to 0 per fill: two fills from two makers cost 999 + 999, exactly the amount
    engine = engine_with_fee("0.001")
    sell(engine, "s1", 999, 1)
    sell(engine, "s2", 999, 1)
    order = buy_for(engine, 1998)
    assert (order.filled, order.filled_notional, order.fees, str(order.status)) == (2, 1998, 0, "FILLED")
    engine.check_invariants()


def test_an_amount_that_buys_exactly_the_book_is_filled_not_expired():
    engine = engine_with_fee("0")
    sell(engine, "s1", 100, 6)
    order = buy_for(engine, 600)
    assert (order.filled, str(order.status)) == (6, "FILLED")


def test_an_amount_left_over_after_the_book_runs_out_expires_the_order():
    engine = engine_with_fee("0")
    sell(engine, "s1", 100, 6)
    order = buy_for(engine, 1000)
    assert (order.filled, str(order.status), order.reason) == (
        6,
        "EXPIRED",
        "the book ran out before the amount was spent",
    )
    engine.check_invariants()


def test_an_amount_below_one_lot_trades_nothing_and_expires():
    engine = engine_with_fee("0")
    sell(engine, "s1", 100, 6)
    order = buy_for(engine, 99)
    assert (order.filled, str(order.status), order.reason) == (0, "EXPIRED", "the amount buys less than one lot")
    engine.check_invariants()

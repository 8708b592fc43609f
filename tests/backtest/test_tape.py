"""The tape before a strategy's order: the skipped close is printed from the side of the ladder the order takes,
only that side is quoted, and a later book read adds the other side without touching what the order left."""

from __future__ import annotations

from decimal import Decimal

import pytest

from spotlab import Exchange
from spotlab.backtest import FillModel
from spotlab.backtest.tape import LIQUIDITY_ACCOUNT, TAPE_ACCOUNT, MarketTape
from tests.backtest.support import Scripted, buy_one, flat, run, sell_one

D = Decimal
MODEL = {"levels": 2, "depth_quantity": D(10), "spread_bps": D(20), "level_step_bps": D(5)}  # half 0.10, step 0.05


def buy_then_read(strategy, bar):
    strategy.buy("TST/USDT", D(1))
    strategy.book = strategy.order_book("TST/USDT", depth=5)


@pytest.mark.parametrize(
    ("fill_at_print", "fill_price", "asks_left"),
    [
        (False, D("100.10"), [(D("100.10"), D(9)), (D("100.15"), D(10))]),  # the ladder's best ask
        (True, D("100.00"), [(D("100.00"), D(9)), (D("100.05"), D(10))]),  # the print itself
    ],
)
def test_a_market_buy_meets_the_asks_after_the_close_was_printed_by_a_buy_and_no_bid_is_quoted(
    fill_at_print, fill_price, asks_left
):
    result = run(Scripted({1: buy_one}), flat(100, 2), model=FillModel(**MODEL, fill_at_print=fill_at_print))
    [fill] = result.fills
    assert (fill.side, fill.price, fill.quantity) == ("buy", fill_price, D(1))
    fill_trade, printed = result.exchange.trades("TST/USDT", limit=2)
    assert (printed.price, printed.taker_side) == (D("100.00"), "buy")  # the close, printed before the order
    assert printed.quantity == D("0.010")  # the market's minimum notional, 1 USDT, at 100: the fewest lots
    assert (fill_trade.price, fill_trade.quantity) == (fill_price, D(1))
    book = result.exchange.order_book("TST/USDT")
    assert book.bids == []  # a buy takes asks: the bids were never needed
    assert book.asks == asks_left  # the print took only its own lots


def test_a_market_sell_meets_the_bids_after_the_close_was_printed_by_a_sell():
    result = run(
        Scripted({1: sell_one}), flat(100, 2), balances={"USDT": D(10000), "TST": D(5)}, model=FillModel(**MODEL)
    )
    [fill] = result.fills
    assert (fill.side, fill.price) == ("sell", D("99.90"))
    _, printed = result.exchange.trades("TST/USDT", limit=2)
    assert (printed.price, printed.taker_side) == (D("100.00"), "sell")
    book = result.exchange.order_book("TST/USDT")
    assert (book.bids, book.asks) == ([(D("99.90"), D(9)), (D("99.85"), D(10))], [])


def test_a_book_read_after_the_order_adds_the_bids_and_shows_the_asks_as_the_order_left_them():
    strategy = Scripted({1: buy_then_read})
    run(strategy, flat(100, 2), model=FillModel(**MODEL))
    assert strategy.book.bids == [(D("99.90"), D(10)), (D("99.85"), D(10))]
    assert strategy.book.asks == [(D("100.10"), D(9)), (D("100.15"), D(10))]


@pytest.mark.parametrize("levels", [1, 5])
def test_the_print_and_the_ladder_before_an_order_are_two_exchange_commands_whatever_the_levels(levels):
    with Exchange.open() as exchange:
        for account in ("strategy", LIQUIDITY_ACCOUNT, TAPE_ACCOUNT):
            exchange.create_account(account)
            exchange.deposit(account, "BTC", 1_000)  # enough for every order below: no top-up deposits
            exchange.deposit(account, "USDT", 100_000_000)
        spec = exchange.market_spec("BTC/USDT")
        tape = MarketTape(exchange, spec, FillModel(**{**MODEL, "levels": levels}), "strategy")
        for price, side in ((5_000_000, "buy"), (5_010_000, "sell"), (5_005_000, "buy")):  # ticks of 0.01 USDT
            before = tape.commands
            tape.print_and_quote(price, side)
            assert tape.commands - before == 2  # one ReplaceQuotes, one immediate-or-cancel order of the tape
            [last] = exchange.trades("BTC/USDT", limit=1)
            assert last.price == spec.price(price)
            book = exchange.order_book("BTC/USDT", depth=None)
            quoted = book.asks if side == "buy" else book.bids
            assert (len(quoted), len(book.asks) + len(book.bids)) == (levels, levels)  # the side it takes, alone
        exchange.check_invariants()

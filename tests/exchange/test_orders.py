"""Order types through the facade: what each one does to the book, the balances and the fees."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from spotlab import SpotlabError
from tests.conftest import fund
from tests.scenario import assert_book, fills_of

M = "BTC/USDT"


@pytest.fixture
def maker(ex):
    return fund(ex, "maker", BTC="10", USDT="1000000")


@pytest.fixture
def taker(ex):
    return fund(ex, "taker", BTC="10", USDT="1000000")


def asks(ex, account, *levels):
    for price, quantity in levels:
        ex.place_order(account, M, side="sell", type="limit", price=D(price), quantity=D(quantity))


def bids(ex, account, *levels):
    for price, quantity in levels:
        ex.place_order(account, M, side="buy", type="limit", price=D(price), quantity=D(quantity))


# -- limit orders and holds -------------------------------------------------------------


def test_a_resting_limit_buy_holds_its_notional_plus_the_largest_fee(ex, taker):
    order = ex.place_order(taker, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"))
    assert (order.status, order.filled_quantity, order.average_price) == ("NEW", 0, None)
    # 5000 USDT notional + 0.1 % (max of maker and taker) = 5005
    assert ex.balances(taker)["USDT"] == ex.balances(taker)["USDT"].__class__(D("1000000") - D("5005"), D("5005"))


def test_cancel_releases_the_whole_hold(ex, taker):
    order = ex.place_order(taker, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"))
    canceled = ex.cancel_order(taker, order.id)
    assert canceled.status == "CANCELED" and canceled.reason == "canceled by the account"
    assert ex.balances(taker)["USDT"].available == D("1000000") and ex.balances(taker)["USDT"].locked == 0


def test_a_buy_filled_below_its_limit_pays_the_fill_price_and_gets_the_surplus_back(ex, maker, taker):
    asks(ex, maker, ("49000", "0.1"))
    order = ex.place_order(taker, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"))
    assert order.status == "FILLED" and order.average_price == D("49000")
    # paid 4900 + 4.9 taker fee, nothing stays locked
    assert ex.balances(taker)["USDT"].available == D("1000000") - D("4904.9")
    assert ex.balances(taker)["USDT"].locked == 0
    assert ex.balances(taker)["BTC"].available == D("10.1")
    assert ex.balances(maker)["USDT"].available == D("1000000") + D("4900") - D("4.9")


def test_maker_and_taker_pay_their_own_rates(ex):
    # BTC/USD: maker 0.25 %, taker 0.4 %
    seller = fund(ex, "seller", BTC="1")
    buyer = fund(ex, "buyer", USD="100000")
    ex.place_order(seller, "BTC/USD", side="sell", type="limit", price=D("40000"), quantity=D("0.5"))
    taken = ex.place_order(buyer, "BTC/USD", side="buy", type="limit", price=D("40000"), quantity=D("0.5"))
    assert taken.fees == D("80") and taken.fills[0].role == "taker"
    assert ex.balances(seller)["USD"].available == D("20000") - D("50")
    assert ex.balances(buyer)["USD"].available == D("100000") - D("20000") - D("80")
    assert ex.fee_balances()["USD"].available == D("130")
    maker_view = ex.order(seller, 1)
    assert maker_view.fees == D("50") and maker_view.status == "FILLED"


def test_a_fee_is_rounded_down_to_the_quote_minor_unit(ex):
    seller = fund(ex, "seller", ADA="1000")
    buyer = fund(ex, "buyer", BTC="1")
    # ADA/BTC: 1 ADA at 0.00000123 BTC = 123 sat notional; 0.1 % of it is 0.123 sat -> 0
    ex.place_order(seller, "ADA/BTC", side="sell", type="limit", price=D("0.00000123"), quantity=D("100"))
    order = ex.place_order(buyer, "ADA/BTC", side="buy", type="limit", price=D("0.00000123"), quantity=D("100"))
    # 100 ADA = 12300 sat notional, fee floor(12.3) = 12 sat
    assert order.filled_notional == D("0.00012300") and order.fees == D("0.00000012")


# -- market orders ------------------------------------------------------------------------


def test_a_market_buy_by_quantity_sweeps_best_first_and_reports_slippage(ex, maker, taker):
    asks(ex, maker, ("50000", "0.1"), ("50100", "0.1"), ("50200", "0.1"))
    order = ex.place_order(taker, M, side="buy", type="market", quantity=D("0.25"))
    assert fills_of(order) == [("50000.00", "0.10000"), ("50100.00", "0.10000"), ("50200.00", "0.05000")]
    assert order.status == "FILLED" and order.time_in_force == "IOC"
    assert order.average_price == D("50080")
    assert order.arrival_price == D("50000") and order.slippage == D("80") and order.slippage_bps == D("16.00")
    assert ex.balances(taker)["USDT"].locked == 0


def test_a_market_sell_reports_slippage_as_positive_when_worse(ex, maker, taker):
    bids(ex, maker, ("50000", "0.1"), ("49900", "0.1"))
    order = ex.place_order(taker, M, side="sell", type="market", quantity=D("0.2"))
    assert order.average_price == D("49950") and order.slippage == D("50")


def test_a_market_order_on_a_thin_book_fills_what_exists_and_expires_the_rest(ex, maker, taker):
    asks(ex, maker, ("50000", "0.1"))
    order = ex.place_order(taker, M, side="buy", type="market", quantity=D("0.3"))
    assert order.status == "EXPIRED" and order.filled_quantity == D("0.1")
    assert order.reason == "no more liquidity"
    assert ex.balances(taker)["USDT"].locked == 0


def test_a_market_order_on_an_empty_book_expires_with_a_reason(ex, taker):
    order = ex.place_order(taker, M, side="sell", type="market", quantity=D("0.3"))
    assert (order.status, order.filled_quantity, order.reason) == ("EXPIRED", 0, "no liquidity")
    assert ex.balances(taker)["BTC"] == ex.balances(taker)["BTC"].__class__(D("10"), D("0"))


def test_a_market_buy_by_quote_amount_spends_at_most_that_amount_fees_included(ex, maker, taker):
    asks(ex, maker, ("50000", "0.001"), ("50010", "1"))
    order = ex.place_order(taker, M, side="buy", type="market", quote_quantity=D("100"))
    assert order.status == "FILLED" and order.quote_quantity == D("100") and order.quantity is None
    spent = order.filled_notional + order.fees
    assert spent <= D("100")
    # one more lot (0.00001 BTC at 50010 = 0.5001 USDT + fee) would not have fitted
    assert spent + D("0.5001") * D("1.001") > D("100")
    assert ex.balances(taker)["USDT"].available == D("1000000") - spent
    assert ex.balances(taker)["BTC"].available == D("10") + order.filled_quantity


def test_a_market_sell_by_quote_amount_receives_up_to_that_amount_before_fees(ex, maker, taker):
    bids(ex, maker, ("50000", "1"))
    order = ex.place_order(taker, M, side="sell", type="market", quote_quantity=D("1000"))
    assert order.status == "FILLED"
    assert order.filled_notional == D("1000") and order.filled_quantity == D("0.02")
    assert ex.balances(taker)["USDT"].available == D("1000000") + D("1000") - D("1")


def test_a_market_buy_by_quantity_without_the_money_is_rejected_before_any_fill(ex, maker):
    poor = fund(ex, "poor", USDT="100")
    asks(ex, maker, ("50000", "1"))
    before = ex.state_hash()
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(poor, M, side="buy", type="market", quantity=D("0.01"))
    assert refused.value.code == "INSUFFICIENT_FUNDS"
    assert "500.50000000 USDT (fees included)" in refused.value.message
    assert ex.state_hash() == before


# -- time in force ---------------------------------------------------------------------------


def test_fill_or_kill_fills_everything_at_once(ex, maker, taker):
    asks(ex, maker, ("50000", "0.1"), ("50010", "0.1"))
    order = ex.place_order(taker, M, side="buy", type="limit", price=D("50010"), quantity=D("0.2"), time_in_force="FOK")
    assert order.status == "FILLED" and len(order.fills) == 2


def test_fill_or_kill_that_cannot_fill_completely_trades_nothing(ex, maker, taker):
    asks(ex, maker, ("50000", "0.1"), ("50020", "0.1"))
    before = ex.order_book(M, depth=None)
    order = ex.place_order(taker, M, side="buy", type="limit", price=D("50010"), quantity=D("0.2"), time_in_force="FOK")
    assert (order.status, order.filled_quantity, order.fills) == ("EXPIRED", 0, ())
    assert "fill or kill" in order.reason
    after = ex.order_book(M, depth=None)
    assert (after.bids, after.asks) == (before.bids, before.asks)
    assert ex.balances(taker)["USDT"].locked == 0


def test_post_only_rests_when_it_would_not_trade(ex, maker, taker):
    asks(ex, maker, ("50000", "0.1"))
    order = ex.place_order(taker, M, side="buy", type="limit_maker", price=D("49990"), quantity=D("0.1"))
    assert order.status == "NEW" and order.type == "limit_maker"


def test_post_only_that_would_trade_is_rejected_and_recorded(ex, maker, taker):
    asks(ex, maker, ("50000", "0.1"))
    before = ex.state_hash()
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(taker, M, side="buy", type="limit_maker", price=D("50000"), quantity=D("0.1"))
    assert refused.value.code == "POST_ONLY_WOULD_TRADE"
    assert "best ask at 50000.00" in refused.value.message
    assert ex.state_hash() == before
    rejected = [e for e in ex.events() if type(e).__name__ == "OrderRejected"]
    assert [(e.account, e.code) for e in rejected] == [("taker", "POST_ONLY_WOULD_TRADE")]


# -- self-trade prevention ---------------------------------------------------------------------


@pytest.fixture
def own_ask_then_other(ex, maker):
    """The trader's own ask at 50000 queues ahead of someone else's ask at the same price."""
    trader = fund(ex, "trader", BTC="1", USDT="100000")
    own = ex.place_order(trader, M, side="sell", type="limit", price=D("50000"), quantity=D("0.1"))
    other = ex.place_order(maker, M, side="sell", type="limit", price=D("50000"), quantity=D("0.1"))
    return trader, own, other


def test_expire_maker_is_the_default_and_expires_the_own_resting_order(ex, own_ask_then_other):
    trader, own, other = own_ask_then_other
    order = ex.place_order(trader, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"))
    assert order.self_trade_prevention == "EXPIRE_MAKER"
    assert order.status == "FILLED" and fills_of(order) == [("50000.00", "0.10000")]
    own_after = ex.order(trader, own.id)
    assert (own_after.status, own_after.reason) == ("EXPIRED", "self-trade prevention")
    assert ex.order(ex.order(trader, order.id).account, order.id).fills == ()
    assert_book(ex, M, "asks\nbids")


def test_expire_taker_expires_the_incoming_order_at_its_own_order(ex, own_ask_then_other):
    trader, own, other = own_ask_then_other
    order = ex.place_order(
        trader, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"), self_trade_prevention="EXPIRE_TAKER"
    )
    assert (order.status, order.filled_quantity, order.reason) == ("EXPIRED", 0, "self-trade prevention")
    assert_book(ex, M, f"asks\n 50000.00 0.10000 #{own.id}\n 50000.00 0.10000 #{other.id}\nbids")


def test_expire_both_expires_the_resting_and_the_incoming_order(ex, own_ask_then_other):
    trader, own, other = own_ask_then_other
    order = ex.place_order(
        trader, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"), self_trade_prevention="EXPIRE_BOTH"
    )
    assert order.status == "EXPIRED" and ex.order(trader, own.id).status == "EXPIRED"
    assert_book(ex, M, f"asks\n 50000.00 0.10000 #{other.id}\nbids")


def test_none_lets_an_account_trade_with_itself_and_pay_both_fees(ex, own_ask_then_other):
    trader, own, other = own_ask_then_other
    before = ex.balances(trader)
    order = ex.place_order(
        trader, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"), self_trade_prevention="NONE"
    )
    assert order.status == "FILLED" and ex.order(trader, own.id).status == "FILLED"
    after = ex.balances(trader)
    assert after["BTC"].total == before["BTC"].total
    assert after["USDT"].total == before["USDT"].total - D("10")  # 5 maker + 5 taker


# -- client order ids ----------------------------------------------------------------------------


def test_the_same_client_order_id_returns_the_original_order_not_a_second_one(ex, taker):
    first = ex.place_order(
        taker, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"), client_order_id="my-1"
    )
    records = ex.stats()["records"]
    again = ex.place_order(
        taker, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"), client_order_id="my-1"
    )
    assert again.id == first.id and again.duplicate and not first.duplicate
    assert len(ex.open_orders(taker)) == 1 and ex.stats()["records"] == records
    assert ex.order_by_client_id(taker, "my-1").id == first.id


def test_a_reused_client_order_id_with_other_parameters_is_refused(ex, taker):
    ex.place_order(taker, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"), client_order_id="x")
    before = ex.state_hash()
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(taker, M, side="buy", type="limit", price=D("50001"), quantity=D("0.1"), client_order_id="x")
    assert refused.value.code == "DUPLICATE_CLIENT_ORDER_ID"
    assert ex.state_hash() == before


def test_client_order_ids_are_per_account_and_outlive_the_order(ex, maker, taker):
    mine = ex.place_order(
        taker, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"), client_order_id="same"
    )
    theirs = ex.place_order(
        maker, M, side="sell", type="limit", price=D("50000"), quantity=D("0.1"), client_order_id="same"
    )
    assert theirs.id != mine.id and theirs.status == "FILLED"
    again = ex.place_order(
        taker, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"), client_order_id="same"
    )
    assert again.id == mine.id and again.status == "FILLED" and again.duplicate


# -- cancel all, halts, no borrowing ----------------------------------------------------------------


def test_cancel_all_cancels_only_that_accounts_orders_in_that_market(ex, maker, taker):
    bids(ex, taker, ("49000", "0.1"), ("48000", "0.1"))
    ex.place_order(taker, "ETH/USDT", side="buy", type="limit", price=D("2000"), quantity=D("1"))
    bids(ex, maker, ("47000", "0.1"))
    canceled = ex.cancel_all_orders(taker, M)
    assert [o.status for o in canceled] == ["CANCELED", "CANCELED"]
    assert [o.market for o in ex.open_orders(taker)] == ["ETH/USDT"]
    assert len(ex.open_orders(maker)) == 1
    assert ex.cancel_all_orders(taker, M) == []


def test_a_halted_market_refuses_new_orders_but_accepts_cancels(ex, taker):
    order = ex.place_order(taker, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"))
    assert ex.halt_market(M).status == "halted"
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(taker, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1"))
    assert refused.value.code == "MARKET_HALTED"
    assert ex.cancel_order(taker, order.id).status == "CANCELED"
    ex.resume_market(M)
    assert ex.place_order(taker, M, side="buy", type="limit", price=D("50000"), quantity=D("0.1")).status == "NEW"


@pytest.mark.parametrize(
    "side, funds, message",
    [("sell", {"USDT": "100000"}, "needs 0.10000000 BTC"), ("buy", {"BTC": "1"}, "needs 5005.00000000 USDT")],
)
def test_spot_never_borrows(ex, side, funds, message):
    account = fund(ex, "trader", **funds)
    before = ex.state_hash()
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(account, M, side=side, type="limit", price=D("50000"), quantity=D("0.1"))
    assert refused.value.code == "INSUFFICIENT_FUNDS" and message in refused.value.message
    assert ex.state_hash() == before


def test_funds_held_by_one_order_cannot_back_another(ex):
    account = fund(ex, "trader", BTC="0.1")
    ex.place_order(account, M, side="sell", type="limit", price=D("50000"), quantity=D("0.1"))
    with pytest.raises(SpotlabError) as refused:
        ex.place_order(account, "BTC/USD", side="sell", type="limit", price=D("50000"), quantity=D("0.1"))
    assert refused.value.code == "INSUFFICIENT_FUNDS"


# -- withdrawals -------------------------------------------------------------------------------------


def test_a_withdrawal_pays_the_assets_fee_to_the_fee_account(ex):
    account = fund(ex, "trader", BTC="1")
    withdrawal = ex.withdraw(account, "BTC", D("0.5"))
    assert (withdrawal.amount, withdrawal.fee, withdrawal.sent) == (D("0.5"), D("0.0002"), D("0.4998"))
    assert ex.balances(account)["BTC"].available == D("0.5")
    assert ex.fee_balances()["BTC"].available == D("0.0002")


def test_a_withdrawal_below_the_minimum_is_refused(ex):
    account = fund(ex, "trader", BTC="1")
    with pytest.raises(SpotlabError) as refused:
        ex.withdraw(account, "BTC", D("0.0005"))
    assert refused.value.code == "BELOW_MIN_WITHDRAWAL" and "0.00100000" in refused.value.message


def test_locked_funds_cannot_be_withdrawn(ex):
    account = fund(ex, "trader", BTC="1")
    ex.place_order(account, M, side="sell", type="limit", price=D("50000"), quantity=D("0.6"))
    with pytest.raises(SpotlabError) as refused:
        ex.withdraw(account, "BTC", D("0.5"))
    assert refused.value.code == "INSUFFICIENT_FUNDS" and "0.40000000 available" in refused.value.message


# -- events ------------------------------------------------------------------------------------------


def test_events_have_one_gap_free_sequence_in_the_order_things_happened(ex, maker, taker):
    asks(ex, maker, ("50000", "0.1"))
    ex.place_order(taker, M, side="buy", type="limit", price=D("50000"), quantity=D("0.2"), time_in_force="IOC")
    events = list(ex.events())
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert ex.last_sequence == events[-1].seq
    tail = [type(e).__name__ for e in events[-8:]]
    assert tail == [
        "OrderPlaced",
        "OrderFilled",
        "OrderExpired",
        "BalanceChanged",
        "BalanceChanged",
        "BalanceChanged",
        "BalanceChanged",
        "BalanceChanged",
    ]
    changed = {(e.account, e.asset): (e.available, e.locked) for e in events[-5:]}
    assert changed[("@fees", "USDT")] == (2 * 5 * 10**8, 0)


def test_a_rejected_order_is_logged_but_changes_no_state(ex, taker):
    before = ex.state_hash()
    sequence = ex.last_sequence
    with pytest.raises(SpotlabError):
        ex.place_order(taker, M, side="buy", type="limit", price=D("50000"), quantity=D("100"))
    assert ex.state_hash() == before and ex.last_sequence == sequence + 1
    event = list(ex.events(after=sequence))[0]
    assert (type(event).__name__, event.code, event.account) == ("OrderRejected", "INSUFFICIENT_FUNDS", "taker")


def test_available_units_is_the_available_balance_in_minor_units(ex, taker):
    assert ex.available_units(taker, "USDT") == 1_000_000 * 10 ** ex.asset_spec("USDT").precision
    ex.place_order(taker, M, side="buy", type="limit", price=D("50000"), quantity=D("1"))
    usdt = ex.asset_spec("USDT")
    assert ex.available_units(taker, "USDT") == int(ex.balances(taker)["USDT"].available / usdt.unit)
    assert ex.available_units(taker, "ETH") == 0  # never touched
    with pytest.raises(SpotlabError, match="unknown account"):
        ex.available_units("nobody", "USDT")

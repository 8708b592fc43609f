"""``Exchange.replace_quotes``: a market maker's re-quote through the facade, from decimal strings, all or nothing."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from spotlab import Exchange, SpotlabError
from spotlab.exchange.edge import MAX_QUOTES
from spotlab.risk.profile import RiskProfile
from tests.conftest import fund

M = "BTC/USDT"


@pytest.fixture
def maker(ex):
    account = fund(ex, "maker", BTC="1", USDT="100000")
    ex.place_order(account, M, "buy", "limit", "49000", "0.5")
    ex.place_order(account, M, "sell", "limit", "51000", "0.5")
    return account


def resting(ex, account):
    return sorted((o.side, o.price, o.remaining_quantity) for o in ex.open_orders(account, M))


def test_it_cancels_the_resting_quotes_and_rests_the_new_ladder_in_one_step(ex, maker):
    old = {o.id for o in ex.open_orders(maker, M)}
    seq = ex.last_sequence
    result = ex.replace_quotes(maker, M, [("buy", "49500", "0.2"), ("buy", "49400", "0.3"), ("sell", D("50500"), 1)])
    assert result.market == M
    assert {o.id for o in result.canceled} == old
    assert all(o.status == "CANCELED" for o in result.canceled)
    assert [(o.side, o.price, o.quantity, o.status) for o in result.placed] == [
        ("buy", D("49500"), D("0.2"), "NEW"),
        ("buy", D("49400"), D("0.3"), "NEW"),
        ("sell", D("50500"), D("1"), "NEW"),
    ]
    assert resting(ex, maker) == [
        ("buy", D("49400"), D("0.3")),
        ("buy", D("49500"), D("0.2")),
        ("sell", D("50500"), D("1")),
    ]
    assert ex.balances(maker)["BTC"].locked == D("1")  # the old ask's 0.5 released, the new ask's 1 held
    assert ex.last_sequence > seq


def test_a_quote_that_crosses_the_book_trades_and_shows_its_fills(ex, maker):
    taker = fund(ex, "taker", USDT="100000")
    ex.place_order(taker, M, "buy", "limit", "50200", "0.1")
    result = ex.replace_quotes(maker, M, [("sell", "50100", "0.3")])
    [quote] = result.placed
    assert (quote.status, quote.filled_quantity, quote.remaining_quantity) == ("PARTIALLY_FILLED", D("0.1"), D("0.2"))
    assert [(f.price, f.quantity, f.role) for f in quote.fills] == [(D("50200"), D("0.1"), "taker")]


def test_no_quotes_cancels_every_resting_order_of_the_account_in_the_market(ex, maker):
    result = ex.replace_quotes(maker, M, [])
    assert (len(result.canceled), result.placed) == (2, ())
    assert ex.open_orders(maker, M) == []
    assert ex.balances(maker)["USDT"].locked == 0 and ex.balances(maker)["BTC"].locked == 0


@pytest.mark.parametrize(
    ("quotes", "code"),
    [
        ([("buy", "49500.001", "0.1")], "PRICE_NOT_ON_TICK"),
        ([("buy", "49500", "0.1"), ("sell", "50500", "0.0000001")], "QUANTITY_NOT_ON_LOT"),
        ([("buy", 49500.0, "0.1")], "INVALID_NUMBER"),  # a float is never money
        ([("buy", "-1", "0.1")], "INVALID_NUMBER"),
        ([("hold", "49500", "0.1")], "INVALID_ARGUMENT"),
        ([("buy", "49500")], "INVALID_ARGUMENT"),
        (["buy 49500 0.1"], "INVALID_ARGUMENT"),
        ("buy", "INVALID_ARGUMENT"),
        ([("buy", "49500", "0.1")] * (MAX_QUOTES + 1), "INVALID_ARGUMENT"),
        ([("buy", "49500", "0.1"), ("buy", "49000", "5")], "INSUFFICIENT_FUNDS"),  # 0.1 fits, both do not
        ([("sell", "50500", "1"), ("sell", "51000", "0.5")], "INSUFFICIENT_FUNDS"),
        ([("buy", "1", "0.00001")], "BELOW_MIN_NOTIONAL"),
    ],
)
def test_bad_quotes_refuse_the_whole_re_quote_and_change_nothing(ex, maker, quotes, code):
    before = ex.state_hash()
    with pytest.raises(SpotlabError) as refused:
        ex.replace_quotes(maker, M, quotes)
    assert refused.value.code == code
    assert ex.state_hash() == before
    assert resting(ex, maker) == [("buy", D("49000"), D("0.5")), ("sell", D("51000"), D("0.5"))]


def test_unknown_accounts_and_markets_are_refused(ex, maker):
    with pytest.raises(SpotlabError) as unknown_market:
        ex.replace_quotes(maker, "NOPE/USDT", [])
    with pytest.raises(SpotlabError) as unknown_account:
        ex.replace_quotes("nobody", M, [("buy", "49500", "0.1")])
    assert (unknown_market.value.code, unknown_account.value.code) == ("UNKNOWN_MARKET", "UNKNOWN_ACCOUNT")


def test_an_account_with_an_order_list_or_a_risk_profile_cannot_replace_quotes(ex, maker):
    ex.place_oco(maker, M, "0.1", take_profit_price="55000", stop_price="45000")
    with pytest.raises(SpotlabError, match="order lists"):
        ex.replace_quotes(maker, M, [])
    careful = fund(ex, "careful", USDT="10000")
    ex.risk.set_profile(careful, RiskProfile(max_trades_per_day=10))
    with pytest.raises(SpotlabError, match="risk profile"):
        ex.replace_quotes(careful, M, [("buy", "49500", "0.1")])


def test_the_async_call_answers_the_same_once_durable(ex, maker):
    async def requote():
        return await ex.aio.replace_quotes(maker, M, [("buy", "49800", "0.1")])

    result = asyncio.run(requote())
    assert [o.id for o in result.placed] == [o.id for o in ex.open_orders(maker, M)]


def test_a_re_quote_is_one_log_record_and_survives_a_restart(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    with Exchange.open(url, clock=clock) as ex:
        maker = fund(ex, "maker", BTC="1", USDT="100000")
        ex.place_order(maker, M, "buy", "limit", "49000", "0.5")
        written = ex.stats()["written"]
        ex.replace_quotes(maker, M, [("buy", "49500", "0.2"), ("sell", "50500", "0.2"), ("sell", "50600", "0.2")])
        assert ex.stats()["written"] == written + 1
        state = ex.state_hash()
    with Exchange.open(url, clock=clock) as again:
        assert again.state_hash() == state
        assert resting(again, "maker") == [
            ("buy", D("49500"), D("0.2")),
            ("sell", D("50500"), D("0.2")),
            ("sell", D("50600"), D("0.2")),
        ]

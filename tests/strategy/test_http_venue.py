"""``HttpVenue``: the REST API of a real server, seen as the exchange's own views and refusals.

Every answer is compared with what the in-process facade says about the same order, list or
balance at the same moment (``Exchange.order`` and friends): a strategy cannot tell the venues apart.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from decimal import Decimal

import httpx
import pytest

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.strategy.http_venue import HttpVenue
from spotlab.strategy.venue import Venue
from tests.strategy.remote import serve

BTC = "BTC/USDT"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def server():
    with serve() as running_server:
        yield running_server


@pytest.fixture
def trader(server):
    """A fresh user with 10,000 USDT and 1 BTC, and an ``HttpVenue`` for its API key."""
    user = server.trader(f"venue{next(_names)}", USDT="10000", BTC="1")
    venue = HttpVenue(server.url, user.key_id, user.secret, clock=server.clock)
    yield user, venue
    venue.close()


def refusal(call, *args, **kwargs) -> SpotlabError:
    with pytest.raises(SpotlabError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_it_is_a_venue_acting_for_the_keys_account(trader):
    user, venue = trader
    assert isinstance(venue, Venue)
    assert venue.account == user.username


def test_a_placed_limit_order_is_the_order_the_exchange_holds(server, trader):
    user, venue = trader
    placed = venue.place_order(BTC, "buy", "limit", Decimal("30000"), Decimal("0.01"), client_order_id="v-1")
    assert placed == server.exchange.order(user.username, placed.id)
    assert placed.price == Decimal("30000") and placed.quantity == Decimal("0.01") and placed.status == "NEW"
    assert venue.order(placed.id) == server.exchange.order(user.username, placed.id)
    assert venue.open_orders() == server.exchange.open_orders(user.username) == [placed]
    assert venue.open_orders(BTC) == [placed] and venue.open_orders("ETH/USDT") == []


def test_a_repeated_client_order_id_answers_the_original_marked_duplicate(trader):
    _, venue = trader
    first = venue.place_order(BTC, "buy", "limit", "30000", "0.01", client_order_id="again")
    second = venue.place_order(BTC, "buy", "limit", "30000", "0.01", client_order_id="again")
    assert not first.duplicate and second.duplicate
    assert dataclasses.replace(second, duplicate=False) == first


def test_a_market_order_answers_with_its_fills_exactly(server, trader):
    user, venue = trader
    seller = server.counterparty(f"maker{next(_names)}", BTC="1")
    server.exchange.place_order(seller, BTC, "sell", "limit", Decimal("40000.01"), Decimal("0.003"))
    bought = venue.place_order(BTC, "buy", "market", quantity=Decimal("0.002"))
    assert bought.status == "FILLED" and len(bought.fills) == 1
    fill = bought.fills[0]
    assert (fill.price, fill.quantity, fill.role) == (Decimal("40000.01"), Decimal("0.002"), "taker")
    assert fill.notional == Decimal("80.00002") and fill.fee == Decimal("0.08000002")
    assert fill.time == server.clock.now()
    assert bought.slippage == Decimal("0") and bought.arrival_price == Decimal("40000.01")
    # a later look (in process too) no longer has the placing request's fills, nor the slippage made of them
    later = dataclasses.replace(bought, fills=(), slippage=None, slippage_bps=None)
    assert later == server.exchange.order(user.username, bought.id) == venue.order(bought.id)
    assert venue.balances() == server.exchange.balances(user.username)
    assert venue.balances()["BTC"].total == Decimal("1.002")


def test_cancels_answer_the_canceled_orders(server, trader):
    user, venue = trader
    one = venue.place_order(BTC, "buy", "limit", "30000", "0.01")
    two = venue.place_order(BTC, "sell", "limit", "90000", "0.01")
    canceled = venue.cancel_order(one.id)
    assert canceled.status == "CANCELED" and canceled == server.exchange.order(user.username, one.id)
    [all_canceled] = venue.cancel_all_orders(BTC)
    assert all_canceled.id == two.id and all_canceled.status == "CANCELED"
    assert venue.open_orders() == []


def test_conditional_orders_are_listed_as_the_exchange_lists_them(server, trader):
    user, venue = trader
    seller = server.counterparty(f"maker{next(_names)}", BTC="1")
    server.exchange.place_order(seller, BTC, "sell", "limit", Decimal("40000"), Decimal("0.001"))
    venue.place_order(BTC, "buy", "market", quantity=Decimal("0.001"))  # a last trade price: 40000
    stop = venue.place_order(BTC, "sell", "stop_loss", quantity=Decimal("0.1"), stop_price=Decimal("35000"))
    trailing = venue.place_order(BTC, "sell", "trailing_stop", quantity="0.1", trailing_percent="2.5")
    assert stop.type == "stop_loss" and stop.stop_price == Decimal("35000")
    assert trailing.trailing_percent == Decimal("2.5")
    listed = venue.conditional_orders()
    assert listed == server.exchange.conditional_orders(user.username)
    assert [view.id for view in listed] == [stop.id, trailing.id]
    assert venue.conditional_orders("ETH/USDT") == []
    venue.cancel_order(stop.id)
    assert [view.id for view in venue.conditional_orders(BTC)] == [trailing.id]


def test_oco_and_bracket_lists_round_trip(server, trader):
    user, venue = trader
    oco = venue.place_oco(BTC, Decimal("0.1"), Decimal("90000"), Decimal("20000"), client_order_id="exit-1")
    assert oco.kind == "oco" and oco.market == BTC and oco.client_order_id == "exit-1"
    assert oco == server.exchange.order_list(user.username, oco.id)
    bracket = venue.place_bracket(BTC, "0.01", "30000", "40000", "25000", stop_limit_price="24900")
    assert bracket.kind == "bracket" and bracket.entry_price == Decimal("30000")
    assert bracket.stop_limit_price == Decimal("24900")
    assert venue.order_list(bracket.id) == server.exchange.order_list(user.username, bracket.id)
    canceled = venue.cancel_order_list(oco.id)
    assert canceled.status == "ALL_DONE" and canceled == server.exchange.order_list(user.username, oco.id)


def test_market_spec_is_the_exchanges(server, trader):
    _, venue = trader
    assert venue.market_spec(BTC) == server.exchange.market_spec(BTC)
    assert venue.market_spec("ETH-USDT") == server.exchange.market_spec("ETH/USDT")


# -- refusals ---------------------------------------------------------------------------------


def test_insufficient_funds_is_the_same_refusal_as_in_process(server, trader):
    user, venue = trader
    remote = refusal(venue.place_order, BTC, "buy", "limit", Decimal("50000"), Decimal("1"))
    local = refusal(server.exchange.place_order, user.username, BTC, "buy", "limit", Decimal("50000"), Decimal("1"))
    assert remote.code is ErrorCode.INSUFFICIENT_FUNDS
    assert (remote.code, remote.message, remote.details) == (local.code, local.message, local.details)
    assert venue.open_orders() == []


@pytest.mark.parametrize(
    ("price", "quantity", "code"),
    [
        ("30000.001", "0.01", ErrorCode.PRICE_NOT_ON_TICK),
        ("30000", "0.000001", ErrorCode.QUANTITY_NOT_ON_LOT),
        ("30000", "0.0001", ErrorCode.BELOW_MIN_NOTIONAL),
    ],
)
def test_market_rule_refusals_keep_their_code_and_figures(server, trader, price, quantity, code):
    user, venue = trader
    remote = refusal(venue.place_order, BTC, "buy", "limit", price, quantity)
    local = refusal(server.exchange.place_order, user.username, BTC, "buy", "limit", price, quantity)
    assert remote.code is code
    assert (remote.code, remote.details) == (local.code, local.details)


def test_a_risk_limit_reaches_the_strategy_as_risk_limit(server, trader):
    user, venue = trader
    with server.http() as http:
        put = http.put("/v1/risk-profile", headers=user.headers, json={"require_stop_loss": True})
    assert put.status_code == 200, put.text
    remote = refusal(venue.place_order, BTC, "buy", "limit", "30000", "0.01")
    local = refusal(server.exchange.place_order, user.username, BTC, "buy", "limit", "30000", "0.01")
    assert remote.code is ErrorCode.RISK_LIMIT
    assert (remote.message, remote.details) == (local.message, local.details)


def test_unknown_things_are_refused_as_in_process(trader):
    _, venue = trader
    assert refusal(venue.market_spec, "NOPE/USDT").code is ErrorCode.UNKNOWN_MARKET
    assert refusal(venue.cancel_order, 987654).code is ErrorCode.ORDER_NOT_FOUND
    assert refusal(venue.order, 987654).code is ErrorCode.ORDER_NOT_FOUND


def test_a_float_amount_is_refused_before_anything_is_sent(trader):
    _, venue = trader
    error = refusal(venue.place_order, BTC, "buy", "limit", 30000.5, "0.01")
    assert error.code is ErrorCode.INVALID_NUMBER
    assert venue.open_orders() == []


def test_a_validation_error_carries_the_fields(trader):
    _, venue = trader
    error = refusal(venue.place_order, BTC, "buy", "limit", "30000", "0.01", time_in_force="SOMETIMES")
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert [item["field"] for item in error.details["errors"]] == ["body.time_in_force"]


def test_a_key_without_trade_scope_is_refused(server):
    reader = server.trader(f"reader{next(_names)}", scopes=("read",), USDT="100")
    venue = HttpVenue(server.url, reader.key_id, reader.secret, clock=server.clock)
    assert venue.balances()["USDT"].available == Decimal("100")
    assert refusal(venue.place_order, BTC, "buy", "limit", "30000", "0.01").code is ErrorCode.SCOPE_REQUIRED


def test_a_wrong_secret_is_refused_as_an_invalid_signature(server):
    user = server.trader(f"wrong{next(_names)}")
    venue = HttpVenue(server.url, user.key_id, "not-the-secret", clock=server.clock)
    assert refusal(venue.balances).code is ErrorCode.INVALID_SIGNATURE


def test_an_unreachable_server_is_source_unavailable():
    venue = HttpVenue("http://127.0.0.1:9", "ak_x", "secret", timeout=2)
    assert refusal(venue.balances).code is ErrorCode.SOURCE_UNAVAILABLE


def test_identical_requests_in_one_millisecond_are_signed_apart(trader):
    _, venue = trader
    answers = [venue.balances() for _ in range(5)]  # the simulated clock stands still: replay would refuse
    assert all(answer == answers[0] for answer in answers)


# -- rate limits ------------------------------------------------------------------------------


def exhaust(venue: HttpVenue) -> None:
    """Send requests until the key's bucket refuses one (``venue`` must not retry)."""
    for _ in range(300):
        try:
            venue.balances()
        except SpotlabError as error:
            assert error.code is ErrorCode.RATE_LIMITED
            return
    pytest.fail("the bucket never emptied")


def test_rate_limited_requests_wait_retry_after_then_give_up_after_the_bound():
    waits: list[float] = []
    with serve(rate_limit_per_minute=1) as server:  # a small burst, then one request a minute
        user = server.trader("limited", USDT="100")
        exhaust(HttpVenue(server.url, user.key_id, user.secret, clock=server.clock, max_retries=0))
        venue = HttpVenue(server.url, user.key_id, user.secret, clock=server.clock, max_retries=2, sleep=waits.append)
        error = refusal(venue.balances)
    assert error.code is ErrorCode.RATE_LIMITED and "retry" in error.message
    assert len(waits) == 2 and all(50 <= wait <= 60 for wait in waits)


def test_a_rate_limited_request_succeeds_once_the_bucket_refills():
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    with serve(rate_limit_per_minute=60) as server:  # refills one request a second
        user = server.trader("refilled", USDT="100")
        venue = HttpVenue(server.url, user.key_id, user.secret, clock=server.clock, max_retries=3, sleep=sleep)
        for _ in range(3):  # (should the bucket refill between emptying it and asking again: once more)
            venue.api.max_retries = 0
            exhaust(venue)
            venue.api.max_retries = 3
            assert venue.balances()["USDT"].total == Decimal("100")
            if waits:
                break
    assert waits and waits[0] >= 1


def test_a_server_answer_that_is_not_a_problem_is_source_unavailable():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    venue = HttpVenue("http://proxy.invalid", "ak_x", "secret", transport=httpx.MockTransport(handler))
    error = refusal(venue.balances)
    assert error.code is ErrorCode.SOURCE_UNAVAILABLE and error.details == {"status": 502}


def test_a_re_quote_answers_the_exchanges_views_and_refusals(server, trader):
    user, venue = trader
    old = venue.place_order(BTC, "buy", "limit", "30000", "0.01")
    answer = venue.replace_quotes(BTC, [("buy", Decimal("30100"), "0.01"), ("sell", "90000", Decimal("0.02"))])
    assert answer.market == BTC
    assert answer.canceled == (server.exchange.order(user.username, old.id),)
    assert list(answer.placed) == [server.exchange.order(user.username, o.id) for o in answer.placed]
    assert venue.open_orders(BTC) == server.exchange.open_orders(user.username, BTC)
    assert refusal(venue.replace_quotes, BTC, [("buy", 30000.5, "0.01")]).code == ErrorCode.INVALID_NUMBER
    assert refusal(venue.replace_quotes, BTC, [("buy", "30000")]).code == ErrorCode.INVALID_ARGUMENT
    too_much = refusal(venue.replace_quotes, BTC, [("sell", "90000", "5")])
    assert too_much.code == ErrorCode.INSUFFICIENT_FUNDS and too_much.details["asset"] == "BTC"
    assert venue.open_orders(BTC) == list(answer.placed)  # the refusals changed nothing

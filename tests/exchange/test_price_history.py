"""The exchange's own prices through time: the last trade at or before a moment, multi-hop, never a guess."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from spotlab import Exchange, SimulatedClock
from spotlab.clock import datetime_to_ns
from spotlab.errors import ErrorCode, SpotlabError

T0 = datetime(2022, 1, 3, tzinfo=UTC)


def trade(ex: Exchange, market: str, price: str, quantity: str) -> None:
    ex.place_order("maker", market, "sell", "limit", price, quantity)
    ex.place_order("taker", market, "buy", "market", quantity=quantity)


def test_values_follow_the_last_trade_and_walk_through_other_markets():
    clock = SimulatedClock(T0)
    ex = Exchange.open(clock=clock)
    for name in ("maker", "taker"):
        ex.create_account(name)
    ex.deposit("maker", "BTC", "10")
    ex.deposit("maker", "ETH", "100")
    ex.deposit("taker", "USD", "1000000")
    ex.deposit("taker", "BTC", "10")
    trade(ex, "BTC/USD", "40000", "0.1")  # at T0
    clock.advance(hours=1)
    trade(ex, "ETH/BTC", "0.075", "1")  # at T0 + 1 h
    clock.advance(hours=1)
    trade(ex, "BTC/USD", "42000", "0.1")  # at T0 + 2 h
    history = ex.price_history()
    at = datetime_to_ns
    assert history.value("BTC", D("0.5"), at(T0), "USD") == D("20000.00")
    assert history.value("BTC", D("0.5"), at(T0 + timedelta(minutes=119)), "USD") == D("20000.00")
    assert history.value("BTC", D("0.5"), at(T0 + timedelta(hours=2)), "USD") == D("21000.00")
    # ETH has no USD market: ETH -> BTC -> USD, at the prices of each moment
    assert history.value("ETH", D("2"), at(T0 + timedelta(hours=1)), "USD") == D("6000.00")  # 2 x 0.075 x 40000
    assert history.value("ETH", D("2"), at(T0 + timedelta(hours=3)), "USD") == D("6300.00")  # 2 x 0.075 x 42000
    with pytest.raises(SpotlabError) as caught:
        history.value("ETH", D("1"), at(T0), "USD")  # ETH/BTC had not traded yet
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT and "ETH in USD" in caught.value.message
    with pytest.raises(SpotlabError):
        history.value("BTC", D("1"), at(T0 - timedelta(seconds=1)), "USD")  # before any trade
    assert history.value("USD", D("1.234567895"), at(T0), "USD") == D("1.23456790")  # to USD's 8 places, half-even

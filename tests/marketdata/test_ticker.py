"""Rolling 24 h statistics in minute buckets: what counts, when it leaves, and the figures it gives."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from spotlab.marketdata.ticker import MINUTE_NS, WINDOW_MINUTES, MarketTickers, RollingWindow, change_percent

SECOND = 1_000_000_000
HOUR = 60 * MINUTE_NS
DAY = 24 * HOUR
T0 = 1_700_000_000 * SECOND - (1_700_000_000 * SECOND) % MINUTE_NS  # the start of a minute


def window_with(*trades: tuple[int, int, int, int]) -> RollingWindow:
    window = RollingWindow()
    for ts, price, lots, notional in trades:
        window.add(ts, price, lots, notional)
    return window


def test_statistics_of_a_few_trades_by_hand():
    window = window_with(
        (T0 + 5 * SECOND, 100, 2, 200),
        (T0 + 50 * SECOND, 120, 1, 120),  # same minute: the bucket's high and close move
        (T0 + 3 * HOUR, 90, 5, 450),
        (T0 + 3 * HOUR + 10 * SECOND, 95, 1, 95),
    )
    stats = window.stats(T0 + 4 * HOUR)
    assert (stats.open, stats.high, stats.low, stats.last) == (100, 120, 90, 95)
    assert (stats.base_volume, stats.quote_volume, stats.trade_count) == (9, 865, 4)
    assert (stats.change, stats.change_percent) == (-5, D("-5.00"))
    assert (stats.first_minute, stats.last_minute) == (T0 // MINUTE_NS, (T0 + 3 * HOUR) // MINUTE_NS)


def test_a_trade_counts_for_the_1440_minutes_starting_with_its_own():
    window = window_with((T0 + 59 * SECOND, 100, 1, 100), (T0 + HOUR, 110, 1, 110))
    assert window.stats(T0 + DAY - 1).trade_count == 2  # the last nanosecond of minute 1439
    assert window.stats(T0 + DAY).trade_count == 1  # minute 1440: the first minute has left
    assert window.stats(T0 + DAY).open == 110
    assert window.stats(T0 + HOUR + DAY - 1).trade_count == 1
    assert window.stats(T0 + HOUR + DAY) is None  # nothing traded in the last 24 h


def test_trades_after_now_are_not_counted():
    window = window_with((T0, 100, 1, 100), (T0 + 2 * MINUTE_NS, 200, 1, 200))
    stats = window.stats(T0 + MINUTE_NS)
    assert (stats.last, stats.trade_count) == (100, 1)
    assert window.stats(T0 - 1) is None


def test_buckets_no_window_can_reach_are_dropped_as_trades_arrive():
    window = RollingWindow()
    for minute in range(3 * WINDOW_MINUTES):
        window.add(T0 + minute * MINUTE_NS, 100 + minute % 7, 1, 100)
    assert len(window) == WINDOW_MINUTES
    stats = window.stats(T0 + (3 * WINDOW_MINUTES - 1) * MINUTE_NS)
    assert stats.trade_count == WINDOW_MINUTES and stats.first_minute == T0 // MINUTE_NS + 2 * WINDOW_MINUTES


def test_an_older_trade_after_a_newer_one_is_refused():
    window = window_with((T0 + 2 * MINUTE_NS, 100, 1, 100))
    window.add(T0 + 2 * MINUTE_NS + 1, 101, 1, 101)  # same minute, later: fine
    with pytest.raises(ValueError, match="time order"):
        window.add(T0 + MINUTE_NS, 100, 1, 100)


@pytest.mark.parametrize(
    "open_, last, percent",
    [(100, 100, "0.00"), (100, 150, "50.00"), (3, 2, "-33.33"), (3, 4, "33.33"), (8, 9, "12.50"), (200, 1, "-99.50")],
)
def test_change_percent_is_rounded_half_even_to_two_decimals(open_, last, percent):
    assert change_percent(open_, last) == D(percent)


def test_change_percent_rounds_a_half_to_even():
    assert change_percent(800, 801) == D("0.12")  # 0.125 -> 0.12
    assert change_percent(800, 803) == D("0.38")  # 0.375 -> 0.38


def test_markets_have_separate_windows():
    tickers = MarketTickers()
    tickers.add("BTC/USDT", T0, 100, 1, 100)
    tickers.add("ETH/USDT", T0 + SECOND, 7, 3, 21)
    assert tickers.stats("BTC/USDT", T0 + HOUR).trade_count == 1
    assert tickers.stats("ETH/USDT", T0 + HOUR).quote_volume == 21
    assert tickers.stats("SOL/USDT", T0 + HOUR) is None
    tickers.clear()
    assert tickers.stats("BTC/USDT", T0 + HOUR) is None


def test_a_window_needs_at_least_one_minute():
    with pytest.raises(ValueError):
        RollingWindow(0)

"""The screener's measures on hand-computed vectors, and its ranking rule."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from spotlab.errors import SpotlabError
from spotlab.marketdata.screener import (
    MarketFigures,
    conversion_rates,
    ema,
    range_percent,
    rank,
    screen,
    spread_bps,
    trend,
)


@pytest.mark.parametrize(
    ("high", "low", "percent"),
    [
        (D("110"), D("100"), D("10.00")),
        (D("100.5"), D("99"), D("1.52")),  # 1.5 / 99 x 100 = 1.5151...
        (D("100.125"), D("100"), D("0.12")),  # 0.125: half-even rounds down to the even digit
        (D("100.135"), D("100"), D("0.14")),  # 0.135: ... and up to it
        (D("42"), D("42"), D("0.00")),  # one price all day
        (None, None, None),  # no trade in the window
    ],
)
def test_volatility_is_the_24h_range_as_a_percentage_of_the_low(high, low, percent):
    assert range_percent(high, low) == percent


@pytest.mark.parametrize(
    ("bid", "ask", "bps"),
    [
        (D("99.99"), D("100.01"), D("2.00")),  # 0.02 / 100 x 10,000
        (D("64999.5"), D("65000.5"), D("0.15")),  # 1 / 65,000 x 10,000 = 0.1538...
        (D("0.5"), D("1.5"), D("10000.00")),  # the spread equals the mid
        (None, D("1"), None),  # an empty side
        (D("1"), None, None),
    ],
)
def test_spread_is_in_basis_points_of_the_mid(bid, ask, bps):
    assert spread_bps(bid, ask) == bps


@pytest.mark.parametrize(
    ("values", "period", "average"),
    [
        ([D(100), D(110), D(120)], 3, D("112.5")),  # alpha 1/2: 100, 105, 112.5
        ([D(10), D(20), D(20)], 4, D("16.4")),  # alpha 2/5: 10, 14, 16.4
        ([D(7)], 12, D(7)),  # seeded with the first value
        ([D(1), D(2), D(9)], 1, D(9)),  # alpha 1: the last value
    ],
)
def test_ema_is_seeded_with_the_first_value(values, period, average):
    assert ema(values, period) == average


@pytest.mark.parametrize(
    ("closes", "direction", "percent"),
    [
        ([D(100), D(113)], "up", D("10.78")),  # ema(12) = 100 + 13 x 2/13 = 102; 11 / 102 = 10.78 %
        ([D(100), D("100.3")], "up", D("0.25")),  # ema 100.0461...; just above the +0.2 % band
        ([D(100), D("100.2")], "flat", D("0.17")),  # inside the band
        ([D(100), D("99.7")], "down", D("-0.25")),
        ([D(100)], "flat", D("0.00")),  # one candle: the last close is its own average
    ],
)
def test_trend_compares_the_last_close_with_the_ema12_of_the_closes(closes, direction, percent):
    found = trend(closes)
    assert (found.direction, found.deviation_percent, found.candles) == (direction, percent, len(closes))


def test_the_trend_band_is_strict():
    # period 3: ema = 101, deviation = 1 / 101 = 0.990099 % -> 0.99
    assert trend([D(100), D(102)], period=3, band_percent=D("0.99")).direction == "flat"
    assert trend([D(100), D(102)], period=3, band_percent=D("0.98")).direction == "up"


def test_no_candles_no_trend():
    assert trend([]) is None


def test_volumes_convert_to_the_common_currency_through_one_market():
    last = {("BTC", "USDT"): D(50000), ("ETH", "BTC"): D("0.05"), ("USDT", "TRY"): D(40), ("SOL", "USD"): D(150)}
    assert conversion_rates(last, "USDT") == {"USDT": 1, "BTC": D(50000), "TRY": D("0.025")}  # no ETH, USD, SOL


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda: range_percent(D(1), D(2)), "0 < low <= high"),
        (lambda: spread_bps(D(2), D(1)), "0 < bid <= ask"),
        (lambda: ema([D(1)], 0), "period must be at least 1"),
        (lambda: ema([], 3), "at least one value"),
        (lambda: rank([], sort="price"), "unknown sort 'price'"),
        (lambda: rank([row("A-USDT", last="1")], sort="price"), "unknown sort 'price'"),
        (lambda: rank([], order="up"), "unknown order 'up'"),
        (lambda: rank([], limit=0), "limit must be at least 1"),
    ],
)
def test_bad_input_is_refused_clearly(bad, message):
    with pytest.raises(SpotlabError, match=message):
        bad()


# -- rows and ranking ------------------------------------------------------------------------------

RATES = {"USDT": D(1), "BTC": D(50000)}


def row(market, last=None, high=None, low=None, volume="0", bid=None, ask=None, closes=(), quote="USDT"):
    figures = MarketFigures(
        market=market,
        quote=quote,
        last=None if last is None else D(last),
        change_percent=None if last is None else D("0.00"),
        high=None if high is None else D(high),
        low=None if low is None else D(low),
        quote_volume=D(volume),
        trade_count=0 if last is None else 1,
        best_bid=None if bid is None else D(bid),
        best_ask=None if ask is None else D(ask),
        closes=[D(c) for c in closes],
    )
    return screen(figures, RATES, "USDT", 8)


def test_a_row_carries_each_measure_and_the_figures_behind_it():
    r = row("ETH-BTC", last="0.052", high="0.055", low="0.05", volume="12.5", bid="0.0519", ask="0.0521",
            closes=["0.05", "0.052"], quote="BTC")  # fmt: skip
    assert (r.volatility_percent, r.high, r.low) == (D("10.00"), D("0.055"), D("0.05"))
    assert (r.quote_volume, r.quote_asset, r.common_volume, r.common_currency) == (
        D("12.5"), "BTC", D("625000.00000000"), "USDT"
    )  # fmt: skip
    assert (r.best_bid, r.best_ask, r.spread_bps) == (D("0.0519"), D("0.0521"), D("38.46"))  # 0.0002 / 0.052
    assert (r.trend, r.trend_candles, r.trend_percent) == ("up", 2, D("3.36"))  # (0.022 / 13) / (0.654 / 13)


def test_a_market_without_trades_has_nulls_and_keeps_its_book_spread():
    r = row("ADA-USDT", bid="0.40", ask="0.41")
    assert (r.last, r.volatility_percent, r.trend, r.trend_ema, r.trend_candles) == (None, None, None, None, 0)
    assert (r.common_volume, r.spread_bps) == (D(0), D("246.91"))


def test_an_unconvertible_quote_leaves_the_common_volume_null():
    assert row("DOT-USDC", last="7", high="7", low="7", volume="70", quote="USDC").common_volume is None


ROWS = [
    row("QUIET-USDT", bid="1", ask="2"),  # no trade in 24 h
    row("BTC-USDT", last="100", high="110", low="100", volume="5000", bid="99", ask="101", closes=["90", "100"]),
    row("ETH-USDT", last="10", high="12", low="10", volume="9000", closes=["10", "10"]),  # empty book
    row("SOL-USDT", last="20", high="21", low="20", volume="5000", bid="19.9", ask="20.1", closes=["22", "20"]),
    row("DOT-USDC", last="7", high="14", low="7", volume="1", bid="6.9", ask="7.1", quote="USDC"),  # no rate
]


def markets(rows) -> list[str]:
    return [r.market for r in rows]


@pytest.mark.parametrize(
    ("sort", "order", "expected"),
    [
        # volume: 9000, then the tie 5000 / 5000 by market id; DOT-USDC has no USDT volume; QUIET last
        ("volume", "desc", ["ETH-USDT", "BTC-USDT", "SOL-USDT", "DOT-USDC", "QUIET-USDT"]),
        ("volume", "asc", ["BTC-USDT", "SOL-USDT", "ETH-USDT", "DOT-USDC", "QUIET-USDT"]),
        ("volatility", "desc", ["DOT-USDC", "ETH-USDT", "BTC-USDT", "SOL-USDT", "QUIET-USDT"]),  # 100, 20, 10, 5 %
        ("spread", "asc", ["SOL-USDT", "BTC-USDT", "DOT-USDC", "ETH-USDT", "QUIET-USDT"]),  # 100, 200, 285.71 bps
        ("trend", "desc", ["BTC-USDT", "ETH-USDT", "SOL-USDT", "DOT-USDC", "QUIET-USDT"]),  # +9.24, 0, -; no candles
    ],
)
def test_ranking_puts_markets_with_a_value_first_then_those_without_then_quiet_ones(sort, order, expected):
    assert markets(rank(ROWS, sort, order)) == expected


def test_limit_cuts_the_ranked_list():
    assert markets(rank(ROWS, "volume", "desc", limit=2)) == ["ETH-USDT", "BTC-USDT"]

"""Candles from trades: UTC periods, the incremental builder, the vectorised resampler, and real Binance data.

The real XRP/ETH trades freqtrade ships (Binance, October 2019) resampled to 1 minute must give freqtrade's
own 1-minute candles exactly, and 1 minute -> 5 minutes its 5-minute candles; a plain Decimal groupby written
here checks the same thing independently, quote volume included.
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import groupby

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.candles import (
    INTERVALS,
    Candle,
    CandleBook,
    candles_from_trades,
    merge_candles,
    period_start,
)
from tests.shared_data import DATA

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
UNIT = Decimal("0.00000001")  # XRP/ETH prices and amounts have at most 8 decimals: tick = lot = 1e-8


def ns(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * SECOND


# -- periods --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "moment", "start"),
    [
        ("1m", (2024, 3, 7, 13, 45, 59), (2024, 3, 7, 13, 45)),
        ("3m", (2024, 3, 7, 13, 45, 59), (2024, 3, 7, 13, 45)),
        ("3m", (2024, 3, 7, 13, 44, 0), (2024, 3, 7, 13, 42)),
        ("5m", (2024, 3, 7, 13, 44, 59), (2024, 3, 7, 13, 40)),
        ("15m", (2024, 3, 7, 13, 44, 59), (2024, 3, 7, 13, 30)),
        ("30m", (2024, 3, 7, 13, 29, 59), (2024, 3, 7, 13, 0)),
        ("1h", (2024, 3, 7, 13, 59, 59), (2024, 3, 7, 13, 0)),
        ("4h", (2024, 3, 7, 15, 59, 59), (2024, 3, 7, 12, 0)),
        ("4h", (2024, 3, 7, 16, 0, 0), (2024, 3, 7, 16, 0)),
        ("1d", (2024, 3, 7, 23, 59, 59), (2024, 3, 7, 0, 0)),
        ("1w", (2024, 3, 7, 13, 45, 0), (2024, 3, 4, 0, 0)),  # a Thursday -> Monday the 4th
        ("1w", (2024, 3, 4, 0, 0, 0), (2024, 3, 4, 0, 0)),  # Monday 00:00 starts a week
        ("1w", (2024, 3, 3, 23, 59, 59), (2024, 2, 26, 0, 0)),  # Sunday night belongs to the week before
        ("1w", (1970, 1, 1, 0, 0, 0), (1969, 12, 29, 0, 0)),  # the epoch was a Thursday
    ],
)
def test_periods_start_on_utc_boundaries(interval, moment, start):
    assert period_start(ns(*moment), interval) == ns(*start)


@pytest.mark.parametrize("interval", list(INTERVALS))
def test_every_time_falls_in_exactly_one_period_of_every_interval(interval):
    rng = random.Random(interval)
    for _ in range(500):
        ts = rng.randrange(0, 2_000_000_000 * SECOND)
        start = period_start(ts, interval)
        assert start <= ts < start + INTERVALS[interval]
        assert period_start(start, interval) == start
        assert period_start(start + INTERVALS[interval], interval) == start + INTERVALS[interval]
    weekly = period_start(ns(2024, 5, 17), "1w")
    assert datetime.fromtimestamp(weekly / SECOND, UTC).weekday() == 0  # Monday


def test_intervals_are_the_nine_binance_ones_shortest_first():
    assert list(INTERVALS) == ["1m", "3m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]
    assert list(INTERVALS.values()) == sorted(INTERVALS.values())


@pytest.mark.parametrize("interval", ["2m", "1M", "", None, "1W"])
def test_an_unknown_interval_is_refused_naming_the_valid_ones(interval):
    with pytest.raises(SpotlabError) as error:
        period_start(0, interval)
    assert error.value.code == ErrorCode.INVALID_ARGUMENT
    assert "1m, 3m, 5m, 15m, 30m, 1h, 4h, 1d, 1w" in error.value.message
    with pytest.raises(SpotlabError):
        CandleBook([interval])


# -- the incremental builder --------------------------------------------------------------------


def test_a_trade_updates_the_open_candle_and_a_later_period_closes_it():
    book = CandleBook(["1m"])
    t0 = ns(2024, 1, 1, 12, 0)
    updated, closed = book.add("BTC/USDT", t0 + 5 * SECOND, 100, 2, 200)
    assert closed == []
    assert updated == [Candle("BTC/USDT", "1m", t0, 100, 100, 100, 100, 2, 200, 1, False)]
    book.add("BTC/USDT", t0 + 20 * SECOND, 120, 1, 120)
    updated, _ = book.add("BTC/USDT", t0 + 59 * SECOND, 90, 3, 270)
    assert updated == [Candle("BTC/USDT", "1m", t0, 100, 120, 90, 90, 6, 590, 3, False)]
    updated, closed = book.add("BTC/USDT", t0 + 3 * MINUTE, 95, 1, 95)  # two empty minutes: no candles for them
    assert closed == [Candle("BTC/USDT", "1m", t0, 100, 120, 90, 90, 6, 590, 3, True)]
    assert updated == [Candle("BTC/USDT", "1m", t0 + 3 * MINUTE, 95, 95, 95, 95, 1, 95, 1, False)]


def test_one_trade_updates_a_candle_of_every_interval():
    book = CandleBook()
    updated, closed = book.add("ETH/USDT", ns(2024, 1, 3, 10, 7, 30), 2000, 1, 2000)
    assert closed == [] and [c.interval for c in updated] == list(INTERVALS)
    assert {c.open_time for c in updated if c.interval == "1w"} == {ns(2024, 1, 1)}


def test_markets_are_independent():
    book = CandleBook(["1m"])
    t0 = ns(2024, 1, 1)
    book.add("BTC/USDT", t0 + 10 * SECOND, 100, 1, 100)
    book.add("ETH/USDT", t0 + 5 * SECOND, 7, 1, 7)  # earlier than BTC's trade: fine, another market
    _, closed = book.add("ETH/USDT", t0 + MINUTE, 8, 1, 8)
    assert [c.market for c in closed] == ["ETH/USDT"]
    assert book.current("BTC/USDT", "1m").close == 100


def test_an_older_trade_is_refused_and_changes_nothing():
    book = CandleBook(["1m", "1h"])
    t0 = ns(2024, 1, 1)
    book.add("BTC/USDT", t0 + MINUTE + SECOND, 100, 1, 100)
    before = book.candles()
    with pytest.raises(ValueError, match="time order"):
        book.add("BTC/USDT", t0 + MINUTE, 101, 1, 101)
    assert book.candles() == before
    with pytest.raises(ValueError, match="time order"):
        book.add_many([("BTC/USDT", t0 + 2 * MINUTE, 102, 1, 102), ("BTC/USDT", t0 + 30 * SECOND, 1, 1, 1)])
    hour = book.current("BTC/USDT", "1h")  # took the valid first trade only
    assert (hour.close, hour.low, hour.trade_count) == (102, 100, 2)
    assert book.current("BTC/USDT", "1m").open_time == t0 + 2 * MINUTE
    book.add("BTC/USDT", t0 + 2 * MINUTE, 103, 1, 103)  # the same time again is fine


def test_the_clock_closes_a_candle_whose_period_ended_without_a_later_trade():
    book = CandleBook(["1m", "5m"])
    t0 = ns(2024, 1, 1)
    book.add("BTC/USDT", t0 + 10 * SECOND, 100, 1, 100)
    assert book.close_until(t0 + MINUTE - 1) == []
    closed = book.close_until(t0 + MINUTE)
    assert [(c.interval, c.closed) for c in closed] == [("1m", True)]
    assert book.close_until(t0 + 2 * MINUTE) == []  # closed once
    assert [c.interval for c in book.close_until(t0 + 5 * MINUTE)] == ["5m"]
    updated, closed = book.add("BTC/USDT", t0 + 6 * MINUTE, 110, 1, 110)
    assert closed == []  # already closed by the clock: not reported twice
    assert {c.open_time for c in updated} == {t0 + 6 * MINUTE, t0 + 5 * MINUTE}


def test_a_late_trade_in_a_period_the_clock_closed_amends_it_visibly():
    book = CandleBook(["1m"])
    t0 = ns(2024, 1, 1)
    book.add("BTC/USDT", t0 + 10 * SECOND, 100, 1, 100)
    book.close_until(t0 + MINUTE)
    updated, closed = book.add("BTC/USDT", t0 + 50 * SECOND, 90, 1, 90)
    assert closed == []
    assert updated == [Candle("BTC/USDT", "1m", t0, 100, 100, 90, 90, 2, 190, 2, True)]


def test_candles_handed_out_are_copies():
    book = CandleBook(["1m"])
    updated, _ = book.add("BTC/USDT", 0, 100, 1, 100)
    updated[0].close = 1
    assert book.current("BTC/USDT", "1m").close == 100


def test_a_seeded_book_continues_the_open_candle():
    t0 = ns(2024, 1, 1)
    book = CandleBook(["1m"])
    book.add("BTC/USDT", t0 + SECOND, 100, 1, 100)
    again = CandleBook(["1m"])
    again.seed(book.candles(), {"BTC/USDT": t0 + SECOND})
    assert again.add("BTC/USDT", t0 + 2 * SECOND, 105, 1, 105) == book.add("BTC/USDT", t0 + 2 * SECOND, 105, 1, 105)
    with pytest.raises(ValueError):
        again.add("BTC/USDT", t0, 1, 1, 1)


def test_add_many_reports_each_changed_candle_once_and_every_closed_one():
    book = CandleBook(["1m"])
    t0 = ns(2024, 1, 1)
    trades = [("BTC/USDT", t0 + i * 20 * SECOND, 100 + i, 1, 100 + i) for i in range(7)]  # 3 minutes
    updated, closed = book.add_many(trades)
    assert [c.open_time for c in closed] == [t0, t0 + MINUTE]
    assert [(c.open_time, c.trade_count, c.closed) for c in updated] == [(t0 + 2 * MINUTE, 1, False)]


# -- builder == vectorised ------------------------------------------------------------------------


def random_trades(rng: random.Random, n: int, start: int, max_gap: int) -> list[tuple[int, int, int, int]]:
    ts, trades = start, []
    for _ in range(n):
        ts += rng.choice([0, rng.randrange(0, max_gap)])
        price, lots = rng.randrange(1, 10_000), rng.randrange(1, 1_000)
        trades.append((ts, price, lots, price * lots + rng.randrange(0, 3)))
    return trades


def built(trades, interval: str, now: int | None) -> list[Candle]:
    book = CandleBook([interval])
    candles = []
    for ts, price, lots, notional in trades:
        _, closed = book.add("X/Y", ts, price, lots, notional)
        candles += closed
    if now is not None:
        candles += book.close_until(now)
    current = book.current("X/Y", interval)
    if current is not None and not current.closed:
        candles.append(current)
    return candles


def vectorised(trades, interval: str, now: int | None) -> list[Candle]:
    columns = np.array(trades, dtype=np.int64).reshape(-1, 4).T
    return candles_from_trades(*columns, interval, now_ns=now).to_candles("X/Y", interval)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(1, 400),
    interval=st.sampled_from(list(INTERVALS)),
    gap=st.sampled_from([SECOND, MINUTE, 3600 * SECOND, 86400 * SECOND * 3]),
    at_end=st.sampled_from([None, 0, 1]),
)
def test_the_vectorised_resampler_gives_exactly_the_builders_candles(seed, n, interval, gap, at_end):
    rng = random.Random(seed)
    trades = random_trades(rng, n, rng.randrange(-(10**17), 2 * 10**18), gap)
    now = None if at_end is None else trades[-1][0] + at_end * INTERVALS[interval]
    assert vectorised(trades, interval, now) == built(trades, interval, now)


def test_the_vectorised_resampler_refuses_trades_out_of_time_order():
    with pytest.raises(ValueError, match="trade 2"):
        candles_from_trades(np.array([1, 5, 4]), np.array([1, 1, 1]), np.array([1, 1, 1]), np.array([1, 1, 1]), "1m")
    with pytest.raises(SpotlabError):
        candles_from_trades(np.array([1]), np.array([1]), np.array([1]), np.array([1]), "7m")
    assert len(candles_from_trades(*[np.array([], dtype=np.int64)] * 4, "1m")) == 0


@pytest.mark.parametrize(("source", "target"), [("1m", "5m"), ("1m", "1w"), ("3m", "15m"), ("4h", "1d"), ("1d", "1w")])
def test_merging_candles_equals_building_the_longer_interval_from_trades(source, target):
    trades = random_trades(random.Random(target), 5_000, ns(2024, 2, 27), 30 * MINUTE)
    columns = np.array(trades, dtype=np.int64).T
    direct = candles_from_trades(*columns, target)
    merged = merge_candles(candles_from_trades(*columns, source), source, target)
    assert all(np.array_equal(a, b) for a, b in zip(direct, merged, strict=True))


def test_merging_into_an_interval_that_is_not_a_multiple_is_refused():
    columns = candles_from_trades(np.array([0]), np.array([1]), np.array([1]), np.array([1]), "3m")
    with pytest.raises(SpotlabError, match="do not combine"):
        merge_candles(columns, "3m", "5m")


# -- real data: Binance XRP/ETH trades against freqtrade's candles -----------------------------------


def read_csv(name: str) -> list[dict[str, str]]:
    with open(DATA / "freqtrade" / name, newline="") as f:
        return list(csv.DictReader(f))


def units(text: str) -> int:
    value = Decimal(text) / UNIT
    assert value == value.to_integral_value(), f"{text} is not a whole number of {UNIT}"
    return int(value)


def notional_units(cost: str) -> int:
    """The trade's cost (a float product in the file) to 1e-8 ETH, as an exchange's integer notional."""
    return int((Decimal(cost) / UNIT).to_integral_value(ROUND_HALF_EVEN))


@pytest.fixture(scope="module")
def xrp_trades() -> list[dict[str, str]]:
    return read_csv("XRP_ETH-trades.csv")


@pytest.fixture(scope="module")
def xrp_columns(xrp_trades):
    ts = np.array([int(r["timestamp_ms"]) * 1_000_000 for r in xrp_trades], dtype=np.int64)
    price = np.array([units(r["price"]) for r in xrp_trades], dtype=np.int64)
    amount = np.array([units(r["amount"]) for r in xrp_trades], dtype=np.int64)
    cost = np.array([notional_units(r["cost"]) for r in xrp_trades], dtype=np.int64)
    return ts, price, amount, cost


def as_rows(columns) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]]:
    """``(open_time ms, open, high, low, close, base volume)`` in the units the CSV files use."""
    return [
        (t // 1_000_000, *(Decimal(v) * UNIT for v in values))
        for t, *values in zip(*(c.tolist() for c in columns[:6]), strict=True)
    ]


def expected(name: str) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]]:
    fields = ("open", "high", "low", "close", "volume")
    return [(int(r["timestamp_ms"]), *(Decimal(r[f]) for f in fields)) for r in read_csv(name)]


def groupby_in_decimals(trades, minutes: int) -> list[tuple]:
    """An independent resampling: itertools.groupby over the file's own decimal strings."""
    result = []
    for bucket, rows in groupby(trades, key=lambda r: int(r["timestamp_ms"]) // (minutes * 60_000)):
        rows = list(rows)
        prices = [Decimal(r["price"]) for r in rows]
        volume = sum((Decimal(r["amount"]) for r in rows), Decimal(0))
        quote = sum((Decimal(notional_units(r["cost"])) * UNIT for r in rows), Decimal(0))
        result.append((bucket * minutes * 60_000, prices[0], max(prices), min(prices), prices[-1], volume, quote))
    return result


def test_binance_xrp_eth_trades_resampled_to_1m_are_freqtrades_1m_candles(xrp_columns):
    candles = candles_from_trades(*xrp_columns, "1m")
    assert len(candles) == 2469  # the 1,091 minutes without trades have no candle
    assert as_rows(candles) == expected("XRP_ETH-1m.csv")
    assert int(candles.trade_count.sum()) == len(xrp_columns[0])


def test_freqtrades_1m_candles_merged_to_5m_are_its_5m_candles(xrp_columns):
    one_minute = candles_from_trades(*xrp_columns, "1m")
    assert as_rows(merge_candles(one_minute, "1m", "5m")) == expected("XRP_ETH-5m.csv")
    assert as_rows(candles_from_trades(*xrp_columns, "5m")) == expected("XRP_ETH-5m.csv")


@pytest.mark.parametrize("minutes", [1, 5, 60])
def test_the_integer_resampler_agrees_with_a_decimal_groupby_quote_volume_included(xrp_trades, xrp_columns, minutes):
    interval = {1: "1m", 5: "5m", 60: "1h"}[minutes]
    candles = candles_from_trades(*xrp_columns, interval)
    ours = [(*row, Decimal(q) * UNIT) for row, q in zip(as_rows(candles), candles.quote_volume.tolist(), strict=True)]
    assert ours == groupby_in_decimals(xrp_trades, minutes)


def test_the_builder_gives_the_real_candles_too(xrp_columns):
    book = CandleBook(["1m", "5m"])
    closed = []
    for ts, price, lots, notional in zip(*(c.tolist() for c in xrp_columns), strict=True):
        closed += book.add_many([("XRP/ETH", ts, price, lots, notional)])[1]
    one_minute = [c for c in closed if c.interval == "1m"] + [book.current("XRP/ETH", "1m")]
    assert one_minute == candles_from_trades(*xrp_columns, "1m").to_candles("XRP/ETH", "1m")

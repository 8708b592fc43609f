"""Resampling reproduces real candles exactly: XRP/ETH trades -> 1m, and 1m -> 5m (freqtrade's files)."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.feather as feather
import pytest

from spotlab.errors import SpotlabError
from spotlab.marketdata import formats
from spotlab.marketdata.formats.numbers import to_floats
from spotlab.marketdata.intervals import period_start
from spotlab.marketdata.resample import resample_candles, trades_to_candles
from tests.shared_data import DATA

FREQTRADE = DATA / "freqtrade"
VALUES = ("open", "high", "low", "close", "volume")


def assert_same_candles(mine: pa.Table, reference_file) -> None:
    reference = feather.read_table(reference_file)
    assert mine.num_rows == reference.num_rows
    times = reference.column("date").cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
    assert mine.column("open_time").cast(pa.int64()).equals(times)
    for name in VALUES:
        assert to_floats(mine.column(name)) == reference.column(name).to_pylist(), name


def test_resampling_the_xrp_eth_trades_to_1m_reproduces_freqtrades_1m_candles():
    trades = formats.read("trades-json", FREQTRADE / "XRP_ETH-trades.json.gz", None).table
    assert_same_candles(trades_to_candles(trades, "1m"), FREQTRADE / "XRP_ETH-1m.feather")


def test_resampling_the_xrp_eth_1m_candles_to_5m_reproduces_freqtrades_5m_candles():
    candles = formats.read("freqtrade-feather", FREQTRADE / "XRP_ETH-1m.feather", "1m").table
    assert_same_candles(resample_candles(candles, "1m", "5m"), FREQTRADE / "XRP_ETH-5m.feather")


def test_trades_to_candles_counts_trades_and_sums_exactly():
    trades = formats.read("trades-csv", FREQTRADE / "XRP_ETH-trades.csv", None).table
    candles = trades_to_candles(trades, "1h")
    assert sum(candles.column("trade_count").to_pylist()) == trades.num_rows
    assert sum(candles.column("volume").to_pylist()) == sum(trades.column("amount").to_pylist())
    assert sum(candles.column("quote_volume").to_pylist()) == sum(trades.column("cost").to_pylist())
    buys = sum(a for a, s in zip(trades.column("amount").to_pylist(), trades.column("side").to_pylist()) if s == "buy")
    assert sum(candles.column("taker_buy_volume").to_pylist()) == buys


def test_weekly_candles_start_on_monday_utc():
    monday = 1_704_067_200_000  # 2024-01-01 00:00 UTC was a Monday
    assert period_start("1w", monday + 6 * 86_400_000 + 1) == monday
    assert period_start("1w", monday - 1) == monday - 7 * 86_400_000


def test_a_week_of_daily_candles_makes_one_weekly_candle():
    day = 86_400_000
    monday = 1_704_067_200_000
    prices = [Decimal(p) for p in ("10", "12", "9", "11", "13", "8", "10.5", "20")]
    times = [monday + i * day for i in range(8)]
    daily = pa.table(
        {
            "open_time": pa.array(times, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "open": prices, "high": prices, "low": prices, "close": prices, "volume": [Decimal("0.1")] * 8,
        }
    )  # fmt: skip
    weekly = resample_candles(daily, "1d", "1w").to_pylist()
    assert [row["open"] for row in weekly] == [Decimal(10), Decimal(20)]
    assert weekly[0]["high"] == 13 and weekly[0]["low"] == 8 and weekly[0]["close"] == Decimal("10.5")
    assert weekly[0]["volume"] == Decimal("0.7")  # exact: 7 x 0.1, no float drift
    assert weekly[0]["quote_volume"] is None  # unknown in the source, not zero


@pytest.mark.parametrize(("source", "target"), [("5m", "1m"), ("3d", "1w"), ("3m", "5m")])
def test_resampling_to_an_interval_not_made_of_whole_source_periods_is_refused(source, target):
    with pytest.raises(SpotlabError, match="whole"):
        resample_candles(pa.table({}), source, target)

"""The data catalogue: merging writes, refusing conflicts, half-open range reads, the dataset list."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.datastore import DataStore, market_id
from spotlab.marketdata.frames import CANDLE_SCHEMA, TRADE_SCHEMA

MINUTE = 60_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def candles(*rows: tuple[int, str]) -> pa.Table:
    """Candles at T0 + minute * i with every price equal to ``price``."""
    times = [T0 + MINUTE * i for i, _ in rows]
    prices = [Decimal(p) for _, p in rows]
    columns = {"open_time": pa.array(times, pa.int64()).cast(CANDLE_SCHEMA.field("open_time").type)}
    for name in ("open", "high", "low", "close"):
        columns[name] = prices
    columns["volume"] = [Decimal("1.5")] * len(rows)
    return pa.table(columns)


@pytest.fixture
def store(tmp_path) -> DataStore:
    return DataStore(tmp_path / "history")


def test_writing_candles_reports_rows_added_and_reads_them_back_in_order(store):
    report = store.write_candles("file", "BTC/USDT", "1m", candles((2, "3"), (0, "1"), (1, "2")))
    assert (report.rows_added, report.rows_present) == (3, 0)
    table = store.read_candles("file", "BTC-USDT", "1m")
    assert table.schema == CANDLE_SCHEMA
    assert [float(v) for v in table.column("open").to_pylist()] == [1.0, 2.0, 3.0]
    assert store.last_candle_time("file", "btc-usdt", "1m") == T0 + 2 * MINUTE


def test_writing_the_same_candles_again_changes_nothing(store):
    store.write_candles("file", "BTC/USDT", "1m", candles((0, "1"), (1, "2")))
    report = store.write_candles("file", "BTC/USDT", "1m", candles((0, "1"), (1, "2"), (2, "3")))
    assert (report.rows_added, report.rows_present) == (1, 2)
    assert store.read_candles("file", "BTC/USDT", "1m").num_rows == 3


def test_a_conflicting_candle_is_refused_and_nothing_is_written(store):
    store.write_candles("file", "BTC/USDT", "1m", candles((0, "1"), (1, "2")))
    before = store.read_candles("file", "BTC/USDT", "1m")
    with pytest.raises(SpotlabError) as refused:
        store.write_candles("file", "BTC/USDT", "1m", candles((1, "2.5"), (5, "9")))
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT
    assert "open stored 2 new 2.5" in refused.value.message
    assert store.read_candles("file", "BTC/USDT", "1m").equals(before)  # the new row at minute 5 too


def test_candles_off_the_period_boundary_are_refused(store):
    table = candles((0, "1"))
    shifted = table.set_column(0, "open_time", pa.array([T0 + 1000], pa.int64()).cast(table.schema.field(0).type))
    with pytest.raises(SpotlabError, match="UTC 1m boundary"):
        store.write_candles("file", "BTC/USDT", "1m", shifted)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (None, None, [0, 1, 2, 3]),
        (T0 + MINUTE, T0 + 3 * MINUTE, [1, 2]),  # end excluded
        (datetime(2024, 1, 1, 0, 2, tzinfo=UTC), None, [2, 3]),
        (None, datetime(2024, 1, 1, 0, 1, tzinfo=UTC), [0]),
        (T0 + 10 * MINUTE, None, []),
    ],
)
def test_range_reads_are_half_open(store, start, end, expected):
    store.write_candles("file", "BTC/USDT", "1m", candles((0, "1"), (1, "2"), (2, "3"), (3, "4")))
    table = store.read_candles("file", "BTC/USDT", "1m", start, end)
    minutes = [(t - T0) // MINUTE for t in table.column("open_time").cast(pa.int64()).to_pylist()]
    assert minutes == expected


def test_a_naive_datetime_bound_is_refused(store):
    with pytest.raises(SpotlabError, match="no time zone"):
        store.read_candles("file", "BTC/USDT", "1m", datetime(2024, 1, 1))


def test_datasets_spanning_years_are_split_by_year_and_listed_once(store):
    year_end = T0 - MINUTE  # 2023-12-31 23:59
    table = candles((0, "1"))
    late = table.set_column(0, "open_time", pa.array([year_end], pa.int64()).cast(table.schema.field(0).type))
    store.write_candles("file", "ETH/BTC", "1m", pa.concat_tables([late, table]))
    folder = store.candle_dir("file", "ETH/BTC", "1m")
    assert sorted(p.name for p in folder.glob("*.parquet")) == ["2023.parquet", "2024.parquet"]
    [info] = store.datasets()
    assert (info.exchange, info.market, info.interval, info.rows) == ("file", "ETH/BTC", "1m", 2)
    assert info.first == datetime(2023, 12, 31, 23, 59, tzinfo=UTC) and info.last == datetime(2024, 1, 1, tzinfo=UTC)


def trades(ids, amounts) -> pa.Table:
    times = pa.array([T0 * 1000 + i for i in range(len(amounts))], pa.int64()).cast(TRADE_SCHEMA.field("time").type)
    return pa.table(
        {"time": times, "id": ids, "price": [Decimal("10")] * len(amounts), "amount": [Decimal(a) for a in amounts]}
    )


def test_trades_merge_by_id_and_a_changed_trade_is_refused(store):
    assert store.write_trades("file", "BTC/USDT", trades(["1", "2"], ["1", "2"])).rows_added == 2
    report = store.write_trades("file", "BTC/USDT", trades(["1", "2", "3"], ["1", "2", "3"]))
    assert (report.rows_added, report.rows_present) == (1, 2)
    with pytest.raises(SpotlabError, match="trade 2"):
        store.write_trades("file", "BTC/USDT", trades(["1", "2"], ["1", "5"]))
    assert store.read_trades("file", "BTC/USDT").column("amount").to_pylist()[1] == Decimal(2)


def test_trades_without_ids_are_present_when_the_same_copies_are_stored(store):
    store.write_trades("file", "BTC/USDT", trades([None, None], ["1", "1"]))
    again = store.write_trades("file", "BTC/USDT", trades([None, None], ["1", "1"]))
    assert (again.rows_added, again.rows_present) == (0, 2)


@pytest.mark.parametrize("market", ["BTC/USDT", "btc-usdt", "BTC-USDT"])
def test_market_ids_are_stored_with_a_dash(market):
    assert market_id(market) == "BTC-USDT"


@pytest.mark.parametrize("market", ["BTCUSDT", "BTC/USDT/X", "BTC/"])
def test_a_market_that_is_not_base_quote_is_refused(market):
    with pytest.raises(SpotlabError, match="BASE/QUOTE"):
        market_id(market)

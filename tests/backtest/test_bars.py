"""Loading bars: from a pyarrow candle table, a DataStore and a candle file, exact and checked."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from spotlab.backtest import bars_from_datastore, bars_from_file, bars_from_table, run_backtest
from spotlab.errors import SpotlabError
from spotlab.marketdata.datastore import DataStore
from spotlab.marketdata.frames import CANDLE_SCHEMA
from spotlab.strategy.builtin import BuyAndHold
from tests.backtest.support import HOUR_NS, T0

D = Decimal


def candle_table(*rows) -> pa.Table:
    columns = {name: [] for name in CANDLE_SCHEMA.names}
    for hour, o, h, low, c, v in rows:
        columns["open_time"].append(datetime(2025, 1, 1, hour, tzinfo=UTC))
        for name, value in zip(("open", "high", "low", "close", "volume"), (o, h, low, c, v), strict=True):
            columns[name].append(D(value))
        columns["quote_volume"].append(None)
        columns["trade_count"].append(None)
    return pa.table(columns, schema=CANDLE_SCHEMA)


TABLE = candle_table((0, "100.5", "101", "99", "100", "12.5"), (1, "100", "102", "100", "101.25", "3"))


def test_a_candle_table_becomes_exact_bars_with_close_times():
    bars = bars_from_table("BTC/USDT", TABLE, "1h")
    assert [(b.open_time_ns, b.close_time_ns) for b in bars] == [(T0, T0 + HOUR_NS), (T0 + HOUR_NS, T0 + 2 * HOUR_NS)]
    assert (bars[0].open, bars[0].high, bars[0].close, bars[0].volume) == (D("100.5"), D(101), D(100), D("12.5"))
    assert str(bars[1].close) == "101.25"  # no trailing zeros of the decimal256 column


def test_a_datastore_dataset_loads_the_same_bars(tmp_path):
    store = DataStore(tmp_path)
    store.write_candles("binance", "BTC/USDT", "1h", TABLE)
    assert bars_from_datastore(store, "binance", "BTC/USDT", "1h") == bars_from_table("BTC/USDT", TABLE, "1h")


def test_a_csv_file_loads_and_a_table_can_be_backtested_directly(tmp_path):
    path = tmp_path / "btc.csv"
    path.write_text("timestamp,open,high,low,close,volume\n1735689600000,100.5,101,99,100,12.5\n")
    [bar] = bars_from_file(path, "BTC/USDT", "1h")
    assert (bar.open_time_ns, bar.open, bar.volume) == (T0, D("100.5"), D("12.5"))
    result = run_backtest(BuyAndHold(), {"BTC/USDT": TABLE}, {"USDT": D(1000)}, interval="1h", progress=False)
    assert len(result.equity) == 3  # the start, then one point per close


def test_a_table_without_an_interval_is_refused():
    with pytest.raises(SpotlabError, match="needs interval="):
        run_backtest(BuyAndHold(), {"BTC/USDT": TABLE}, {"USDT": D(1000)}, progress=False)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (((0, "100", "99", "98", "100", "1"),), "low <= open, close <= high"),
        (((0, "100", "101", "99", "100", "-1"),), "negative"),
        (((1, "100", "101", "99", "100", "1"), (0, "100", "101", "99", "100", "1")), "sorted"),
    ],
)
def test_impossible_bars_are_refused_naming_the_bar(rows, message):
    with pytest.raises(SpotlabError, match=message):
        bars_from_table("BTC/USDT", candle_table(*rows), "1h")

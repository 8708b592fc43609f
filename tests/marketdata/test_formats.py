"""File layouts: every reader/writer pair gives back the file (bytes) or the values (float bits)."""

from __future__ import annotations

import struct

import pyarrow as pa
import pyarrow.feather as feather
import pytest

from spotlab.errors import SpotlabError
from spotlab.marketdata import formats
from tests.shared_data import DATA

FREQTRADE = DATA / "freqtrade"

# Binance kline layout: BTCUSDT 1h OHLCV of 2025-01-01 (as in quantedge-ta/btcusdt-1h.csv); the
# quote volume, count and taker-buy figures are made up for the test.
BINANCE_US = (
    "1735689600000000,93576.00000000,94509.42000000,93489.03000000,94401.14000000,755.99010000,"
    "1735693199999999,71103561.46822790,132844,363.91362000,34233229.84424590,0\n"
    "1735693200000000,94401.13000000,94408.72000000,93578.77000000,93607.74000000,586.53456000,"
    "1735696799999999,55123890.12345678,110987,260.12345000,24444444.11111111,0\n"
)
BINANCE_MS = (
    BINANCE_US.replace("1735689600000000,", "1735689600000,")
    .replace("1735693199999999,", "1735693199999,")
    .replace("1735693200000000,", "1735693200000,")
    .replace("1735696799999999,", "1735696799999,")
)


def round_trip(tmp_path, fmt, source, interval):
    parsed = formats.read(fmt, source, interval)
    out = tmp_path / ("out" + "".join(source.suffixes))
    formats.write(fmt, parsed.table, out, interval, parsed.meta)
    return parsed, out


@pytest.mark.parametrize(("text", "unit"), [(BINANCE_US, "microseconds"), (BINANCE_MS, "milliseconds")])
def test_a_binance_kline_csv_exports_back_byte_for_byte_in_its_time_unit(tmp_path, text, unit):
    source = tmp_path / "BTCUSDT-1h.csv"
    source.write_text(text)
    parsed, out = round_trip(tmp_path, "binance", source, "1h")
    assert out.read_bytes() == source.read_bytes()
    assert any(unit in note for note in parsed.notes)
    assert parsed.table.column("open_time").cast(pa.int64()).to_pylist() == [1735689600000, 1735693200000]
    assert str(parsed.table.column("taker_buy_volume")[0].as_py().normalize()) == "363.91362"


def test_a_binance_file_of_other_candles_names_the_interval_it_holds(tmp_path):
    source = tmp_path / "k.csv"
    source.write_text(BINANCE_MS)
    with pytest.raises(SpotlabError, match="use --interval 1h"):
        formats.read("binance", source, "1m")


def test_a_binance_file_mixing_time_units_is_refused(tmp_path):
    source = tmp_path / "k.csv"
    source.write_text(BINANCE_MS.splitlines(keepends=True)[0] + BINANCE_US.splitlines(keepends=True)[1])
    with pytest.raises(SpotlabError, match="line 2: the file mixes millisecond and microsecond"):
        formats.read("binance", source, "1h")


@pytest.mark.parametrize(
    ("path", "interval"),
    [
        (DATA / "quantedge-ta" / "btcusdt-1h.csv", "1h"),  # microsecond open_time, CRLF
        (DATA / "backtesting.py" / "SOLUSDT_1h.csv", "1h"),  # date texts, capitalised header
        (DATA / "backtesting.py" / "BTCUSD_monthly.csv", "1d"),  # unnamed date column
    ],
)
def test_headered_csv_files_export_back_byte_for_byte(tmp_path, path, interval):
    _, out = round_trip(tmp_path, "csv", path, interval)
    assert out.read_bytes() == path.read_bytes()


def test_a_converted_freqtrade_csv_names_the_column_it_does_not_import():
    parsed = formats.read("csv", FREQTRADE / "XRP_ETH-1m.csv", "1m")
    assert parsed.table.num_rows == 2469
    assert any("'date'" in note for note in parsed.notes)


@pytest.mark.parametrize("name", ["XRP_ETH-trades.csv"])
def test_a_trades_csv_exports_back_byte_for_byte(tmp_path, name):
    _, out = round_trip(tmp_path, "trades-csv", FREQTRADE / name, None)
    assert out.read_bytes() == (FREQTRADE / name).read_bytes()


def float_bits(values) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def test_freqtrade_feather_exports_the_same_float64_bits(tmp_path):
    source = FREQTRADE / "ETH_BTC-5m.feather"
    _, out = round_trip(tmp_path, "freqtrade-feather", source, "5m")
    mine, theirs = feather.read_table(out), feather.read_table(source)
    assert mine.column("date").equals(theirs.column("date"))
    for name in ("open", "high", "low", "close", "volume"):
        assert float_bits(mine.column(name).to_pylist()) == float_bits(theirs.column(name).to_pylist())


@pytest.mark.parametrize("fmt", ["ccxt", "freqtrade-json"])
def test_ohlcv_lists_round_trip_the_feather_values_bit_for_bit(tmp_path, fmt):
    candles = formats.read("freqtrade-feather", FREQTRADE / "XRP_ETH-5m.feather", "5m").table
    out = tmp_path / "candles.json"
    formats.write(fmt, candles, out, "5m", {})
    again = formats.read(fmt, out, "5m").table
    assert again.equals(candles)
    assert formats.detect_format(out) == "ccxt"


def test_ccxt_trades_json_and_the_trades_csv_hold_the_same_trades():
    from_json = formats.read("trades-json", FREQTRADE / "XRP_ETH-trades.json.gz", None).table
    from_csv = formats.read("trades-csv", FREQTRADE / "XRP_ETH-trades.csv", None).table
    assert from_json.num_rows == 12_477 and from_json.equals(from_csv)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("freqtrade/XRP_ETH-1m.feather", "freqtrade-feather"),
        ("freqtrade/XRP_ETH-trades.json.gz", "trades-json"),
        ("freqtrade/XRP_ETH-trades.csv", "trades-csv"),
        ("freqtrade/ETH_BTC-5m.csv", "csv"),
        ("quantedge-ta/btcusdt-1h.csv", "csv"),
    ],
)
def test_the_layout_is_detected_from_the_file(name, fmt):
    assert formats.detect_format(DATA / name) == fmt


def test_a_value_that_is_not_a_number_is_refused_with_its_line(tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("timestamp,open,high,low,close,volume\n1704067200000,1,2,0.5,1,3\n1704067260000,1,x,0.5,1,3\n")
    with pytest.raises(SpotlabError, match="line 3: high 'x'"):
        formats.read("csv", source, "1m")

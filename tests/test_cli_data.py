"""``spotlab data import|export|resample|list``, run as users run them: a real subprocess."""

from __future__ import annotations

import subprocess
import sys

from tests.shared_data import DATA

SPOTLAB = [sys.executable, "-m", "spotlab.cli", "data"]


def run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    command = [*SPOTLAB, *args, "--data-dir", str(tmp_path / "data")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    result.stderr = " ".join(result.stderr.split())  # the error line may wrap at the terminal width
    return result


def test_a_microsecond_binance_csv_imports_and_exports_back_byte_for_byte(tmp_path):
    source = DATA / "quantedge-ta" / "btcusdt-1h.csv"
    imported = run(tmp_path, "import", str(source), "--market", "BTC/USDT", "--interval", "1h", "--exchange", "binance")
    assert imported.returncode == 0, imported.stderr
    assert "microseconds" in imported.stdout and "imported: 744 row(s) added" in imported.stdout
    out = tmp_path / "out.csv"
    exported = run(
        tmp_path, "export", "--market", "BTC-USDT", "--interval", "1h", "--exchange", "binance",
        "--format", "csv", "--output", str(out),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert out.read_bytes() == source.read_bytes()


def test_a_file_with_errors_is_refused_with_its_report_and_nothing_is_imported(tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text(
        "timestamp,open,high,low,close,volume\n"
        "1704067200000,10,11,9,10,1\n1704067260000,10,8,9,10,1\n1704067260000,10,8,9,10,1\n"
    )
    result = run(tmp_path, "import", str(source), "--market", "BTC/USDT", "--interval", "1m")
    assert result.returncode == 2
    assert "error: high < low: 2" in result.stdout and "line 3 (2024-01-01 00:01:00): high 8 < low 9" in result.stdout
    assert "error: open outside [low, high]: 2" in result.stdout
    assert "error: identical duplicate time: 1" in result.stdout
    assert "error INVALID_ARGUMENT: bad.csv has 7 error(s); nothing imported" in result.stderr
    assert "Traceback" not in result.stderr
    assert "empty" in run(tmp_path, "list").stdout


def test_duplicates_and_disorder_are_fixed_only_with_the_flags_and_reported(tmp_path):
    source = tmp_path / "messy.csv"
    source.write_text(
        "timestamp,open,high,low,close,volume\n"
        "1704067260000,10,11,9,10,1\n1704067200000,10,11,9,10,1\n1704067200000,10,11,9,10,1\n"
    )
    args = ("import", str(source), "--market", "BTC/USDT", "--interval", "1m")
    refused = run(tmp_path, *args)
    assert refused.returncode == 2 and "--sort and --drop-duplicates would fix" in refused.stderr
    fixed = run(tmp_path, *args, "--sort", "--drop-duplicates")
    assert fixed.returncode == 0, fixed.stderr
    assert "moved line 3: 2024-01-01 00:00:00 comes after 2024-01-01 00:01:00" in fixed.stdout
    assert "dropped line 4: time 2024-01-01 00:00:00 repeats line 3 exactly" in fixed.stdout
    assert "imported: 2 row(s) added" in fixed.stdout


def test_a_conflicting_reimport_is_refused_and_changes_nothing(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("timestamp,open,high,low,close,volume\n1704067200000,10,11,9,10,1\n")
    second.write_text("timestamp,open,high,low,close,volume\n1704067200000,10,11,9,10.5,1\n1704067260000,1,1,1,1,1\n")
    assert run(tmp_path, "import", str(first), "--market", "BTC/USDT", "--interval", "1m").returncode == 0
    again = run(tmp_path, "import", str(first), "--market", "BTC/USDT", "--interval", "1m")
    assert "0 row(s) added, 1 already present" in again.stdout
    refused = run(tmp_path, "import", str(second), "--market", "BTC/USDT", "--interval", "1m")
    assert refused.returncode == 2 and "close stored 10 new 10.5" in refused.stderr
    listing = run(tmp_path, "list").stdout
    assert "BTC/USDT" in listing and "│    1 │" in listing


def test_trades_resample_to_candles_that_export_as_freqtrade_feather(tmp_path):
    import pyarrow.feather as feather

    trades = DATA / "freqtrade" / "XRP_ETH-trades.csv"
    assert run(tmp_path, "import", str(trades), "--market", "XRP/ETH").returncode == 0
    resampled = run(tmp_path, "resample", "--market", "XRP/ETH", "--from", "trades", "--to", "1m")
    assert resampled.returncode == 0 and "2469 added" in resampled.stdout, resampled.stderr
    out = tmp_path / "xrp.feather"
    exported = run(
        tmp_path, "export", "--market", "XRP/ETH", "--interval", "1m", "--format", "freqtrade-feather",
        "--output", str(out),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    reference = feather.read_table(DATA / "freqtrade" / "XRP_ETH-1m.feather")
    assert feather.read_table(out).equals(reference.select(["date", "open", "high", "low", "close", "volume"]))


def test_an_unknown_interval_is_an_error_not_a_traceback(tmp_path):
    source = DATA / "quantedge-ta" / "btcusdt-1h.csv"
    result = run(tmp_path, "import", str(source), "--market", "BTC/USDT", "--interval", "7m")
    assert result.returncode == 2 and "error INVALID_ARGUMENT: unknown interval '7m'" in result.stderr

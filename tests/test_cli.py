"""The ``spotlab`` command, run as users run it: a real subprocess."""

from __future__ import annotations

import subprocess
import sys

SPOTLAB = [sys.executable, "-m", "spotlab.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SPOTLAB, *args], capture_output=True, text=True, timeout=60)


def test_markets_lists_the_catalogue():
    result = run("markets")
    assert result.returncode == 0, result.stderr
    for symbol in ("BTC/USDT", "ETH/BTC", "ADA/BTC", "DOT/USDC"):
        assert symbol in result.stdout
    assert "0.00000001" in result.stdout  # ADA/BTC tick, written out, not as 1E-8


def test_markets_adds_the_markets_of_a_catalogue_file(tmp_path):
    extra = tmp_path / "extra.toml"
    extra.write_text(
        '[assets.LINK]\nprecision = 8\n[markets."LINK/USDT"]\ntick_size = "0.001"\nlot_size = "0.01"\n'
        'min_quantity = "0.01"\nmin_notional = "5"\nmaker_fee = "0.001"\ntaker_fee = "0.001"\n'
    )
    result = run("markets", "--catalogue", str(extra))
    assert result.returncode == 0 and "LINK/USDT" in result.stdout


def test_a_bad_catalogue_is_reported_as_an_error_not_a_traceback(tmp_path):
    extra = tmp_path / "bad.toml"
    extra.write_text('[assets.LINK]\nprecision = 8\n[markets."LINK/USDT"]\ntick_size = 0.001\n')
    result = run("markets", "--catalogue", str(extra))
    assert result.returncode == 2
    assert "error INVALID_MARKET_SPEC" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_database_is_reported_as_an_error_not_a_traceback():
    result = run(
        "bench", "engine", "--commands", "500", "--accounts", "10", "--stores", "postgres",
        "--skip-memory-test", "--skip-restart", "--postgres-url", "postgresql://postgres@127.0.0.1:1/test?schema=x",
    )  # fmt: skip
    assert result.returncode == 2
    assert "error STORE_UNAVAILABLE" in result.stderr and "Traceback" not in result.stderr

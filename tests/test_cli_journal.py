"""``spotlab journal``, run as users run it: a real subprocess over a store written by the exchange."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from spotlab import Exchange, SimulatedClock
from tests.conftest import fund


def journal_command() -> list[str]:
    """``spotlab journal`` once the lead has registered it in ``spotlab.cli``; this module's own entry until then."""
    from spotlab.cli import app

    if any(command.name == "journal" for command in app.registered_commands):
        return [sys.executable, "-m", "spotlab.cli", "journal"]
    return [sys.executable, "-m", "spotlab.cli_journal", "journal"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*journal_command(), *args], capture_output=True, text=True, timeout=60)


TRADES = [("buy", "50000", "0.2"), ("sell", "52000", "0.05"), ("sell", "53000", "0.15"),
          ("buy", "50000", "0.1"), ("sell", "49000", "0.1"), ("buy", "50000", "0.1")]  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A store where alice made one winning round trip (tagged), one losing, and holds an open one."""
    directory = tmp_path_factory.mktemp("journal")
    clock = SimulatedClock(datetime(2024, 1, 1, 9, tzinfo=UTC))
    with Exchange.open(f"sqlite:///{directory}/exchange.sqlite", clock=clock) as ex:
        fund(ex, "alice", USDT="100000")
        fund(ex, "bob", BTC="10", USDT="100000")
        for side, price, quantity in TRADES:
            ex.place_order("bob", "BTC/USDT", "sell" if side == "buy" else "buy", "limit", price, quantity)
            ex.place_order("alice", "BTC/USDT", side, "limit", price, quantity)
            clock.advance(minutes=45)
        ex.journal_service.annotate("alice", round_trip="BTC-USDT-1", strategy="orb-5m", notes="textbook retest")
    return directory


def test_the_journal_prints_the_round_trips_and_statistics(data_dir):
    result = run("alice", "--data-dir", str(data_dir), "--group-by", "strategy")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "3 round trips" in out and "BTC-USDT-1" in out and "textbook retest" in out
    assert "529.45 USDT" in out and "-109.9 USDT" in out and "open" in out  # 10,539.45 - 10,010; 4,895.1 - 5,005
    assert "statistics by strategy" in out and "orb-5m (USDT)" in out and "untagged (USDT)" in out
    assert "Largest losing streak" in out and "Fee drag" in out


def test_the_json_is_what_the_python_facade_answers(data_dir, tmp_path):
    out = tmp_path / "journal.json"
    result = run("alice", "--data-dir", str(data_dir), "--json", str(out), "--status", "closed")
    assert result.returncode == 0, result.stderr
    written = json.loads(out.read_text())
    with Exchange.open(f"sqlite:///{data_dir}/exchange.sqlite") as ex:
        trips = ex.journal_service.round_trips("alice", status="closed")
        (stats,) = ex.journal_service.statistics("alice")
    assert [t["id"] for t in written["round_trips"]] == [t.id for t in trips] == ["BTC-USDT-1", "BTC-USDT-4"]
    assert [t["pnl"] for t in written["round_trips"]] == [str(t.pnl) for t in trips]
    assert written["round_trips"][0]["annotation"]["strategy"] == "orb-5m"
    assert written["stats"][0]["net_pnl"] == str(stats.net_pnl) == "419.55000000"  # 529.45 - 109.9


@pytest.mark.parametrize(
    ("args", "code"), [(("nobody",), "UNKNOWN_ACCOUNT"), (("alice", "--group-by", "month"), "INVALID_ARGUMENT")]
)
def test_errors_are_one_line_and_exit_2(data_dir, args, code):
    result = run(*args, "--data-dir", str(data_dir))
    assert result.returncode == 2, result.stdout
    assert f"error {code}" in result.stderr and "Traceback" not in result.stderr

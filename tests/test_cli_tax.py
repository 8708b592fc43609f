"""``spotlab tax report|export`` and ``spotlab bench tax``, run as users run them: a real subprocess over a store
written by the exchange on a simulated clock (alice's history of ``tests/api/test_tax_api.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from spotlab import Exchange, SimulatedClock
from spotlab.tax import cointracker_csv, koinly_universal_csv
from tests.conftest import fund

TRADES = [
    (datetime(2021, 2, 5, 15, tzinfo=UTC), "buy", "40000", "1"),
    (datetime(2021, 6, 1, tzinfo=UTC), "buy", "30000", "0.5"),
    (datetime(2021, 12, 31, 23, tzinfo=UTC), "sell", "47000", "0.1"),
    (datetime(2022, 2, 5, 12, tzinfo=UTC), "sell", "45000", "0.3"),
    (datetime(2022, 3, 1, tzinfo=UTC), "sell", "50000", "0.8"),
    (datetime(2023, 1, 10, tzinfo=UTC), "sell", "20000", "0.1"),
]


def command(group: str, name: str) -> list[str]:
    """``spotlab <group> <name>`` once the lead has registered it in ``spotlab.cli``; this module's entry until then."""
    from spotlab import cli

    if group == "tax":
        registered = any(typer_info.name == "tax" for typer_info in cli.app.registered_groups)
    else:
        registered = any(one.name == name for one in cli.bench_app.registered_commands)
    module = "spotlab.cli" if registered else "spotlab.cli_tax"
    return [sys.executable, "-m", module, group, name]


def run(group: str, name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*command(group, name), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tax")
    clock = SimulatedClock(TRADES[0][0])
    with Exchange.open(f"sqlite:///{directory}/exchange.sqlite", clock=clock) as ex:
        fund(ex, "alice", USD="100000")
        fund(ex, "bob", BTC="10", USD="500000")
        for moment, side, price, quantity in TRADES:
            clock.set(moment)
            ex.place_order("bob", "BTC/USD", "sell" if side == "buy" else "buy", "limit", price, quantity)
            ex.place_order("alice", "BTC/USD", side, "market", quantity=quantity)
    return directory


def facade(data_dir, call):
    with Exchange.open(f"sqlite:///{data_dir}/exchange.sqlite") as ex:
        return call(ex)


def test_the_report_prints_the_lines_and_totals_and_writes_the_three_files(data_dir, tmp_path):
    form, audit, out = tmp_path / "8949.csv", tmp_path / "audit.csv", tmp_path / "report.json"
    result = run("tax", "report", "alice", "--year", "2022", "--data-dir", str(data_dir),
                 "--csv", str(form), "--audit", str(audit), "--json", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = result.stdout
    assert "alice: tax year 2022 (2022-01-01 - 2022-12-31), fifo, in USD: 3 lines" in printed
    for figure in ("13446.00", "12048.00", "1398.00", "5784.00", "3936.00", "fill:BTC/USD:4:sell"):
        assert figure in printed
    assert "totals by asset and term (USD)" in printed and "5334.00" in printed and "11118.00" in printed
    assert "open lots now, by asset" in printed and "6024.00" in printed  # 0.2 BTC of the June lot
    report = facade(data_dir, lambda ex: ex.tax_report("alice", year=2022))
    assert form.read_text() == report.form_8949_csv() and audit.read_text() == report.audit_csv()
    written = json.loads(out.read_text())
    assert (written["year"], written["method"], written["start"], written["gain"]) == (2022, "fifo", "2022-01-01",
                                                                                       "11118.00")  # fmt: skip
    assert [(Decimal(line["quantity"]), line["proceeds"], line["term"]) for line in written["lines"]] == [
        (line.quantity, format(line.proceeds, "f"), line.term) for line in report
    ]
    assert [line["lot_id"] for line in written["lines"]] == [line.lot_id for line in report]


def test_json_to_stdout_is_the_apis_answer_and_nothing_else(data_dir):
    from spotlab.api.routes.tax import report_public

    result = run("tax", "report", "alice", "--year", "2021", "--method", "uk", "--data-dir", str(data_dir),
                 "--json", "-")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = facade(data_dir, lambda ex: ex.tax_report("alice", year=2021, method="uk"))
    assert json.loads(result.stdout) == report_public(report).model_dump(mode="json")
    assert json.loads(result.stdout)["end"] == "2021-04-05"  # the UK tax year 2020/21: no sales yet
    assert json.loads(result.stdout)["lines"] == []


def test_exports_write_the_whole_history_in_each_tools_layout(data_dir, tmp_path):
    target = tmp_path / "koinly.csv"
    result = run("tax", "export", "alice", "--tool", "koinly", "--output", str(target), "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "6 fills and 1 transfers of alice written to" in result.stdout
    history = facade(data_dir, lambda ex: ex.account_history("alice"))
    assert target.read_text() == koinly_universal_csv(*history)
    result = run("tax", "export", "alice", "--tool", "cointracker", "--output", "-", "--data-dir", str(data_dir))
    assert result.returncode == 0 and result.stdout == cointracker_csv(*history)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("report", "nobody", "--year", "2022"), "UNKNOWN_ACCOUNT"),
        (("report", "alice", "--year", "2022", "--method", "average"), "INVALID_ARGUMENT"),
        (("report", "alice", "--year", "2022", "--currency", "XYZ"), "UNKNOWN_ASSET"),
        (("export", "alice", "--tool", "turbotax"), "INVALID_ARGUMENT"),
    ],
)
def test_errors_are_one_line_exit_2_and_write_nothing(data_dir, tmp_path, args, code):
    target = tmp_path / "out.csv"
    more = ("--output", str(target)) if args[0] == "export" else ("--csv", str(target))
    result = run("tax", *args, *more, "--data-dir", str(data_dir))
    assert result.returncode == 2, result.stdout
    assert f"error {code}" in result.stderr and "Traceback" not in result.stderr
    assert not target.exists()


def test_the_benchmark_prints_every_method_against_the_target_and_writes_json(tmp_path):
    out = tmp_path / "results" / "tax.json"
    result = run("bench", "tax", "--fills", "3000", "--year", "2024", "--methods", "fifo,uk", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "tax report over 3,000 fills" in result.stdout and "target (every method <= 10 s): met" in result.stdout
    results = json.loads(out.read_text())
    assert [row["method"] for row in results["tax"]["methods"]] == ["fifo", "uk"]
    assert results["tax"]["fills"] == 3000 and "machine" in results
    assert all(row["met"] and row["lines_in_year"] > 0 for row in results["tax"]["methods"])
    refused = run("bench", "tax", "--methods", "fifo,average")
    assert refused.returncode == 2 and "error INVALID_ARGUMENT" in refused.stderr

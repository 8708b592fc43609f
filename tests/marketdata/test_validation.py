"""The validation report on files with planted faults: what was found, and what was fixed when asked."""

from __future__ import annotations

import pytest

from spotlab.marketdata import formats
from spotlab.marketdata.validation import check_candles, check_trades

HEADER = "timestamp,open,high,low,close,volume\n"
M = 60_000
T0 = 1_704_067_200_000


def row(minute: int, o="10", h="11", lo="9", c="10.5", v="2") -> str:
    return f"{T0 + minute * M},{o},{h},{lo},{c},{v}\n"


def check(tmp_path, *rows: str, **fixes):
    source = tmp_path / "candles.csv"
    source.write_text(HEADER + "".join(rows))
    parsed = formats.read("csv", source, "1m")
    return check_candles(parsed.table, "1m", first_line=parsed.first_line, **fixes)


def test_a_clean_file_has_no_findings(tmp_path):
    _, report = check(tmp_path, row(0), row(1), row(2))
    assert report.ok and report.lines() == ["3 row(s) checked", "no problems found"]


def test_gaps_are_listed_as_ranges_with_counts_and_only_warned_about(tmp_path):
    table, report = check(tmp_path, row(0), row(1), row(5), row(7))
    assert report.ok and table.num_rows == 4
    [gaps] = report.warnings.values()
    assert gaps.kind == "gap ranges (4 missing 1m period(s))" and gaps.count == 2
    assert gaps.examples == ["2024-01-01 00:02:00 .. 2024-01-01 00:04:00: 3 missing", "2024-01-01 00:06:00: 1 missing"]


@pytest.mark.parametrize(
    ("planted", "kind", "text"),
    [
        (row(1, h="8", lo="9"), "high < low", "line 3 (2024-01-01 00:01:00): high 8 < low 9"),
        (row(1, o="12"), "open outside [low, high]", "line 3 (2024-01-01 00:01:00): open 12"),
        (row(1, c="8.5"), "close outside [low, high]", "line 3 (2024-01-01 00:01:00): close 8.5"),
        (row(1, o="0", lo="0"), "price <= 0", "line 3 (2024-01-01 00:01:00): open 0 high 11 low 0 close 10.5"),
        (row(1, v="-1"), "volume < 0", "line 3 (2024-01-01 00:01:00): volume -1"),
    ],
)
def test_impossible_candles_are_errors_with_their_line(tmp_path, planted, kind, text):
    _, report = check(tmp_path, row(0), planted, row(2))
    assert not report.ok
    assert report.errors[kind].count == 1 and report.errors[kind].examples == [text]


def test_duplicates_are_told_apart_identical_or_conflicting(tmp_path):
    _, report = check(tmp_path, row(0), row(1), row(1), row(2), row(2, c="10.25"))
    assert report.errors["identical duplicate time"].examples == [
        "line 4: time 2024-01-01 00:01:00 repeats line 3 exactly"
    ]
    assert report.errors["conflicting duplicate time"].examples == [
        "line 6: time 2024-01-01 00:02:00 also on line 5 with other values"
    ]


def test_identical_duplicates_are_dropped_only_when_asked_and_each_drop_is_reported(tmp_path):
    table, report = check(tmp_path, row(0), row(1), row(1), row(2), drop_duplicates=True)
    assert report.ok and table.num_rows == 3
    assert report.fixed == ["dropped line 4: time 2024-01-01 00:01:00 repeats line 3 exactly"]


def test_rows_out_of_order_are_errors_unless_sorting_is_asked_for(tmp_path):
    rows = (row(0), row(2), row(1), row(3))
    _, refused = check(tmp_path, *rows)
    assert refused.errors["row out of time order"].examples == [
        "line 4: 2024-01-01 00:01:00 comes after 2024-01-01 00:02:00"
    ]
    table, fixed = check(tmp_path, *rows, sort=True)
    assert fixed.ok and fixed.fixed_count == 1
    assert table.column("open_time").cast("int64").to_pylist() == [T0 + i * M for i in range(4)]


def test_counts_are_complete_when_only_the_first_rows_are_listed(tmp_path):
    rows = [row(i, h="8", lo="9") for i in range(25)]
    _, report = check(tmp_path, *rows)
    issue = report.errors["high < low"]
    assert issue.count == 25 and len(issue.examples) == 10
    assert "  ... and 15 more" in report.lines()


def test_trades_with_a_zero_price_and_a_repeated_id_are_reported(tmp_path):
    source = tmp_path / "trades.csv"
    source.write_text(
        "timestamp_ms,id,type,side,price,amount,cost\n"
        "1570752011620,1,,sell,0.5,2.0,1.0\n"
        "1570752011620,2,,buy,0,1.0,0\n"
        "1570752011600,1,,sell,0.5,2.0,1.0\n"
    )
    parsed = formats.read("trades-csv", source, None)
    _, report = check_trades(parsed.table, first_line=parsed.first_line)
    assert report.errors["price <= 0"].examples == ["line 3: price 0"]
    assert report.errors["row out of time order"].count == 1
    assert report.errors["conflicting duplicate trade id"].count == 1  # the time differs

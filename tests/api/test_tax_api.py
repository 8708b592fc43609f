"""Tax endpoints: one tax year's report as JSON and CSV, the tax tools' exports; each account sees only its own.

The history runs on a simulated clock across year boundaries (BTC/USD, taker fee 0.4 %); alice takes bob's
resting orders:

| when (UTC)          | alice     | BTC | price  | notes                                                |
| ------------------- | --------- | --- | ------ | ---------------------------------------------------- |
| 2021-02-05 15:00    | buys      | 1   | 40,000 | lot 1: cost 40,000 + 160 fee                         |
| 2021-06-01          | buys      | 0.5 | 30,000 | lot 2: cost 15,000 + 60 fee                          |
| 2021-12-31 23:00    | sells     | 0.1 | 47,000 | tax year 2021                                        |
| 2022-02-05 12:00    | sells     | 0.3 | 45,000 | FIFO: lot 1, on its anniversary: still short-term    |
| 2022-03-01          | sells     | 0.8 | 50,000 | FIFO: 0.6 of lot 1 (long), 0.2 of lot 2 (short)      |
| 2023-01-10          | sells     | 0.1 | 20,000 | tax year 2023                                        |
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from spotlab import SimulatedClock
from spotlab.clock import ns_to_datetime
from spotlab.tax import cointracker_csv, koinly_universal_csv
from spotlab.tax.report import FORM_8949_HEADER
from tests.api.conftest import PASSWORD, Caller, problem

TRADES = [
    (datetime(2021, 2, 5, 15, tzinfo=UTC), "buy", "40000", "1"),
    (datetime(2021, 6, 1, tzinfo=UTC), "buy", "30000", "0.5"),
    (datetime(2021, 12, 31, 23, tzinfo=UTC), "sell", "47000", "0.1"),
    (datetime(2022, 2, 5, 12, tzinfo=UTC), "sell", "45000", "0.3"),
    (datetime(2022, 3, 1, tzinfo=UTC), "sell", "50000", "0.8"),
    (datetime(2023, 1, 10, tzinfo=UTC), "sell", "20000", "0.1"),
]


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(TRADES[0][0])


def login(api, clock, username: str) -> Caller:
    """A fresh token: the history moves the clock past the first one's lifetime."""
    answer = api.post("/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return Caller(api, clock, username, answer.json()["access_token"])


@pytest.fixture
def traded(api, user, clock):
    """alice, bob (the other side of every trade) and carol (no history), logged in after the last trade."""
    for name in ("alice", "bob", "carol"):
        user(name)
    ex = api.app.state.ctx.exchange
    ex.deposit("alice", "USD", "100000")
    ex.deposit("bob", "BTC", "10")
    ex.deposit("bob", "USD", "500000")
    for moment, side, price, quantity in TRADES:
        clock.set(moment)
        ex.place_order("bob", "BTC/USD", "sell" if side == "buy" else "buy", "limit", price, quantity)
        ex.place_order("alice", "BTC/USD", side, "market", quantity=quantity)
    return ex, login(api, clock, "alice"), login(api, clock, "bob"), login(api, clock, "carol")


def as_json(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    return value.isoformat()


def assert_same_lines(answer_lines: list[dict], report) -> None:
    """Every field of every line is the facade's, as an exact string or ISO date."""
    assert len(answer_lines) == len(report)
    for got, line in zip(answer_lines, report, strict=True):
        for name in ("asset", "term", "rule", "lot_id", "disposal_id", "reason", "order_id"):
            assert got[name] == getattr(line, name), name
        for name in ("quantity", "date_acquired", "date_sold", "proceeds", "cost_basis", "gain", "fees"):
            assert got[name] == as_json(getattr(line, name)), name
        acquired = None if line.acquired_ns is None else ns_to_datetime(line.acquired_ns)
        assert got["acquired_at"] == (None if acquired is None else acquired.isoformat().replace("+00:00", "Z"))
        assert got["sold_at"] == ns_to_datetime(line.sold_ns).isoformat().replace("+00:00", "Z")


def test_the_report_is_the_facades_report_with_its_figures_by_hand(traded):
    ex, alice, _, _ = traded
    answer = alice.get("/v1/tax/report", params={"year": 2022, "method": "fifo", "currency": "USD"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["year"], body["method"], body["currency"], body["start"], body["end"]) == (
        2022, "fifo", "USD", "2022-01-01", "2022-12-31")  # fmt: skip
    assert_same_lines(body["lines"], ex.tax_report("alice", year=2022, method="fifo", currency="USD"))
    # proceeds net of the 0.4 % fee; cost = price x quantity x 1.004
    figures = [(line["date_acquired"], line["date_sold"], Decimal(line["quantity"]), line["proceeds"],
                line["cost_basis"], line["gain"], line["term"]) for line in body["lines"]]  # fmt: skip
    assert figures == [
        ("2021-02-05", "2022-02-05", Decimal("0.3"), "13446.00", "12048.00", "1398.00", "short"),  # the anniversary
        ("2021-02-05", "2022-03-01", Decimal("0.6"), "29880.00", "24096.00", "5784.00", "long"),
        ("2021-06-01", "2022-03-01", Decimal("0.2"), "9960.00", "6024.00", "3936.00", "short"),
    ]
    totals = [(t["asset"], t["term"], t["proceeds"], t["cost_basis"], t["gain"], t["lines"]) for t in body["totals"]]
    assert totals == [("BTC", "long", "29880.00", "24096.00", "5784.00", 1),
                      ("BTC", "short", "23406.00", "18072.00", "5334.00", 2)]  # fmt: skip
    assert body["gain"] == "11118.00"
    # what the whole history leaves (the 2023 sale included): 0.5 - 0.2 - 0.1 of lot 2
    assert [(lot["lot_id"], Decimal(lot["quantity"]), lot["cost_basis"]) for lot in body["open_lots"]] == [
        ("fill:BTC/USD:2:buy", Decimal("0.2"), "6024.00")
    ]


@pytest.mark.parametrize(("year", "sold"), [(2021, ["2021-12-31"]), (2023, ["2023-01-10"]), (2020, [])])
def test_a_year_has_only_the_sales_in_it(traded, year, sold):
    ex, alice, _, _ = traded
    body = alice.get("/v1/tax/report", params={"year": year}).json()
    assert [line["date_sold"] for line in body["lines"]] == sold
    assert_same_lines(body["lines"], ex.tax_report("alice", year=year))


@pytest.mark.parametrize(
    ("method", "first_lot"),
    [("lifo", "fill:BTC/USD:2:buy"), ("hifo", "fill:BTC/USD:1:buy"), ("uk", "section-104")],
)
def test_every_method_answers_what_the_facade_answers(traded, method, first_lot):
    """The 2022-02-05 sale: LIFO takes lot 2 (the newest), HIFO lot 1 (40,160 a BTC against 30,120), UK the pool."""
    ex, alice, _, _ = traded
    body = alice.get("/v1/tax/report", params={"year": 2022, "method": method}).json()
    report = ex.tax_report("alice", year=2022, method=method)
    assert_same_lines(body["lines"], report)
    assert body["gain"] == format(report.gain, "f") and body["method"] == method
    assert body["lines"][0]["lot_id"] == first_lot
    if method == "uk":  # the UK tax year 2021/22 ends on 5 April 2022
        assert (body["start"], body["end"]) == ("2021-04-06", "2022-04-05")


def test_the_form_8949_and_audit_csv_files_trace_every_line_to_its_fills(traded):
    ex, alice, _, _ = traded
    report = ex.tax_report("alice", year=2022)
    form = alice.get("/v1/tax/report", params={"year": 2022, "format": "8949"})
    assert form.status_code == 200 and form.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="spotlab-tax-2022-fifo-USD-8949.csv"' in form.headers["content-disposition"]
    assert form.text == report.form_8949_csv()
    rows = list(csv.reader(io.StringIO(form.text)))
    assert tuple(rows[0]) == FORM_8949_HEADER
    assert [row[1:] for row in rows[1:]] == [  # Part I (short-term) before Part II (long-term)
        ["02/05/2021", "02/05/2022", "13446.00", "12048.00", "1398.00", "short"],
        ["06/01/2021", "03/01/2022", "9960.00", "6024.00", "3936.00", "short"],
        ["02/05/2021", "03/01/2022", "29880.00", "24096.00", "5784.00", "long"],
    ]
    audit = alice.get("/v1/tax/report", params={"year": 2022, "format": "audit"})
    assert audit.status_code == 200 and audit.text == report.audit_csv()
    fills, _ = ex.account_history("alice")
    by_id = {f"fill:{fill.market}:{fill.trade_id}:{fill.side}": fill for fill in fills}
    lines = list(csv.DictReader(io.StringIO(audit.text)))
    assert len(lines) == 3
    for line in lines:  # each line names alice's own buy it came from and the sell that disposed of it
        bought, sold = by_id[line["lot_id"]], by_id[line["disposal_id"]]
        assert (bought.side, sold.side, int(line["order_id"])) == ("buy", "sell", sold.order_id)
        assert datetime.fromisoformat(line["sold_at"]) == ns_to_datetime(sold.time_ns)
        assert date.fromisoformat(line["date_acquired"]) == ns_to_datetime(bought.time_ns).date()


@pytest.mark.parametrize(("tool", "write"), [("koinly", koinly_universal_csv), ("cointracker", cointracker_csv)])
def test_the_exports_are_the_whole_history_in_the_tools_layout(traded, tool, write):
    ex, alice, _, carol = traded
    answer = alice.get("/v1/tax/export", params={"tool": tool})
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="spotlab-{tool}.csv"' in answer.headers["content-disposition"]
    fills, transfers = ex.account_history("alice")
    assert answer.text == write(fills, transfers)
    assert len(answer.text.splitlines()) == 1 + len(TRADES) + 1  # header, six fills, one deposit
    assert carol.get("/v1/tax/export", params={"tool": tool}).text == write([], [])  # the header alone


def tx_ids(export: str) -> set[str]:
    """The Koinly file's TxHash column: the fill or transfer each row came from."""
    return {row["TxHash"] for row in csv.DictReader(io.StringIO(export))}


def test_each_account_sees_only_its_own_lots_and_gains(traded):
    ex, alice, bob, carol = traded
    empty = carol.get("/v1/tax/report", params={"year": 2022}).json()
    assert (empty["lines"], empty["totals"], empty["open_lots"], empty["gain"]) == ([], [], [], "0")
    mine = alice.get("/v1/tax/report", params={"year": 2021}).json()
    theirs = bob.get("/v1/tax/report", params={"year": 2021}).json()
    assert theirs["lines"] and theirs != mine
    assert_same_lines(theirs["lines"], ex.tax_report("bob", year=2021))
    alice_file = tx_ids(alice.get("/v1/tax/export", params={"tool": "koinly"}).text)
    bob_file = tx_ids(bob.get("/v1/tax/export", params={"tool": "koinly"}).text)
    assert len(alice_file) == 7 and len(bob_file) == 8 and not alice_file & bob_file  # the two sides of each trade
    for report, own in ((mine, alice_file), (theirs, bob_file)):  # every id a report names is its caller's own
        named = {line["lot_id"] for line in report["lines"]} | {line["disposal_id"] for line in report["lines"]}
        assert named | {lot["lot_id"] for lot in report["open_lots"]} <= own
    assert alice.client.get("/v1/tax/report", params={"year": 2022}).status_code == 401


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"year": "twenty"}, 422, "VALIDATION_ERROR"),
        ({"year": 1969}, 422, "VALIDATION_ERROR"),
        ({}, 422, "VALIDATION_ERROR"),  # the year is required
        ({"year": 2022, "method": "average"}, 422, "VALIDATION_ERROR"),
        ({"year": 2022, "method": "specific"}, 422, "VALIDATION_ERROR"),  # needs a lot selection: Python only
        ({"year": 2022, "currency": "usd"}, 422, "VALIDATION_ERROR"),
        ({"year": 2022, "currency": "XYZ"}, 404, "UNKNOWN_ASSET"),
        ({"year": 2022, "format": "pdf"}, 422, "VALIDATION_ERROR"),
    ],
)
def test_a_bad_year_method_currency_or_format_is_a_problem(traded, params, status, code):
    _, alice, _, _ = traded
    body = problem(alice.get("/v1/tax/report", params=params), status, code)
    assert body["detail"]


def test_an_unknown_tool_is_a_problem(traded):
    _, alice, _, _ = traded
    problem(alice.get("/v1/tax/export", params={"tool": "turbotax"}), 422, "VALIDATION_ERROR")
    problem(alice.get("/v1/tax/export"), 422, "VALIDATION_ERROR")


def test_the_openapi_document_offers_json_and_csv_and_its_example_is_a_valid_report(api):
    from spotlab.api.routes.tax import TaxReportPublic

    spec = api.get("/v1/openapi.json").json()
    report = spec["paths"]["/v1/tax/report"]["get"]
    assert set(report["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert set(spec["paths"]["/v1/tax/export"]["get"]["responses"]["200"]["content"]) == {"text/csv"}
    assert [p["name"] for p in report["parameters"]] == ["year", "method", "currency", "format"]
    (example,) = spec["components"]["schemas"]["TaxReportPublic"]["examples"]
    assert TaxReportPublic.model_validate(example).gain == Decimal("1398.00")

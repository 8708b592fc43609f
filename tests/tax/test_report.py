"""Reports: the tax year's lines, totals, the Form 8949-style CSV, the audit CSV and the tools' import files."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from spotlab.errors import SpotlabError
from spotlab.risk.records import FillRecord, TransferRecord
from spotlab.tax import cointracker_csv, koinly_universal_csv, tax_report, tax_year
from spotlab.tax.events import acquisition, disposal
from spotlab.tax.report import report_of_events


def at(day: str, hour: int = 12) -> int:
    return int(datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC).timestamp()) * 1_000_000_000


def usd(asset: str, amount: D, time_ns: int) -> D:
    return amount * {"BTC": D(40000), "ETH": D(2000)}[asset]


HISTORY = (
    [
        FillRecord(1, "BTC/USD", "buy", D("30000"), D("1"), D("30"), at("2021-02-05"), 11),
        FillRecord(2, "BTC/USD", "sell", D("35000"), D("0.5"), D("17.5"), at("2022-02-05"), 12),
        FillRecord(3, "BTC/USD", "sell", D("36000"), D("0.25"), D("9"), at("2022-02-06"), 13),
        FillRecord(4, "ETH/BTC", "buy", D("0.05"), D("2"), D("0.0001"), at("2022-03-01"), 14),
        FillRecord(5, "BTC/USD", "sell", D("50000"), D("0.1"), D("5"), at("2023-01-02"), 15),
    ],
    [TransferRecord("deposit", "USD", D("100000"), D("0"), at("2021-02-01"), 1)],
)


def report(year=2022, method="fifo"):
    return tax_report(*HISTORY, usd, year=year, method=method, currency="USD")


def test_the_issue_interface_lines_have_decimals_dates_and_terms():
    lines = report().lines
    assert [(line.asset, line.quantity, line.date_acquired, line.date_sold, line.term) for line in lines] == [
        ("BTC", D("0.5"), date(2021, 2, 5), date(2022, 2, 5), "short"),  # exactly one year: short
        ("BTC", D("0.25"), date(2021, 2, 5), date(2022, 2, 6), "long"),
        ("BTC", D("0.1"), date(2021, 2, 5), date(2022, 3, 1), "long"),  # BTC spent on ETH
        ("BTC", D("0.0001"), date(2021, 2, 5), date(2022, 3, 1), "long"),  # the fee paid in BTC
    ]
    first = lines[0]
    assert (first.proceeds, first.cost_basis, first.gain) == (D("17482.50"), D("15015.00"), D("2467.50"))
    assert all(isinstance(value, D) for line in lines for value in (line.proceeds, line.cost_basis, line.gain))


def test_only_the_years_sales_are_reported_and_totals_are_by_asset_and_term():
    assert [line.date_sold.year for line in report(2023).lines] == [2023]
    assert report(2021).lines == []
    totals = {(total.asset, total.term): total for total in report().totals}
    assert set(totals) == {("BTC", "short"), ("BTC", "long")}
    assert totals["BTC", "long"].quantity == D("0.3501")
    assert totals["BTC", "long"].lines == 3
    assert report().gain == sum(total.gain for total in report().totals)


def test_form_8949_csv_has_the_forms_columns_short_term_first():
    rows = list(csv.reader(io.StringIO(report().form_8949_csv())))
    assert rows[0] == ["Description", "Date Acquired", "Date Sold", "Proceeds", "Cost Basis", "Gain or Loss", "Term"]
    assert rows[1] == ["0.5 BTC", "02/05/2021", "02/05/2022", "17482.50", "15015.00", "2467.50", "short"]
    assert [row[6] for row in rows[1:]] == ["short", "long", "long", "long"]


def test_audit_csv_leads_every_line_back_to_its_lot_and_fills():
    rows = list(csv.DictReader(io.StringIO(report().audit_csv())))
    assert rows[0]["lot_id"] == "fill:BTC/USD:11:buy"
    assert rows[0]["disposal_id"] == "fill:BTC/USD:12:sell"
    assert rows[0]["order_id"] == "2"
    assert rows[0]["fees"] == "17.50"
    assert rows[0]["sold_at"] == "2022-02-05T12:00:00+00:00"
    assert [row["disposal_id"] for row in rows[2:]] == ["fill:ETH/BTC:14:buy", "fill:ETH/BTC:14:buy:fee"]


def test_uk_tax_year_runs_6_april_to_5_april_and_is_named_by_its_end():
    assert tax_year(2021, "uk") == (date(2020, 4, 6), date(2021, 4, 5))
    assert tax_year(2021) == (date(2021, 1, 1), date(2021, 12, 31))
    events = [
        acquisition("BTC", D(2), D(100), at("2020-01-01"), "a"),
        disposal("BTC", D(1), D(80), at("2021-04-05"), "in 2020/21"),
        disposal("BTC", D(1), D(90), at("2021-04-06"), "in 2021/22"),
    ]
    assert [line.disposal_id for line in report_of_events(events, year=2021, method="uk").lines] == ["in 2020/21"]
    assert [line.disposal_id for line in report_of_events(events, year=2022, method="uk").lines] == ["in 2021/22"]
    assert report_of_events(events, year=2021, method="uk").lines[0].term is None


@pytest.mark.parametrize(
    ("kwargs", "words"), [({"method": "average"}, "choose one of"), ({"year": "2022"}, "tax year")]
)
def test_bad_report_arguments_are_refused(kwargs, words):
    with pytest.raises(SpotlabError, match=words):
        tax_report(*HISTORY, usd, **{"year": 2022, **kwargs})


def test_koinly_universal_csv_layout():
    rows = list(csv.DictReader(io.StringIO(koinly_universal_csv(*HISTORY))))
    assert list(rows[0]) == ["Date", "Sent Amount", "Sent Currency", "Received Amount", "Received Currency",
                             "Fee Amount", "Fee Currency", "Net Worth Amount", "Net Worth Currency", "Label",
                             "Description", "TxHash"]  # fmt: skip
    assert rows[0]["Date"] == "2021-02-01 12:00:00 UTC" and rows[0]["Received Amount"] == "100000"
    buy = rows[1]
    assert (buy["Sent Amount"], buy["Sent Currency"], buy["Received Amount"], buy["Received Currency"]) == (
        "30000", "USD", "1", "BTC",
    )  # fmt: skip
    assert (buy["Fee Amount"], buy["Fee Currency"], buy["TxHash"]) == ("30", "USD", "fill:BTC/USD:11:buy")
    sell = rows[2]
    assert (sell["Sent Amount"], sell["Sent Currency"], sell["Received Amount"]) == ("0.5", "BTC", "17500.0")


def test_cointracker_csv_layout():
    rows = list(csv.reader(io.StringIO(cointracker_csv(*HISTORY))))
    assert rows[0] == ["Date", "Received Quantity", "Received Currency", "Sent Quantity", "Sent Currency",
                       "Fee Amount", "Fee Currency", "Tag"]  # fmt: skip
    assert rows[2] == ["02/05/2021 12:00:00", "1", "BTC", "30000", "USD", "30", "USD", ""]
    withdrawal = cointracker_csv([], [TransferRecord("withdrawal", "BTC", D("1"), D("0.001"), at("2022-01-01"), 9)])
    assert list(csv.reader(io.StringIO(withdrawal)))[1] == ["01/01/2022 12:00:00", "", "", "0.999", "BTC", "0.001",
                                                            "BTC", ""]  # fmt: skip

"""The HMRC Cryptoassets Manual's pooling examples (CRYPTO22251-22257, CRYPTO22280), read from BittyTax's CSVs.

``../shared/data/tax_oracles/bittytax_hmrc`` holds each example as a BittyTax import file (one row per
trade, values in GBP) and BittyTax 0.6.0's capital-gains tables. The rows map to our events like this:
- GBP is not an asset for CGT (no lots). A trade selling GBP is an acquisition whose cost is the GBP paid;
  a trade buying GBP is a disposal whose proceeds are the GBP received.
- A crypto-to-crypto trade (22257) is both: the acquisition's cost is "Buy Value in GBP" and the
  disposal's proceeds "Sell Value in GBP". The manual gives each leg a value and its rule is that the cost
  of what you get is the value of what you give, and the proceeds of what you give the value of what you
  get; the CSV carries exactly those (its values look swapped against the manual's prose for that reason:
  BittyTax issue 181, where the manual's total, a loss of 972 pounds, is only reached this way).
- A fee paid in tokens (22280) is a disposal of the fee tokens at market value (the trade's own price)
  and that value is a fee (allowable cost) of the main disposal: the manual's "strict position".

Every line BittyTax prints is compared with ours (quantity, dates, rule, cost, fees, proceeds, gain, to
the penny), and so are the pools left. Where the manual prints different figures it rounds each allowable
cost to whole pounds (CRYPTO22254: 63 pounds for 62.50, a gain of 79 for 79.50): that is rounding, not a
different rule, and the tests show our pence round to the manual's pounds.
"""

from __future__ import annotations

import csv
import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest

from spotlab.tax.events import acquisition, disposal
from spotlab.tax.uk import match_uk
from tests.shared_data import DATA

HMRC = DATA / "tax_oracles" / "bittytax_hmrc"
EXAMPLES = ["22251", "22252", "22253", "22254", "22255", "22256", "22257", "22280"]


def number(text: str) -> Decimal:
    return Decimal(text.replace(",", "").replace("£", ""))


def events_of(example: str):
    events = []
    with open(HMRC / f"CRYPTO{example}.csv", newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            if row["Type"] != "Trade":
                continue
            moment = datetime.fromisoformat(row["Timestamp"] + "+00:00")
            ts = int(moment.timestamp()) * 1_000_000_000
            bought, paid = row["Buy Asset"], row["Sell Asset"]
            got, gave = number(row["Buy Quantity"]), number(row["Sell Quantity"])
            fee_events, fee_value = [], Decimal(0)
            if row["Fee Quantity"]:
                assert row["Fee Asset"] == paid and bought == "GBP"  # the one fee example: paid in the sold token
                fee_quantity = number(row["Fee Quantity"])
                fee_value = got / gave * fee_quantity  # market value at the trade's own price
                fee_events.append(disposal(paid, fee_quantity, fee_value, ts, f"row{index}:fee", "fee"))
            if paid == "GBP":
                events.append(acquisition(bought, got, gave, ts, f"row{index}", "buy"))
            elif bought == "GBP":
                events.append(disposal(paid, gave, got, ts, f"row{index}", "sell", fees=fee_value))
            else:
                events.append(acquisition(bought, got, number(row["Buy Value in GBP"]), ts, f"row{index}", "trade"))
                events.append(disposal(paid, gave, number(row["Sell Value in GBP"]), ts, f"row{index}", "trade"))
            events.extend(fee_events)
    return events


LINE = re.compile(
    r"^(?P<asset>TOKEN\w*)\s+(?P<sold>\d\d/\d\d/\d{4}) (?P<rule>Same Day|Section 104|Bed & Breakfast \((?P<bought>"
    r"\d\d/\d\d/\d{4})\))\s+(?P<quantity>[\d,]+)\s+(?P<cost>£[-\d,.]+)\s+(?P<fees>£[-\d,.]+)\s+"
    r"(?P<proceeds>£[-\d,.]+)\s+(?P<gain>£[-\d,.]+)$"
)
POOL = re.compile(r"^(?P<asset>TOKEN\w*)\s+(?P<quantity>[\d,]+)\s+(?P<cost>£[-\d,.]+)\s+Not available")
RULES = {"Same Day": "same-day", "Section 104": "section-104"}


def uk_date(text: str) -> date:
    day, month, year = text.split("/")
    return date(int(year), int(month), int(day))


def bittytax(example: str):
    """BittyTax's lines and pools for one example, as ours are shaped."""
    text = (HMRC / "bittytax_0.6.0_results.txt").read_text()
    block = text.split(f"##### CRYPTO{example} ")[1].split("#####")[0]
    lines, pools = [], {}
    for raw in block.splitlines():
        found = LINE.match(raw.strip())
        if found:
            rule = RULES.get(found["rule"], "30-day")
            lines.append((found["asset"], uk_date(found["sold"]), rule,
                          uk_date(found["bought"]) if found["bought"] else None, number(found["quantity"]),
                          number(found["cost"]), number(found["fees"]), number(found["proceeds"]),
                          number(found["gain"])))  # fmt: skip
            continue
        found = POOL.match(raw.strip())
        if found:
            pools[found["asset"]] = (number(found["quantity"]), number(found["cost"]))
    return lines, pools


def ours(example: str):
    result = match_uk(events_of(example))
    lines = []
    for line in result.lines:
        acquired = line.date_acquired if line.rule == "30-day" else None
        lines.append((line.asset, line.date_sold, line.rule, acquired, line.quantity,
                      line.cost_basis - line.fees, line.fees, line.proceeds, line.gain))  # fmt: skip
    pools = {pool.asset: (pool.quantity, pool.cost_basis) for pool in result.pools}
    return lines, pools, result


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_bittytax_line_and_pool_is_reproduced_to_the_penny(example):
    expected_lines, expected_pools = bittytax(example)
    lines, pools, _ = ours(example)
    assert expected_lines  # the results file was parsed
    assert sorted(lines, key=repr) == sorted(expected_lines, key=repr)
    assert {asset: pools[asset] for asset in expected_pools} == expected_pools  # 22257 prints no pool costs


def pounds(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal(1), ROUND_HALF_UP)


def test_22251_section_104_pool_as_the_manual():
    _, pools, result = ours("22251")
    (line,) = result.lines
    assert (line.proceeds, line.cost_basis, line.gain) == (Decimal(300000), Decimal(42000), Decimal(258000))
    assert pools == {"TOKENA": (Decimal(100), Decimal(84000))}


def test_22252_same_day_disposals_and_acquisitions_are_added_up_first():
    _, pools, result = ours("22252")
    (line,) = result.lines  # two disposals, one day: one disposal of 1,500 matched with the day's 1,600 bought
    assert (line.rule, line.quantity, line.proceeds, line.cost_basis) == ("same-day", 1500, 1400, Decimal("937.50"))
    assert pools == {"TOKENB": (Decimal(5100), Decimal("562.50"))}  # 100 of the 1,600 joined the pool


def test_22253_thirty_day_rule_matches_later_acquisitions_earliest_disposal_first():
    _, pools, result = ours("22253")
    matched = [(line.date_sold.isoformat(), line.date_acquired.isoformat(), line.quantity) for line in result.lines]
    assert matched == [
        ("2020-03-31", "2020-04-21", 700),
        ("2020-03-31", "2020-04-28", 300),
        ("2020-04-20", "2020-04-28", 200),
        ("2020-04-20", "2020-05-01", 300),
    ]
    assert pools == {"TOKENC": (Decimal(2200), Decimal(1060))}


def test_22254_manual_rounds_to_pounds_ours_keeps_pence():
    _, pools, result = ours("22254")
    same_day, pool = result.lines
    assert same_day.cost_basis == Decimal(500) and pool.cost_basis == Decimal("62.50")
    proceeds = same_day.proceeds + pool.proceeds
    assert proceeds == Decimal(642)
    assert pounds(pool.cost_basis) == Decimal(63)  # the manual: 1,000 x 500 / 8,000 = (63)
    assert proceeds - same_day.cost_basis - pounds(pool.cost_basis) == Decimal(79)  # the manual's gain of 79
    assert same_day.gain + pool.gain == Decimal("79.50")  # ours, to the penny
    assert pools == {"TOKEND": (Decimal(7500), Decimal("937.50"))}  # the manual: 937


def test_22255_thirty_day_then_pool_as_the_manual():
    _, pools, result = ours("22255")
    assert sum(line.gain for line in result.lines) == Decimal(92500)
    assert pools == {"TOKENE": (Decimal(10500), Decimal(150000))}


def test_22256_all_three_rules_as_the_manual():
    _, _, result = ours("22256")
    by_day = {}
    for line in result.lines:
        by_day[line.date_sold.isoformat()] = by_day.get(line.date_sold.isoformat(), 0) + line.gain
    assert by_day["2020-07-31"] == Decimal(15000)  # the manual: 150,000 - 45,000 - 90,000
    assert by_day["2020-08-05"] == Decimal(10000)  # 100,000 - 225,000 x 20,000 / 50,000
    # 7 August: the pool holds 100,000 + the 10,000 left from 6 August, cost 300,000 + 45,000
    assert by_day["2020-08-07"] == Decimal(150000) - Decimal("313636.36")


def test_22257_crypto_to_crypto_total_is_the_manuals_loss_of_972():
    _, pools, result = ours("22257")
    assert sum(line.gain for line in result.lines) == Decimal(-972)
    # the G pool: 300,000 - 770 x 3 (31 August) - 400 x 3 (16 September) + 2,400 (900 G on 27 October)
    assert pools == {"TOKENG": (Decimal(99730), Decimal(298890))}


def test_22280_fee_in_tokens_strict_position():
    """Consideration 5,000 + the fee token's value 5; allowable costs 5 (the fee) + 1,001/10,000 of 20,000."""
    _, pools, result = ours("22280")
    (line,) = result.lines
    assert (line.quantity, line.proceeds, line.fees, line.cost_basis) == (1001, 5005, 5, 2007)
    assert line.gain == Decimal(2998)
    assert pools == {"TOKEN": (Decimal(8999), Decimal(17998))}

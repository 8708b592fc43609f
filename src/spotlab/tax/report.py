"""Tax reports: one tax year's realised gains and losses, their totals, a Form 8949-style CSV and an audit CSV.

``tax_report(fills, transfers, value, year=..., method=..., currency=...)`` is what
``Exchange.tax_report`` calls: it makes the events (``spotlab.tax.events``), matches the whole history
(``spotlab.tax.lots`` for fifo/lifo/hifo/specific, ``spotlab.tax.uk`` for method "uk") and keeps the
lines whose sale date falls in the tax year.

Rules
- **Tax year**: US methods use the calendar year (1 January - 31 December ``year``). Method "uk" uses the
  UK tax year that *ends* in ``year`` (6 April ``year - 1`` - 5 April ``year``; ``year=2021`` is 2020/21,
  as BittyTax numbers it). Dates are UTC.
- The whole history is matched, then filtered: earlier years decide which lots are left, and the UK 30-day
  rule may match a disposal with an acquisition after the year's end, as the law says.
- **Totals** are per asset and term (US) or per asset (UK), sorted by asset then term; exact sums.
- **Form 8949 CSV**: ``Description,Date Acquired,Date Sold,Proceeds,Cost Basis,Gain or Loss,Term``, one row
  per line, short-term rows (Part I) before long-term (Part II), each by sale date; dates MM/DD/YYYY as
  on the form ("VARIOUS" for a UK pool line), description like ``0.5 BTC`` (no trailing zeros), money with
  the currency's places, proceeds net of selling fees (US; UK proceeds are gross, fees in the cost).
- **Audit CSV**: every line with its rule, lot id(s), disposal id(s), the disposing fill's order id, the
  fees inside it and both moments (ISO 8601 UTC): a lot id or disposal id names the fill
  (``fill:<market>:<trade_id>:<side>``) or transfer (``deposit:<seq>``, ``withdrawal:<seq>``) it came from.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from spotlab.collector import collector_paused
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.records import FillRecord, TransferRecord
from spotlab.tax.events import DEFAULT_FIAT, TaxEvent, Valuation, tax_events
from spotlab.tax.lots import METHODS, Removed, match_lots
from spotlab.tax.model import LONG, OpenLot, TaxLine, utc_datetime
from spotlab.tax.uk import match_uk

UK = "uk"
REPORT_METHODS = (*METHODS, UK)
FORM_8949_HEADER = ("Description", "Date Acquired", "Date Sold", "Proceeds", "Cost Basis", "Gain or Loss", "Term")
AUDIT_HEADER = (
    "asset", "quantity", "date_acquired", "date_sold", "proceeds", "cost_basis", "gain", "fees", "term", "rule",
    "lot_id", "disposal_id", "reason", "order_id", "acquired_at", "sold_at",
)  # fmt: skip


class Total(NamedTuple):
    asset: str
    term: str | None
    quantity: Decimal
    proceeds: Decimal
    cost_basis: Decimal
    gain: Decimal
    lines: int


@dataclass(frozen=True)
class TaxReport:
    """One tax year's lines (``lines``, oldest sale first per asset), their totals and what is still open.

    It reads as its lines too: iterating, indexing and ``len`` give the ``TaxLine`` s."""

    year: int
    method: str
    currency: str
    start: date
    end: date
    lines: list[TaxLine]
    open_lots: list[OpenLot]
    removed: list[Removed] = field(default_factory=list)

    # a report reads as its lines: ``for line in report``, ``report[0]``, ``len(report)``
    def __iter__(self):
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, index):
        return self.lines[index]

    @property
    def totals(self) -> list[Total]:
        return totals(self.lines)

    @property
    def gain(self) -> Decimal:
        return sum((line.gain for line in self.lines), Decimal(0))

    def form_8949_csv(self) -> str:
        return form_8949_csv(self.lines)

    def audit_csv(self) -> str:
        return audit_csv(self.lines)


def tax_year(year: int, method: str = "fifo") -> tuple[date, date]:
    """The first and last day of tax year ``year`` for ``method`` (see the module docstring)."""
    if not isinstance(year, int) or isinstance(year, bool) or not 1970 <= year <= 9999:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a tax year is a year like 2022, got {year!r}", year=year)
    if method == UK:
        return date(year - 1, 4, 6), date(year, 4, 5)
    return date(year, 1, 1), date(year, 12, 31)


def tax_report(
    fills: Iterable[FillRecord],
    transfers: Iterable[TransferRecord],
    value: Valuation,
    *,
    year: int,
    method: str = "fifo",
    currency: str = "USD",
    fiat: frozenset[str] = DEFAULT_FIAT,
    money_places: int = 2,
    select: Mapping[str, Sequence[tuple[str, Decimal]]] | None = None,
) -> TaxReport:
    """Tax year ``year``'s report of an account's history (``Exchange.account_history``), valued by ``value``."""
    name = str(method).lower()
    if name not in REPORT_METHODS:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown tax method {method!r}; choose one of {', '.join(REPORT_METHODS)}",
            method=str(method),
            choices=list(REPORT_METHODS),
        )
    tax_year(year, name)  # a bad year is refused before any work
    # no reference cycles among the few objects made per fill: the collector's walks of the account's
    # records would be about a third of a million-fill report's time (spotlab.collector)
    with collector_paused():
        events = tax_events(fills, transfers, value, currency, fiat=fiat, money_places=money_places)
        return report_of_events(events, year=year, method=name, currency=currency, money_places=money_places,
                                select=select)  # fmt: skip


def report_of_events(
    events: Sequence[TaxEvent],
    *,
    year: int,
    method: str = "fifo",
    currency: str = "USD",
    money_places: int = 2,
    select: Mapping[str, Sequence[tuple[str, Decimal]]] | None = None,
) -> TaxReport:
    """The report of ready-made events (hand-made histories, other sources): as ``tax_report`` after the events."""
    start, end = tax_year(year, method)
    if method == UK:
        if select:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "UK pooling has no lot selection", method=method)
        result = match_uk(events, money_places=money_places)
        lines, open_lots, removed = result.lines, result.pools, []
    else:
        matched = match_lots(events, method, money_places=money_places, select=select, period=(start, end))
        lines, open_lots, removed = matched.lines, matched.open_lots, matched.removed
    in_year = [line for line in lines if start <= line.date_sold <= end]
    return TaxReport(year, method, currency, start, end, in_year, open_lots, removed)


def totals(lines: Iterable[TaxLine]) -> list[Total]:
    """Exact sums per (asset, term)."""
    sums: dict[tuple[str, str], list] = {}
    for line in lines:
        key = (line.asset, line.term or "")
        found = sums.get(key)
        if found is None:
            found = sums[key] = [Decimal(0), Decimal(0), Decimal(0), Decimal(0), 0]
        found[0] += line.quantity
        found[1] += line.proceeds
        found[2] += line.cost_basis
        found[3] += line.gain
        found[4] += 1
    return [Total(asset, term or None, *figures) for (asset, term), figures in sorted(sums.items())]


_US_DATES: dict[date | None, str] = {None: "VARIOUS"}


def _us_date(day: date | None) -> str:
    found = _US_DATES.get(day)
    if found is None:
        found = _US_DATES[day] = f"{day.month:02d}/{day.day:02d}/{day.year}"
    return found


def form_8949_csv(lines: Iterable[TaxLine]) -> str:
    """The Form 8949-style CSV (see the module docstring)."""
    with collector_paused():
        ordered = sorted(lines, key=lambda line: (line.term == LONG, line.sold_ns, line.asset))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FORM_8949_HEADER)
        writer.writerows(
            (f"{line.quantity.normalize():f} {line.asset}", _us_date(line.date_acquired), _us_date(line.date_sold),
             line.proceeds, line.cost_basis, line.gain, line.term or line.rule)
            for line in ordered
        )  # fmt: skip
        return out.getvalue()


def audit_csv(lines: Iterable[TaxLine]) -> str:
    """Every line with the ids of the lots and fills behind it (see the module docstring)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(AUDIT_HEADER)
    for line in lines:
        writer.writerow((
            line.asset, line.quantity, line.date_acquired or "", line.date_sold, line.proceeds, line.cost_basis,
            line.gain, line.fees, line.term or "", line.rule, line.lot_id, line.disposal_id, line.reason,
            line.order_id, "" if line.acquired_ns is None else utc_datetime(line.acquired_ns).isoformat(),
            utc_datetime(line.sold_ns).isoformat(),
        ))  # fmt: skip
    return out.getvalue()

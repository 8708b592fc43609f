"""Tax lots and reports: pure functions over an account's fills and transfers (``spotlab.risk.records``).

- ``events``: fills, deposits and withdrawals -> acquisitions, disposals and removals, valued in the
  reporting currency (``tax_events``).
- ``lots``: US lot matching, FIFO / LIFO / HIFO / specific identification, short or long term (``match_lots``).
- ``uk``: UK pooling, same-day, 30-day and section 104 (``match_uk``).
- ``report``: one tax year's lines, totals, Form 8949-style CSV and audit CSV (``tax_report``).
- ``exports``: the history as Koinly "Universal" and CoinTracker CSV files.
"""

from spotlab.tax.events import TaxEvent, acquisition, disposal, removal, tax_events
from spotlab.tax.exports import cointracker_csv, koinly_universal_csv
from spotlab.tax.lots import match_lots
from spotlab.tax.model import OpenLot, TaxLine, long_term_from
from spotlab.tax.report import TaxReport, Total, report_of_events, tax_report, tax_year
from spotlab.tax.uk import match_uk

__all__ = [
    "OpenLot",
    "TaxEvent",
    "TaxLine",
    "TaxReport",
    "Total",
    "acquisition",
    "cointracker_csv",
    "disposal",
    "koinly_universal_csv",
    "long_term_from",
    "match_lots",
    "match_uk",
    "removal",
    "report_of_events",
    "tax_events",
    "tax_report",
    "tax_year",
]

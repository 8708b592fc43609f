"""An account's history as the CSV files common crypto tax tools import: Koinly and CoinTracker.

These are transaction histories (each tool computes its own gains from them), not gain reports.

Layouts followed (the tools' own help pages, read in November 2026):
- **Koinly "Universal" template** (support.koinly.io, "How to create a custom CSV file with your data"):
  ``Date,Sent Amount,Sent Currency,Received Amount,Received Currency,Fee Amount,Fee Currency,Net Worth Amount,
  Net Worth Currency,Label,Description,TxHash``; dates ``YYYY-MM-DD HH:MM:SS UTC``. We leave Net Worth and
  Label empty (Koinly prices the rows itself) and put the event id in TxHash.
- **CoinTracker CSV** (support.cointracker.io, "Convert your transaction history to CoinTracker CSV"):
  ``Date,Received Quantity,Received Currency,Sent Quantity,Sent Currency,Fee Amount,Fee Currency,Tag``;
  dates ``MM/DD/YYYY HH:MM:SS`` in UTC; Tag empty (plain trades, deposits and withdrawals).

Amounts, both layouts: a buy sends ``price x quantity`` of the quote and receives ``quantity`` of the
base; a sell the other way round; the fee (always in the quote) is in the fee columns, on top of what was
sent (buy) or out of what was received (sell), so each tool's balance moves exactly as the exchange's did.
A deposit receives ``amount`` with its fee in the fee columns; a withdrawal sends ``amount - fee`` and pays
``fee``. Rows are oldest first (deposits first and withdrawals last within one nanosecond).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal

from spotlab.risk.records import FillRecord, TransferRecord
from spotlab.tax.events import split_market
from spotlab.tax.model import utc_datetime

KOINLY_HEADER = (
    "Date", "Sent Amount", "Sent Currency", "Received Amount", "Received Currency", "Fee Amount", "Fee Currency",
    "Net Worth Amount", "Net Worth Currency", "Label", "Description", "TxHash",
)  # fmt: skip
COINTRACKER_HEADER = (
    "Date", "Received Quantity", "Received Currency", "Sent Quantity", "Sent Currency", "Fee Amount",
    "Fee Currency", "Tag",
)  # fmt: skip


def _rows(fills: Iterable[FillRecord], transfers: Iterable[TransferRecord]):
    """``(time_ns, rank, sent, sent_asset, received, received_asset, fee, fee_asset, id, description)``."""
    rows = []
    for fill in fills:
        base, quote = split_market(fill.market)
        notional = fill.price * fill.quantity
        fee = (fill.fee, quote) if fill.fee else ("", "")
        key = f"fill:{fill.market}:{fill.trade_id}:{fill.side}"
        text = f"spotlab {fill.side} {fill.quantity} {base} at {fill.price} {quote}, order {fill.order_id}"
        if fill.side == "buy":
            rows.append((fill.time_ns, 1, notional, quote, fill.quantity, base, *fee, key, text))
        else:
            rows.append((fill.time_ns, 1, fill.quantity, base, notional, quote, *fee, key, text))
    for transfer in transfers:
        fee = (transfer.fee, transfer.asset) if transfer.fee else ("", "")
        key = f"{transfer.kind}:{transfer.seq}"
        text = f"spotlab {transfer.kind} {transfer.amount} {transfer.asset}"
        if transfer.kind == "deposit":
            rows.append((transfer.time_ns, 0, "", "", transfer.amount, transfer.asset, *fee, key, text))
        else:
            rows.append((transfer.time_ns, 2, transfer.amount - transfer.fee, transfer.asset, "", "", *fee, key, text))
    rows.sort(key=lambda row: (row[0], row[1]))
    return rows


def _text(amount: Decimal | str) -> str:
    return "" if amount == "" else f"{amount:f}"


def koinly_universal_csv(fills: Iterable[FillRecord], transfers: Iterable[TransferRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KOINLY_HEADER)
    for ts, _, sent, sent_asset, received, received_asset, fee, fee_asset, key, text in _rows(fills, transfers):
        moment = utc_datetime(ts).strftime("%Y-%m-%d %H:%M:%S UTC")
        writer.writerow((moment, _text(sent), sent_asset, _text(received), received_asset, _text(fee), fee_asset,
                         "", "", "", text, key))  # fmt: skip
    return out.getvalue()


def cointracker_csv(fills: Iterable[FillRecord], transfers: Iterable[TransferRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COINTRACKER_HEADER)
    for ts, _, sent, sent_asset, received, received_asset, fee, fee_asset, _, _ in _rows(fills, transfers):
        moment = utc_datetime(ts).strftime("%m/%d/%Y %H:%M:%S")
        writer.writerow((moment, _text(received), received_asset, _text(sent), sent_asset, _text(fee), fee_asset, ""))
    return out.getvalue()

"""The records risk functions read: an account's fills, as plain values (built from the history read model).

Invariants
- Money is ``Decimal`` here (the edge); the functions that add it up convert to integer
  minor units with the market's spec first.
- Fees are in the market's quote asset (the exchange charges every fee in quote).
- ``time_ns`` is UTC nanoseconds; a list of fills is read oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

NS_PER_DAY = 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One fill of the account's own order."""

    order_id: int
    market: str  # "BTC/USDT"
    side: str  # "buy" or "sell"
    price: Decimal
    quantity: Decimal
    fee: Decimal  # in the market's quote asset
    time_ns: int
    trade_id: int = 0  # the exchange's trade id (per market)


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """Money in or out of the account: a deposit, or a withdrawal (``fee`` is part of ``amount``)."""

    kind: str  # "deposit" or "withdrawal"
    asset: str
    amount: Decimal
    fee: Decimal
    time_ns: int
    seq: int  # the event's sequence number


def utc_day(time_ns: int) -> int:
    """The UTC day number (days since 1970-01-01) of ``time_ns``."""
    return time_ns // NS_PER_DAY

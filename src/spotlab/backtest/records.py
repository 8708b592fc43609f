"""What a backtest records, as plain values: the inputs of its metrics, report and exports.

Invariants
- Money is ``Decimal`` (values at the edge, converted from the exchange's integers);
  every amount is in the backtest's report currency unless a field says otherwise.
- Times are UTC nanoseconds since the epoch (``time_ns``); sequences are oldest first.
- An ``EquityPoint`` is taken at each bar's close: ``equity`` is the account's total value
  then (cash plus positions at that close), ``invested`` the part held in positions
  (so ``invested > 0`` means the account was in the market during that bar).
- A ``RoundTrip`` runs from the first fill that opens a position in a market to the fill
  that takes it back to flat; partial exits stay in the same round trip. ``pnl`` is net
  of every fee of the round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import msgspec


class EquityPoint(msgspec.Struct, frozen=True, gc=False):
    """The account's value at one moment. A msgspec struct the cyclic collector never tracks (it holds only an
    int and two ``Decimal`` s): a run keeps one per bar, and tracked records would pile up into full
    collections that walk the whole process's heap once the run ends."""

    time_ns: int
    equity: Decimal
    invested: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class RoundTrip:
    market: str  # "BTC/USDT"
    side: str  # "long" (spot: a position is always long)
    entry_time_ns: int
    exit_time_ns: int
    quantity: Decimal  # base, the most the position held
    entry_price: Decimal  # average price of the entry fills (quote per base)
    exit_price: Decimal  # average price of the exit fills
    pnl: Decimal  # exit proceeds - entry cost, fees included, in the report currency
    fees: Decimal  # every fee of the round trip, in the report currency
    cost: Decimal  # what the entries cost, fees included, in the report currency (pnl / cost = the trade's return)

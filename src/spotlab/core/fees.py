"""Fees and holds: the only place where spotlab rounds money, and the rule it uses.

Rules (each one named, as DESIGN.md asks)
- Fees are charged in the quote asset, on each fill's notional, at the market's
  maker rate for the resting order and its taker rate for the incoming one.
- **Fee rounding**: a fill's fee is ``floor(notional * rate)`` in the quote asset's
  minor units, i.e. rounded down, in the trader's favour. With 8-decimal quote
  assets the difference is under 1e-8 of the quote; minimum notionals keep dust
  fills from trading for free. Rounding down per fill also means the fees of many
  fills never exceed the fee of one fill of the same total, which makes holds safe.
- A buy pays ``notional + fee`` from its held quote; a sell receives
  ``notional - fee``.
- **Buy hold**: a limit buy holds ``notional_at_limit + floor(notional_at_limit *
  max(maker, taker rate))``; that covers any mix of fills at or below its limit.
  After each fill the hold is trimmed back to what the rest needs, so nothing
  stays locked longer than necessary.
- A sell holds its base quantity.
"""

from __future__ import annotations

from spotlab.core.markets import FEE_SCALE


def fee(notional: int, rate: int) -> int:
    """The fee on ``notional`` quote minor units at ``rate`` (over ``FEE_SCALE``), rounded down."""
    return notional * rate // FEE_SCALE


def buy_hold(price: int, lots: int, notional_unit: int, max_rate: int) -> int:
    """Quote minor units a buy of ``lots`` at ``price`` ticks must hold (worst-case fee included)."""
    notional = price * lots * notional_unit
    return notional + notional * max_rate // FEE_SCALE


def affordable_lots(budget: int, lot_cost: int, rate: int) -> int:
    """The most lots ``k`` with ``k * lot_cost + fee(k * lot_cost, rate) <= budget``."""
    if budget <= 0:
        return 0
    lots = budget * FEE_SCALE // (lot_cost * (FEE_SCALE + rate))
    # floor() in the fee can leave room for exactly one more lot, never two.
    notional = (lots + 1) * lot_cost
    if notional + notional * rate // FEE_SCALE <= budget:
        lots += 1
    return lots

"""The fill model: how a backtest turns one bar into trades on the real exchange.

Deterministic: the same bars and settings give the same commands, in the same order.

The order book a bar implies (``ladder``)
- A liquidity account owned by the backtester quotes ``levels`` price levels a side around the
  current price ``p`` (in ticks): the best bid ``p - half`` and best ask ``p + half`` with
  ``half = max(1 tick, ceil(p * spread_bps / 2 / 10_000))``, further levels every
  ``step = max(1 tick, ceil(p * level_step_bps / 10_000))``. Market orders walk the ladder,
  so their slippage (spread plus levels consumed) is what the exchange reports.
- Each level holds ``depth_quantity`` (a fixed base quantity) if given, else ``depth_fraction``
  of the bar's base volume (the fill model knows the bar it plays; the strategy never does),
  rounded down to the lot and raised to the market's minimum quantity and minimum notional.

The intrabar path (``intrabar_path``)
- A bar is played as four prices: open, the two extremes, close. ``"open-high-low-close"`` and
  ``"open-low-high-close"`` fix the order of the extremes; ``"nearest-first"`` (default) visits
  the extreme nearer the open first (on a tie: the high first).
- At each point the backtester prints a trade at that price between its own accounts, so the
  LAST TRADE PRICE walks the path and conditional orders trigger on it as they would live
  (``spotlab.core.conditional``); the exchange fills what they place from the ladder.
- A resting limit order of the strategy fills when the path trades THROUGH its price (strictly
  beyond it; at it too with ``fill_on_touch``), at its own limit price, taken by the tape
  account (or by a ladder level quoted across it: the same price either way).

At the print (``fill_at_print``, off by default): an idealised book for cross-checks against
bar-only backtesters (backtesting.py fills a market order at the next open, no spread). Before each
order the strategy sends, the ladder is re-quoted so that the side the order takes starts at the
last print itself (a buy meets asks from the print up, a sell bids from the print down; the other
side keeps its half spread): a market order fills at the last print while the first level's depth
lasts. With ``latency_bars=1`` that print is the next bar's open. The re-quote is skipped (the
ordinary ladder is used) when an order of the strategy on the same side rests at or beyond the
print (a bid at or above it, before a buy), which the re-quoted side would cross. Orders the
exchange places for the strategy (triggered conditional orders) meet the ordinary ladder.

Latency: with ``latency_bars=1`` orders the strategy sends while bar t closes reach the exchange
at the next bar's open (after the open is printed); with 0 (default) they arrive at once.

Fees are the market's own maker/taker rates: the real engine charges them.

Known limitations
- The extremes print exactly once: a bar's path is four prices, not the trades between them.
- If a strategy order rests exactly at a point's price (and ``fill_on_touch`` is off), that
  point prints one tick away from it (toward the order's own side) so the order is not touched.
- The ladder is re-quoted at each point only while the strategy has orders in that market
  (resting or conditional), and before the strategy sends an order or reads the book there
  (``QuotingVenue``: a book read shows the ladder around the last print); otherwise only the
  print is made, to keep the exchange commands per bar small, and by default (the backtester's
  fast path, ``spotlab.backtest.runner``) only the last such print before the strategy acts.
- Before an order of the strategy only the side of the ladder it takes is quoted (a buy meets the
  asks); the other side is added, beside what the order left, when the strategy reads the book or
  sends an order list. A print the fast path owes just before such an order is taken from that side
  (``spotlab.backtest.tape``), so its taker is the order's side whatever the price's direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from spotlab.core.markets import MarketSpec
from spotlab.errors import ErrorCode, SpotlabError

PATHS = ("open-high-low-close", "open-low-high-close", "nearest-first")
_BPS = 10_000


@dataclass(frozen=True, slots=True)
class FillModel:
    """How bars become liquidity and trades (see the module docstring); every field has a default."""

    spread_bps: Decimal = Decimal(4)  # best ask - best bid, in basis points of the price
    level_step_bps: Decimal = Decimal(2)  # between two levels of one side
    levels: int = 5  # per side
    depth_fraction: Decimal = Decimal("0.05")  # of the bar's base volume, per level
    depth_quantity: Decimal | None = None  # a fixed base quantity per level instead
    path: str = "nearest-first"
    fill_on_touch: bool = False
    latency_bars: int = 0
    fill_at_print: bool = False  # the strategy's orders meet the ladder starting at the last print

    def __post_init__(self) -> None:
        for name in ("spread_bps", "level_step_bps", "depth_fraction", "depth_quantity"):
            value = getattr(self, name)
            if value is None and name == "depth_quantity":
                continue
            if isinstance(value, float) or isinstance(value, bool):
                raise _error(f"{name} must be a Decimal (or int), not {type(value).__name__} {value!r}")
            if not isinstance(value, (Decimal, int)):
                raise _error(f"{name} must be a Decimal, got {value!r}")
            value = Decimal(value)
            if not value.is_finite() or value < 0:
                raise _error(f"{name} must be a finite number >= 0, got {value}")
            object.__setattr__(self, name, value)
        if self.depth_quantity is not None and self.depth_quantity <= 0:
            raise _error(f"depth_quantity must be positive, got {self.depth_quantity}")
        if isinstance(self.levels, bool) or not isinstance(self.levels, int) or not 1 <= self.levels <= 50:
            raise _error(f"levels must be an integer from 1 to 50, got {self.levels!r}")
        if self.path not in PATHS:
            raise _error(f"path must be one of {', '.join(PATHS)}, got {self.path!r}")
        if self.latency_bars not in (0, 1) or isinstance(self.latency_bars, bool):
            raise _error(f"latency_bars must be 0 or 1, got {self.latency_bars!r}")
        for name in ("fill_on_touch", "fill_at_print"):
            if not isinstance(getattr(self, name), bool):
                raise _error(f"{name} must be True or False, got {getattr(self, name)!r}")


def intrabar_path(open_: int, high: int, low: int, close: int, path: str) -> tuple[int, int, int, int]:
    """The four prices a bar visits, in order (any price unit)."""
    if path == "open-high-low-close" or (path == "nearest-first" and high - open_ <= open_ - low):
        return open_, high, low, close
    return open_, low, high, close


def ladder(
    spec: MarketSpec, model: FillModel, price: int, volume: Decimal, taking: str | None = None
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """``(bids, asks)`` as ``(price ticks, lots)``, best first, around ``price`` ticks.

    ``taking`` (``"buy"``/``"sell"``): the side of a strategy order about to arrive; with
    ``model.fill_at_print`` the levels it takes start at ``price`` itself (no half spread).
    """
    half = max(1, _ceil_bps(price, model.spread_bps / 2))
    step = max(1, _ceil_bps(price, model.level_step_bps))
    at_print = taking if model.fill_at_print else None
    best_bid = price if at_print == "sell" else price - half
    best_ask = price if at_print == "buy" else price + half
    bids = [(best_bid - k * step, 0) for k in range(model.levels)]
    asks = [(best_ask + k * step, 0) for k in range(model.levels)]
    lots = level_lots(spec, model, volume)
    return (
        [(p, max(lots, minimum_lots(spec, p))) for p, _ in bids if p > 0],
        [(p, max(lots, minimum_lots(spec, p))) for p, _ in asks],
    )


def level_lots(spec: MarketSpec, model: FillModel, volume: Decimal) -> int:
    quantity = model.depth_quantity if model.depth_quantity is not None else volume * model.depth_fraction
    return int(quantity / spec.lot_size)


def minimum_lots(spec: MarketSpec, price: int) -> int:
    """The fewest lots an order at ``price`` ticks may have (minimum quantity and minimum notional)."""
    per_lot = price * spec.notional_unit
    return max(spec.min_lots, -(-spec.min_notional_units // per_lot))


def _ceil_bps(price: int, bps: Decimal) -> int:
    numerator, denominator = _ratio(bps)
    return -(-price * numerator // denominator)


@lru_cache(maxsize=64)
def _ratio(bps: Decimal) -> tuple[int, int]:
    """``bps`` basis points as an exact fraction of one: ``(numerator, denominator)``."""
    numerator, denominator = bps.as_integer_ratio()
    return numerator, denominator * _BPS


def _error(message: str) -> SpotlabError:
    return SpotlabError(ErrorCode.INVALID_ARGUMENT, f"FillModel: {message}")

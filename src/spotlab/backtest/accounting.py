"""A backtest's records from its fills and balances: round trips and the value of an account.

Round trips (per market, fills oldest first)
- A round trip opens with the buy that takes the market's tracked position from zero above
  zero and ends with the sell that brings it back to zero; buys and partial sells in between
  belong to it. ``quantity`` is the most the position held.
- Only base bought during the backtest is tracked: a sell beyond the tracked position (base
  that was deposited, or bought in another market) counts only for the tracked part (its
  notional and fee in proportion); the rest is left out. A position still open at the end
  is not a round trip.
- Money is converted into the report currency at ``rate`` (report currency per quote unit)
  given with each fill: 1 when the quote is the report currency, else the rate at the last
  closes when the fill happened. ``pnl = sum(sell notional - fee) - sum(buy notional + fee)``.
- Average prices are in the market's quote asset: exact sums divided at 50 significant digits.

Valuation
- Each asset's total (available + locked) is walked into the report currency along the
  fewest-hop path of markets (``spotlab.risk.portfolio.conversion_path``) at their last
  closes. Multiplying hops are exact; a hop against a market's direction divides at
  50 significant digits. Nothing is rounded to the currency's precision (so a valuation
  equals ``quantity x close + cash`` exactly); assets with no path are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Context, Decimal

from spotlab.backtest.records import RoundTrip
from spotlab.core.markets import MarketSpec
from spotlab.risk.portfolio import conversion_path, convert
from spotlab.strategy.data import StrategyFill

_WIDE = Context(prec=50)
_ZERO = Decimal(0)


def round_trips(fills: Iterable[tuple[StrategyFill, Decimal]]) -> list[RoundTrip]:
    """Round trips from ``(fill, rate)`` pairs, oldest first (see the module docstring)."""
    open_trips: dict[str, _Trip] = {}
    done: list[tuple[int, int, RoundTrip]] = []
    for index, (fill, rate) in enumerate(fills):
        trip = open_trips.get(fill.market)
        if fill.side == "buy":
            if trip is None:
                trip = open_trips[fill.market] = _Trip(fill.time_ns, index)
            trip.buy(fill, rate)
        elif trip is not None:
            if trip.sell(fill, rate):
                done.append((trip.first_index, index, trip.record(fill.market, fill.time_ns)))
                del open_trips[fill.market]
    return [record for _, _, record in sorted(done, key=lambda item: (item[1], item[0]))]


class _Trip:
    __slots__ = (
        "entry_time_ns", "first_index", "held", "most", "bought", "bought_notional", "sold", "sold_notional",
        "cost", "proceeds", "fees",
    )  # fmt: skip

    def __init__(self, entry_time_ns: int, first_index: int) -> None:
        self.entry_time_ns = entry_time_ns
        self.first_index = first_index
        self.held = self.most = self.bought = self.bought_notional = Decimal(0)
        self.sold = self.sold_notional = self.cost = self.proceeds = self.fees = Decimal(0)

    def buy(self, fill: StrategyFill, rate: Decimal) -> None:
        self.held += fill.quantity
        self.most = max(self.most, self.held)
        self.bought += fill.quantity
        self.bought_notional += fill.notional
        self.cost += (fill.notional + fill.fee) * rate
        self.fees += fill.fee * rate

    def sell(self, fill: StrategyFill, rate: Decimal) -> bool:
        """Apply a sell; True when it closes the trip."""
        part = min(fill.quantity, self.held)
        notional, fee = fill.notional, fill.fee
        if part != fill.quantity:
            notional = _WIDE.divide(notional * part, fill.quantity)
            fee = _WIDE.divide(fee * part, fill.quantity)
        self.held -= part
        self.sold += part
        self.sold_notional += notional
        self.proceeds += (notional - fee) * rate
        self.fees += fee * rate
        return self.held == 0

    def record(self, market: str, exit_time_ns: int) -> RoundTrip:
        return RoundTrip(
            market=market,
            side="long",
            entry_time_ns=self.entry_time_ns,
            exit_time_ns=exit_time_ns,
            quantity=self.most,
            entry_price=_WIDE.divide(self.bought_notional, self.bought),
            exit_price=_WIDE.divide(self.sold_notional, self.sold),
            pnl=self.proceeds - self.cost,
            fees=self.fees,
            cost=self.cost,
        )


class Valuer:
    """Values balances in one currency at the markets' last closes (see the module docstring)."""

    def __init__(self, specs: Mapping[str, MarketSpec]) -> None:
        self.specs = dict(specs)
        self.closes: dict[str, Decimal] = {}
        self._paths: dict[tuple[str, str], tuple[str, ...] | None] = {}
        self._priced = 0  # markets priced so far: the paths (and plans) hold while it stays
        self._plan: tuple | None = None  # (totals, currency, priced, steps): how the last totals were valued

    def set_close(self, market: str, close: Decimal) -> None:
        if market not in self.closes:
            self._paths.clear()  # a newly priced market can shorten paths
            self._priced += 1
        self.closes[market] = close

    def path(self, asset: str, currency: str) -> tuple[str, ...] | None:
        key = (asset, currency)
        if key not in self._paths:
            self._paths[key] = conversion_path(asset, currency, self.closes, self.specs)
        return self._paths[key]

    def rate(self, asset: str, currency: str) -> Decimal | None:
        """Units of ``currency`` per unit of ``asset`` now (None without a priced path)."""
        path = self.path(asset, currency)
        return None if path is None else convert(Decimal(1), asset, path, self.closes, self.specs)

    def value(self, totals: Mapping[str, Decimal], currency: str) -> Decimal:
        """``totals`` (asset -> amount) valued in ``currency``: each amount walked along its path, added in asset
        order. The walk of the same ``totals`` object is planned once and reused while no market is newly priced
        (a backtest values unchanged totals at every close); totals with no hop to walk are valued once."""
        plan = self._plan
        if plan is None or plan[0] is not totals or plan[1] != currency or plan[2] != self._priced:
            walks = self._walks(totals, currency)
            fixed = None  # the value itself when no walk has a hop (the account holds only the currency)
            if all(not steps for _, steps in walks):
                fixed = _ZERO
                for amount, _ in walks:
                    fixed = _WIDE.add(fixed, amount)
            plan = self._plan = (totals, currency, self._priced, walks, fixed)
        if plan[4] is not None:
            return plan[4]
        total = _ZERO
        closes = self.closes
        for amount, steps in plan[3]:
            for symbol, multiply in steps:
                price = closes[symbol]
                amount = _WIDE.multiply(amount, price) if multiply else _WIDE.divide(amount, price)
            total = _WIDE.add(total, amount)
        return total

    def _walks(self, totals: Mapping[str, Decimal], currency: str) -> list[tuple[Decimal, tuple]]:
        """Per non-zero asset with a path, in asset order: its amount and each hop (market, multiply or divide)."""
        walks = []
        for asset in sorted(totals):
            amount = totals[asset]
            path = self.path(asset, currency) if amount != 0 else None
            if path is None:
                continue
            steps, held = [], asset
            for symbol in path:
                spec = self.specs[symbol]
                multiply = spec.base.code == held
                steps.append((symbol, multiply))
                held = spec.quote.code if multiply else spec.base.code
            walks.append((amount, tuple(steps)))
        return walks


def unreachable(specs: Mapping[str, MarketSpec], assets: Sequence[str], currency: str) -> list[str]:
    """The assets among ``assets`` with no path of ``specs``' markets to ``currency``."""
    priced = dict.fromkeys(specs, Decimal(1))
    return [asset for asset in assets if conversion_path(asset, currency, priced, specs) is None]

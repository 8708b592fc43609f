"""Portfolio: positions with average entry price and P&L from fills, equity valued in one currency.

Positions (per market, in its quote asset; integers inside)
- A buy adds its quantity and its cost (notional + fee) to the market's position; fees
  paid add up per market.
- A sell removes cost in proportion to the quantity it sells: ``cost * sold / held``,
  rounded half-even to the quote's minor unit (the one rounding here). Its realised P&L
  is the proceeds (notional - fee) minus that cost. A sell of more than the position
  holds (base that came from a deposit or another market) realises P&L only on the part
  the position held: the rest has no known cost and is left out (``untracked``).
- The average entry price is ``cost / quantity`` (fees included), shown to 12 places.
  A cost basis is kept per market, not per asset: buying BTC with USDT and with USD
  gives two positions, since costs in two currencies do not add up without a rate at
  each fill.
- Unrealised P&L is ``quantity x last price - cost``.
- ``PositionBook`` folds fills into positions as they come (``update`` applies only the
  fills it has not seen): the same positions as ``positions`` over all of them, without
  walking the history again on each question.

Valuation
- Each asset's total balance (available + locked) is converted into the chosen
  currency along a path of markets that have a last price: the path with the fewest
  hops (a breadth-first search over the market graph), ties broken by taking markets
  in symbol order, so the path is deterministic and shown (``path``). A hop through
  market ``A/B`` multiplies by its last price from A to B and divides going back.
- Conversions run at 50 significant digits and the value is rounded half-even to the
  currency's precision once, at the end. An asset with no path is listed under
  ``unvalued`` and left out of equity.
- Exposure is each asset's value as a percentage of equity (two decimals, half-even).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal

from spotlab.core.markets import Asset, MarketSpec
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.records import FillRecord

_WIDE = Context(prec=50)
_PRICE_PLACES = Decimal("1e-12")
_PERCENT_PLACES = Decimal("0.01")


@dataclass(slots=True)
class Position:
    """One market's position, integers in minor units of its assets."""

    market: str
    quantity: int = 0  # base minor units
    cost: int = 0  # quote minor units, fees included
    realised: int = 0  # quote minor units
    fees: int = 0  # quote minor units
    untracked: int = 0  # base minor units sold beyond the position
    closed_trades: list[tuple[int, int, int]] = field(default_factory=list)  # (order_id, time_ns, realised)


@dataclass(frozen=True, slots=True)
class PositionView:
    market: str
    quantity: Decimal
    average_entry_price: Decimal | None
    cost: Decimal
    realised_pnl: Decimal
    unrealised_pnl: Decimal | None  # None without a last price
    fees_paid: Decimal
    quote: str


@dataclass(frozen=True, slots=True)
class AssetValue:
    asset: str
    total: Decimal
    value: Decimal
    exposure_percent: Decimal
    path: tuple[str, ...]  # the markets walked, e.g. ("ADA/BTC", "BTC/USDT")


@dataclass(frozen=True, slots=True)
class Portfolio:
    currency: str
    equity: Decimal
    assets: list[AssetValue]
    positions: list[PositionView]
    unvalued: list[str]


def positions(fills: Iterable[FillRecord], specs: Mapping[str, MarketSpec]) -> dict[str, Position]:
    """Positions per market from fills read oldest first."""
    book: dict[str, Position] = {}
    for f in fills:
        _add_fill(book, f, specs[f.market])
    return book


class PositionBook:
    """Positions folded from one account's fills, oldest first, as they arrive (``update``)."""

    __slots__ = ("positions", "_fills", "_applied")

    def __init__(self) -> None:
        self.positions: dict[str, Position] = {}
        self._fills: list[FillRecord] | None = None
        self._applied = 0

    def update(self, fills: list[FillRecord], specs: Mapping[str, MarketSpec]) -> dict[str, Position]:
        """The positions of ``fills``: the list seen last time, grown at its end (only the new fills are folded
        in); any other list is folded from its start."""
        if fills is not self._fills or len(fills) < self._applied:
            self.positions, self._fills, self._applied = {}, fills, 0
        book = self.positions
        for index in range(self._applied, len(fills)):
            f = fills[index]
            _add_fill(book, f, specs[f.market])
        self._applied = len(fills)
        return book


def _add_fill(book: dict[str, Position], f: FillRecord, spec: MarketSpec) -> None:
    p = book.get(f.market)
    if p is None:
        p = book[f.market] = Position(f.market)
    qty = _units(f.quantity, spec.base)
    notional = _units(f.price * f.quantity, spec.quote)
    fee = _units(f.fee, spec.quote)
    p.fees += fee
    if f.side == "buy":
        p.quantity += qty
        p.cost += notional + fee
        return
    matched = min(qty, p.quantity)
    removed = _div_half_even(p.cost * matched, p.quantity) if matched else 0
    proceeds = _div_half_even((notional - fee) * matched, qty)
    realised = proceeds - removed
    p.quantity -= matched
    p.cost -= removed
    p.untracked += qty - matched
    p.realised += realised
    if p.closed_trades and p.closed_trades[-1][0] == f.order_id:  # another fill of the same sell
        order_id, _, before = p.closed_trades[-1]
        p.closed_trades[-1] = (order_id, f.time_ns, before + realised)
    else:
        p.closed_trades.append((f.order_id, f.time_ns, realised))


def conversion_path(start: str, currency: str, last_prices: Mapping[str, Decimal], specs: Mapping[str, MarketSpec]):
    """The markets from ``start`` to ``currency`` with the fewest hops (``()`` if the same; ``None`` if none)."""
    if start == currency:
        return ()
    neighbours: dict[str, list[tuple[str, str]]] = {}
    for symbol in sorted(last_prices):
        spec = specs[symbol]
        neighbours.setdefault(spec.base.code, []).append((symbol, spec.quote.code))
        neighbours.setdefault(spec.quote.code, []).append((symbol, spec.base.code))
    previous: dict[str, tuple[str, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        asset = queue.popleft()
        for symbol, other in neighbours.get(asset, ()):
            if other in previous:
                continue
            previous[other] = (asset, symbol)
            if other == currency:
                path = []
                node = other
                while previous[node] is not None:
                    node, market = previous[node]
                    path.append(market)
                return tuple(reversed(path))
            queue.append(other)
    return None


def convert(amount: Decimal, start: str, path: Iterable[str], last_prices, specs) -> Decimal:
    """``amount`` of ``start`` walked along ``path`` at last prices (wide precision, not rounded)."""
    value, asset = amount, start
    for symbol in path:
        spec = specs[symbol]
        if spec.base.code == asset:
            value, asset = _WIDE.multiply(value, last_prices[symbol]), spec.quote.code
        else:
            value, asset = _WIDE.divide(value, last_prices[symbol]), spec.base.code
    return value


def value_portfolio(
    currency: Asset,
    balances: Mapping[str, Decimal],
    fills: Iterable[FillRecord],
    last_prices: Mapping[str, Decimal],
    specs: Mapping[str, MarketSpec],
    held: Mapping[str, Position] | None = None,
) -> Portfolio:
    """The account's equity in ``currency`` and its positions; ``balances`` are totals per asset. ``held``: the
    positions of ``fills`` if already folded (a ``PositionBook``'s), so they are not folded again."""
    priced = {symbol: price for symbol, price in last_prices.items() if price is not None and price > 0}
    places = currency.unit
    values: list[tuple[str, Decimal, Decimal, tuple[str, ...]]] = []
    unvalued: list[str] = []
    for asset in sorted(balances):
        total = balances[asset]
        if total == 0:
            continue
        path = conversion_path(asset, currency.code, priced, specs)
        if path is None:
            unvalued.append(asset)
            continue
        value = convert(total, asset, path, priced, specs).quantize(places, rounding=ROUND_HALF_EVEN)
        values.append((asset, total, value, path))
    equity = sum((v for _, _, v, _ in values), Decimal(0)).quantize(places)
    assets = [AssetValue(asset, total, value, _percent(value, equity), path) for asset, total, value, path in values]
    ordered = sorted((held if held is not None else positions(fills, specs)).items())
    views = [_position_view(p, specs[p.market], priced.get(p.market)) for _, p in ordered]
    return Portfolio(currency.code, equity, assets, views, unvalued)


def _position_view(p: Position, spec: MarketSpec, last: Decimal | None) -> PositionView:
    quantity = spec.base.to_decimal(p.quantity)
    cost = spec.quote.to_decimal(p.cost)
    average = None
    if p.quantity:
        average = _WIDE.divide(cost, quantity).quantize(_PRICE_PLACES, rounding=ROUND_HALF_EVEN).normalize()
        if average.as_tuple().exponent > 0:  # normalize() writes 60060 as 6.006E+4
            average = average.quantize(Decimal(1))
    unrealised = None if last is None else (quantity * last - cost)
    return PositionView(
        p.market, quantity, average, cost, spec.quote.to_decimal(p.realised), unrealised,
        spec.quote.to_decimal(p.fees), spec.quote.code,
    )  # fmt: skip


def _percent(value: Decimal, equity: Decimal) -> Decimal:
    if equity <= 0:
        return Decimal(0)
    return _WIDE.divide(value * 100, equity).quantize(_PERCENT_PLACES, rounding=ROUND_HALF_EVEN)


def _units(amount: Decimal, asset: Asset) -> int:
    units = amount / asset.unit
    if units != units.to_integral_value():
        raise SpotlabError(ErrorCode.AMOUNT_NOT_ON_PRECISION, f"{amount} is not in minor units of {asset.code}")
    return int(units)


def _div_half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient

"""An account's fills grouped into round trips: from flat, through entries and partial exits, back to flat.

``group_fills(fills, specs)`` reads an account's fills (``spotlab.risk.records.FillRecord``, oldest
first) and returns its round trips plus the fills (or parts of fills) that belong to none.

Rules
- **Per market** (one base against one quote): a round trip opens with the buy that takes the
  market's tracked position from zero above zero and closes with the sell that brings it back to
  zero; buys that add to it and partial sells in between belong to it. BTC bought in BTC/USDT and
  BTC bought in BTC/USDC are two positions. Why: a round trip's money is then always in one asset
  (the market's quote) and exact, with no conversion at a rate the exchange may not even have
  (there may be no USDT/USDC market), and a trader plans a trade on one market's chart. The cost:
  base bought in one market and sold in another leaves the first trip open and the sell outside
  any trip (below); tax lots, which follow the asset across markets, are the place for that view.
- **Only base bought in the market is tracked.** Base held before the first buy (a deposit, or
  bought in another market) is not a round trip's entry: a sell when the market's position is flat
  belongs to no round trip, and a sell larger than the open position counts in the trip only for
  the open part; the rest is *outside* (``Grouping.outside``). Deposits and withdrawals do not
  move a trip: the journal sees fills only.
- A part of a fill carries its fee in proportion, ``fee x part / quantity`` rounded half-even to
  the quote's minor unit; the rest of the fee goes with the rest of the fill, so every fill's
  quantity and fee are split exactly, nothing lost or counted twice.
- Money is in the market's quote asset, fees included: ``cost = buy notional + buy fees``,
  ``proceeds = sell notional - sell fees``, ``pnl = proceeds - cost`` (closed trips only; an open
  trip has no pnl yet). ``entry_price``/``exit_price`` are the quantity-weighted averages of the
  buys/sells, exact sums divided at 50 significant digits.
- A trip's id is its market and first fill's trade id, ``BTC-USDT-77``: stable as fills arrive
  (annotations key on it). A fill's id has the same form (its market and trade id); both sides of
  a self-trade share one.

Invariants (tested, including with hypothesis): after every fill a trip's ``open_after`` equals
what its fills bought minus what they sold since the trip opened; only the last trip of a market
may be open; every fill's quantity and fee equal the sum of its parts in trips and outside.
Inside, quantities are lots and money quote minor units (integers); ``Decimal`` only at the edges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

from spotlab.core.markets import MarketSpec
from spotlab.core.units import to_units
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.records import FillRecord

_WIDE = Context(prec=50)


def fill_id(market: str, trade_id: int) -> str:
    """``("BTC/USDT", 77)`` -> ``"BTC-USDT-77"``: a fill's (and a round trip's) id."""
    return f"{market.replace('/', '-')}-{trade_id}"


@dataclass(frozen=True, slots=True)
class TripFill:
    """One fill, or the part of it inside a round trip (or outside every trip)."""

    id: str  # fill_id(market, trade_id)
    trade_id: int
    order_id: int
    market: str
    side: str  # "buy" or "sell"
    price: Decimal
    quantity: Decimal  # the part counted here (all of the fill unless a sell ran past the position)
    fee: Decimal  # its fee, in the quote asset (in proportion for a part)
    time_ns: int
    open_after: Decimal  # the trip's open quantity after this fill (0 for a fill outside every trip)
    annotation: Any = None  # spotlab.journal.annotations.Annotation, attached by the service


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """Entry to flat in one market; ``status`` "open" while the position is still held."""

    id: str
    number: int  # its place among the account's round trips in the order they opened, from 1 (stable)
    market: str  # "BTC/USDT"
    base: str
    quote: str  # every money figure is in this asset
    status: str  # "open" or "closed"
    entry_time_ns: int
    exit_time_ns: int | None  # the closing fill's time; None while open
    quantity: Decimal  # the most the position held
    open_quantity: Decimal  # still held (0 when closed)
    bought: Decimal
    sold: Decimal
    entry_price: Decimal  # average buy price
    exit_price: Decimal | None  # average sell price (None before the first exit)
    cost: Decimal  # buy notional + buy fees
    proceeds: Decimal  # sell notional - sell fees
    fees: Decimal
    pnl: Decimal | None  # proceeds - cost, when closed
    fills: tuple[TripFill, ...]
    annotation: Any = None  # spotlab.journal.annotations.Annotation, attached by the service

    @property
    def holding_ns(self) -> int | None:
        """Exit time - entry time (None while open)."""
        return None if self.exit_time_ns is None else self.exit_time_ns - self.entry_time_ns

    @property
    def gross_pnl(self) -> Decimal | None:
        """The P&L before fees (sell notional - buy notional), when closed."""
        return None if self.pnl is None else self.pnl + self.fees


@dataclass(frozen=True, slots=True)
class Grouping:
    round_trips: list[RoundTrip]  # in the order they opened
    outside: list[TripFill]  # sells, or parts of sells, of base no trip holds


def round_trips(fills: Iterable[FillRecord], specs: Mapping[str, MarketSpec]) -> list[RoundTrip]:
    """The round trips of ``fills`` (oldest first), open ones included, in the order they opened."""
    return group_fills(fills, specs).round_trips


def group_fills(fills: Iterable[FillRecord], specs: Mapping[str, MarketSpec]) -> Grouping:
    """Round trips and outside fills (see the module docstring)."""
    open_trips: dict[str, _Trip] = {}
    trips: list[_Trip] = []
    outside: list[TripFill] = []
    last_ns = None
    for fill in fills:
        spec = specs.get(fill.market)
        if spec is None:
            raise SpotlabError(ErrorCode.UNKNOWN_MARKET, f"no market spec for {fill.market!r}", market=fill.market)
        if last_ns is not None and fill.time_ns < last_ns:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "fills must be given oldest first", trade_id=fill.trade_id)
        last_ns = fill.time_ns
        lots, fee = _lots(spec, fill.quantity), _minor(spec, fill.fee)
        trip = open_trips.get(fill.market)
        if fill.side == "buy":
            if trip is None:
                trip = open_trips[fill.market] = _Trip(spec, fill_id(fill.market, fill.trade_id))
                trips.append(trip)
            trip.add(fill, lots, fee, buy=True)
            continue
        if fill.side != "sell":
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a fill's side is buy or sell, got {fill.side!r}")
        inside = 0 if trip is None else min(lots, trip.held)
        inside_fee = _share(fee, inside, lots)
        if inside:
            assert trip is not None
            trip.add(fill, inside, inside_fee, buy=False)
            if trip.held == 0:
                del open_trips[fill.market]
        if inside < lots:
            outside.append(_part(spec, fill, lots - inside, fee - inside_fee, 0))
    return Grouping([trip.record(number) for number, trip in enumerate(trips, 1)], outside)


def _share(fee: int, part: int, whole: int) -> int:
    """``fee x part / whole`` rounded half-even (integers)."""
    if part == whole:
        return fee
    quotient, remainder = divmod(fee * part, whole)
    if 2 * remainder > whole or (2 * remainder == whole and quotient % 2):
        quotient += 1
    return quotient


def _lots(spec: MarketSpec, quantity: Decimal) -> int:
    return to_units(quantity, spec.lot_size, "quantity", ErrorCode.QUANTITY_NOT_ON_LOT)


def _minor(spec: MarketSpec, amount: Decimal) -> int:
    return to_units(amount, spec.quote.unit, "fee", ErrorCode.AMOUNT_NOT_ON_PRECISION)


def _ticks(spec: MarketSpec, price: Decimal) -> int:
    return to_units(price, spec.tick_size, "price", ErrorCode.PRICE_NOT_ON_TICK)


def _part(spec: MarketSpec, fill: FillRecord, lots: int, fee: int, open_after: int) -> TripFill:
    return TripFill(
        fill_id(fill.market, fill.trade_id), fill.trade_id, fill.order_id, fill.market, fill.side, fill.price,
        spec.quantity(lots), spec.quote.to_decimal(fee), fill.time_ns, spec.quantity(open_after),
    )  # fmt: skip


class _Trip:
    """A round trip being built, in integers: lots and quote minor units."""

    __slots__ = ("spec", "id", "held", "most", "bought", "sold", "buy_notional", "sell_notional", "buy_fees",
                 "sell_fees", "fills", "entry_ns", "exit_ns")  # fmt: skip

    def __init__(self, spec: MarketSpec, id_: str) -> None:
        self.spec, self.id = spec, id_
        self.held = self.most = self.bought = self.sold = 0
        self.buy_notional = self.sell_notional = self.buy_fees = self.sell_fees = 0
        self.fills: list[TripFill] = []
        self.entry_ns: int | None = None
        self.exit_ns: int | None = None

    def add(self, fill: FillRecord, lots: int, fee: int, buy: bool) -> None:
        notional = _ticks(self.spec, fill.price) * lots * self.spec.notional_unit
        if buy:
            self.held += lots
            self.most = max(self.most, self.held)
            self.bought += lots
            self.buy_notional += notional
            self.buy_fees += fee
        else:
            self.held -= lots
            self.sold += lots
            self.sell_notional += notional
            self.sell_fees += fee
        if self.entry_ns is None:
            self.entry_ns = fill.time_ns
        if self.held == 0:
            self.exit_ns = fill.time_ns
        self.fills.append(_part(self.spec, fill, lots, fee, self.held))

    def record(self, number: int) -> RoundTrip:
        spec, quote = self.spec, self.spec.quote
        cost = self.buy_notional + self.buy_fees
        proceeds = self.sell_notional - self.sell_fees
        closed = self.held == 0
        bought, sold = spec.quantity(self.bought), spec.quantity(self.sold)
        return RoundTrip(
            id=self.id,
            number=number,
            market=spec.symbol,
            base=spec.base.code,
            quote=quote.code,
            status="closed" if closed else "open",
            entry_time_ns=self.entry_ns or 0,
            exit_time_ns=self.exit_ns if closed else None,
            quantity=spec.quantity(self.most),
            open_quantity=spec.quantity(self.held),
            bought=bought,
            sold=sold,
            entry_price=_WIDE.divide(quote.to_decimal(self.buy_notional), bought),
            exit_price=_WIDE.divide(quote.to_decimal(self.sell_notional), sold) if self.sold else None,
            cost=quote.to_decimal(cost),
            proceeds=quote.to_decimal(proceeds),
            fees=quote.to_decimal(self.buy_fees + self.sell_fees),
            pnl=quote.to_decimal(proceeds - cost) if closed else None,
            fills=tuple(self.fills),
        )

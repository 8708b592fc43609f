"""What callers get back: immutable views in ``Decimal`` and UTC ``datetime``.

Invariants
- Views are snapshots taken when the command finished; they never change later
  and never expose engine objects.
- Every amount is exact (``Decimal`` from integers). The two derived figures that
  can need rounding are named here: ``average_price`` is rounded half-even to
  eight more decimals than the market's tick, and ``slippage_bps`` to two
  decimals.
- Slippage is measured on an order's taker fills only, against the best opposite
  price when the order arrived (for an order a conditional order placed: against
  the stop price that triggered it); positive means worse than that price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import lru_cache

from spotlab.clock import ns_to_datetime
from spotlab.core.events import Event, OrderFilled
from spotlab.core.markets import MarketSpec
from spotlab.core.orders import Order, Side
from spotlab.core.units import EXACT


@dataclass(frozen=True, slots=True)
class Balance:
    available: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.available + self.locked


@dataclass(frozen=True, slots=True)
class Fill:
    """One of an order's trades, from that order's side."""

    trade_id: int
    price: Decimal
    quantity: Decimal
    notional: Decimal
    fee: Decimal
    fee_asset: str
    role: str  # "maker" or "taker"
    time: datetime


@dataclass(frozen=True, slots=True)
class OrderView:
    id: int
    account: str
    market: str
    side: str
    type: str
    time_in_force: str
    self_trade_prevention: str
    status: str
    price: Decimal | None
    quantity: Decimal | None
    quote_quantity: Decimal | None
    filled_quantity: Decimal
    remaining_quantity: Decimal
    filled_notional: Decimal
    average_price: Decimal | None
    fees: Decimal
    fee_asset: str
    client_order_id: str | None
    reason: str | None
    created_at: datetime
    updated_at: datetime
    fills: tuple[Fill, ...] = ()
    arrival_price: Decimal | None = None
    slippage: Decimal | None = None
    slippage_bps: Decimal | None = None
    duplicate: bool = False  # True when a repeated client order id returned the original order
    stop_price: Decimal | None = None  # a conditional order's trigger (last trade price)
    parent_id: int | None = None  # the conditional order whose trigger placed this order
    list_id: int | None = None  # the order list (OCO, bracket) this order belongs to
    trailing_distance: Decimal | None = None  # a trailing stop's distance from its peak (price), or
    trailing_percent: Decimal | None = None  # its distance in percent of its peak
    activation_price: Decimal | None = None  # a trailing stop trails once the last price reaches this

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


@dataclass(frozen=True, slots=True)
class OrderListView:
    """An OCO or a bracket, with its orders (each has ``list_id``) as they are now."""

    id: int
    kind: str  # "oco" or "bracket"
    account: str
    market: str
    status: str  # "EXECUTING" or "ALL_DONE"
    quantity: Decimal
    take_profit_price: Decimal
    stop_price: Decimal
    stop_limit_price: Decimal | None
    entry_price: Decimal | None
    orders: tuple[OrderView, ...]
    unprotected_quantity: Decimal  # bracket: bought lots no exit covers yet (below the market's minimums)
    side: str = "sell"  # an OCO's (its legs'); a bracket's entry's (buy)
    client_order_id: str | None = None  # the list's own client id, if it was placed with one
    duplicate: bool = False  # placing: the client_order_id was used before, for this very list


@dataclass(frozen=True, slots=True)
class QuotesView:
    """A re-quote (``Exchange.replace_quotes``): the resting orders it canceled, then the quotes it placed, in the
    order given, each as it is after the re-quote (a quote that crossed the book shows its fills)."""

    market: str
    canceled: tuple[OrderView, ...]
    placed: tuple[OrderView, ...]


@dataclass(frozen=True, slots=True)
class Trade:
    id: int
    market: str
    price: Decimal
    quantity: Decimal
    taker_side: str
    time: datetime


@dataclass(frozen=True, slots=True)
class BookView:
    """Aggregated depth (L2), best first, with the book's sequence number."""

    market: str
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]
    sequence: int

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    @property
    def spread(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return self.asks[0][0] - self.bids[0][0]

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.asks[0][0] + self.bids[0][0]) / 2


@dataclass(frozen=True, slots=True)
class BookOrder:
    """One resting order in the per-order (L3) view; accounts are not shown."""

    order_id: int
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class Level3View:
    market: str
    bids: list[BookOrder]
    asks: list[BookOrder]
    sequence: int


@dataclass(frozen=True, slots=True)
class MarketView:
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    status: str


@dataclass(frozen=True, slots=True)
class Withdrawal:
    account: str
    asset: str
    amount: Decimal  # taken from the account
    fee: Decimal
    sent: Decimal  # amount - fee, what left the exchange
    address: str | None = None
    sequence: int = 0  # the Withdrawn event's sequence number
    time: datetime | None = None


def market_view(spec: MarketSpec, status: str) -> MarketView:
    return MarketView(
        spec.symbol,
        spec.base.code,
        spec.quote.code,
        spec.tick_size,
        spec.lot_size,
        spec.min_quantity,
        spec.min_notional,
        spec.maker_fee,
        spec.taker_fee,
        str(status),
    )


def order_view(order: Order, spec: MarketSpec, events: list[Event] = (), duplicate: bool = False) -> OrderView:
    """The view of ``order`` now; ``events`` (of the command that placed it) supply its fills.

    The answer of every placement (API, strategies, backtests): the integers are turned into ``Decimal`` s by the
    exact context's multiply, without a call per field."""
    quote = spec.quote
    unit, tick, lot = quote.unit, spec.tick_size, spec.lot_size
    times = EXACT.multiply
    fills = _fills(order, spec, events) if events else ()
    filled = times(order.filled, lot)
    average = _average_price(spec, order.filled_notional, order.filled) if order.filled else None
    arrival = times(order.arrival_price, tick) if order.arrival_price else None
    slippage = slippage_bps = None
    if arrival is not None and fills:
        taker_fills = [f for f in fills if f.role == "taker"]
        if taker_fills:
            lots = sum(f.quantity for f in taker_fills)
            taker_average = sum(f.price * f.quantity for f in taker_fills) / lots
            slippage = (taker_average - arrival) if order.side is Side.BUY else (arrival - taker_average)
            slippage = _round_price(spec, slippage)
            bps = _BPS.multiply(_BPS.divide(slippage, arrival), 10_000)
            slippage_bps = bps.quantize(_CENT, ROUND_HALF_EVEN, _BPS)
    by_amount = order.quantity == 0 and order.quote_quantity > 0
    return OrderView(
        order.id,
        order.account,
        order.market,
        str(order.side),
        str(order.type),
        str(order.time_in_force),
        str(order.self_trade_prevention),
        str(order.status),
        times(order.price, tick) if order.price else None,  # price
        None if by_amount else times(order.quantity, lot),  # quantity
        times(order.quote_quantity, unit) if by_amount else None,  # quote_quantity
        filled,  # filled_quantity
        times(order.remaining, lot) if order.is_open else _ZERO,  # remaining_quantity
        times(order.filled_notional, unit),  # filled_notional
        average,  # average_price
        times(order.fees, unit),  # fees
        quote.code,  # fee_asset
        order.client_order_id,
        order.reason,
        ns_to_datetime(order.created),  # created_at
        ns_to_datetime(order.updated),  # updated_at
        fills,
        arrival,  # arrival_price
        slippage,
        slippage_bps,
        duplicate,
        times(order.stop_price, tick) if order.stop_price else None,  # stop_price
        order.parent_id or None,  # parent_id
        order.list_id or None,  # list_id
        times(order.trailing_distance, tick) if order.trailing_distance else None,  # trailing_distance
        Decimal(order.trailing_bps).scaleb(-2) if order.trailing_bps else None,  # trailing_percent
        times(order.activation_price, tick) if order.activation_price else None,  # activation_price
    )  # OrderView's fields in their order (tests/exchange/test_views.py reads them by name)


def trade_view(spec: MarketSpec, trade: tuple[int, int, int, int, Side]) -> Trade:
    trade_id, ts, price, lots, taker_side = trade
    return Trade(trade_id, spec.symbol, spec.price(price), spec.quantity(lots), str(taker_side), ns_to_datetime(ts))


def _fills(order: Order, spec: MarketSpec, events: list[Event]) -> tuple[Fill, ...]:
    quote = spec.quote
    unit, code = quote.unit, quote.code
    tick, lot = spec.tick_size, spec.lot_size
    times = EXACT.multiply
    order_id = order.id
    fills = []
    for event in events:
        if type(event) is not OrderFilled:
            continue
        if event.taker_order_id == order_id:
            role, fee = "taker", event.taker_fee
        elif event.maker_order_id == order_id:
            role, fee = "maker", event.maker_fee
        else:
            continue
        fills.append(
            Fill(
                event.trade_id, times(event.price, tick), times(event.quantity, lot), times(event.notional, unit),
                times(fee, unit), code, role, ns_to_datetime(event.ts),
            )
        )  # fmt: skip
    return tuple(fills)


def _average_price(spec: MarketSpec, notional: int, lots: int) -> Decimal:
    return _round_price(spec, _WIDE.divide(spec.quote.to_decimal(notional), spec.quantity(lots)))


def _round_price(spec: MarketSpec, value: Decimal) -> Decimal:
    """Half-even to eight decimals past the tick, shown with the tick's decimals when that is exact."""
    fine, short_step = _price_steps(spec.tick_size.as_tuple().exponent)
    rounded = value.quantize(fine, ROUND_HALF_EVEN, _WIDE)
    short = rounded.quantize(short_step, context=_WIDE)
    return short if short == rounded else rounded.normalize(_WIDE)


@lru_cache(maxsize=64)
def _price_steps(tick_exponent: int) -> tuple[Decimal, Decimal]:
    """The steps ``_round_price`` quantizes to: eight decimals past the tick, and the tick's own decimals."""
    return Decimal(1).scaleb(tick_exponent - 8), Decimal(1).scaleb(min(tick_exponent, 0))


# Explicit contexts (never the thread's): 60 digits for prices and averages, 34 for basis points;
# both round half-even, the defaults otherwise. Passing them per operation avoids ``localcontext``.
_WIDE = Context(prec=60, rounding=ROUND_HALF_EVEN)
_BPS = Context(prec=34, rounding=ROUND_HALF_EVEN)
_CENT = Decimal("0.01")
_ZERO = Decimal(0)

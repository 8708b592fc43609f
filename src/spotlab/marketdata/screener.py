"""The market screener's measures and ranking: pure functions over exact decimals. No I/O, no clock.

A day trader picks markets that move (volatility), trade a lot (volume), are cheap to cross
(spread) and go somewhere (trend). Each measure is one small named function:

- ``range_percent(high, low)`` = (high - low) / low x 100: the 24 h range as a percentage of the
  low ("volatility" on the screener). ``None`` without a trade in the window.
- ``spread_bps(bid, ask)`` = (ask - bid) / mid x 10,000 with mid = (ask + bid) / 2: the cost of
  crossing the book, in basis points of the mid. ``None`` when a side of the book is empty.
- ``ema(values, period)``: the exponential moving average with alpha = 2 / (period + 1), seeded
  with the first value (ema_1 = v_1; ema_i = ema_(i-1) + alpha x (v_i - ema_(i-1))).
- ``trend(closes)``: the closes of the market's hourly candles of the last 24 h, oldest first (the
  current hour's candle included; hours without trades have no candle and are skipped). The
  deviation d = (last close - ema) / ema x 100 with ``ema = ema(closes, 12)``; the trend is
  ``up`` when d > +0.2, ``down`` when d < -0.2, ``flat`` otherwise. ``None`` without candles.
- ``conversion_rates(last_prices, currency)``: how much of ``currency`` one unit of each asset
  is worth, through one market only: 1 for the currency itself, the last price of ASSET/CURRENCY,
  or 1 / the last price of CURRENCY/ASSET. Assets without such a market (with a trade in the
  window) have no rate, and their markets' volume is not converted (``common_volume`` is ``None``).

Invariants
- Exact: every figure is a ``Decimal``; percentages and basis points are rounded half-even to two
  decimals, ``ema`` is kept at the context's 28 significant digits (the caller rounds it for show).
- Ranking (``rank``) is total and deterministic: markets with a trade in the window and a value for
  the sort key come first, ordered by the key (``desc`` or ``asc``), ties by market id; then markets
  with a trade but no value for the key (e.g. an empty book side when sorting by spread); then
  markets without a trade in 24 h, whose price figures are all ``None``. Both latter groups are
  ordered by market id, whatever ``order`` says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from spotlab.errors import ErrorCode, SpotlabError

HUNDREDTH = Decimal("0.01")
TREND_PERIOD = 12
TREND_BAND_PERCENT = Decimal("0.2")
SORT_KEYS = ("volatility", "volume", "spread", "trend")
ORDERS = ("desc", "asc")


def _two_places(value: Decimal) -> Decimal:
    return value.quantize(HUNDREDTH, ROUND_HALF_EVEN)


def range_percent(high: Decimal | None, low: Decimal | None) -> Decimal | None:
    """(high - low) / low x 100, half-even to two decimals; ``None`` without a range."""
    if high is None or low is None:
        return None
    if low <= 0 or high < low:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a range needs 0 < low <= high, got low {low}, high {high}")
    return _two_places((high - low) * 100 / low)


def spread_bps(bid: Decimal | None, ask: Decimal | None) -> Decimal | None:
    """(ask - bid) / ((ask + bid) / 2) x 10,000, half-even to two decimals; ``None`` when a side is empty."""
    if bid is None or ask is None:
        return None
    if bid <= 0 or ask < bid:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a book needs 0 < bid <= ask, got bid {bid}, ask {ask}")
    return _two_places((ask - bid) * 20_000 / (ask + bid))


def ema(values: Sequence[Decimal], period: int) -> Decimal:
    """The EMA of ``values`` (oldest first) with alpha = 2 / (period + 1), seeded with the first value."""
    if period < 1:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"an EMA period must be at least 1, got {period}")
    if not values:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "an EMA needs at least one value")
    alpha = Decimal(2) / Decimal(period + 1)
    average = values[0]
    for value in values[1:]:
        average += alpha * (value - average)
    return average


@dataclass(frozen=True, slots=True)
class Trend:
    direction: str  # "up", "down" or "flat"
    ema: Decimal
    deviation_percent: Decimal  # (last close - ema) / ema x 100, two decimals
    candles: int


def trend(
    closes: Sequence[Decimal], period: int = TREND_PERIOD, band_percent: Decimal = TREND_BAND_PERCENT
) -> Trend | None:
    """The trend of ``closes`` (oldest first): the last close against their EMA (see the module docstring)."""
    if not closes:
        return None
    average = ema(closes, period)
    deviation = _two_places((closes[-1] - average) * 100 / average)
    direction = "up" if deviation > band_percent else "down" if deviation < -band_percent else "flat"
    return Trend(direction, average, deviation, len(closes))


def conversion_rates(last_prices: Mapping[tuple[str, str], Decimal], currency: str) -> dict[str, Decimal]:
    """Asset -> value of one unit in ``currency``, from ``(base, quote) -> last price`` through one market."""
    rates = {currency: Decimal(1)}
    for (base, quote), price in sorted(last_prices.items()):
        if quote == currency and base not in rates:
            rates[base] = price
    for (base, quote), price in sorted(last_prices.items()):
        if base == currency and quote not in rates and price > 0:
            rates[quote] = Decimal(1) / price
    return rates


@dataclass(frozen=True, slots=True)
class MarketFigures:
    """What the screener reads of one market: its 24 h ticker, best bid and ask, hourly closes."""

    market: str  # "BTC-USDT"
    quote: str
    last: Decimal | None  # None: no trade in the window
    change_percent: Decimal | None
    high: Decimal | None
    low: Decimal | None
    quote_volume: Decimal
    trade_count: int
    best_bid: Decimal | None
    best_ask: Decimal | None
    closes: Sequence[Decimal] = ()


@dataclass(frozen=True, slots=True)
class ScreenerRow:
    market: str
    last: Decimal | None
    change_percent: Decimal | None
    volatility_percent: Decimal | None
    high: Decimal | None
    low: Decimal | None
    quote_volume: Decimal
    quote_asset: str
    common_volume: Decimal | None
    common_currency: str
    trade_count: int
    best_bid: Decimal | None
    best_ask: Decimal | None
    spread_bps: Decimal | None
    trend: str | None
    trend_ema: Decimal | None
    trend_percent: Decimal | None
    trend_candles: int

    @property
    def traded(self) -> bool:
        return self.last is not None


def screen(figures: MarketFigures, rates: Mapping[str, Decimal], currency: str, places: int) -> ScreenerRow:
    """One market's row: its measures, with the quote volume in ``currency`` rounded half-even to ``places``."""
    rate = rates.get(figures.quote)
    common = None
    if rate is not None:
        common = (figures.quote_volume * rate).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    traded = figures.last is not None
    direction = trend(figures.closes) if traded else None
    return ScreenerRow(
        market=figures.market,
        last=figures.last,
        change_percent=figures.change_percent,
        volatility_percent=range_percent(figures.high, figures.low),
        high=figures.high,
        low=figures.low,
        quote_volume=figures.quote_volume,
        quote_asset=figures.quote,
        common_volume=common,
        common_currency=currency,
        trade_count=figures.trade_count,
        best_bid=figures.best_bid,
        best_ask=figures.best_ask,
        spread_bps=spread_bps(figures.best_bid, figures.best_ask),
        trend=direction.direction if direction else None,
        trend_ema=direction.ema if direction else None,
        trend_percent=direction.deviation_percent if direction else None,
        trend_candles=direction.candles if direction else 0,
    )


def sort_value(row: ScreenerRow, sort: str) -> Decimal | None:
    """The figure ``sort`` ranks by: volatility %, volume in the common currency, spread bps, trend deviation %."""
    if sort == "volatility":
        return row.volatility_percent
    if sort == "volume":
        return row.common_volume
    if sort == "spread":
        return row.spread_bps
    if sort == "trend":
        return row.trend_percent
    raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"unknown sort {sort!r}; use one of {', '.join(SORT_KEYS)}")


def rank(rows: Sequence[ScreenerRow], sort: str = "volume", order: str = "desc", limit: int | None = None):
    """``rows`` ranked by ``sort`` in ``order`` (see the module docstring), at most ``limit`` of them."""
    if sort not in SORT_KEYS:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"unknown sort {sort!r}; use one of {', '.join(SORT_KEYS)}")
    if order not in ORDERS:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"unknown order {order!r}; use desc or asc")
    if limit is not None and limit < 1:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"limit must be at least 1, got {limit}")
    ranked, unranked, quiet = [], [], []
    for row in sorted(rows, key=lambda r: r.market):
        value = sort_value(row, sort)
        if not row.traded:
            quiet.append(row)
        elif value is None:
            unranked.append(row)
        else:
            ranked.append(row)
    sign = -1 if order == "desc" else 1
    ranked.sort(key=lambda r: sign * sort_value(r, sort))  # stable: ties stay in market id order
    every = ranked + unranked + quiet
    return every if limit is None else every[:limit]

"""``GET /v1/screener``: the exchange's markets ranked by 24 h volatility, volume, spread or trend. Public.

Thin: reads each market's 24 h ticker and hourly candles (history) and best bid and ask (the
live book), hands them to ``spotlab.marketdata.screener`` (the formulas and the ranking rule are
documented there) and shapes the rows.

Invariants
- One consistent read per request: the history is caught up with the exchange's last event
  before anything is read, like the ticker route.
- Volume is ranked in one common currency (``currency``, default USDT), converted through one
  market's last price; a quote asset without such a market leaves ``common_volume`` null.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from spotlab.api.deps import CtxDep
from spotlab.api.schemas import DecimalOut, ResponseModel, market_id
from spotlab.marketdata import screener
from spotlab.marketdata.candles import HOUR_NS, period_start

router = APIRouter(prefix="/v1", tags=["market data"])

TREND_HOURS = 24


class ScreenerRowPublic(ResponseModel):
    """One market; price figures are null when it had no trade in the last 24 h (such markets come last)."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "market": "BTC-USDT",
                    "last": "44000.00",
                    "change_percent": "10.00",
                    "volatility_percent": "10.00",
                    "high": "44000.00",
                    "low": "40000.00",
                    "quote_volume": "8400.00000000",
                    "quote_asset": "USDT",
                    "common_volume": "8400.00000000",
                    "common_currency": "USDT",
                    "trade_count": 2,
                    "best_bid": "43990.00",
                    "best_ask": "44010.00",
                    "spread_bps": "4.55",
                    "trend": "up",
                    "trend_ema": "40615.38",
                    "trend_percent": "8.33",
                    "trend_candles": 2,
                }
            ]
        }
    }

    market: str = Field(examples=["BTC-USDT"])
    last: DecimalOut | None
    change_percent: DecimalOut | None = Field(description="(last - open) / open x 100 over 24 h.")
    volatility_percent: DecimalOut | None = Field(description="The 24 h range: (high - low) / low x 100.")
    high: DecimalOut | None
    low: DecimalOut | None
    quote_volume: DecimalOut = Field(description="24 h volume in the market's quote asset.")
    quote_asset: str = Field(examples=["USDT"])
    common_volume: DecimalOut | None = Field(
        description="quote_volume in common_currency at the last price of one market between them; "
        "null when there is no such market with a trade in 24 h."
    )
    common_currency: str = Field(examples=["USDT"])
    trade_count: int
    best_bid: DecimalOut | None
    best_ask: DecimalOut | None
    spread_bps: DecimalOut | None = Field(description="(ask - bid) / mid x 10,000; null when a side is empty.")
    trend: Literal["up", "down", "flat"] | None = Field(
        description="The last hourly close against the EMA(12) of the last 24 h's hourly closes: up above +0.2 %, "
        "down below -0.2 %, else flat."
    )
    trend_ema: DecimalOut | None = Field(description="That EMA, half-even to the tick's decimal places.")
    trend_percent: DecimalOut | None = Field(description="(last close - EMA) / EMA x 100.")
    trend_candles: int = Field(description="Hourly candles behind the trend (hours without trades have none).")


@router.get("/screener", response_model=list[ScreenerRowPublic], summary="Markets ranked for day trading")
async def get_screener(
    ctx: CtxDep,
    sort: Annotated[
        Literal["volatility", "volume", "spread", "trend"],
        Query(description="volatility_percent, common_volume, spread_bps or trend_percent."),
    ] = "volume",
    order: Annotated[Literal["desc", "asc"], Query(description="desc: largest first (tightest spread: asc).")] = "desc",
    limit: Annotated[int, Query(ge=1, le=1000, description="Rows returned, best first.")] = 100,
    currency: Annotated[
        str, Query(pattern=r"^[A-Z0-9]{1,12}$", description="The common currency volumes are ranked in.")
    ] = "USDT",
) -> list[ScreenerRowPublic]:
    await ctx.history.wait_async(ctx.exchange.last_sequence)
    places = ctx.exchange.asset_spec(currency).precision  # UNKNOWN_ASSET for a currency the exchange lacks
    now = ctx.clock.now_ns()
    since = period_start(now, "1h") - (TREND_HOURS - 1) * HOUR_NS
    figures, last_prices, ticks = [], {}, {}
    for view in ctx.exchange.markets():
        stats = ctx.history.ticker(view.symbol, now)
        book = ctx.exchange.order_book(view.symbol, 1)
        spec = ctx.exchange.market_spec(view.symbol)
        candles = ctx.history.candles(view.symbol, "1h", start_ns=since, end_ns=now, limit=TREND_HOURS)
        if stats.last is not None:
            last_prices[(view.base, view.quote)] = stats.last
        ticks[market_id(view.symbol)] = view.tick_size
        figures.append(
            screener.MarketFigures(
                market=market_id(view.symbol),
                quote=view.quote,
                last=stats.last,
                change_percent=stats.change_percent,
                high=stats.high,
                low=stats.low,
                quote_volume=stats.quote_volume,
                trade_count=stats.trade_count,
                best_bid=book.bids[0][0] if book.bids else None,
                best_ask=book.asks[0][0] if book.asks else None,
                closes=[spec.price(candle.close) for candle in candles],
            )
        )
    rates = screener.conversion_rates(last_prices, currency)
    rows = [screener.screen(f, rates, currency, places) for f in figures]
    return [public(row, ticks[row.market]) for row in screener.rank(rows, sort, order, limit)]


def public(row: screener.ScreenerRow, tick: Decimal) -> ScreenerRowPublic:
    fields = {name: getattr(row, name) for name in ScreenerRowPublic.model_fields}
    if row.trend_ema is not None:
        fields["trend_ema"] = row.trend_ema.quantize(tick, ROUND_HALF_EVEN)  # to the tick's decimal places
    return ScreenerRowPublic(**fields)

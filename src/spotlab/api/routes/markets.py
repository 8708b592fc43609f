"""Public market data: markets, order books, trades, candles and tickers. No authentication.

Invariants
- Market ids in paths are ``BTC-USDT``; an unknown or malformed id is 404 ``UNKNOWN_MARKET``.
- The order book is one consistent view with its book sequence number (the same
  number the WebSocket ``book:{market}`` channel carries).
- Candles are oldest first, as Binance's klines: ``start`` and ``end`` are ISO-8601 times
  with a timezone (the form every time in this API takes), both inclusive bounds on
  ``open_time``; without ``start`` the newest ``limit`` come. A candle is ``closed`` once
  its period has ended (by the clock), even if the history has not closed it yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from spotlab.api.deps import CtxDep
from spotlab.api.schemas import DecimalOut, Page, ResponseModel, decode_cursor, encode_cursor, market_id, symbol_of
from spotlab.clock import datetime_to_ns, ns_to_datetime
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange.views import MarketView
from spotlab.marketdata.candles import INTERVALS, Candle

router = APIRouter(prefix="/v1", tags=["market data"])


class MarketPublic(ResponseModel):
    id: str
    symbol: str
    base: str
    quote: str
    tick_size: DecimalOut
    lot_size: DecimalOut
    min_quantity: DecimalOut
    min_notional: DecimalOut
    maker_fee: DecimalOut
    taker_fee: DecimalOut
    status: str

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": "BTC-USDT",
                    "symbol": "BTC/USDT",
                    "base": "BTC",
                    "quote": "USDT",
                    "tick_size": "0.01",
                    "lot_size": "0.00001",
                    "min_quantity": "0.00001",
                    "min_notional": "5",
                    "maker_fee": "0.001",
                    "taker_fee": "0.001",
                    "status": "trading",
                }
            ]
        }
    }


def market_public(view: MarketView) -> MarketPublic:
    return MarketPublic(
        id=market_id(view.symbol),
        symbol=view.symbol,
        base=view.base,
        quote=view.quote,
        tick_size=view.tick_size,
        lot_size=view.lot_size,
        min_quantity=view.min_quantity,
        min_notional=view.min_notional,
        maker_fee=view.maker_fee,
        taker_fee=view.taker_fee,
        status=view.status,
    )


#: One price level: ``[price, quantity]``.
Level = Annotated[list[DecimalOut], Field(min_length=2, max_length=2)]


class BookPublic(ResponseModel):
    market: str
    sequence: int = Field(
        description="Rises with every change of this book. (The WebSocket book channel numbers its snapshot "
        "and diffs by the exchange's event sequence instead: take the snapshot there to apply its diffs.)"
    )
    bids: list[Level] = Field(description="Best (highest) first.")
    asks: list[Level] = Field(description="Best (lowest) first.")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "market": "BTC-USDT",
                    "sequence": 42,
                    "bids": [["64999.99", "0.5"], ["64999.5", "1.2"]],
                    "asks": [["65000.01", "0.3"]],
                }
            ]
        }
    }


class TradePublic(ResponseModel):
    id: int = Field(examples=[1234])
    market: str = Field(examples=["BTC-USDT"])
    price: DecimalOut
    quantity: DecimalOut
    taker_side: str = Field(examples=["buy"])
    time: datetime = Field(examples=["2024-01-01T12:00:00Z"])


class CandlePublic(ResponseModel):
    """One period's trades; prices in the quote asset, ``base_volume`` in the base, ``quote_volume`` in the quote."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "open_time": "2024-01-01T12:00:00Z",
                    "close_time": "2024-01-01T12:01:00Z",
                    "open": "64990.00",
                    "high": "65010.50",
                    "low": "64980.00",
                    "close": "65001.00",
                    "base_volume": "1.25000",
                    "quote_volume": "81243.17",
                    "trade_count": 42,
                    "closed": True,
                }
            ]
        }
    }

    open_time: datetime = Field(description="The start of the period (UTC).")
    close_time: datetime = Field(description="The end of the period (exclusive): open_time + interval.")
    open: DecimalOut
    high: DecimalOut
    low: DecimalOut
    close: DecimalOut
    base_volume: DecimalOut
    quote_volume: DecimalOut
    trade_count: int
    closed: bool = Field(description="The period has ended: the candle will not change any more.")


def candle_public(candle: Candle, spec: Any, now_ns: int) -> CandlePublic:
    return CandlePublic(
        open_time=ns_to_datetime(candle.open_time),
        close_time=ns_to_datetime(candle.close_time),
        open=spec.price(candle.open),
        high=spec.price(candle.high),
        low=spec.price(candle.low),
        close=spec.price(candle.close),
        base_volume=spec.quantity(candle.base_volume),
        quote_volume=spec.quote.to_decimal(candle.quote_volume),
        trade_count=candle.trade_count,
        closed=candle.closed or candle.close_time <= now_ns,
    )


def time_bound(name: str, text: str | None) -> int | None:
    """An ISO-8601 query time with a timezone, as UTC ns; ``VALIDATION_ERROR`` naming the field otherwise."""
    if text is None:
        return None
    try:
        return datetime_to_ns(datetime.fromisoformat(text))
    except (ValueError, SpotlabError):
        raise SpotlabError(
            ErrorCode.VALIDATION_ERROR,
            f"{name} must be an ISO-8601 time with a timezone, e.g. 2024-01-01T00:00:00Z; got {text[:40]!r}",
            field=name,
        ) from None


class TickerPublic(ResponseModel):
    """24 hours rolling, up to now; figures are absent when the market had no trade in the window."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "market": "BTC-USDT",
                    "open": "63100.00",
                    "high": "65210.00",
                    "low": "62950.50",
                    "last": "64999.50",
                    "change": "1899.50",
                    "change_percent": "3.01",
                    "base_volume": "152.31000",
                    "quote_volume": "9795114.41",
                    "trade_count": 48211,
                    "best_bid": "64999.00",
                    "best_bid_quantity": "1.20000",
                    "best_ask": "65000.00",
                    "best_ask_quantity": "0.30000",
                    "time": "2024-01-01T12:00:00Z",
                }
            ]
        }
    }

    market: str
    open: DecimalOut | None
    high: DecimalOut | None
    low: DecimalOut | None
    last: DecimalOut | None
    change: DecimalOut | None
    change_percent: DecimalOut | None
    base_volume: DecimalOut
    quote_volume: DecimalOut
    trade_count: int
    best_bid: DecimalOut | None
    best_bid_quantity: DecimalOut | None
    best_ask: DecimalOut | None
    best_ask_quantity: DecimalOut | None
    time: datetime


@router.get("/markets", response_model=list[MarketPublic], summary="List markets")
def list_markets(ctx: CtxDep) -> list[MarketPublic]:
    return [market_public(view) for view in ctx.exchange.markets()]


@router.get("/markets/{market}", response_model=MarketPublic, summary="One market's rules")
def get_market(market: str, ctx: CtxDep) -> MarketPublic:
    return market_public(ctx.exchange.market(symbol_of(market)))


@router.get("/markets/{market}/book", response_model=BookPublic, summary="Order book (aggregated depth)")
def get_book(
    market: str,
    ctx: CtxDep,
    depth: Annotated[int, Query(ge=1, le=1000, description="Price levels per side, best first.")] = 20,
) -> BookPublic:
    book = ctx.exchange.order_book(symbol_of(market), depth)
    return BookPublic(
        market=market_id(book.market),
        sequence=book.sequence,
        bids=[list(level) for level in book.bids],
        asks=[list(level) for level in book.asks],
    )


@router.get("/markets/{market}/trades", response_model=Page[TradePublic], summary="Trades, newest first")
async def list_trades(
    market: str,
    ctx: CtxDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")] = None,
) -> Page[TradePublic]:
    symbol = symbol_of(market)
    ctx.exchange.market(symbol)
    before = decode_cursor(cursor)
    await ctx.history.wait_async(ctx.exchange.last_sequence)
    page = ctx.history.trades(symbol, limit=limit, before=before)
    items = [
        TradePublic(
            id=t.id,
            market=market_id(t.market),
            price=t.price,
            quantity=t.quantity,
            taker_side=t.taker_side,
            time=t.time,
        )
        for t in page.items
    ]
    return Page[TradePublic](items=items, next_cursor=encode_cursor(page.next_before))


@router.get("/markets/{market}/candles", response_model=list[CandlePublic], summary="Candles, oldest first")
async def list_candles(
    market: str,
    ctx: CtxDep,
    interval: Annotated[str, Query(max_length=8, description=f"One of {', '.join(INTERVALS)}.", examples=["1m"])],
    start: Annotated[
        str | None,
        Query(max_length=40, description="Earliest open time (inclusive), ISO-8601 with timezone."),
    ] = None,
    end: Annotated[
        str | None, Query(max_length=40, description="Latest open time (inclusive), ISO-8601 with timezone.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most candles; without start, the newest.")] = 500,
) -> list[CandlePublic]:
    """Candles built from this exchange's own trades, aligned to UTC (weeks start on Monday).

    Periods without trades have no candle (nothing is zero-filled).
    """
    symbol = symbol_of(market)
    spec = ctx.exchange.market_spec(symbol)
    start_ns, end_ns = time_bound("start", start), time_bound("end", end)
    await ctx.history.wait_async(ctx.exchange.last_sequence)
    candles = ctx.history.candles(symbol, interval, start_ns, end_ns, limit)
    now = ctx.clock.now_ns()
    return [candle_public(candle, spec, now) for candle in candles]


def ticker(ctx, symbol: str) -> TickerPublic:
    stats = ctx.history.ticker(symbol, ctx.clock.now_ns())
    book = ctx.exchange.order_book(symbol, 1)
    return TickerPublic(
        market=market_id(symbol),
        open=stats.open,
        high=stats.high,
        low=stats.low,
        last=stats.last,
        change=stats.change,
        change_percent=stats.change_percent,
        base_volume=stats.base_volume,
        quote_volume=stats.quote_volume,
        trade_count=stats.trade_count,
        best_bid=book.bids[0][0] if book.bids else None,
        best_bid_quantity=book.bids[0][1] if book.bids else None,
        best_ask=book.asks[0][0] if book.asks else None,
        best_ask_quantity=book.asks[0][1] if book.asks else None,
        time=ns_to_datetime(ctx.clock.now_ns()),
    )


@router.get("/markets/{market}/ticker", response_model=TickerPublic, summary="24 h ticker")
async def get_ticker(market: str, ctx: CtxDep) -> TickerPublic:
    symbol = symbol_of(market)
    ctx.exchange.market(symbol)
    await ctx.history.wait_async(ctx.exchange.last_sequence)
    return ticker(ctx, symbol)


@router.get("/tickers", response_model=list[TickerPublic], summary="24 h tickers of every market")
async def list_tickers(ctx: CtxDep) -> list[TickerPublic]:
    await ctx.history.wait_async(ctx.exchange.last_sequence)
    return [ticker(ctx, view.symbol) for view in ctx.exchange.markets()]

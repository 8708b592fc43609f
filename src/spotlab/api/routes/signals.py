"""``GET /v1/markets/{market}/signal``: the market's bullish / bearish / neutral signal and the reasons.

Invariants
- Public (no credentials), like the other market data routes.
- Computed from the newest closed candles of the history read model (at most ``MAX_LIMIT``), by the rule set
  documented in ``spotlab.alerts.signals``; the open candle never counts, so the answer changes only when
  a candle closes.
- An unknown market is 404 ``UNKNOWN_MARKET``; an unknown interval 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from spotlab.alerts.service import values_text
from spotlab.alerts.signals import Signal, signal
from spotlab.api.deps import CtxDep
from spotlab.api.schemas import ResponseModel, symbol_of
from spotlab.clock import ns_to_datetime
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.store.history_queries import MAX_LIMIT

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["markets"])


class ReasonPublic(ResponseModel):
    rule: str = Field(examples=["rsi"], description="trend, long_trend, rsi or macd")
    vote: int = Field(examples=[1], description="+1 bullish, -1 bearish, 0 neither (or abstains)")
    available: bool = Field(examples=[True], description="False: too few candles for this rule; it abstains")
    detail: str = Field(examples=["RSI(14) >= 55"])
    values: dict[str, str | None] = Field(
        examples=[{"rsi_14": "61.2"}], description="The figures behind the vote, as decimal strings"
    )


class SignalPublic(ResponseModel):
    market: str = Field(examples=["BTC-USDT"])
    interval: str = Field(examples=["1h"])
    verdict: str = Field(examples=["bullish"], description="bullish (score >= 2), bearish (<= -2) or neutral")
    score: int = Field(examples=[3], description="The sum of the votes")
    candles: int = Field(examples=[1000], description="Closed candles the signal was computed from")
    candle_open_time: datetime | None = Field(
        examples=["2024-01-01T11:00:00Z"], description="Open time of the last closed candle used; null if none"
    )
    reasons: list[ReasonPublic] = Field(
        examples=[
            [
                {"rule": "trend", "vote": 1, "available": True, "detail": "close above EMA(50)",
                 "values": {"close": "42150.5", "ema_50": "41980.1"}},
                {"rule": "long_trend", "vote": 1, "available": True, "detail": "EMA(50) above EMA(200)",
                 "values": {"ema_50": "41980.1", "ema_200": "40100.7"}},
                {"rule": "rsi", "vote": 1, "available": True, "detail": "RSI(14) >= 55", "values": {"rsi_14": "61.2"}},
                {"rule": "macd", "vote": 0, "available": False, "detail": "needs 34 candles, has 20: abstains",
                 "values": {}},
            ]
        ]
    )  # fmt: skip


def signal_public(market: str, interval: str, result: Signal, last_open_time: int | None) -> SignalPublic:
    return SignalPublic(
        market=market.replace("/", "-"),
        interval=interval,
        verdict=result.verdict,
        score=result.score,
        candles=result.candles,
        candle_open_time=None if last_open_time is None else ns_to_datetime(last_open_time),
        reasons=[
            ReasonPublic(rule=r.rule, vote=r.vote, available=r.available, detail=r.detail, values=values_text(r.values))
            for r in result.reasons
        ],
    )


@router.get(
    "/markets/{market}/signal",
    response_model=SignalPublic,
    summary="Bullish / bearish / neutral signal from the indicators, with the reasons",
)
async def get_signal(
    market: str,
    ctx: CtxDep,
    interval: Annotated[
        str, Query(pattern=r"^(1m|3m|5m|15m|30m|1h|4h|1d|1w)$", description="Candle interval", examples=["1h"])
    ] = "1h",
) -> SignalPublic:
    symbol = ctx.exchange.market(symbol_of(market)).symbol
    if ctx.history is None:
        raise SpotlabError(ErrorCode.STORE_UNAVAILABLE, "candle history is not available on this server")
    candles = await run_in_threadpool(ctx.history.candles, symbol, interval, limit=MAX_LIMIT)
    closed = [c for c in candles if c.closed]
    spec = ctx.exchange.market_spec(symbol)
    closes = [float(spec.price(c.close)) for c in closed]
    result = signal(closes)
    return signal_public(symbol, interval, result, closed[-1].open_time if closed else None)

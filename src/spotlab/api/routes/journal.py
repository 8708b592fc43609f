"""The trading journal: the caller's round trips, their annotations and statistics (``spotlab.journal``).

Endpoints
- ``GET /v1/journal/round-trips`` (``read``): round trips, newest first (open ones included), with
  filters ``market``, ``strategy`` (a tag, or ``untagged``), ``status`` (open/closed) and the entry
  time in ``[from, to)``; ``limit`` and ``cursor`` page as everywhere else.
- ``GET /v1/journal/round-trips/{id}`` (``read``): one, with its fills (id ``BTC-USDT-77``: the market
  and its first fill's trade id).
- ``PATCH /v1/journal/round-trips/{id}`` and ``PATCH /v1/journal/fills/{fill}`` (``trade``): set
  strategy, setup, notes, emotion, confidence (1-5) and screenshot links (http/https). Fields left
  out keep their value, ``null`` clears one. A fill is ``BTC-USDT-77``, or a bare trade id ``77``
  when only one of the caller's markets has it.
- ``GET /v1/journal/stats?group_by=all|strategy|market|weekday|hour`` (``read``): win rate,
  average win and loss, profit factor, expectancy, holding time, fee drag, trades per day and the
  largest losing streak per group and currency (formulas: ``spotlab.journal.stats``), with the
  same filters as the list.

Invariants
- Every route acts on ``principal.account`` only: another account's round trip or fill is 404,
  exactly as one that does not exist.
- Routes are thin: parse, call ``JournalService`` (``exchange.journal_service``) in the thread
  pool, shape the answer. A refused annotation (422, the field named) changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from spotlab.api.deps import CtxDep, Reader, Trader
from spotlab.api.schemas import (
    DecimalOut,
    Page,
    RequestModel,
    ResponseModel,
    decode_cursor,
    encode_cursor,
    market_id,
    symbol_of,
)
from spotlab.clock import datetime_to_ns, ns_to_datetime
from spotlab.journal.annotations import MAX_SCREENSHOTS, MAX_URL_LENGTH, TEXT_LIMITS, Annotation
from spotlab.journal.round_trips import RoundTrip, TripFill
from spotlab.journal.service import JournalService
from spotlab.journal.stats import GroupStats

router = APIRouter(prefix="/v1/journal", tags=["journal"])

TripId = Annotated[str, Path(max_length=64, description="The round trip's id", examples=["BTC-USDT-77"])]
FillRef = Annotated[
    str, Path(max_length=64, description="The fill's id (BTC-USDT-77) or its trade id (77)", examples=["BTC-USDT-78"])
]
MarketFilter = Annotated[str | None, Query(max_length=25, description="Only this market, e.g. BTC-USDT")]
StrategyFilter = Annotated[str | None, Query(max_length=64, description="Only this strategy tag (or untagged)")]
From = Annotated[datetime | None, Query(alias="from", description="Entered at or after (ISO 8601, UTC)")]
GroupBy = Literal["all", "strategy", "market", "weekday", "hour"]
To = Annotated[datetime | None, Query(alias="to", description="Entered before (ISO 8601, UTC)")]

_NOTE_EXAMPLE: dict[str, Any] = {
    "strategy": "orb-5m",
    "setup": "opening range breakout, retest of the high",
    "notes": "took it late; size was right",
    "emotion": "calm",
    "confidence": 4,
    "screenshots": ["https://charts.example.com/btc-2024-01-02.png"],
}


class AnnotationUpdate(RequestModel):
    """Only the fields sent change; ``null`` clears a field. Text is trimmed; a blank text clears."""

    strategy: str | None = Field(None, max_length=TEXT_LIMITS["strategy"], description="A strategy tag")
    setup: str | None = Field(None, max_length=TEXT_LIMITS["setup"])
    notes: str | None = Field(None, max_length=TEXT_LIMITS["notes"])
    emotion: str | None = Field(None, max_length=TEXT_LIMITS["emotion"], description="Free text: calm, fomo, ...")
    confidence: int | None = Field(None, description="1 (unsure) to 5 (sure)")
    screenshots: list[Annotated[str, Field(max_length=MAX_URL_LENGTH)]] | None = Field(
        None, max_length=MAX_SCREENSHOTS, description="http(s) links to chart screenshots (replaces the list)"
    )

    model_config = {"json_schema_extra": {"examples": [_NOTE_EXAMPLE]}}


class AnnotationPublic(ResponseModel):
    strategy: str | None
    setup: str | None
    notes: str | None
    emotion: str | None
    confidence: int | None
    screenshots: list[str]
    updated_at: datetime


class TripFillPublic(ResponseModel):
    id: str = Field(description="Market and trade id, e.g. BTC-USDT-77")
    trade_id: int
    order_id: int
    side: str
    price: DecimalOut
    quantity: DecimalOut = Field(description="The part of the fill in this round trip")
    fee: DecimalOut = Field(description="In the quote asset (in proportion for a part)")
    time: datetime
    open_after: DecimalOut = Field(description="The round trip's open quantity after this fill")
    annotation: AnnotationPublic | None


class RoundTripPublic(ResponseModel):
    id: str
    number: int = Field(description="1 for the caller's first round trip, in the order they opened")
    market: str
    quote: str = Field(description="The asset every money figure is in")
    status: Literal["open", "closed"]
    entry_time: datetime
    exit_time: datetime | None
    holding_seconds: float | None
    quantity: DecimalOut = Field(description="The most the position held")
    open_quantity: DecimalOut
    bought: DecimalOut
    sold: DecimalOut
    entry_price: DecimalOut = Field(description="Average buy price")
    exit_price: DecimalOut | None = Field(description="Average sell price")
    cost: DecimalOut = Field(description="Buy notional + buy fees")
    proceeds: DecimalOut = Field(description="Sell notional - sell fees")
    fees: DecimalOut
    pnl: DecimalOut | None = Field(description="proceeds - cost, once closed")
    annotation: AnnotationPublic | None
    fills: list[TripFillPublic]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": "BTC-USDT-77", "number": 12, "market": "BTC-USDT", "quote": "USDT", "status": "closed",
                    "entry_time": "2024-01-02T14:30:00Z", "exit_time": "2024-01-02T16:00:00Z",
                    "holding_seconds": 5400, "quantity": "0.2", "open_quantity": "0", "bought": "0.2", "sold": "0.2",
                    "entry_price": "50500", "exit_price": "52750", "cost": "10110.1", "proceeds": "10539.45",
                    "fees": "20.65", "pnl": "429.35",
                    "annotation": {**_NOTE_EXAMPLE, "updated_at": "2024-01-02T17:00:00Z"},
                    "fills": [
                        {"id": "BTC-USDT-77", "trade_id": 77, "order_id": 1042, "side": "buy", "price": "50000",
                         "quantity": "0.2", "fee": "10", "time": "2024-01-02T14:30:00Z", "open_after": "0.2",
                         "annotation": None},
                    ],
                }
            ]
        }
    }  # fmt: skip


class RoundTripPage(Page[RoundTripPublic]):
    pass


class FillAnnotationPublic(ResponseModel):
    fill_id: str
    annotation: AnnotationPublic

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"fill_id": "BTC-USDT-78", "annotation": {**_NOTE_EXAMPLE, "updated_at": "2024-01-02T17:00:00Z"}}
            ]
        }
    }


class GroupStatsPublic(ResponseModel):
    group: str
    currency: str = Field(description="Money figures are in this asset (groups are split by quote asset)")
    trades: int
    wins: int
    losses: int
    win_rate: float | None
    average_win: DecimalOut | None
    average_loss: DecimalOut | None
    profit_factor: float | None
    expectancy: DecimalOut | None
    net_pnl: DecimalOut
    gross_pnl: DecimalOut = Field(description="Before fees")
    fees: DecimalOut
    fee_drag: float | None = Field(description="fees / gross_pnl (null when gross_pnl <= 0)")
    average_holding_seconds: float | None
    trades_per_day: float | None = Field(description="Round trips per UTC day with an entry")
    most_trades_in_a_day: int
    largest_losing_streak: int


class StatsPublic(ResponseModel):
    group_by: str
    groups: list[GroupStatsPublic]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "group_by": "strategy",
                    "groups": [
                        {"group": "orb-5m", "currency": "USDT", "trades": 4, "wins": 2, "losses": 2, "win_rate": 0.5,
                         "average_win": "192.8", "average_loss": "-84.925", "profit_factor": 2.27024,
                         "expectancy": "53.9375", "net_pnl": "215.75", "gross_pnl": "250", "fees": "34.25",
                         "fee_drag": 0.137, "average_holding_seconds": 6300, "trades_per_day": 2.0,
                         "most_trades_in_a_day": 2, "largest_losing_streak": 2}
                    ],
                }
            ]
        }
    }  # fmt: skip


def _significant(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.6g}")


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


def _note(note: Annotation | None) -> AnnotationPublic | None:
    if note is None:
        return None
    return AnnotationPublic(**note.to_dict(), updated_at=ns_to_datetime(note.updated_ns))


def _fill(part: TripFill) -> TripFillPublic:
    return TripFillPublic(
        id=part.id, trade_id=part.trade_id, order_id=part.order_id, side=part.side, price=part.price,
        quantity=part.quantity, fee=part.fee, time=ns_to_datetime(part.time_ns), open_after=part.open_after,
        annotation=_note(part.annotation),
    )  # fmt: skip


def trip_public(trip: RoundTrip) -> RoundTripPublic:
    return RoundTripPublic(
        id=trip.id, number=trip.number, market=market_id(trip.market), quote=trip.quote, status=trip.status,
        entry_time=ns_to_datetime(trip.entry_time_ns),
        exit_time=None if trip.exit_time_ns is None else ns_to_datetime(trip.exit_time_ns),
        holding_seconds=_seconds(trip.holding_ns), quantity=trip.quantity, open_quantity=trip.open_quantity,
        bought=trip.bought, sold=trip.sold, entry_price=trip.entry_price, exit_price=trip.exit_price, cost=trip.cost,
        proceeds=trip.proceeds, fees=trip.fees, pnl=trip.pnl, annotation=_note(trip.annotation),
        fills=[_fill(part) for part in trip.fills],
    )  # fmt: skip


def _group(row: GroupStats) -> GroupStatsPublic:
    return GroupStatsPublic(
        group=row.group, currency=row.currency, trades=row.trades, wins=row.wins, losses=row.losses,
        win_rate=_significant(row.win_rate), average_win=row.average_win, average_loss=row.average_loss,
        profit_factor=_significant(row.profit_factor), expectancy=row.expectancy, net_pnl=row.net_pnl,
        gross_pnl=row.gross_pnl, fees=row.fees, fee_drag=_significant(row.fee_drag),
        average_holding_seconds=_seconds(row.average_holding_ns), trades_per_day=_significant(row.trades_per_day),
        most_trades_in_a_day=row.most_trades_in_a_day, largest_losing_streak=row.largest_losing_streak,
    )  # fmt: skip


async def _call(ctx, method: str, *args: Any, **kwargs: Any) -> Any:
    """``JournalService.<method>(*args, **kwargs)`` in the thread pool (the first use opens its database)."""

    def call() -> Any:
        service: JournalService = ctx.exchange.journal_service
        return getattr(service, method)(*args, **kwargs)

    return await run_in_threadpool(call)


def _ns(moment: datetime | None) -> int | None:
    """A query time in ns; one without a zone is UTC, as every time in this API."""
    if moment is None:
        return None
    return datetime_to_ns(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))


def _filters(market: str | None, strategy: str | None, start: datetime | None, end: datetime | None) -> dict:
    market = None if market is None else symbol_of(market)
    return {"market": market, "strategy": strategy, "start_ns": _ns(start), "end_ns": _ns(end)}


@router.get("/round-trips", response_model=RoundTripPage, summary="The caller's round trips, newest first")
async def list_round_trips(
    principal: Reader,
    ctx: CtxDep,
    market: MarketFilter = None,
    strategy: StrategyFilter = None,
    status: Annotated[Literal["open", "closed"] | None, Query(description="Only open or closed ones")] = None,
    start: From = None,
    end: To = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page")] = 100,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")] = None,
) -> RoundTripPage:
    before = decode_cursor(cursor)
    filters = _filters(market, strategy, start, end)
    trips = await _call(ctx, "round_trips", principal.account, status=status, **filters)
    newest = [trip for trip in reversed(trips) if before is None or trip.number < before]
    page = newest[:limit]
    more = len(newest) > limit
    return RoundTripPage(
        items=[trip_public(trip) for trip in page], next_cursor=encode_cursor(page[-1].number) if more else None
    )


@router.get("/round-trips/{trip_id}", response_model=RoundTripPublic, summary="One round trip with its fills")
async def get_round_trip(trip_id: TripId, principal: Reader, ctx: CtxDep) -> RoundTripPublic:
    return trip_public(await _call(ctx, "round_trip", principal.account, trip_id))


@router.patch("/round-trips/{trip_id}", response_model=RoundTripPublic, summary="Annotate a round trip")
async def annotate_round_trip(
    trip_id: TripId, body: AnnotationUpdate, principal: Trader, ctx: CtxDep
) -> RoundTripPublic:
    changes = body.model_dump(include=body.model_fields_set)
    return trip_public(await _call(ctx, "annotate_round_trip", principal.account, trip_id, changes))


@router.patch("/fills/{fill_ref}", response_model=FillAnnotationPublic, summary="Annotate one of the caller's fills")
async def annotate_fill(
    fill_ref: FillRef, body: AnnotationUpdate, principal: Trader, ctx: CtxDep
) -> FillAnnotationPublic:
    changes = body.model_dump(include=body.model_fields_set)
    fill_id, note = await _call(ctx, "annotate_fill", principal.account, fill_ref, changes)
    return FillAnnotationPublic(fill_id=fill_id, annotation=_note(note))


@router.get("/stats", response_model=StatsPublic, summary="Statistics of the caller's closed round trips")
async def get_stats(
    principal: Reader,
    ctx: CtxDep,
    group_by: Annotated[
        Literal["all", "strategy", "market", "weekday", "hour"],
        Query(description="Weekday and hour: of the entry, UTC"),
    ] = "all",
    market: MarketFilter = None,
    strategy: StrategyFilter = None,
    start: From = None,
    end: To = None,
) -> StatsPublic:
    rows = await _call(ctx, "statistics", principal.account, group_by, **_filters(market, strategy, start, end))
    return StatsPublic(group_by=group_by, groups=[_group(row) for row in rows])

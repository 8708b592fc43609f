"""Risk: the caller's risk profile, position sizing, portfolio and day-trade count (``spotlab.exchange.risk``).

Endpoints
- ``GET /v1/risk-profile`` (``read``), ``PUT /v1/risk-profile`` (``trade``): the whole profile;
  fields left out take their defaults. ``not_enforced`` names stored rules not enforced yet (none today:
  ``require_stop_loss`` is enforced, buys must then come as brackets).
- ``GET /v1/position-size?market=&entry=&stop=[&risk_percent=]`` (``read``): the quantity that
  risks the profile's percentage of equity (in the market's quote) between entry and stop,
  after fees, on the lot, above the minimums.
- ``GET /v1/portfolio?currency=USDT`` (``read``): equity, exposure and positions.
- ``GET /v1/day-trades`` (``read``): day trades over the rolling 5 business days, with the
  legacy US pattern-day-trader test as information: that rule was written for securities
  margin accounts, is being replaced, and spot crypto accounts were never under it.

Invariants
- Every route acts on ``principal.account`` only: one account never sees another's profile,
  portfolio or trades.
- A refused order (``POST /v1/orders``, a bracket's entry at ``POST /v1/order-lists``, or WebSocket) is
  403 ``RISK_LIMIT`` with the rule and its figures in the problem's details: the account's own rule
  refuses it, retrying will not help.
- Reads wait for the history read model to catch up (read-your-writes) and run in the thread pool.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from spotlab.api.deps import CtxDep, Reader, Trader
from spotlab.api.schemas import DecimalIn, DecimalOut, RequestModel, ResponseModel, market_id, symbol_of
from spotlab.core.units import parse_decimal
from spotlab.exchange.risk import RiskService
from spotlab.risk.guards import NOT_ENFORCED
from spotlab.risk.profile import RiskProfile

router = APIRouter(prefix="/v1", tags=["risk"])

PDT_NOTE = (
    "Information only: the US pattern-day-trader rule was written for securities margin accounts and is being "
    "replaced; spot crypto accounts were never under it, and spotlab has no margin."
)


_PROFILE_EXAMPLE: dict[str, Any] = {
    "risk_per_trade_percent": "1",
    "currency": "USDT",
    "max_daily_loss": "250",
    "max_daily_loss_percent": None,
    "max_trades_per_day": 10,
    "cooldown_after_losses": 3,
    "cooldown_minutes": 60,
    "max_exposure_percent": "25",
    "require_stop_loss": False,
}


class RiskProfileUpdate(RequestModel):
    """The whole profile; a field left out takes its default (guards off, 1 % risk per trade, USDT)."""

    risk_per_trade_percent: DecimalIn = Decimal(1)
    currency: str = Field("USDT", pattern=r"^[A-Z0-9]{1,12}$")
    max_daily_loss: DecimalIn | None = None
    max_daily_loss_percent: DecimalIn | None = None
    max_trades_per_day: int | None = Field(None, ge=1, le=1_000_000)
    cooldown_after_losses: int | None = Field(None, ge=1, le=1000)
    cooldown_minutes: int = Field(60, ge=1, le=525_600)
    max_exposure_percent: DecimalIn | None = None
    require_stop_loss: bool = False

    model_config = {"json_schema_extra": {"examples": [{k: v for k, v in _PROFILE_EXAMPLE.items() if v is not None}]}}


class RiskProfilePublic(ResponseModel):
    risk_per_trade_percent: DecimalOut
    currency: str
    max_daily_loss: DecimalOut | None
    max_daily_loss_percent: DecimalOut | None
    max_trades_per_day: int | None
    cooldown_after_losses: int | None
    cooldown_minutes: int
    max_exposure_percent: DecimalOut | None
    require_stop_loss: bool
    not_enforced: list[str] = Field(description="Rules stored but not enforced yet (none today)")

    model_config = {"json_schema_extra": {"examples": [{**_PROFILE_EXAMPLE, "not_enforced": []}]}}


class PositionSizePublic(ResponseModel):
    market: str
    side: str = Field(description="buy (stop below entry) or sell (stop above entry)")
    quantity: DecimalOut
    notional: DecimalOut
    equity: DecimalOut = Field(description="The account's equity in the market's quote asset")
    risk_percent: DecimalOut
    risk_budget: DecimalOut
    loss_at_stop: DecimalOut = Field(description="Price move plus the taker fee on both legs")
    fees: DecimalOut
    limited_by: str = Field(description="risk, or equity when the account cannot pay for more")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "market": "BTC-USDT",
                    "side": "buy",
                    "quantity": "0.09099",
                    "notional": "4549.5",
                    "equity": "10000",
                    "risk_percent": "1",
                    "risk_budget": "100",
                    "loss_at_stop": "99.99801",
                    "fees": "9.00801",
                    "limited_by": "risk",
                }  # fmt: skip
            ]
        }
    }


class AssetValuePublic(ResponseModel):
    asset: str
    total: DecimalOut
    value: DecimalOut
    exposure_percent: DecimalOut
    path: list[str] = Field(description="Markets walked to value it, e.g. ADA-BTC, BTC-USDT")


class PositionPublic(ResponseModel):
    market: str
    quantity: DecimalOut
    average_entry_price: DecimalOut | None
    cost: DecimalOut
    realised_pnl: DecimalOut
    unrealised_pnl: DecimalOut | None
    fees_paid: DecimalOut
    quote: str


class PortfolioPublic(ResponseModel):
    currency: str
    equity: DecimalOut
    assets: list[AssetValuePublic]
    positions: list[PositionPublic]
    unvalued: list[str] = Field(description="Assets with no priced path to the currency (not in equity)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "currency": "USDT",
                    "equity": "12200",
                    "assets": [
                        {"asset": "ADA", "total": "1000", "value": "700", "exposure_percent": "5.74",
                         "path": ["ADA-BTC", "BTC-USDT"]},
                        {"asset": "BTC", "total": "0.15", "value": "10500", "exposure_percent": "86.07",
                         "path": ["BTC-USDT"]},
                        {"asset": "USDT", "total": "1000", "value": "1000", "exposure_percent": "8.20", "path": []},
                    ],
                    "positions": [
                        {"market": "BTC-USDT", "quantity": "0.15", "average_entry_price": "55055", "cost": "8258.25",
                         "realised_pnl": "743.75", "unrealised_pnl": "2241.75", "fees_paid": "14.5", "quote": "USDT"}
                    ],
                    "unvalued": [],
                }
            ]
        }
    }  # fmt: skip


class DayCountPublic(ResponseModel):
    day: date
    asset: str
    day_trades: int


class LegacyPdtPublic(ResponseModel):
    day_trades_at_least_4: bool
    over_6_percent_of_trades: bool
    margin_account: bool
    equity_under_25000_usd: bool | None
    would_be_flagged: bool
    applies: bool
    note: str


class DayTradesPublic(ResponseModel):
    window_start: date
    window_end: date
    day_trades: int
    total_trades: int
    day_trade_percent: DecimalOut
    days: list[DayCountPublic]
    legacy_pattern_day_trader: LegacyPdtPublic

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "window_start": "2024-01-01", "window_end": "2024-01-05", "day_trades": 4, "total_trades": 10,
                    "day_trade_percent": "40.00", "days": [{"day": "2024-01-02", "asset": "BTC", "day_trades": 4}],
                    "legacy_pattern_day_trader": {
                        "day_trades_at_least_4": True, "over_6_percent_of_trades": True, "margin_account": False,
                        "equity_under_25000_usd": True, "would_be_flagged": False, "applies": False, "note": PDT_NOTE,
                    },
                }
            ]
        }
    }  # fmt: skip


def _service(ctx) -> RiskService:
    return ctx.exchange.risk  # opened with the app (its profiles load at start); guards run in the exchange


def _profile_public(profile: RiskProfile) -> RiskProfilePublic:
    return RiskProfilePublic(**profile.to_dict(), not_enforced=[r for r in NOT_ENFORCED if getattr(profile, r)])


@router.get("/risk-profile", response_model=RiskProfilePublic, summary="The caller's risk profile")
async def get_risk_profile(principal: Reader, ctx: CtxDep) -> RiskProfilePublic:
    return _profile_public(_service(ctx).profile(principal.account))


@router.put("/risk-profile", response_model=RiskProfilePublic, summary="Replace the caller's risk profile")
async def put_risk_profile(body: RiskProfileUpdate, principal: Trader, ctx: CtxDep) -> RiskProfilePublic:
    profile = RiskProfile(**body.model_dump())
    service = _service(ctx)
    await run_in_threadpool(service.set_profile, principal.account, profile)
    return _profile_public(profile)


@router.get("/position-size", response_model=PositionSizePublic, summary="Size a position from entry and stop")
async def get_position_size(
    principal: Reader,
    ctx: CtxDep,
    market: Annotated[str, Query(max_length=25, examples=["BTC-USDT"])],
    entry: Annotated[str, Query(max_length=40, examples=["50000"])],
    stop: Annotated[str, Query(max_length=40, examples=["49000"])],
    risk_percent: Annotated[str | None, Query(max_length=40, description="Default: the profile's")] = None,
) -> PositionSizePublic:
    service = _service(ctx)
    percent = None if risk_percent is None else parse_decimal(risk_percent, "risk_percent")
    size, equity, percent = await run_in_threadpool(
        service.position_size, principal.account, symbol_of(market), entry, stop, percent
    )
    return PositionSizePublic(
        market=market_id(size.market), side=size.side, quantity=size.quantity, notional=size.notional, equity=equity,
        risk_percent=percent, risk_budget=size.risk_budget, loss_at_stop=size.loss_at_stop, fees=size.fees,
        limited_by=size.limited_by,
    )  # fmt: skip


@router.get("/portfolio", response_model=PortfolioPublic, summary="The caller's equity, exposure and positions")
async def get_portfolio(
    principal: Reader,
    ctx: CtxDep,
    currency: Annotated[str, Query(pattern=r"^[A-Z0-9]{1,12}$", description="USD or USDT (any listed asset)")] = "USDT",
) -> PortfolioPublic:
    service = _service(ctx)
    p = await run_in_threadpool(service.portfolio, principal.account, currency)
    return PortfolioPublic(
        currency=p.currency,
        equity=p.equity,
        assets=[AssetValuePublic(asset=a.asset, total=a.total, value=a.value, exposure_percent=a.exposure_percent,
                                 path=[market_id(m) for m in a.path]) for a in p.assets],
        positions=[PositionPublic(market=market_id(v.market), quantity=v.quantity,
                                  average_entry_price=v.average_entry_price, cost=v.cost, realised_pnl=v.realised_pnl,
                                  unrealised_pnl=v.unrealised_pnl, fees_paid=v.fees_paid, quote=v.quote)
                   for v in p.positions],
        unvalued=p.unvalued,
    )  # fmt: skip


@router.get("/day-trades", response_model=DayTradesPublic, summary="Day trades over the rolling 5 business days")
async def get_day_trades(principal: Reader, ctx: CtxDep) -> DayTradesPublic:
    service = _service(ctx)
    r = await run_in_threadpool(service.day_trades, principal.account, ctx.clock.now_ns())
    legacy = r.legacy_pattern_day_trader
    return DayTradesPublic(
        window_start=r.window_start, window_end=r.window_end, day_trades=r.day_trades, total_trades=r.total_trades,
        day_trade_percent=r.day_trade_percent,
        days=[DayCountPublic(day=d.day, asset=d.asset, day_trades=d.day_trades) for d in r.days],
        legacy_pattern_day_trader=LegacyPdtPublic(
            day_trades_at_least_4=legacy.day_trades_at_least_4,
            over_6_percent_of_trades=legacy.over_6_percent_of_trades, margin_account=legacy.margin_account,
            equity_under_25000_usd=legacy.equity_under_25000_usd, would_be_flagged=legacy.would_be_flagged,
            applies=legacy.applies, note=PDT_NOTE,
        ),
    )  # fmt: skip

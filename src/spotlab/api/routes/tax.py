"""Tax reports: the caller's realised gains and losses for one tax year, and its history for tax tools.

Endpoints
- ``GET /v1/tax/report?year=2022&method=fifo&currency=USD`` (``read``): the report of
  ``Exchange.tax_report`` as JSON: the tax year's first and last day, every line (each ``TaxLine``
  field: money and quantities as exact decimal strings, dates as ISO dates, the acquisition and sale
  moments as ISO 8601 UTC), the totals by asset and term, and the lots still open. ``method`` is fifo,
  lifo, hifo or uk (UK pooling; ``year`` is then the UK tax year ending in it, 6 April - 5 April).
  Specific identification needs a lot selection, which a query cannot carry: use the Python facade.
- ``&format=8949``: the same lines as a Form 8949-style CSV (``text/csv``); ``&format=audit``: the audit
  CSV, every line with the lot, disposal and order behind it (``spotlab.tax.report`` names the columns).
- ``GET /v1/tax/export?tool=koinly|cointracker`` (``read``): the caller's whole history (fills, deposits,
  withdrawals) as the CSV that tool imports (``spotlab.tax.exports`` documents the layouts).

Invariants
- Every route reads ``principal.account`` only: one account never sees another's lots or gains.
- Routes are thin: parse, call the exchange in the thread pool (a report reads the account's whole
  history), shape the answer. A bad year or method is 422, an unknown currency 404 (``UNKNOWN_ASSET``),
  both problem+json; nothing is stored, so a refused request changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from spotlab.api.deps import CtxDep, Reader
from spotlab.api.schemas import DecimalOut, ResponseModel
from spotlab.clock import ns_to_datetime

router = APIRouter(prefix="/v1/tax", tags=["tax"])

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
Method = Literal["fifo", "lifo", "hifo", "uk"]
Format = Literal["json", "8949", "audit"]
Tool = Literal["koinly", "cointracker"]

Year = Annotated[
    int, Query(ge=1970, le=9999, description="The tax year (uk: the UK tax year ending in it)", examples=[2022])
]
MethodQuery = Annotated[
    Method, Query(description="Cost basis: fifo, lifo, hifo (US rules) or uk (share pooling)", examples=["fifo"])
]
Currency = Annotated[
    str, Query(pattern=r"^[A-Z0-9]{1,12}$", description="The reporting currency (a listed asset)", examples=["USD"])
]


def _csv_responses(what: str) -> dict:
    return {200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": what}}


class TaxLinePublic(ResponseModel):
    asset: str
    quantity: DecimalOut
    date_acquired: date | None = Field(description="null for a UK section 104 pool line")
    date_sold: date
    proceeds: DecimalOut = Field(description="US: net of the selling fees; UK: gross")
    cost_basis: DecimalOut = Field(description="Buying fees included (UK: selling fees too)")
    gain: DecimalOut = Field(description="proceeds - cost_basis, exactly")
    term: Literal["short", "long"] | None = Field(description="US holding period; null under UK rules")
    rule: str = Field(description="The matching rule: the method, or same-day, 30-day, section-104")
    lot_id: str = Field(description="The acquisition(s) the cost came from: fill:<market>:<trade>:<side>, ...")
    disposal_id: str = Field(description="The disposal(s): a fill, or withdrawal:<seq>")
    reason: str = Field(description="Why this is a disposal (sell, fee, ...)")
    fees: DecimalOut = Field(description="The disposal costs inside this line")
    acquired_at: datetime | None = Field(description="The acquisition's moment (UTC); null for a pool")
    sold_at: datetime
    order_id: int = Field(description="The order of the disposing fill (0 if none)")


class TaxTotalPublic(ResponseModel):
    asset: str
    term: Literal["short", "long"] | None
    quantity: DecimalOut
    proceeds: DecimalOut
    cost_basis: DecimalOut
    gain: DecimalOut
    lines: int


class OpenLotPublic(ResponseModel):
    asset: str
    lot_id: str = Field(description="The acquisition it is left of (section-104 for a UK pool)")
    quantity: DecimalOut
    cost_basis: DecimalOut
    date_acquired: date | None


_LINE_EXAMPLE = {
    "asset": "BTC", "quantity": "0.3", "date_acquired": "2021-02-05", "date_sold": "2022-02-05",
    "proceeds": "13446.00", "cost_basis": "12048.00", "gain": "1398.00", "term": "short", "rule": "fifo",
    "lot_id": "fill:BTC/USD:1:buy", "disposal_id": "fill:BTC/USD:4:sell", "reason": "sell", "fees": "54.00",
    "acquired_at": "2021-02-05T15:00:00Z", "sold_at": "2022-02-05T12:00:00Z", "order_id": 8,
}  # fmt: skip


class TaxReportPublic(ResponseModel):
    year: int
    method: str
    currency: str = Field(description="Every money figure is in this currency")
    start: date = Field(description="The tax year's first day")
    end: date = Field(description="The tax year's last day")
    gain: DecimalOut = Field(description="The year's net gain (negative: a loss)")
    lines: list[TaxLinePublic] = Field(description="Short-term and long-term lines, oldest sale first per asset")
    totals: list[TaxTotalPublic] = Field(description="Exact sums per asset and term")
    open_lots: list[OpenLotPublic] = Field(description="What the whole history leaves open (now, not at year end)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "year": 2022, "method": "fifo", "currency": "USD", "start": "2022-01-01", "end": "2022-12-31",
                    "gain": "1398.00", "lines": [_LINE_EXAMPLE],
                    "totals": [{"asset": "BTC", "term": "short", "quantity": "0.3", "proceeds": "13446.00",
                                "cost_basis": "12048.00", "gain": "1398.00", "lines": 1}],
                    "open_lots": [{"asset": "BTC", "lot_id": "fill:BTC/USD:2:buy", "quantity": "0.2",
                                   "cost_basis": "6024.00", "date_acquired": "2021-06-01"}],
                }
            ]
        }
    }  # fmt: skip


def report_public(report) -> TaxReportPublic:
    """``TaxReportPublic`` of a ``spotlab.tax.report.TaxReport`` (``spotlab tax report --json`` writes it too)."""
    return TaxReportPublic(
        year=report.year, method=report.method, currency=report.currency, start=report.start, end=report.end,
        gain=report.gain,
        lines=[
            TaxLinePublic(
                asset=line.asset, quantity=line.quantity, date_acquired=line.date_acquired, date_sold=line.date_sold,
                proceeds=line.proceeds, cost_basis=line.cost_basis, gain=line.gain, term=line.term, rule=line.rule,
                lot_id=line.lot_id, disposal_id=line.disposal_id, reason=line.reason, fees=line.fees,
                acquired_at=None if line.acquired_ns is None else ns_to_datetime(line.acquired_ns),
                sold_at=ns_to_datetime(line.sold_ns), order_id=line.order_id,
            )
            for line in report.lines
        ],
        totals=[
            TaxTotalPublic(asset=t.asset, term=t.term, quantity=t.quantity, proceeds=t.proceeds,
                           cost_basis=t.cost_basis, gain=t.gain, lines=t.lines)
            for t in report.totals
        ],
        open_lots=[
            OpenLotPublic(asset=lot.asset, lot_id=lot.lot_id, quantity=lot.quantity, cost_basis=lot.cost_basis,
                          date_acquired=lot.date_acquired)
            for lot in report.open_lots
        ],
    )  # fmt: skip


def _csv(text: str, filename: str) -> Response:
    return Response(
        text, media_type=CSV_MEDIA_TYPE, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get(
    "/report",
    response_model=TaxReportPublic,
    summary="The caller's realised gains and losses for one tax year",
    responses=_csv_responses("JSON, or with format=8949 / format=audit a CSV file"),
)
async def get_tax_report(
    principal: Reader,
    ctx: CtxDep,
    year: Year,
    method: MethodQuery = "fifo",
    currency: Currency = "USD",
    file_format: Annotated[
        Format,
        Query(alias="format", description="json, 8949 (Form 8949-style CSV) or audit (CSV with lots and fills)"),
    ] = "json",
) -> TaxReportPublic | Response:
    exchange = ctx.exchange

    def build() -> TaxReportPublic | str:
        report = exchange.tax_report(principal.account, year=year, method=method, currency=currency)
        if file_format == "8949":
            return report.form_8949_csv()
        if file_format == "audit":
            return report.audit_csv()
        return report_public(report)

    answer = await run_in_threadpool(build)
    if file_format == "json":
        return answer
    return _csv(answer, f"spotlab-tax-{year}-{method}-{currency}-{file_format}.csv")


@router.get(
    "/export",
    summary="The caller's history as a CSV file a crypto tax tool imports",
    response_class=Response,
    responses=_csv_responses("The history in the tool's CSV layout, oldest first"),
)
async def get_tax_export(
    principal: Reader,
    ctx: CtxDep,
    tool: Annotated[Tool, Query(description="koinly (Universal template) or cointracker", examples=["koinly"])],
) -> Response:
    from spotlab.tax.exports import cointracker_csv, koinly_universal_csv

    write = koinly_universal_csv if tool == "koinly" else cointracker_csv
    exchange = ctx.exchange

    def build() -> str:
        return write(*exchange.account_history(principal.account))

    return _csv(await run_in_threadpool(build), f"spotlab-{tool}.csv")

"""Alert rules of the caller: create, list, read, change, delete; their firings. And the wiring of alerts.

Endpoints
- ``POST /v1/alerts`` (``trade`` scope): a rule over a market's candles (``spotlab.alerts.rules``); answers 201
  with the alert and its ``webhook_secret``, shown this once.
- ``GET /v1/alerts``, ``GET /v1/alerts/{id}``, ``GET /v1/alerts/{id}/triggers`` (``read`` scope).
- ``PATCH /v1/alerts/{id}`` (enable/disable, rule, webhook_url, note), ``DELETE /v1/alerts/{id}`` (``trade``).

Invariants
- Every route acts on ``principal.account`` only; another account's alert is 404 ``NOT_FOUND``.
- A bad rule is 422 ``INVALID_ARGUMENT`` saying where (column) and what was expected; nothing is stored.
- Routes are thin: they call ``AlertService`` (kept in ``ctx.extras["alerts"]``) in the thread pool.
- ``start_alerts`` (called by the app's lifespan) opens the alert tables beside the store, watches every
  enabled alert, feeds it the history's closed candles, and delivers each firing to the private WebSocket
  channel ``alerts`` and, if the alert has one, to its webhook (``spotlab.alerts.webhooks``). Firings come
  from the candle thread and are handed to the event loop; nothing there waits for a receiver.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import Field

from spotlab.alerts.service import (
    MAX_NOTE,
    MAX_URL,
    AlertService,
    Fired,
    alert_message,
    message_bytes,
    values_text,
)
from spotlab.alerts.store import AlertRecord, AlertStore, TriggerRecord
from spotlab.alerts.webhooks import Delivery, WebhookWorker
from spotlab.api.deps import CtxDep, Reader, Trader
from spotlab.api.schemas import MarketId, RequestModel, ResponseModel, decode_cursor, encode_cursor, symbol_of
from spotlab.api.streams import private_topic
from spotlab.clock import ns_to_datetime
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.store.history_queries import MAX_LIMIT
from spotlab.store.sql import sql_engine

__all__ = ["router", "start_alerts"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["alerts"])

_RULE_EXAMPLE = "rsi(14) < 30 and close > ema(200)"
Interval = Annotated[
    str,
    Field(
        pattern=r"^(1m|3m|5m|15m|30m|1h|4h|1d|1w)$",
        examples=["1h"],
        description="Candle interval: 1m, 3m, 5m, 15m, 30m, 1h, 4h, 1d or 1w",
    ),
]
RuleText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        examples=[_RULE_EXAMPLE],
        description="A condition over price fields and indicators, e.g. `close crosses_above sma(50)` (README).",
    ),
]
WebhookUrl = Annotated[
    str | None,
    Field(max_length=MAX_URL, examples=["https://example.com/hooks/spotlab"], description="http(s) URL to POST to"),
]
Note = Annotated[str, Field(max_length=MAX_NOTE, examples=["oversold in an uptrend"])]
AlertId = Annotated[int, Path(ge=1, le=2**62, description="The alert's id", examples=[7])]


class AlertCreate(RequestModel):
    market: MarketId
    interval: Interval = "1m"
    rule: RuleText
    webhook_url: WebhookUrl = None
    note: Note = ""


class AlertUpdate(RequestModel):
    """Only the fields sent change; ``webhook_url: null`` removes the webhook."""

    enabled: bool | None = Field(None, examples=[False])
    rule: RuleText | None = None
    webhook_url: WebhookUrl = None
    note: Note | None = None


class AlertPublic(ResponseModel):
    id: int = Field(examples=[7])
    market: str = Field(examples=["BTC-USDT"])
    interval: str = Field(examples=["1h"])
    rule: str = Field(examples=[_RULE_EXAMPLE])
    webhook_url: str | None = Field(examples=["https://example.com/hooks/spotlab"])
    note: str = Field(examples=["oversold in an uptrend"])
    enabled: bool = Field(examples=[True])
    created_at: datetime = Field(examples=["2024-01-01T12:00:00Z"])
    updated_at: datetime = Field(examples=["2024-01-01T12:00:00Z"])


class AlertCreated(AlertPublic):
    webhook_secret: str = Field(
        description="Signs every webhook delivery of this alert (X-Spotlab-Signature); shown only now.",
        examples=["whsec_3f1c2a0e9b8d7c6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7"],
    )


class TriggerPublic(ResponseModel):
    id: int = Field(examples=[42])
    alert_id: int = Field(examples=[7])
    candle_open_time: datetime = Field(examples=["2024-01-01T11:00:00Z"], description="The closed candle it fired on")
    fired_at: datetime = Field(examples=["2024-01-01T12:00:00.120000Z"])
    values: dict[str, str | None] = Field(
        examples=[{"close": "42150.5", "ema(200)": "41800.25", "rsi(14)": "28.4"}],
        description="The price fields and indicators of the rule at that candle, as decimal strings (null: unknown)",
    )
    delivery: str | None = Field(
        None,
        examples=["delivered"],
        description="Webhook outcome: delivered, rejected, gave_up, dropped, blocked, or null",
    )


class TriggerPage(ResponseModel):
    items: list[TriggerPublic]
    next_cursor: str | None = Field(None, description="Opaque; absent on the last page.")


def _time(ns: int) -> datetime:
    return ns_to_datetime(ns)


def alert_public(record: AlertRecord) -> AlertPublic:
    return AlertPublic(
        id=record.id,
        market=record.market.replace("/", "-"),
        interval=record.interval,
        rule=record.rule,
        webhook_url=record.webhook_url,
        note=record.note,
        enabled=record.enabled,
        created_at=_time(record.created_at),
        updated_at=_time(record.updated_at),
    )


def trigger_public(record: TriggerRecord) -> TriggerPublic:
    return TriggerPublic(
        id=record.id,
        alert_id=record.alert_id,
        candle_open_time=_time(record.candle_open_time),
        fired_at=_time(record.fired_at),
        values=values_text(record.values),
        delivery=record.delivery,
    )


def service_of(ctx: Any) -> AlertService:
    service = ctx.extras.get("alerts")
    if service is None:
        raise SpotlabError(ErrorCode.STORE_UNAVAILABLE, "alerts are not available on this server")
    return service


# -- routes ---------------------------------------------------------------------------------------------


@router.post("/alerts", status_code=201, response_model=AlertCreated, summary="Create an alert rule")
def create_alert(body: AlertCreate, principal: Trader, ctx: CtxDep) -> AlertCreated:
    symbol = ctx.exchange.market(symbol_of(body.market)).symbol
    record, secret = service_of(ctx).create(
        principal.account, symbol, body.interval, body.rule, body.webhook_url, body.note
    )
    return AlertCreated(**alert_public(record).model_dump(), webhook_secret=secret)


@router.get("/alerts", response_model=list[AlertPublic], summary="The caller's alert rules, newest first")
def list_alerts(principal: Reader, ctx: CtxDep) -> list[AlertPublic]:
    return [alert_public(record) for record in service_of(ctx).list(principal.account)]


@router.get("/alerts/{alert_id}", response_model=AlertPublic, summary="One of the caller's alert rules")
def get_alert(alert_id: AlertId, principal: Reader, ctx: CtxDep) -> AlertPublic:
    return alert_public(service_of(ctx).get(principal.account, alert_id))


@router.patch("/alerts/{alert_id}", response_model=AlertPublic, summary="Enable, disable or change an alert rule")
def update_alert(alert_id: AlertId, body: AlertUpdate, principal: Trader, ctx: CtxDep) -> AlertPublic:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    for name in ("enabled", "rule", "note"):
        if name in changes and changes[name] is None:
            raise SpotlabError(ErrorCode.VALIDATION_ERROR, f"{name} cannot be null", field=name)
    service = service_of(ctx)
    if not changes:
        return alert_public(service.get(principal.account, alert_id))
    return alert_public(service.update(principal.account, alert_id, **changes))


@router.delete("/alerts/{alert_id}", status_code=204, summary="Delete an alert rule and its firings")
def delete_alert(alert_id: AlertId, principal: Trader, ctx: CtxDep) -> Response:
    service_of(ctx).delete(principal.account, alert_id)
    return Response(status_code=204)


@router.get("/alerts/{alert_id}/triggers", response_model=TriggerPage, summary="An alert's firings, newest first")
def list_triggers(
    alert_id: AlertId,
    principal: Reader,
    ctx: CtxDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page")] = 100,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")] = None,
) -> TriggerPage:
    items = service_of(ctx).triggers(principal.account, alert_id, limit + 1, decode_cursor(cursor))
    page = items[:limit]
    more = len(items) > limit
    return TriggerPage(
        items=[trigger_public(t) for t in page], next_cursor=encode_cursor(page[-1].id) if more else None
    )


# -- wiring ---------------------------------------------------------------------------------------------


async def start_alerts(app: Any, store_url: str | None, *, webhooks: WebhookWorker | None = None):
    """Open the alerts (``ctx.extras["alerts"]``) and their deliveries; call on the running loop after the
    streams (``ctx.hub``) exist. Returns the async stop function."""
    ctx = app.state.ctx
    loop = asyncio.get_running_loop()
    engine = sql_engine(store_url, "alerts")
    store = AlertStore(engine)
    history = ctx.history
    recent = None if history is None else recent_candles(history)
    allow_private = ctx.settings.webhook_allow_private
    service = AlertService(store, ctx.accounts.server_key, ctx.clock, ctx.exchange.market_spec, recent, allow_private)
    worker = webhooks or WebhookWorker(store_record(store, ctx.clock), allow_private=allow_private)
    await worker.start()
    ctx.extras["alerts"] = service
    ctx.extras["webhooks"] = worker
    await asyncio.to_thread(service.load)

    def deliver(fired: Fired) -> None:  # on the loop
        message = alert_message(fired)
        hub = ctx.hub
        if hub is not None:
            hub.hub.publish(private_topic("alerts", fired.triggered.account), message)
        if fired.webhook_url and fired.webhook_secret:
            worker.submit(Delivery(fired.trigger_id, fired.webhook_url, fired.webhook_secret, message_bytes(message)))

    def on_fired(fired: Fired) -> None:  # on the candle thread
        try:
            loop.call_soon_threadsafe(deliver, fired)
        except RuntimeError:
            log.debug("alert firing %d not delivered: the event loop is closed", fired.trigger_id)

    service.add_sink(on_fired)
    # the projector thread only hands closed candles over; one worker thread evaluates them, in order
    evaluator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts")

    def on_candles(_updated: list, closed: list) -> None:
        if closed:
            evaluator.submit(_evaluate, service, closed)

    unsubscribe = None if history is None else history.subscribe_candles(on_candles)

    async def stop() -> None:
        if unsubscribe is not None:
            unsubscribe()
        await asyncio.to_thread(evaluator.shutdown, wait=True)
        await worker.stop()
        engine.dispose()
        ctx.extras.pop("alerts", None)

    return stop


def _evaluate(service: AlertService, closed: list) -> None:
    try:
        service.on_candles(closed)
    except Exception:  # a bug here must not stop later candles
        log.exception("alerts failed on %d closed candles", len(closed))


def recent_candles(history: Any):
    """``(market, interval, limit) -> the newest closed candles, oldest first`` from the history read model."""

    def recent(market: str, interval: str, limit: int) -> list:
        return [c for c in history.candles(market, interval, limit=min(limit, MAX_LIMIT)) if c.closed]

    return recent


def store_record(store: AlertStore, clock: Any):
    def record(trigger_id: int, attempt: int, outcome: str, status: int | None, error: str | None) -> None:
        store.record_delivery(trigger_id, attempt, outcome, status, error, clock.now_ns())

    return record

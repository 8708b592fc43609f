"""Orders and fills of the caller: place, list, get, cancel, cancel all, reduce; the account's trades;
order lists (OCO, bracket): place, get, cancel; quotes: replace a market's in one step.

Invariants
- Every route acts on ``principal.account`` only. Another account's order is "not
  found" (404 ``ORDER_NOT_FOUND``, never 403), so order ids do not leak.
- Placing, cancelling and reducing need the ``trade`` scope; reading needs ``read``.
  A refused request changes nothing (the exchange's refusals are atomic).
- ``POST /v1/orders`` answers 201 with a new order, 200 with the original order when
  ``client_order_id`` repeats with the same parameters, and 409
  ``DUPLICATE_CLIENT_ORDER_ID`` when it repeats with others. It awaits durability on
  the event loop (``exchange.aio``) and returns the model itself (FastAPI serialises
  it in one pass): it is the hot path. It and ``DELETE /v1/orders/{order_id}`` authenticate
  with ``HotTrader`` (one dependency instead of ``Trader``'s seven; same answers, same
  documented security: see ``spotlab.api.deps``).
- ``POST /v1/orders`` takes the conditional types too (stop-loss, take-profit, trailing);
  ``/v1/order-lists`` places, reads and cancels OCOs and brackets. Another account's list
  is 404 ``ORDER_NOT_FOUND``. ``POST /v1/order-lists`` answers as ``POST /v1/orders`` does: 201 with a
  new list, 200 with the original list when its ``client_order_id`` repeats with the same body, 409
  ``DUPLICATE_CLIENT_ORDER_ID`` (naming ``list_id``) with another; without a client id each POST
  places a new list. Lists' client ids are apart from orders'.
- ``PUT /v1/quotes/{market}`` (``trade`` scope) cancels the caller's resting orders in the market and rests
  the body's quotes (GTC limits) in their place as one exchange command: all or nothing, one durable
  write (``Exchange.replace_quotes``). Refused (and nothing changed) for an account with conditional
  orders or order lists there, or with a risk profile.
- Lists are newest first with cursor pagination. Open orders (``open=true``) and
  lookups by ``client_order_id`` come from the exchange (live, exact); everything else
  from the history read model after it has applied the exchange's last event, so a
  caller always reads its own writes. Blocking history queries run in the thread pool.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from spotlab.api.context import ApiContext
from spotlab.api.deps import HOT_SECURITY, CtxDep, HotTrader, Reader, Trader
from spotlab.api.routes.order_schemas import (
    AccountFillPage,
    AccountFillPublic,
    ClientOrderId,
    OrderCreate,
    OrderListCreate,
    OrderListPublic,
    OrderPage,
    OrderPublic,
    OrderReduce,
    OrderStatusIn,
    QuotesPublic,
    QuotesReplace,
    account_fill_public,
    order_json,
    order_list_public,
    order_public,
    orders_json,
    place,
    place_list,
    quotes_json,
)
from spotlab.api.schemas import decode_cursor, encode_cursor, symbol_of
from spotlab.core.orders import OrderStatus
from spotlab.core.units import MAX_UNITS
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange.views import OrderView

router = APIRouter(prefix="/v1", tags=["orders"])

OrderId = Annotated[int, Path(ge=1, le=MAX_UNITS, description="The order's id", examples=[1042])]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")]
MarketFilter = Annotated[str | None, Query(max_length=25, description="Only this market, e.g. BTC-USDT")]


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderPublic,
    summary="Place an order",
    responses={200: {"model": OrderPublic, "description": "client_order_id already used for this order: the original"}},
    openapi_extra=HOT_SECURITY,
)
async def place_order(body: OrderCreate, principal: HotTrader, ctx: CtxDep, response: Response) -> Response:
    started = time.perf_counter_ns()
    view = await place(ctx.exchange, principal.account, body)
    if not view.duplicate and ctx.metrics is not None:  # the same figures as WebSocket order entry
        ctx.metrics.observe_command((time.perf_counter_ns() - started) / 1e9)
        ctx.metrics.count_order(body.market.replace("/", "-"), str(view.side), str(view.type))
        ctx.metrics.count_trades(body.market.replace("/", "-"), len(view.fills))
    return _json(order_json(view), 200 if view.duplicate else 201, response)


@router.get("/orders", response_model=OrderPage, summary="List the caller's orders, newest first")
async def list_orders(
    principal: Reader,
    ctx: CtxDep,
    market: MarketFilter = None,
    status: Annotated[OrderStatusIn | None, Query(description="Only orders in this status")] = None,
    open_only: Annotated[bool, Query(alias="open", description="Only open orders (live from the exchange)")] = False,
    client_order_id: Annotated[ClientOrderId | None, Query(description="The order with this client id")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> OrderPage:
    symbol = _known_market(ctx, market)
    before = decode_cursor(cursor)
    if client_order_id is not None:
        views = _by_client_order_id(ctx, principal.account, client_order_id)
        return _order_page(_filtered(views, symbol, status, open_only, before), limit)
    if open_only:
        views = sorted(ctx.exchange.open_orders(principal.account, symbol), key=lambda v: v.id, reverse=True)
        return _order_page(_filtered(views, None, status, False, before), limit)
    history = await _caught_up_history(ctx)
    page = await run_in_threadpool(
        history.orders, principal.account, market=symbol, status=status, limit=limit, before=before
    )
    return OrderPage(items=[order_public(v) for v in page.items], next_cursor=encode_cursor(page.next_before))


@router.get("/orders/{order_id}", response_model=OrderPublic, summary="One of the caller's orders")
async def get_order(order_id: OrderId, principal: Reader, ctx: CtxDep) -> OrderPublic:
    try:
        return order_public(ctx.exchange.order(principal.account, order_id))
    except SpotlabError as error:
        if error.code is not ErrorCode.ORDER_NOT_FOUND or ctx.history is None:
            raise
    history = await _caught_up_history(ctx)
    return order_public(await run_in_threadpool(history.order, principal.account, order_id))


@router.delete(
    "/orders/{order_id}",
    response_model=OrderPublic,
    summary="Cancel an order",
    openapi_extra=HOT_SECURITY,
)
async def cancel_order(order_id: OrderId, principal: HotTrader, ctx: CtxDep, response: Response) -> Response:
    return _json(order_json(await ctx.exchange.aio.cancel_order(principal.account, order_id)), 200, response)


@router.delete(
    "/orders",
    response_model=list[OrderPublic],
    summary="Cancel all of the caller's open orders in a market",
)
async def cancel_all_orders(
    principal: Trader,
    ctx: CtxDep,
    market: Annotated[str, Query(max_length=25, description="The market, e.g. BTC-USDT", examples=["BTC-USDT"])],
    response: Response,
) -> Response:
    views = await ctx.exchange.aio.cancel_all_orders(principal.account, symbol_of(market))
    return _json(orders_json(views), 200, response)


@router.put(
    "/quotes/{market}",
    response_model=QuotesPublic,
    summary="Replace the caller's quotes in a market in one step (a market maker's re-quote)",
)
async def replace_quotes(
    market: Annotated[str, Path(max_length=25, description="The market, e.g. BTC-USDT", examples=["BTC-USDT"])],
    body: QuotesReplace,
    principal: Trader,
    ctx: CtxDep,
    response: Response,
) -> Response:
    started = time.perf_counter_ns()
    quotes = [(quote.side, quote.price, quote.quantity) for quote in body.quotes]
    view = await ctx.exchange.aio.replace_quotes(principal.account, symbol_of(market), quotes)
    if ctx.metrics is not None:
        ctx.metrics.observe_command((time.perf_counter_ns() - started) / 1e9)
        ctx.metrics.count_placed(view.placed)
    return _json(quotes_json(view), 200, response)


@router.patch(
    "/orders/{order_id}",
    response_model=OrderPublic,
    summary="Reduce an open order's quantity (it keeps its place in the book)",
)
async def reduce_order(
    order_id: OrderId, body: OrderReduce, principal: Trader, ctx: CtxDep, response: Response
) -> Response:
    view = await ctx.exchange.aio.reduce_order(principal.account, order_id, body.quantity)
    return _json(order_json(view), 200, response)


@router.get("/fills", response_model=AccountFillPage, summary="The caller's trades, newest first")
async def list_fills(
    principal: Reader, ctx: CtxDep, market: MarketFilter = None, limit: Limit = 100, cursor: Cursor = None
) -> AccountFillPage:
    symbol = _known_market(ctx, market)
    before = decode_cursor(cursor)
    history = await _caught_up_history(ctx)
    page = await run_in_threadpool(history.fills, principal.account, market=symbol, limit=limit, before=before)
    items: list[AccountFillPublic] = [account_fill_public(fill) for fill in page.items]
    return AccountFillPage(items=items, next_cursor=encode_cursor(page.next_before))


# -- order lists (OCO, bracket) ---------------------------------------------------------------

ListId = Annotated[int, Path(ge=1, le=MAX_UNITS, description="The order list's id", examples=[7])]


@router.post(
    "/order-lists",
    status_code=201,
    response_model=OrderListPublic,
    summary="Place an OCO or a bracket",
    responses={
        200: {"model": OrderListPublic, "description": "client_order_id already used for this list: the original"}
    },
)
async def place_order_list(
    body: OrderListCreate, principal: Trader, ctx: CtxDep, response: Response
) -> OrderListPublic:
    view = await place_list(ctx.exchange, principal.account, body)
    if view.duplicate:
        response.status_code = 200
    return order_list_public(view)


@router.get("/order-lists/{list_id}", response_model=OrderListPublic, summary="One of the caller's order lists")
async def get_order_list(list_id: ListId, principal: Reader, ctx: CtxDep) -> OrderListPublic:
    return order_list_public(ctx.exchange.order_list(principal.account, list_id))


@router.delete("/order-lists/{list_id}", response_model=OrderListPublic, summary="Cancel an order list's open orders")
async def cancel_order_list(list_id: ListId, principal: Trader, ctx: CtxDep) -> OrderListPublic:
    return order_list_public(await ctx.exchange.aio.cancel_order_list(principal.account, list_id))


# -- helpers ------------------------------------------------------------------------------------


def _known_market(ctx: ApiContext, market: str | None) -> str | None:
    """``BTC-USDT`` -> ``BTC/USDT`` after checking the market exists (404 ``UNKNOWN_MARKET``)."""
    if market is None:
        return None
    return ctx.exchange.market(symbol_of(market)).symbol


async def _caught_up_history(ctx: ApiContext):
    """The history read model once it has applied every event the exchange has answered for."""
    if ctx.history is None:
        raise SpotlabError(ErrorCode.STORE_UNAVAILABLE, "order history is not available on this server")
    if not await ctx.history.wait_async(ctx.exchange.last_sequence):
        raise SpotlabError(ErrorCode.STORE_UNAVAILABLE, "order history is behind the exchange; retry shortly")
    return ctx.history


def _json(body: bytes, status: int, response: Response) -> Response:
    """An answer already written as JSON (``order_json``: the declared model's bytes, without building it). FastAPI
    passes a returned ``Response`` through as it is, so the headers set on the route's ``response`` are copied."""
    answer = Response(body, status_code=status, media_type="application/json")
    answer.headers.raw.extend(response.headers.raw)
    return answer


def _by_client_order_id(ctx: ApiContext, account: str, client_order_id: str) -> list[OrderView]:
    try:
        return [ctx.exchange.order_by_client_id(account, client_order_id)]
    except SpotlabError as error:
        if error.code is ErrorCode.ORDER_NOT_FOUND:
            return []
        raise


def _filtered(
    views: list[OrderView], symbol: str | None, status: OrderStatus | None, open_only: bool, before: int | None
) -> list[OrderView]:
    return [
        v
        for v in views
        if (symbol is None or v.market == symbol)
        and (status is None or v.status == status)
        and (not open_only or v.is_open)
        and (before is None or v.id < before)
    ]


def _order_page(views: list[OrderView], limit: int) -> OrderPage:
    """The first ``limit`` of ``views`` (newest first), with a cursor if more follow."""
    page = views[:limit]
    more = len(views) > limit
    return OrderPage(items=[order_public(v) for v in page], next_cursor=encode_cursor(page[-1].id) if more else None)

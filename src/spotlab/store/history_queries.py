"""The read side of the history: paginated queries over the projected tables, and the 24 h ticker.

Invariants
- Every listing is newest first and paginated by a cursor: ``before`` is the id (order
  id, fill id, trade id, event sequence) of the last item of the previous page, and a
  page's ``next_before`` is ``None`` exactly when nothing older matches. Walking the
  pages visits every matching item once, even while new items arrive (they are newer
  than any cursor); only an order whose status changes meanwhile can leave or enter a
  status-filtered walk.
- ``limit`` is 1..1000; an unknown market raises ``UNKNOWN_MARKET``, a bad status or
  limit ``INVALID_ARGUMENT``.
- Every account-scoped query filters on the account: one account never sees another's
  rows (an order of someone else is "not found").
- Integers become ``Decimal`` only here, through the market and asset specs (candles
  stay integers: ``spotlab.marketdata.candles.Candle``; the API converts them).
- ``candles`` are oldest first, like Binance's klines: from ``start_ns`` on if given,
  otherwise the newest ``limit`` up to ``end_ns``; both bounds filter on ``open_time``
  and are inclusive.
- Orders come back as ``OrderView`` built by ``spotlab.exchange.views.order_view`` from
  the projected record, so they read exactly like the engine's own views (without fills).
  Rejected orders (``OrderRejected``) have no order id and are not listed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import sqlalchemy as sa

from spotlab.clock import ns_to_datetime
from spotlab.core.markets import MarketSpec
from spotlab.core.orders import OrderStatus
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange.views import OrderView, Trade, Withdrawal, order_view
from spotlab.marketdata.candles import Candle, interval_ns
from spotlab.marketdata.ticker import MINUTE_NS, MarketTickers
from spotlab.store import history_tables as t

if TYPE_CHECKING:
    from spotlab.exchange.service import Exchange

T = TypeVar("T")
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing, newest first; pass ``next_before`` as ``before`` for the next (``None``: no more)."""

    items: list[T]
    next_before: int | None


@dataclass(frozen=True, slots=True)
class AccountFill:
    """One of an account's trades, from its own order's side."""

    id: int  # 2 x the OrderFilled event's seq, + 1 for the taker side
    trade_id: int
    order_id: int
    market: str
    side: str
    role: str  # "maker" or "taker"
    price: Decimal
    quantity: Decimal
    notional: Decimal
    fee: Decimal
    fee_asset: str
    time: datetime


@dataclass(frozen=True, slots=True)
class DepositView:
    account: str
    asset: str
    amount: Decimal
    sequence: int  # the Deposited event's sequence number
    time: datetime


@dataclass(frozen=True, slots=True)
class TickerView:
    """24 h rolling statistics of a market's trades; prices ``None`` when nothing traded in the window."""

    market: str
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    last: Decimal | None
    change: Decimal | None
    change_percent: Decimal | None  # half-even to two decimals
    base_volume: Decimal
    quote_volume: Decimal
    trade_count: int
    open_time: datetime | None  # the start of the window's first minute with a trade
    close_time: datetime  # ``now``


class HistoryReader:
    """Queries over the history tables; ``History`` adds the projector that fills them."""

    def __init__(self, engine: sa.Engine, db_lock: Any, tickers: MarketTickers) -> None:
        self._engine = engine
        self._db_lock = db_lock  # a real lock only for a single-connection in-memory database
        self._tickers = tickers
        self._tickers_lock = threading.Lock()
        self._exchange: Exchange | None = None

    # -- orders -------------------------------------------------------------------------------

    def orders(
        self,
        account: str,
        market: str | None = None,
        status: str | None = None,
        open_only: bool = False,
        limit: int = 100,
        before: int | None = None,
    ) -> Page[OrderView]:
        """``account``'s orders, newest first: in ``market``, in ``status``, or only open ones if asked."""
        c = t.orders.c
        query = sa.select(t.orders).where(c.account == account)
        if market is not None:
            query = query.where(c.market == self._spec(market).symbol)
        if status is not None:
            query = query.where(c.status == _status(status))
        if open_only:
            query = query.where(c.is_open == sa.true())
        rows, next_before = self._page(query, c.id, limit, before)
        return Page([order_view(t.order_record(r), self._spec(r.market)) for r in rows], next_before)

    def order(self, account: str, order_id: int) -> OrderView:
        """One of ``account``'s orders, open or closed; ``ORDER_NOT_FOUND`` otherwise."""
        c = t.orders.c
        rows = self._read(sa.select(t.orders).where(c.id == order_id, c.account == account))
        if not rows:
            raise SpotlabError(
                ErrorCode.ORDER_NOT_FOUND, f"order {order_id} not found for account {account!r}", order_id=order_id
            )
        return order_view(t.order_record(rows[0]), self._spec(rows[0].market))

    # -- trades ---------------------------------------------------------------------------------

    def fills(
        self, account: str, market: str | None = None, limit: int = 100, before: int | None = None
    ) -> Page[AccountFill]:
        """``account``'s own trades, newest first (a self-trade shows both sides)."""
        c = t.fills.c
        query = sa.select(t.fills).where(c.account == account)
        if market is not None:
            query = query.where(c.market == self._spec(market).symbol)
        rows, next_before = self._page(query, c.id, limit, before)
        return Page([self._fill(r) for r in rows], next_before)

    def trades(self, market: str, limit: int = 100, before: int | None = None) -> Page[Trade]:
        """The market's trades, newest first; ``before`` is a trade id."""
        spec = self._spec(market)
        c = t.trades.c
        query = sa.select(c.trade_id, c.ts, c.price, c.quantity, c.taker_side).where(c.market == spec.symbol)
        rows, next_before = self._page(query, c.trade_id, limit, before)
        return Page(
            [
                Trade(r.trade_id, spec.symbol, spec.price(r.price), spec.quantity(r.quantity), r.taker_side,
                      ns_to_datetime(r.ts))
                for r in rows
            ],
            next_before,
        )  # fmt: skip

    def ticker(self, market: str, now_ns: int) -> TickerView:
        """24 h rolling statistics at ``now_ns`` (best bid and ask come from the live book, not from here)."""
        spec = self._spec(market)
        with self._tickers_lock:
            stats = self._tickers.stats(spec.symbol, now_ns)
        if stats is None:
            return TickerView(
                spec.symbol, None, None, None, None, None, None, spec.quantity(0), spec.quote.to_decimal(0), 0, None,
                ns_to_datetime(now_ns),
            )  # fmt: skip
        return TickerView(
            spec.symbol,
            spec.price(stats.open),
            spec.price(stats.high),
            spec.price(stats.low),
            spec.price(stats.last),
            spec.price(stats.change),
            stats.change_percent,
            spec.quantity(stats.base_volume),
            spec.quote.to_decimal(stats.quote_volume),
            stats.trade_count,
            ns_to_datetime(stats.first_minute * MINUTE_NS),
            ns_to_datetime(now_ns),
        )

    def candles(
        self,
        market: str,
        interval: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 500,
    ) -> list[Candle]:
        """The market's candles of ``interval``, oldest first, with ``start_ns <= open_time <= end_ns``.

        With ``start_ns``, the first ``limit`` from there; without it, the newest ``limit`` (as Binance).
        ``UNKNOWN_MARKET`` for an unknown market; ``INVALID_ARGUMENT`` for an unknown interval, a bad
        limit, or ``start_ns > end_ns``.
        """
        spec = self._spec(market)
        interval_ns(interval)
        limit = _limit(limit)
        for name, bound in (("start", start_ns), ("end", end_ns)):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
                raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{name} must be an integer time in ns, got {bound!r}")
        if start_ns is not None and end_ns is not None and start_ns > end_ns:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"start ({start_ns}) is after end ({end_ns})")
        c = t.candles.c
        query = sa.select(t.candles).where(c.market == spec.symbol, c.interval == interval)
        if end_ns is not None:
            query = query.where(c.open_time <= end_ns)
        if start_ns is not None:
            rows = self._read(query.where(c.open_time >= start_ns).order_by(c.open_time).limit(limit))
        else:
            rows = self._read(query.order_by(c.open_time.desc()).limit(limit))[::-1]
        return [t.candle_of(r) for r in rows]

    # -- funds --------------------------------------------------------------------------------

    def deposits(self, account: str, limit: int = 100, before: int | None = None) -> Page[DepositView]:
        """``account``'s deposits, newest first; ``before`` is an event sequence number."""
        c = t.deposits.c
        rows, next_before = self._page(sa.select(t.deposits).where(c.account == account), c.seq, limit, before)
        items = []
        for r in rows:
            asset = self._exchange_required().asset_spec(r.asset)
            items.append(DepositView(r.account, r.asset, asset.to_decimal(r.amount), r.seq, ns_to_datetime(r.ts)))
        return Page(items, next_before)

    def withdrawals(self, account: str, limit: int = 100, before: int | None = None) -> Page[Withdrawal]:
        """``account``'s withdrawals, newest first; ``before`` is an event sequence number."""
        c = t.withdrawals.c
        rows, next_before = self._page(sa.select(t.withdrawals).where(c.account == account), c.seq, limit, before)
        items = []
        for r in rows:
            asset = self._exchange_required().asset_spec(r.asset)
            items.append(
                Withdrawal(
                    r.account, r.asset, asset.to_decimal(r.amount), asset.to_decimal(r.fee),
                    asset.to_decimal(r.amount - r.fee), r.address, r.seq, ns_to_datetime(r.ts),
                )
            )  # fmt: skip
        return Page(items, next_before)

    # -- helpers ------------------------------------------------------------------------------

    def _page(self, query: sa.Select, key: sa.Column, limit: int, before: int | None) -> tuple[list[Any], int | None]:
        """The rows of one page (newest first by ``key``) and the cursor of the next page."""
        limit = _limit(limit)
        if before is not None:
            query = query.where(key < _cursor(before))
        rows = self._read(query.order_by(key.desc()).limit(limit + 1))
        if len(rows) > limit:
            return rows[:limit], getattr(rows[limit - 1], key.name)
        return rows, None

    def _read(self, query: sa.Select) -> list[Any]:
        with self._db_lock, self._engine.connect() as conn:
            return conn.execute(query).all()

    def _exchange_required(self) -> Exchange:
        if self._exchange is None:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "this history is not attached to an exchange yet")
        return self._exchange

    def _spec(self, market: str) -> MarketSpec:
        return self._exchange_required().market_spec(market)

    def _fill(self, r: Any) -> AccountFill:
        spec = self._spec(r.market)
        quote = spec.quote
        return AccountFill(
            r.id, r.trade_id, r.order_id, r.market, r.side, r.role, spec.price(r.price), spec.quantity(r.quantity),
            quote.to_decimal(r.notional), quote.to_decimal(r.fee), quote.code, ns_to_datetime(r.ts),
        )  # fmt: skip


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit


def _cursor(before: int) -> int:
    if isinstance(before, bool) or not isinstance(before, int) or before < 0:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"before must be a non-negative integer id, got {before!r}")
    return before


def _status(status: str) -> str:
    try:
        return str(OrderStatus(str(status).upper()))
    except ValueError:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown order status {status!r}; use one of {', '.join(OrderStatus)}",
        ) from None

"""The exchange service: the Python facade every caller uses (REST, WebSocket, CLI, strategies).

Invariants
- One command at a time: a lock serialises every command across all markets, so
  each market has exactly one writer and every event gets its place in one global
  sequence. Reads take the same lock and see a consistent state.
- A command is stamped with the clock's time (never earlier than the previous
  command's), applied by the engine, appended to the store, and only then
  answered: the call returns after the store says the record is durable
  (group commit: concurrent callers share one sync). Waiting happens outside
  the lock, so other commands proceed meanwhile.
- A refusal raises ``SpotlabError`` and changes nothing; a well-formed order that
  is rejected is logged as ``OrderRejected`` and then raised.
- If the store fails, the exchange stops accepting commands (fail-stop); reopening
  rebuilds from what is durable.
- Safe to call from threads and from asyncio (``exchange.aio``): the lock is only
  held for in-memory work, never across I/O.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from spotlab.catalogue import load_catalogue
from spotlab.clock import Clock, WallClock, ns_to_datetime
from spotlab.core import order_lists, state
from spotlab.core.commands import (
    CancelAllOrders,
    CancelOrder,
    CancelOrderList,
    CreateAccount,
    Deposit,
    ListAsset,
    ListMarket,
    PlaceOrder,
    PlaceOrderList,
    ReduceOrder,
    ReplaceQuotes,
    SetMarketStatus,
    Withdraw,
)
from spotlab.core.engine import DEFAULT_CLOSED_ORDERS_KEPT, Engine, Outcome
from spotlab.core.events import Event
from spotlab.core.ledger import FEE_ACCOUNT
from spotlab.core.markets import Asset, Catalogue, MarketSpec, MarketStatus
from spotlab.core.orders import DEFAULT_SELF_TRADE_PREVENTION, SelfTradePrevention, Side
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange import edge
from spotlab.exchange.account_records import AccountRecords
from spotlab.exchange.aio import AsyncExchange
from spotlab.exchange.price_history import PriceHistory
from spotlab.exchange.recovery import recover
from spotlab.exchange.risk import RiskInputs, RiskService, risk_inputs
from spotlab.exchange.views import (
    Balance,
    BookOrder,
    BookView,
    Level3View,
    MarketView,
    OrderListView,
    OrderView,
    QuotesView,
    Trade,
    Withdrawal,
    market_view,
    order_view,
    trade_view,
)
from spotlab.risk.records import FillRecord, TransferRecord
from spotlab.store import open_store
from spotlab.store.base import Store
from spotlab.store.memory import MemoryStore
from spotlab.store.records import LogRecord
from spotlab.store.sql import sql_engine

log = logging.getLogger(__name__)
T = TypeVar("T")
Shape = Callable[[Outcome], T]

_GUARDED = (PlaceOrder, PlaceOrderList, ReplaceQuotes)  # the commands an account's risk profile may refuse
#: Records between automatic snapshots (durable stores only).
DEFAULT_SNAPSHOT_EVERY = 250_000


class Exchange:
    """A spot exchange: markets, accounts, orders and balances, durable in its store."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        clock: Clock,
        index: int,
        snapshot_index: int,
        last_ts: int,
        snapshot_every: int | None,
    ) -> None:
        self._engine = engine
        self._store = store
        self._index = index
        self._snapshot_index = snapshot_index
        self._last_ts = last_ts
        self._snapshot_every = None if isinstance(store, MemoryStore) else snapshot_every
        self._now = clock.now_ns
        self._lock = threading.Lock()  # never held across I/O, never taken twice by one thread
        self._failed: SpotlabError | None = None
        self._closed = False
        self._subscribers: list[Callable[[Event], None]] = []
        self._record_subscribers: list[Callable[[list[LogRecord]], None]] = []
        self._publishing = False
        self._records = AccountRecords(
            self._lock, lambda market: self._engine.markets[market].spec, lambda code: self._engine.assets[code]
        )
        self._risk: RiskService | None = None
        self._risk_opening = threading.Lock()
        self._journal: Any = None  # spotlab.journal.service.JournalService, opened on first use
        self.aio = AsyncExchange(self)

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        catalogue: Catalogue | str | Path | None = None,
        snapshot_every: int | None = DEFAULT_SNAPSHOT_EVERY,
        closed_orders_kept: int = DEFAULT_CLOSED_ORDERS_KEPT,
    ) -> Exchange:
        """Open (or create) an exchange in ``url``: ``None`` for memory, ``sqlite:///path`` or ``postgresql://...``.

        ``catalogue`` is a ``Catalogue``, or a TOML file whose markets are added to the default
        catalogue. Markets already in the store keep their rules; new ones are listed.
        """
        store = open_store(url)
        try:
            recovered = recover(store, closed_orders_kept)
            exchange = cls(
                recovered.engine,
                store,
                clock or WallClock(),
                recovered.index,
                recovered.snapshot_index,
                recovered.last_ts,
                snapshot_every,
            )
            exchange._list_catalogue(catalogue if isinstance(catalogue, Catalogue) else load_catalogue(catalogue))
        except BaseException:
            store.close()
            raise
        return exchange

    # -- accounts and funds ------------------------------------------------------------

    def create_account(self, name: str) -> str:
        """Create an account; its id is ``name`` (letters, digits, ``_.-``), unique on this exchange."""
        return self._run(CreateAccount(edge.account_name(name)), lambda outcome: name)

    def deposit(self, account: str, asset: str, amount: Decimal | int | str) -> Balance:
        """Credit paper money; returns the new balance of ``asset``."""
        spec = self._engine.asset(asset)
        command = Deposit(edge.account_name(account), spec.code, edge.amount_units(spec, amount))
        return self._run(command, lambda outcome: self._balance(account, spec.code))

    def withdraw(self, account: str, asset: str, amount: Decimal | int | str, address: str | None = None) -> Withdrawal:
        """Take ``amount`` out (to ``address``, recorded); the asset's fee is part of it, ``amount - fee`` leaves."""
        spec = self._engine.asset(asset)
        units = edge.amount_units(spec, amount)
        command = Withdraw(edge.account_name(account), spec.code, units, address)
        fee = spec.withdrawal_fee_units
        return self._run(
            command,
            lambda outcome: Withdrawal(
                account,
                spec.code,
                spec.to_decimal(units),
                spec.to_decimal(fee),
                spec.to_decimal(units - fee),
                address,
                outcome.events[0].seq,
                ns_to_datetime(outcome.events[0].ts),
            ),
        )

    def balances(self, account: str) -> dict[str, Balance]:
        """``{asset: Balance(available, locked)}`` for every asset the account has touched."""
        with self._lock:
            state_ = self._engine.account(edge.account_name(account))
            return {asset: self._balance(account, asset) for asset in sorted(state_.rows)}

    def available_units(self, account: str, asset: str) -> int:
        """``account``'s available ``asset`` in the asset's minor units (0 if never touched): for callers that
        compute in units, without building every balance (``UNKNOWN_ACCOUNT`` as ``balances``)."""
        with self._lock:
            rows = self._engine.ledger.rows.get(edge.account_name(account))
            if rows is None:
                raise SpotlabError(ErrorCode.UNKNOWN_ACCOUNT, f"unknown account {account!r}", account=account)
            row = rows.get(asset)
            return row[0] if row else 0

    def fee_balances(self) -> dict[str, Balance]:
        """What the exchange has earned in fees, per asset."""
        with self._lock:
            return {asset: self._balance(FEE_ACCOUNT, asset) for asset in sorted(self._engine.fee_rows)}

    # -- orders ------------------------------------------------------------------------

    def place_order(
        self,
        account: str,
        market: str,
        side: str,
        type: str,
        price: Decimal | int | str | None = None,
        quantity: Decimal | int | str | None = None,
        *,
        quote_quantity: Decimal | int | str | None = None,
        time_in_force: str | None = None,
        client_order_id: str | None = None,
        self_trade_prevention: str | None = None,
        stop_price: Decimal | int | str | None = None,
        trailing_distance: Decimal | int | str | None = None,
        trailing_percent: Decimal | int | str | None = None,
        activation_price: Decimal | int | str | None = None,
    ) -> OrderView:
        """Place an order. ``type``: limit, market or limit_maker; ``time_in_force``: GTC (default), IOC, FOK.

        A market order takes ``quantity`` (base) or ``quote_quantity`` (spend that much quote, fees
        included, when buying; receive up to that much, before fees, when selling). A repeated
        ``client_order_id`` returns the original order (``duplicate=True``).

        Conditional types take a ``stop_price`` and wait, funds held, until the last trade price
        crosses it (``spotlab.core.conditional``): stop_loss and take_profit then place a market order
        (a buy by ``quote_quantity``, a sell by ``quantity``), stop_loss_limit and take_profit_limit a
        limit order at ``price``. The placed order has ``parent_id`` = the conditional's id.
        A trailing_stop (a sell by ``quantity``, a buy by ``quote_quantity``) takes ``trailing_distance``
        (price) or ``trailing_percent`` (of its peak) and optionally ``activation_price``; its stop
        follows the best last price in its favour and then triggers a market order.
        """
        return self._run(
            *self._place_order(
                account, market, side, type, price, quantity, quote_quantity, time_in_force, client_order_id,
                self_trade_prevention, stop_price, trailing_distance, trailing_percent, activation_price,
            )
        )  # fmt: skip

    def _place_order(
        self,
        account,
        market,
        side,
        type,
        price,
        quantity,
        quote_quantity,
        time_in_force,
        client_order_id,
        self_trade_prevention,
        stop_price=None,
        trailing_distance=None,
        trailing_percent=None,
        activation_price=None,
    ) -> tuple[Any, Shape]:
        spec = self._engine.market(market).spec
        command = edge.place_order_command(
            spec,
            account,
            side,
            type,
            price,
            quantity,
            quote_quantity,
            time_in_force,
            client_order_id,
            self_trade_prevention,
            stop_price,
            trailing_distance,
            trailing_percent,
            activation_price,
        )
        return command, lambda outcome: order_view(outcome.order, spec, outcome.events, outcome.duplicate)

    def cancel_order(self, account: str, order_id: int | str) -> OrderView:
        return self._run(*self._cancel_order(account, order_id))

    def _cancel_order(self, account, order_id) -> tuple[Any, Shape]:
        return CancelOrder(edge.account_name(account), edge.order_id(order_id)), self._order_shape

    def cancel_all_orders(self, account: str, market: str) -> list[OrderView]:
        """Cancel every open order of ``account`` in ``market``; returns them (possibly none)."""
        return self._run(*self._cancel_all_orders(account, market))

    def _cancel_all_orders(self, account, market) -> tuple[Any, Shape]:
        spec = self._engine.market(market).spec
        return CancelAllOrders(edge.account_name(account), spec.symbol), lambda outcome: [
            order_view(order, spec, outcome.events) for order in outcome.orders
        ]

    def reduce_order(self, account: str, order_id: int | str, quantity: Decimal | int | str) -> OrderView:
        """Lower an open order's total ``quantity`` (still above what has filled); it keeps its place."""
        return self._run(*self._reduce_order(account, order_id, quantity))

    def _reduce_order(self, account, order_id, quantity) -> tuple[Any, Shape]:
        with self._lock:
            order = self._engine.find_order(edge.account_name(account), edge.order_id(order_id))
            spec = self._engine.markets[order.market].spec
        return ReduceOrder(account, order.id, edge.quantity_lots(spec, quantity)), self._order_shape

    # -- quotes (a market maker's re-quote) ----------------------------------------------------

    def replace_quotes(
        self, account: str, market: str, quotes: Iterable[tuple[str, Decimal | int | str, Decimal | int | str]]
    ) -> QuotesView:
        """Cancel ``account``'s resting orders in ``market`` and rest ``quotes`` in their place, in one step.

        ``quotes`` are ``(side, price, quantity)`` triples (at most ``edge.MAX_QUOTES``), each a GTC limit order
        placed in the order given; none is an empty re-quote (a cancel-all). All or nothing
        (``spotlab.core.quotes``): quotes whose holds together exceed what the account has once its resting
        orders there are canceled, or any quote that is not a valid limit order, refuse the whole re-quote and
        change nothing. Refused too for an account with conditional orders or order lists in the market (cancel
        them first) and for an account with a risk profile (its guards check orders one at a time).
        One command, one log record, one durable write.
        """
        return self._run(*self._replace_quotes(account, market, quotes))

    def _replace_quotes(self, account, market, quotes) -> tuple[Any, Shape]:
        spec = self._engine.market(market).spec
        command = edge.replace_quotes_command(spec, account, quotes)
        placed = len(command.quotes)

        def shape(outcome: Outcome) -> QuotesView:
            views = [order_view(order, spec, outcome.events) for order in outcome.orders]
            split = len(views) - placed
            return QuotesView(spec.symbol, canceled=tuple(views[:split]), placed=tuple(views[split:]))

        return command, shape

    # -- order lists (OCO, bracket) ----------------------------------------------------------

    def place_oco(
        self,
        account: str,
        market: str,
        quantity: Decimal | int | str,
        take_profit_price: Decimal | int | str,
        stop_price: Decimal | int | str,
        *,
        stop_limit_price: Decimal | int | str | None = None,
        side: str = "sell",
        self_trade_prevention: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderListView:
        """Sell ``quantity`` at ``take_profit_price`` (a resting limit above the market) OR, if the last trade
        price falls to ``stop_price``, through a stop-loss (market, or limit at ``stop_limit_price``): one
        filling, even in part, or triggering cancels the other. One hold (the base) covers both.

        ``side="buy"``: buy ``quantity`` at ``take_profit_price`` (a resting limit below the market) OR, if the
        last trade price rises to ``stop_price``, with a limit at ``stop_limit_price`` (required); one hold of
        the quote covers the dearer leg, fees included (``spotlab.core.order_lists``). A repeated
        ``client_order_id`` returns the original list (``duplicate=True``)."""
        return self._run(
            *self._place_list(
                account, market, "oco", side, quantity, take_profit_price, stop_price, stop_limit_price, None,
                self_trade_prevention, client_order_id,
            )
        )  # fmt: skip

    def place_bracket(
        self,
        account: str,
        market: str,
        quantity: Decimal | int | str,
        entry_price: Decimal | int | str,
        take_profit_price: Decimal | int | str,
        stop_price: Decimal | int | str,
        *,
        stop_limit_price: Decimal | int | str | None = None,
        side: str = "buy",
        self_trade_prevention: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderListView:
        """Buy ``quantity`` with a GTC limit at ``entry_price``; what it buys gets an OCO (take-profit at
        ``take_profit_price``, stop-loss at ``stop_price``) as soon as it is bought. Brackets are buy-entry
        only. A repeated ``client_order_id`` returns the original list (``duplicate=True``)."""
        return self._run(
            *self._place_list(
                account, market, "bracket", side, quantity, take_profit_price, stop_price, stop_limit_price,
                entry_price, self_trade_prevention, client_order_id,
            )
        )  # fmt: skip

    def _place_list(
        self, account, market, kind, side, quantity, price, stop_price, stop_limit_price, entry_price, stp,
        client_order_id=None,
    ) -> tuple[Any, Shape]:  # fmt: skip
        spec = self._engine.market(market).spec
        command = PlaceOrderList(
            edge.account_name(account),
            spec.symbol,
            kind,
            edge.choice(Side, side, "side"),
            edge.quantity_lots(spec, quantity),
            edge.price_ticks(spec, price),
            edge.price_ticks(spec, stop_price),
            edge.price_ticks(spec, stop_limit_price) if stop_limit_price is not None else 0,
            edge.price_ticks(spec, entry_price) if entry_price is not None else 0,
            DEFAULT_SELF_TRADE_PREVENTION if stp is None else edge.choice(SelfTradePrevention, stp, "stp"),
            client_order_id,
        )

        def shape(outcome: Outcome) -> OrderListView:
            if outcome.duplicate:  # the list the client id names (nothing changed)
                original = order_lists.by_client_id(self._engine, command.account, command.client_order_id)
                return self._list_view(original.id, (), duplicate=True)
            return self._list_view(outcome.order.list_id, outcome.events)

        return command, shape

    def cancel_order_list(self, account: str, list_id: int | str) -> OrderListView:
        """Cancel every open order of an OCO or bracket."""
        return self._run(*self._cancel_order_list(account, list_id))

    def _cancel_order_list(self, account, list_id) -> tuple[Any, Shape]:
        command = CancelOrderList(edge.account_name(account), edge.order_id(list_id))
        return command, lambda outcome: self._list_view(command.list_id, outcome.events)

    def order_list(self, account: str, list_id: int | str) -> OrderListView:
        with self._lock:
            view = self._list_view(edge.order_id(list_id), ())
        if view.account != account:
            raise SpotlabError(ErrorCode.ORDER_NOT_FOUND, f"order list {list_id} not found for account {account!r}")
        return view

    def _list_view(self, list_id: int, events, duplicate: bool = False) -> OrderListView:
        lst = self._engine.order_lists.get(list_id)
        if lst is None:
            raise SpotlabError(ErrorCode.ORDER_NOT_FOUND, f"order list {list_id} not found")
        spec = self._engine.markets[lst.market].spec
        orders = []
        for order_id in lst.order_ids:
            try:
                orders.append(order_view(self._engine.find_order(lst.account, order_id), spec, events))
            except SpotlabError:  # forgotten long since (closed orders without a client id are kept a while)
                pass
        return OrderListView(
            lst.id, lst.kind, lst.account, lst.market, lst.status, spec.quantity(lst.quantity), spec.price(lst.price),
            spec.price(lst.stop_price), spec.price(lst.stop_limit_price) if lst.stop_limit_price else None,
            spec.price(lst.entry_price) if lst.entry_price else None, tuple(orders), spec.quantity(lst.unprotected),
            str(lst.side), lst.client_order_id, duplicate,
        )  # fmt: skip

    def order(self, account: str, order_id: int | str) -> OrderView:
        """An order of ``account``: open, or closed recently (or ever, if it had a client order id)."""
        with self._lock:
            order = self._engine.find_order(edge.account_name(account), edge.order_id(order_id))
            return order_view(order, self._engine.markets[order.market].spec)

    def order_by_client_id(self, account: str, client_order_id: str) -> OrderView:
        with self._lock:
            state_ = self._engine.account(edge.account_name(account))
            order = state_.client_orders.get(client_order_id)
            if order is None:
                raise SpotlabError(
                    ErrorCode.ORDER_NOT_FOUND, f"no order with client order id {client_order_id!r} for {account!r}"
                )
            return order_view(order, self._engine.markets[order.market].spec)

    def open_orders(self, account: str, market: str | None = None) -> list[OrderView]:
        """Open orders of ``account`` (in one market if given), oldest first."""
        with self._lock:
            state_ = self._engine.account(edge.account_name(account))
            if market is not None:
                self._engine.market(market)
            return [
                order_view(order, self._engine.markets[order.market].spec)
                for order in state_.open_orders.values()
                if market is None or order.market == market
            ]

    def conditional_orders(self, account: str, market: str | None = None) -> list[OrderView]:
        """Pending conditional orders of ``account`` (stop-loss, take-profit, trailing; in one market if
        given), oldest first: they wait outside the book until triggered."""
        with self._lock:
            state_ = self._engine.account(edge.account_name(account))
            if market is not None:
                self._engine.market(market)
            return [
                order_view(order, self._engine.markets[order.market].spec)
                for order in state_.pending.values()
                if market is None or order.market == market
            ]

    # -- market data -------------------------------------------------------------------

    def markets(self) -> list[MarketView]:
        with self._lock:
            return [market_view(m.spec, m.status) for m in self._engine.markets.values()]

    def market(self, symbol: str) -> MarketView:
        with self._lock:
            m = self._engine.market(symbol)
            return market_view(m.spec, m.status)

    def market_spec(self, symbol: str) -> MarketSpec:
        """The integer rules of ``symbol`` (tick, lot, fees); raises ``UNKNOWN_MARKET``."""
        return self._engine.market(symbol).spec

    def asset_spec(self, code: str) -> Asset:
        """An asset's precision and withdrawal rules; raises ``UNKNOWN_ASSET``."""
        return self._engine.asset(code)

    def accounts(self) -> list[str]:
        """Every account id, in creation order."""
        with self._lock:
            return list(self._engine.accounts)

    def order_book(self, market: str, depth: int | None = 10) -> BookView:
        """Aggregated depth (L2): ``depth`` levels a side (``None``: all), best first, and the book sequence."""
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"depth must be a positive integer or None, got {depth!r}")
        with self._lock:
            m = self._engine.market(market)
            spec = m.spec
            bids, asks = m.book.depth(depth)
            return BookView(
                spec.symbol,
                [(spec.price(p), spec.quantity(q)) for p, q in bids],
                [(spec.price(p), spec.quantity(q)) for p, q in asks],
                m.book.sequence,
            )

    def order_book_orders(self, market: str) -> Level3View:
        """Every resting order (L3), in priority order; accounts are not shown."""
        with self._lock:
            m = self._engine.market(market)
            spec = m.spec
            bids, asks = m.book.level3()

            def view(orders):
                return [BookOrder(o.id, spec.price(o.price), spec.quantity(o.remaining)) for o in orders]

            return Level3View(spec.symbol, view(bids), view(asks), m.book.sequence)

    def trades(self, market: str, limit: int = 100) -> list[Trade]:
        """The market's most recent trades, newest first (the last 1,000 are kept in memory)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"limit must be a positive integer, got {limit!r}")
        with self._lock:
            m = self._engine.market(market)
            recent = list(m.trades)[-limit:]
            return [trade_view(m.spec, trade) for trade in reversed(recent)]

    # -- administration ----------------------------------------------------------------

    def halt_market(self, market: str) -> MarketView:
        """Stop accepting new orders in ``market``; cancels still work."""
        return self._set_status(market, MarketStatus.HALTED)

    def resume_market(self, market: str) -> MarketView:
        return self._set_status(market, MarketStatus.TRADING)

    def _set_status(self, market: str, status: MarketStatus) -> MarketView:
        spec = self._engine.market(market).spec
        return self._run(SetMarketStatus(spec.symbol, status), lambda outcome: market_view(spec, status))

    def _list_catalogue(self, catalogue: Catalogue) -> None:
        for asset in catalogue.assets.values():
            self._run(ListAsset.of(asset), lambda outcome: None)
        for spec in catalogue.markets.values():
            self._run(ListMarket.of(spec), lambda outcome: None)

    # -- risk: profiles, guards, sizing, portfolio (spotlab.exchange.risk) ----------------

    @property
    def risk(self) -> RiskService:
        """The risk service: ``set_profile``/``profile``, ``portfolio``, ``position_size``, ``day_trades``.

        Its profiles live beside the store (the side database ``risk``); once an account's profile
        has a guard on, the exchange checks every entry of that account against it."""
        if self._risk is None:
            with self._risk_opening:
                if self._risk is None:
                    self._risk = RiskService(self, sql_engine(self.url, "risk"))
        return self._risk

    # -- the trading journal (spotlab.journal) ----------------------------------------------

    @property
    def journal_service(self) -> Any:
        """The journal service (``spotlab.journal.service.JournalService``): round trips, annotations
        (the side database ``journal``) and statistics."""
        if self._journal is None:
            with self._risk_opening:
                if self._journal is None:
                    from spotlab.journal.service import JournalService  # imports the backtest metrics: lazily

                    self._journal = JournalService(self, sql_engine(self.url, "journal"))
        return self._journal

    def journal(self, account: str) -> list[Any]:
        """The account's round trips (``spotlab.journal.round_trips.RoundTrip``), open ones included, in the
        order they opened, with their annotations."""
        return self.journal_service.round_trips(account)

    def now_ns(self) -> int:
        """The exchange clock's time (UTC ns)."""
        return self._now()

    def _track(self, account: str) -> None:
        self._records.track(account, lambda: (self._engine.seq, self._index), self.wait_durable, lambda: self.events())

    def tax_report(self, account: str, year: int, method: str = "fifo", currency: str = "USD", **options: Any) -> Any:
        """The account's tax report for ``year`` (``spotlab.tax.report.TaxReport``: iterate it for the lines,
        each with ``asset``, ``quantity``, ``date_acquired``, ``date_sold``, ``proceeds``, ``cost_basis``,
        ``gain`` and ``term``). ``method``: fifo, lifo, hifo, specific (with ``select=``) or uk. Every event is
        valued in ``currency`` at the exchange's own prices of its moment (``price_history``), multi-hop."""
        from spotlab.tax import tax_report  # the tax package is only loaded when a report is asked for

        self.asset_spec(currency)  # UNKNOWN_ASSET
        fills, transfers = self.account_history(account)
        history = self.price_history()

        def value(asset: str, amount: Decimal, time_ns: int) -> Decimal:
            return history.value(asset, amount, time_ns, currency)

        return tax_report(fills, transfers, value, year=year, method=method, currency=currency, **options)

    def price_history(self) -> PriceHistory:
        """Every market's trades through time, read from the log (``spotlab.exchange.price_history``): what an
        asset was worth in a currency at any past moment, multi-hop."""
        with self._lock:
            specs = {symbol: market.spec for symbol, market in self._engine.markets.items()}
            assets = dict(self._engine.assets)
        return PriceHistory.from_events(self.events(), specs, assets)

    def account_history(self, account: str) -> tuple[list[FillRecord], list[TransferRecord]]:
        """``(fills, transfers)`` of ``account``, oldest first: every fill of its own orders and every deposit and
        withdrawal, read from the event log (the journal, tax lots and risk work from these)."""
        name = edge.account_name(account)
        self.balances(name)  # UNKNOWN_ACCOUNT
        self._track(name)
        with self._lock:
            return list(self._records.fills_locked(name) or ()), list(self._records.transfers_locked(name) or ())

    def _risk_inputs(self, account: str) -> RiskInputs:
        name = edge.account_name(account)
        self._track(name)
        with self._lock:
            return risk_inputs(self._engine, name, list(self._records.fills_locked(name) or ()))

    def _check_risk(self, risk: RiskService, command: PlaceOrder | PlaceOrderList, ts: int) -> None:
        """The guards of ``command``'s account (held lock); a repeated client order id is the engine's to answer."""
        account = self._engine.accounts.get(command.account)
        client_id = command.client_order_id
        if account is None or (client_id is not None and (
            client_id in account.client_orders if type(command) is PlaceOrder
            else (command.account, client_id) in self._engine.list_client_ids
        )):  # fmt: skip
            return
        fills = self._records.fills_locked(command.account)
        if fills is None:
            raise SpotlabError(ErrorCode.STORE_UNAVAILABLE, "the account's risk records are loading; retry shortly")
        risk.check_locked(command, risk_inputs(self._engine, command.account, fills), ts)

    # -- the event log -----------------------------------------------------------------

    @property
    def last_sequence(self) -> int:
        """The sequence number of the newest event."""
        with self._lock:
            return self._engine.seq

    @property
    def url(self) -> str:
        return self._store.url

    def events(self, after: int = 0) -> Iterator[Event]:
        """Durable events with sequence numbers above ``after``, oldest first.

        Seeks in the log (``Store.records_after_seq``): reading from a recent ``after`` does not
        decode the older records.
        """
        for record in self._store.records_after_seq(after):
            if record.events[-1].seq <= after:
                continue
            for event in record.events:
                if event.seq > after:
                    yield event

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback`` with every event once it is durable, in order; returns an unsubscribe function.

        Callbacks run on the store's writer thread: keep them quick (hand work to a queue).
        """
        with self._lock:
            self._subscribers.append(callback)
            if not self._publishing:
                self._store.on_durable(self._publish)
                self._publishing = True
        return lambda: self._subscribers.remove(callback)

    def subscribe_records(self, callback: Callable[[list[LogRecord]], None]) -> Callable[[], None]:
        """Call ``callback`` with each batch of durable log records (a record = one command and its events).

        For consumers that need command boundaries (book diffs, projections). Runs on the store's
        writer thread, after the batch is durable: keep it quick.
        """
        with self._lock:
            self._record_subscribers.append(callback)
            if not self._publishing:
                self._store.on_durable(self._publish)
                self._publishing = True
        return lambda: self._record_subscribers.remove(callback)

    def on_log_write(self, callback: Callable[[float, int], None]) -> Callable[[], None]:
        """Call ``callback(seconds, records)`` after each group commit of the event log (metrics);
        returns a function that stops the calls. An in-memory exchange writes nothing."""
        return self._store.on_write(callback)

    def resting_orders(self, market: str) -> tuple[int, list[tuple[int, str, int, int]]]:
        """``(event_seq, [(order_id, side, price_ticks, remaining_lots), ...])``: the book (L3) in integers,
        taken atomically with the sequence number of the last event applied to the engine."""
        with self._lock:
            m = self._engine.market(market)
            bids, asks = m.book.level3()
            rows = [(o.id, "buy", o.price, o.remaining) for o in bids]
            rows += [(o.id, "sell", o.price, o.remaining) for o in asks]
            return self._engine.seq, rows

    def _publish(self, records: list[LogRecord]) -> None:
        for callback in list(self._record_subscribers):
            try:
                callback(records)
            except Exception:  # one subscriber's bug must not silence the others or the log
                log.exception("record subscriber %r raised; it misses this batch", callback)
        for callback in list(self._subscribers):
            try:
                for record in records:
                    for event in record.events:
                        callback(event)
            except Exception:  # one subscriber's bug must not silence the others or the log
                log.exception("subscriber %r raised; it misses the rest of this batch", callback)

    def state_hash(self) -> str:
        """SHA-256 of the whole trading state (books, balances, holds, orders, client ids, sequences)."""
        with self._lock:
            return state.state_hash(self._engine)

    def check_invariants(self) -> None:
        """Raise ``AssertionError`` if any invariant of DESIGN.md is broken (tests call this)."""
        with self._lock:
            self._engine.check_invariants()

    def snapshot(self) -> int:
        """Write a snapshot now (durable stores) and wait until it is stored; returns the record index it covers."""
        with self._lock:
            self._check_usable()
            self._take_snapshot()
            index = self._index
        self._guarded(self._store.wait_snapshot, index)
        return index

    def check_usable(self) -> None:
        """Raise ``STORE_UNAVAILABLE`` after a store failure, ``EXCHANGE_CLOSED`` once closed; else nothing."""
        with self._lock:
            self._check_usable()

    def stats(self) -> dict[str, int]:
        """``records`` and ``events`` in the log; ``commits`` and ``written`` by this process's store session."""
        with self._lock:
            return {**self._store.stats(), "records": self._index, "events": self._engine.seq}

    def close(self) -> None:
        """Snapshot if worthwhile, flush the store and release it. Idempotent.

        After a store failure it still lets go of the store, then raises ``STORE_UNAVAILABLE``.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if (
                    self._failed is None
                    and self._store.failure is None
                    and self._snapshot_every is not None
                    and self._index > self._snapshot_index
                ):
                    self._take_snapshot()
            except SpotlabError:
                pass  # the store failed meanwhile; closing it below reports that
        if self._risk is not None:
            self._risk.close()
        if self._journal is not None:
            self._journal.close()
        self._store.close()

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- running commands ---------------------------------------------------------------

    def execute(self, command: Any) -> Outcome:
        """Apply a ready-made command, wait until it is durable, raise its rejection if any."""
        return self._run(command, lambda outcome: outcome)

    def apply(self, command: Any) -> tuple[Outcome, int]:
        """Apply a command without waiting for durability: ``(outcome, index)``; then ``wait_durable(index)``.

        For pipelined callers (benchmarks, bulk loaders) that acknowledge in groups.
        """
        outcome, index, _ = self._apply(command, None)
        return outcome, index

    def wait_durable(self, index: int) -> None:
        self._guarded(self._store.wait, index)

    async def wait_durable_async(self, index: int) -> None:
        """``wait_durable`` for asyncio: awaits without blocking the event loop."""
        try:
            await self._store.wait_async(index)
        except SpotlabError as error:
            self._failed = self._failed or error
            raise

    @property
    def durable_index(self) -> int:
        """Every command's record up to this index is durable: an ``Applied`` at or below it may be answered."""
        return self._store.durable_index

    def _submit(self, command: Any, shape: Shape[T]) -> tuple[T, int]:
        """Apply now, without waiting for durability: ``(value, index)``; a refusal raises."""
        outcome, index, value = self._apply(command, shape)
        if outcome.error is not None:
            raise outcome.error
        return value, index

    def _apply(self, command: Any, shape: Shape | None) -> tuple[Outcome, int, Any]:
        with self._lock:
            if self._failed is not None or self._closed or self._store.failure is not None:
                self._check_usable()
            ts = self._now()
            if ts < self._last_ts:
                ts = self._last_ts
            risk = self._risk
            if risk is not None and type(command) in _GUARDED and risk.guarded(command.account):
                if type(command) is ReplaceQuotes:
                    raise SpotlabError(
                        ErrorCode.INVALID_ARGUMENT,
                        f"account {command.account!r} has a risk profile: its orders are placed one at a time, "
                        "where its guards can check each; it cannot replace quotes in one step",
                    )
                self._check_risk(risk, command, ts)
            outcome = self._engine.apply(command, ts)
            self._last_ts = ts
            if outcome.events and self._records.tracking:
                self._records.apply(outcome.events)
            if outcome.events:
                self._index += 1
                try:
                    self._store.append(LogRecord(self._index, ts, command, tuple(outcome.events)))
                except SpotlabError as error:
                    self._failed = error
                    raise
                if self._snapshot_every is not None and self._index - self._snapshot_index >= self._snapshot_every:
                    self._take_snapshot()
            value = shape(outcome) if shape is not None and outcome.error is None else None
            return outcome, self._index, value

    def _run(self, command: Any, shape: Shape[T]) -> T:
        outcome, index, value = self._apply(command, shape)
        if outcome.error is not None:
            raise outcome.error
        self._guarded(self._store.wait, index)
        return value

    def _guarded(self, wait: Callable[[int], None], index: int) -> None:
        """Wait on the store; a store failure stops the exchange (fail-stop) before anything else runs."""
        try:
            wait(index)
        except SpotlabError as error:
            self._failed = self._failed or error
            raise

    def _take_snapshot(self) -> None:
        self._store.snapshot(self._index, state.encode(state.snapshot(self._engine)))
        self._snapshot_index = self._index

    def _check_usable(self) -> None:
        if self._failed is None and self._store.failure is not None:
            self._failed = self._store.failure
        if self._failed is not None:
            raise SpotlabError(
                ErrorCode.STORE_UNAVAILABLE, f"the exchange stopped after a store failure: {self._failed.message}"
            )
        if self._closed:
            raise SpotlabError(ErrorCode.EXCHANGE_CLOSED, "the exchange is closed")

    # -- helpers ------------------------------------------------------------------------

    def _balance(self, account: str, asset: str) -> Balance:
        rows = self._engine.ledger.rows.get(account)
        if rows is None:
            raise SpotlabError(ErrorCode.UNKNOWN_ACCOUNT, f"unknown account {account!r}", account=account)
        row = rows.get(asset)
        spec = self._engine.assets[asset]
        return Balance(spec.to_decimal(row[0] if row else 0), spec.to_decimal(row[1] if row else 0))

    def _order_shape(self, outcome: Outcome) -> OrderView:
        order = outcome.order
        return order_view(order, self._engine.markets[order.market].spec, outcome.events)

    def __repr__(self) -> str:
        return (
            f"Exchange({self._store.url}, {len(self._engine.markets)} markets, {len(self._engine.accounts)} accounts)"
        )

"""The engine: applies one command at a time through validate -> hold -> match -> settle.

Invariants
- ``apply(command, ts)`` either raises ``SpotlabError`` having changed nothing
  (input that is not a valid command: unknown market or account, off-spec
  numbers, below the minimums, a client order id reused for a different order),
  or returns an ``Outcome`` whose ``events`` are everything that happened.
- A well-formed order that cannot be accepted now (not enough funds, post-only
  that would trade, market halted) changes no balance, book or order: its outcome
  carries one ``OrderRejected`` event and the ``error`` to raise.
- Funds are held before the book sees an order; every fill settles both sides and
  the fee account at once; holds are released on cancel, expiry and the last fill.
- Pure: no I/O, no clock (time is the ``ts`` argument), no randomness. The same
  commands with the same timestamps give the same events (determinism), which is
  what recovery and replay rely on.
- Event sequence numbers are global and gap-free; order ids are global; trade ids
  count per market.
- Every integer the engine keeps fits in a signed 64 bits (``MAX_UNITS``): the total
  deposited per asset is capped there, which bounds every balance, hold and fill,
  and orders whose price, quantity or notional would exceed it are refused.

Order placement lives in ``spotlab.core.placement``, conditional orders (stop-loss,
take-profit) in ``spotlab.core.conditional``, a market maker's re-quote in one step in
``spotlab.core.quotes``: after a placement that traded, ``apply``
triggers the pending conditionals the last trade price crossed, in the same command.
This module holds the state and the other commands.
"""

from __future__ import annotations

import re
from collections import deque
from decimal import Decimal
from types import MethodType
from typing import Any

from spotlab.core import conditional, order_lists, placement, quotes
from spotlab.core.book import OrderBook
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
from spotlab.core.events import (
    AccountCreated,
    AssetListed,
    BalanceChanged,
    Deposited,
    Event,
    MarketListed,
    MarketStatusChanged,
    OrderCanceled,
    OrderReduced,
    Withdrawn,
)
from spotlab.core.fees import buy_hold
from spotlab.core.ledger import FEE_ACCOUNT, Ledger, Row, release
from spotlab.core.markets import Asset, MarketSpec, MarketStatus
from spotlab.core.orders import CANCEL_ALL_REASON, Action, Order, OrderRecord, Side, record_of, transition
from spotlab.core.outcome import Outcome
from spotlab.core.units import MAX_UNITS
from spotlab.errors import ErrorCode, SpotlabError

_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

#: How many closed orders without a client order id the engine remembers for look-ups.
DEFAULT_CLOSED_ORDERS_KEPT = 100_000
#: How many recent trades each market keeps in memory.
RECENT_TRADES_KEPT = 1_000


class MarketState:
    """A listed market: its spec, book, status and trade counter."""

    __slots__ = ("spec", "book", "status", "trade_seq", "trades", "pending")

    def __init__(self, spec: MarketSpec) -> None:
        self.spec = spec
        self.book = OrderBook(spec.symbol)
        self.status = spec.status
        self.trade_seq = 0
        # (trade_id, ts, price, quantity, taker_side), oldest first
        self.trades: deque[tuple[int, int, int, int, Side]] = deque(maxlen=RECENT_TRADES_KEPT)
        self.pending = conditional.PendingConditionals()  # conditional orders waiting for their trigger


class AccountState:
    """An account's ledger rows, open orders, pending conditional orders and client order ids."""

    __slots__ = ("id", "rows", "open_orders", "pending", "client_orders")

    def __init__(self, id: str, rows: dict[str, Row]) -> None:
        self.id = id
        self.rows = rows
        self.open_orders: dict[int, Order] = {}
        self.pending: dict[int, Order] = {}  # conditional orders waiting for their trigger
        self.client_orders: dict[str, Order | OrderRecord] = {}


class Engine:
    """All markets, accounts and balances of one exchange, changed only by ``apply``."""

    def __init__(self, closed_orders_kept: int = DEFAULT_CLOSED_ORDERS_KEPT) -> None:
        self.assets: dict[str, Asset] = {}
        self.markets: dict[str, MarketState] = {}
        self.accounts: dict[str, AccountState] = {}
        self.ledger = Ledger()
        self.fee_rows = self.ledger.rows[FEE_ACCOUNT]
        self.open_orders: dict[int, Order] = {}  # resting in a book
        self.pending_orders: dict[int, Order] = {}  # conditional orders waiting for their trigger (no book)
        # Closed orders without a client order id, oldest first: at least the newest
        # ``closed_orders_kept``, trimmed back to that many in bulk once a quarter more
        # have gathered. A plain dict of immutable records stays out of the cyclic collector's way.
        self.closed_orders: dict[int, OrderRecord] = {}
        self.closed_with_client_id: dict[int, OrderRecord] = {}
        self.closed_orders_kept = closed_orders_kept
        self._closed_slack = max(closed_orders_kept // 4, 1)
        self.order_lists: dict[int, order_lists.OrderList] = {}  # OCOs and brackets, by list id
        self.list_members: dict[int, int] = {}  # order id -> list id, for the lists still executing
        self.list_client_ids: dict[tuple[str, str], int] = {}  # (account, list client order id) -> list id
        self.next_list_id = 1
        self.seq = 0  # the last event sequence number
        self.last_ts = 0  # the time of the last command that produced events
        self.next_order_id = 1
        self._handlers = {
            PlaceOrder: MethodType(placement.place_order, self),  # no extra frame on the hot path
            CancelOrder: self._cancel_order,
            PlaceOrderList: MethodType(order_lists.place, self),
            CancelOrderList: self._cancel_order_list,
            CancelAllOrders: self._cancel_all_orders,
            ReplaceQuotes: MethodType(quotes.replace_quotes, self),
            ReduceOrder: self._reduce_order,
            Deposit: self._deposit,
            Withdraw: self._withdraw,
            CreateAccount: self._create_account,
            ListAsset: self._list_asset,
            ListMarket: self._list_market,
            SetMarketStatus: self._set_market_status,
        }

    def apply(self, command: Any, ts: int) -> Outcome:
        """Apply ``command`` at time ``ts`` (UTC nanoseconds)."""
        handler = self._handlers.get(type(command))
        if handler is None:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"not a command: {type(command).__name__}")
        outcome = handler(command, ts)
        kind = type(command)
        if kind is PlaceOrder or kind is PlaceOrderList or kind is ReplaceQuotes:
            market = self.markets[command.market]
            pending = market.pending
            if self.list_members or (pending.orders and market.trade_seq != pending.checked_trade):
                self._follow_up(market, ts, outcome.events)
        if outcome.events:
            self.last_ts = ts
        return outcome

    def _follow_up(self, market: MarketState, ts: int, events: list[Event]) -> None:
        """After a placement: order lists react to fills, then crossed conditionals trigger, until all is quiet."""
        position = 0
        while True:
            if self.list_members:
                position = order_lists.after_fills(self, events, position, ts)
            if not conditional.trigger_next(self, market, ts, events):
                break

    # -- look-ups ------------------------------------------------------------------

    def market(self, symbol: str) -> MarketState:
        market = self.markets.get(symbol)
        if market is None:
            raise SpotlabError(
                ErrorCode.UNKNOWN_MARKET,
                f"unknown market {symbol!r}; listed: {', '.join(sorted(self.markets)) or 'none'}",
                market=symbol,
            )
        return market

    def account(self, account: str) -> AccountState:
        state = self.accounts.get(account)
        if state is None:
            raise SpotlabError(ErrorCode.UNKNOWN_ACCOUNT, f"unknown account {account!r}", account=account)
        return state

    def asset(self, code: str) -> Asset:
        asset = self.assets.get(code)
        if asset is None:
            raise SpotlabError(
                ErrorCode.UNKNOWN_ASSET,
                f"unknown asset {code!r}; listed: {', '.join(sorted(self.assets))}",
                asset=code,
            )
        return asset

    def find_order(self, account: str, order_id: int) -> Order | OrderRecord:
        """An order of ``account``, open or recently closed; another account's order is "not found"."""
        order = (
            self.open_orders.get(order_id)
            or self.pending_orders.get(order_id)
            or self.closed_orders.get(order_id)
            or self.closed_with_client_id.get(order_id)
        )
        if order is None or order.account != account:
            raise SpotlabError(
                ErrorCode.ORDER_NOT_FOUND, f"order {order_id} not found for account {account!r}", order_id=order_id
            )
        return order

    def row(self, account: str, asset: str) -> Row:
        return self.ledger.row(account, asset)

    # -- order bookkeeping shared with placement ---------------------------------------

    def close_order(self, order: Order, account: AccountState) -> None:
        """Forget an order that reached a terminal status, keeping its record for look-ups."""
        if self.open_orders.pop(order.id, None) is not None:
            del account.open_orders[order.id]
        record = record_of(order)
        if order.client_order_id is None:
            closed = self.closed_orders
            closed[order.id] = record
            if len(closed) >= self.closed_orders_kept + self._closed_slack:
                self._trim_closed_orders()
        else:  # kept for good: its client order id must keep answering with it
            self.closed_with_client_id[order.id] = record
            account.client_orders[order.client_order_id] = record

    def keep_closed_orders(self, count: int) -> None:
        """Remember (at least) the newest ``count`` closed orders without a client order id.

        Nothing is dropped now: the cache shrinks the next time an order closes, as it
        would have in the process that wrote the log, so a restored state stays exact.
        """
        self.closed_orders_kept = count
        self._closed_slack = max(count // 4, 1)

    def _trim_closed_orders(self) -> None:
        """Keep the newest ``closed_orders_kept`` closed orders (in bulk, so it costs O(1) per order)."""
        closed = self.closed_orders
        drop = len(closed) - self.closed_orders_kept
        if drop > 0:
            keep = iter(closed.items())
            for _ in range(drop):
                next(keep)
            self.closed_orders = dict(keep)

    def release_all(self, order: Order, touched: dict[int, Row]) -> int:
        """Release whatever ``order`` still holds; returns the amount."""
        amount = order.hold
        if amount:
            row = order.quote_balance if order.side is Side.BUY else order.base_balance
            release(row, amount)
            touched[id(row)] = row
            order.hold = 0
        return amount

    def balance_events(self, touched: dict[int, Row], ts: int, events: list[Event]) -> None:
        """One ``BalanceChanged`` per row the command touched, in the order first touched."""
        seq = self.seq
        for row in touched.values():
            seq += 1
            events.append(BalanceChanged(seq, ts, row[2], row[3], row[0], row[1]))
        self.seq = seq

    # -- orders ------------------------------------------------------------------------

    def _cancel_order(self, command: CancelOrder, ts: int) -> Outcome:
        account = self.account(command.account)
        events: list[Event] = []
        list_id = self.list_members.get(command.order_id)
        order = account.open_orders.get(command.order_id) or account.pending.get(command.order_id)
        if list_id is not None and order is not None:
            order_lists.cancel_list(self, self.order_lists[list_id], ts, order_lists.LIST_CANCELED, events)
            return Outcome(events, order)
        pending = account.pending.get(command.order_id)
        if pending is not None:
            conditional.cancel(self, pending, account, ts, "canceled by the account", events)
            return Outcome(events, pending)
        order = self._open_order(account, command.order_id)
        self._cancel(order, account, ts, "canceled by the account", events)
        return Outcome(events, order)

    def _cancel_all_orders(self, command: CancelAllOrders, ts: int) -> Outcome:
        account = self.account(command.account)
        self.market(command.market)
        events: list[Event] = []
        canceled = [order for order in account.open_orders.values() if order.market == command.market]
        reason = CANCEL_ALL_REASON
        pending = [order for order in account.pending.values() if order.market == command.market]
        lists = {self.list_members[o.id] for o in canceled + pending if o.id in self.list_members}
        for list_id in sorted(lists):
            order_lists.cancel_list(self, self.order_lists[list_id], ts, reason, events)
        for order in canceled:
            if order.is_open:
                self._cancel(order, account, ts, reason, events)
        for order in pending:
            if order.is_open:
                conditional.cancel(self, order, account, ts, reason, events)
        return Outcome(events, orders=canceled + pending)

    def _cancel_order_list(self, command: CancelOrderList, ts: int) -> Outcome:
        account = self.account(command.account)
        lst = self.order_lists.get(command.list_id)
        if lst is None or lst.account != account.id:
            raise SpotlabError(
                ErrorCode.ORDER_NOT_FOUND, f"order list {command.list_id} not found for account {account.id!r}"
            )
        if lst.status == order_lists.ALL_DONE:
            raise SpotlabError(ErrorCode.ORDER_NOT_OPEN, f"order list {lst.id} is done and can no longer be changed")
        events: list[Event] = []
        order_lists.cancel_list(self, lst, ts, order_lists.LIST_CANCELED, events)
        return Outcome(events)

    def cancel_resting(self, order: Order, ts: int, reason: str, events: list[Event]) -> None:
        """Cancel an order that rests in a book (order lists use it)."""
        self._cancel(order, self.accounts[order.account], ts, reason, events)

    def _cancel(self, order: Order, account: AccountState, ts: int, reason: str, events: list[Event]) -> None:
        market = self.markets[order.market]
        market.book.remove(order)
        order.status = transition(order.status, Action.CANCEL)
        order.reason = reason
        order.updated = ts
        touched: dict[int, Row] = {}
        released = self.release_all(order, touched)
        self.close_order(order, account)
        self.seq += 1
        events.append(
            OrderCanceled(self.seq, ts, order.id, order.account, order.market, order.remaining, released, reason)
        )
        self.balance_events(touched, ts, events)

    def _reduce_order(self, command: ReduceOrder, ts: int) -> Outcome:
        account = self.account(command.account)
        order = self._open_order(account, command.order_id)
        if order.list_id:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"order {order.id} belongs to order list {order.list_id}: its orders share one hold and cannot be "
                "reduced; cancel the list and place a new one",
                order_id=order.id,
            )
        new_quantity = command.quantity
        if not order.filled < new_quantity < order.quantity:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"the new quantity must be below the order's quantity ({order.quantity} lots) and above what "
                f"has filled ({order.filled} lots), got {new_quantity} lots",
                order_id=order.id,
            )
        market = self.markets[order.market]
        spec = market.spec
        lots = order.quantity - new_quantity
        market.book.reduce(order, lots)
        order.quantity = new_quantity
        order.status = transition(order.status, Action.REDUCE)
        order.updated = ts
        touched: dict[int, Row] = {}
        if order.side is Side.BUY:
            need = buy_hold(order.price, order.remaining, spec.notional_unit, spec.max_rate)
            row = order.quote_balance
        else:
            need = order.remaining * spec.lot_units
            row = order.base_balance
        released = order.hold - need
        if released:
            release(row, released)
            order.hold = need
            touched[id(row)] = row
        self.seq += 1
        events: list[Event] = [
            OrderReduced(self.seq, ts, order.id, order.account, order.market, new_quantity, order.remaining, released)
        ]
        self.balance_events(touched, ts, events)
        return Outcome(events, order)

    def _open_order(self, account: AccountState, order_id: int) -> Order:
        order = account.open_orders.get(order_id)
        if order is not None:
            return order
        if order_id in account.pending:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"order {order_id} is a pending conditional order: it cannot be changed; cancel it and place a new one",
                order_id=order_id,
            )
        closed = self.find_order(account.id, order_id)
        raise SpotlabError(
            ErrorCode.ORDER_NOT_OPEN,
            f"order {order_id} is {closed.status} and can no longer be changed",
            order_id=order_id,
            status=str(closed.status),
        )

    # -- funds -----------------------------------------------------------------------

    def _deposit(self, command: Deposit, ts: int) -> Outcome:
        self.account(command.account)
        asset = self.asset(command.asset)
        if command.amount <= 0:
            raise SpotlabError(
                ErrorCode.INVALID_NUMBER, f"a deposit must be positive, got {asset.to_decimal(command.amount)}"
            )
        if self.ledger.deposited.get(asset.code, 0) + command.amount > MAX_UNITS:
            raise SpotlabError(
                ErrorCode.INVALID_NUMBER,
                f"this deposit would take the exchange's total {asset.code} past what it can represent "
                f"({asset.to_decimal(MAX_UNITS)} {asset.code})",
            )
        row = self.ledger.row(command.account, asset.code)
        self.ledger.deposit(row, asset.code, command.amount)
        self.seq += 1
        events: list[Event] = [Deposited(self.seq, ts, command.account, asset.code, command.amount)]
        self.balance_events({id(row): row}, ts, events)
        return Outcome(events)

    def _withdraw(self, command: Withdraw, ts: int) -> Outcome:
        self.account(command.account)
        asset = self.asset(command.asset)
        amount, fee = command.amount, asset.withdrawal_fee_units
        if amount <= 0:
            raise SpotlabError(
                ErrorCode.INVALID_NUMBER, f"a withdrawal must be positive, got {asset.to_decimal(amount)}"
            )
        minimum = max(asset.min_withdrawal_units, fee + 1)
        if amount < minimum:
            raise SpotlabError(
                ErrorCode.BELOW_MIN_WITHDRAWAL,
                f"the smallest {asset.code} withdrawal is {asset.to_decimal(minimum)} "
                f"(the fee is {asset.to_decimal(fee)}), got {asset.to_decimal(amount)}",
                minimum=str(asset.to_decimal(minimum)),
            )
        row = self.ledger.rows[command.account].get(asset.code)
        available = row[0] if row else 0
        if amount > available:
            raise SpotlabError(
                ErrorCode.INSUFFICIENT_FUNDS,
                f"cannot withdraw {asset.to_decimal(amount)} {asset.code}: {asset.to_decimal(available)} available",
                available=str(asset.to_decimal(available)),
                requested=str(asset.to_decimal(amount)),
            )
        fee_row = self.ledger.row(FEE_ACCOUNT, asset.code)
        self.ledger.withdraw(row, fee_row, asset.code, amount, fee)
        self.seq += 1
        events: list[Event] = [Withdrawn(self.seq, ts, command.account, asset.code, amount, fee, command.address)]
        touched = {id(row): row}
        if fee:
            touched[id(fee_row)] = fee_row
        self.balance_events(touched, ts, events)
        return Outcome(events)

    # -- administration ----------------------------------------------------------------

    def _create_account(self, command: CreateAccount, ts: int) -> Outcome:
        name = command.account
        if not isinstance(name, str) or not _ACCOUNT_NAME.match(name):
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"account names are 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit; "
                f"got {name!r}",
            )
        if name in self.accounts:
            raise SpotlabError(ErrorCode.ACCOUNT_EXISTS, f"account {name!r} already exists", account=name)
        self.accounts[name] = AccountState(name, self.ledger.open_account(name))
        self.seq += 1
        return Outcome([AccountCreated(self.seq, ts, name)])

    def _list_asset(self, command: ListAsset, ts: int) -> Outcome:
        asset = Asset(
            command.asset, command.precision, Decimal(command.withdrawal_fee), Decimal(command.min_withdrawal)
        )
        known = self.assets.get(asset.code)
        if known is not None:
            if known == asset:
                return Outcome([])
            raise SpotlabError(
                ErrorCode.CATALOGUE_MISMATCH,
                f"asset {asset.code} is already listed with a different spec ({known}); "
                "changing a listed asset is not supported",
            )
        self.assets[asset.code] = asset
        self.seq += 1
        return Outcome(
            [AssetListed(self.seq, ts, asset.code, asset.precision, command.withdrawal_fee, command.min_withdrawal)]
        )

    def _list_market(self, command: ListMarket, ts: int) -> Outcome:
        base_code, _, quote_code = command.market.partition("/")
        spec = MarketSpec(
            symbol=command.market,
            base=self.asset(base_code),
            quote=self.asset(quote_code),
            tick_size=Decimal(command.tick_size),
            lot_size=Decimal(command.lot_size),
            min_quantity=Decimal(command.min_quantity),
            min_notional=Decimal(command.min_notional),
            maker_fee=Decimal(command.maker_fee),
            taker_fee=Decimal(command.taker_fee),
            status=command.status,
        )
        known = self.markets.get(spec.symbol)
        if known is not None:
            if known.spec.describe() | {"status": ""} == spec.describe() | {"status": ""}:
                return Outcome([])
            raise SpotlabError(
                ErrorCode.CATALOGUE_MISMATCH,
                f"market {spec.symbol} is already listed with {known.spec.describe()}, the catalogue now says "
                f"{spec.describe()}; changing a listed market's rules is not supported",
            )
        self.markets[spec.symbol] = MarketState(spec)
        self.seq += 1
        c = command
        listed = MarketListed(
            self.seq, ts, spec.symbol, c.tick_size, c.lot_size, c.min_quantity, c.min_notional, c.maker_fee,
            c.taker_fee, spec.status,
        )  # fmt: skip
        return Outcome([listed])

    def _set_market_status(self, command: SetMarketStatus, ts: int) -> Outcome:
        market = self.market(command.market)
        status = MarketStatus(command.status)
        if market.status is status:
            return Outcome([])
        market.status = status
        self.seq += 1
        return Outcome([MarketStatusChanged(self.seq, ts, command.market, status)])

    # -- self-check --------------------------------------------------------------------

    def check_invariants(self) -> None:
        """Raise ``AssertionError`` naming the first broken invariant of DESIGN.md (1, 2, 4, 5)."""
        self.ledger.check_conservation()
        locked: dict[tuple[str, str], int] = {}
        for market in self.markets.values():
            market.book.check_integrity()
            spec = market.spec
            for order in market.book.orders.values():
                assert self.open_orders.get(order.id) is order, f"order {order.id} rests but is not open"
                assert self.accounts[order.account].open_orders.get(order.id) is order
                if order.side is Side.BUY:
                    need = buy_hold(order.price, order.remaining, spec.notional_unit, spec.max_rate)
                    asset = spec.quote.code
                else:
                    need = order.remaining * spec.lot_units
                    asset = spec.base.code
                assert order.hold >= need, f"order {order.id} holds {order.hold}, needs {need}"
                locked[order.account, asset] = locked.get((order.account, asset), 0) + order.hold
        assert len(self.open_orders) == sum(len(m.book) for m in self.markets.values()), "open orders off book"
        for market in self.markets.values():
            spec = market.spec
            pending = market.pending
            indexed = sum(1 for order in pending.orders.values() if order.stop_price)  # not: trailing, inactive
            assert len(pending.falling) + len(pending.rising) == indexed, "pending index off"
            last = market.trades[-1][2] if market.trades else None
            for order in pending.orders.values():
                assert self.pending_orders.get(order.id) is order, f"conditional {order.id} is not pending"
                assert self.accounts[order.account].pending.get(order.id) is order
                assert order.id not in market.book.orders, f"conditional {order.id} rests in the book"
                assert last is None or not pending.would_trigger(order, last), f"conditional {order.id} is crossed"
                need = conditional.required_hold(order, spec)
                assert order.hold == need, f"conditional {order.id} holds {order.hold}, needs {need}"
                asset = (spec.quote if order.side is Side.BUY else spec.base).code
                locked[order.account, asset] = locked.get((order.account, asset), 0) + order.hold
        assert len(self.pending_orders) == sum(len(m.pending) for m in self.markets.values()), "pending off"
        for lst in self.order_lists.values():
            for take_profit_id, stop_id in lst.pairs:  # never both an open take-profit and a partly filled one's stop
                take_profit = self.open_orders.get(take_profit_id)
                stop = self.pending_orders.get(stop_id)
                if stop is not None:
                    assert take_profit is not None and take_profit.filled == 0, f"OCO {lst.id}: stop without cover"
                    assert take_profit.remaining == stop.quantity, f"OCO {lst.id}: legs differ"
                    need = order_lists.oco_hold(lst, stop.quantity, self.markets[lst.market].spec)
                    assert take_profit.hold == need, f"OCO {lst.id}: holds {take_profit.hold} for both, needs {need}"
            executing = lst.status == order_lists.EXECUTING
            for order_id in lst.order_ids:
                assert (self.list_members.get(order_id) == lst.id) is executing, f"list {lst.id} links off"
            if lst.client_order_id is not None:
                assert self.list_client_ids[lst.account, lst.client_order_id] == lst.id, f"list {lst.id}: client id"
        with_ids = sum(1 for lst in self.order_lists.values() if lst.client_order_id is not None)
        assert len(self.list_client_ids) == with_ids, "list client ids off"
        for account, rows in self.ledger.rows.items():
            for asset, row in rows.items():
                assert row[2:] == [account, asset], f"row {row} filed under {account}/{asset}"
                assert row[1] == locked.get((account, asset), 0), (
                    f"{account} {asset}: locked {row[1]} but open orders hold {locked.get((account, asset), 0)}"
                )

"""From events to history rows: the pure half of the history projection (no I/O, no threads).

Invariants
- Events are applied strictly in sequence: events at or below the last applied one are
  skipped (duplicates: the live feed overlaps the catch-up from the log), and a gap
  raises ``ValueError`` before anything changes, so nothing is ever silently skipped.
- An order's status moves only through ``spotlab.core.orders.transition``, with the
  actions the engine takes (``spotlab.core.placement``, ``spotlab.core.engine``):
  placed -> NEW; a fill is FILL_REST when it leaves nothing (a taker by quote amount
  never does) else FILL_PART; OrderCanceled -> CANCEL; OrderExpired -> EXPIRE (its
  ``remaining`` and ``reason`` taken from the event); OrderReduced -> REDUCE (new
  ``quantity`` and ``remaining`` from the event). The one step without an event of
  its own: an order by quote amount that ends its command open has spent its budget,
  and becomes FILLED (BUDGET_SPENT) at the command's first ``BalanceChanged`` (every
  placement ends with at least one). An order by quote amount never outlives its
  command, so one found open at load time is in that state too.
- Only open orders are kept in memory (events only ever change open orders); an order
  that closes is dropped once its final state is in a batch.
- ``OrderRejected`` creates no order (it has no order id) and is not projected.
- Conditional orders: ``ConditionalOrderPlaced`` -> NEW (pending, outside the book);
  ``OrderTriggered`` -> TRIGGERED (its ``stop_price`` the one that triggered: a trailing
  stop's last), and the order placed next with the event's ``child_id`` gets ``parent_id``;
  ``ConditionalOrderCanceled`` -> CANCEL. ``OrderListUpdated`` links its ``order_ids`` to
  the list (``Batch.links``: rows written before, even closed ones, get ``list_id`` too).
  A pending conditional buy by quote amount is not an order that spends a budget.

``apply`` returns a ``Batch`` of rows; the caller writes it in one transaction with the
checkpoint, and stops for good if that fails (the memory state is then ahead).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from spotlab.core.conditional import TRIGGERED_REASON
from spotlab.core.events import (
    BalanceChanged,
    ConditionalOrderCanceled,
    ConditionalOrderPlaced,
    Deposited,
    Event,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderListUpdated,
    OrderPlaced,
    OrderReduced,
    OrderTriggered,
    Withdrawn,
)
from spotlab.core.orders import CONDITIONAL_TYPES, Action, Order, transition

FILL_PART, FILL_REST = Action.FILL_PART, Action.FILL_REST
MAKER, TAKER = 0, 1


def fill_id(seq: int, role: int) -> int:
    """The id of one side's fill of the ``OrderFilled`` event ``seq`` (role 0 maker, 1 taker)."""
    return 2 * seq + role


@dataclass
class Batch:
    """The rows a run of events produces; ``last`` is the newest event applied (``None``: nothing new)."""

    last: Event | None = None
    new_orders: dict[int, Order] = field(default_factory=dict)  # placed in this batch: insert their final state
    changed_orders: dict[int, Order] = field(default_factory=dict)  # stored before: update
    fills: list[dict[str, Any]] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)
    deposits: list[dict[str, Any]] = field(default_factory=list)
    withdrawals: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)  # ``{"b_id": order id, "b_list": list id}``


class Projection:
    """The open orders and the last applied sequence number; turns events into ``Batch`` es."""

    def __init__(self, open_orders: Iterable[Order] = (), seq: int = 0) -> None:
        self.seq = seq
        self.open: dict[int, Order] = {order.id: order for order in open_orders}
        self._budget_orders: dict[int, Order] = {
            o.id: o for o in self.open.values() if o.quantity == 0 and o.type not in CONDITIONAL_TYPES
        }
        self._parents: dict[int, int] = {}  # child order id -> the conditional order whose trigger places it
        self._batch = Batch()
        self._handlers = {
            OrderPlaced: self._on_placed,
            OrderFilled: self._on_filled,
            OrderCanceled: self._on_closed,
            OrderExpired: self._on_closed,
            OrderReduced: self._on_reduced,
            BalanceChanged: self._on_balance_changed,
            Deposited: self._on_deposited,
            Withdrawn: self._on_withdrawn,
            ConditionalOrderPlaced: self._on_conditional_placed,
            OrderTriggered: self._on_triggered,
            ConditionalOrderCanceled: self._on_conditional_canceled,
            OrderListUpdated: self._on_list_updated,
        }

    def apply(self, events: Iterable[Event]) -> Batch:
        """Apply ``events`` (oldest first) and return the rows they produce."""
        batch = self._batch = Batch()
        handlers = self._handlers
        seq = self.seq
        for event in events:
            if event.seq <= seq:
                continue
            if event.seq != seq + 1:
                raise ValueError(f"history: event {event.seq} follows {seq}; {seq + 1}..{event.seq - 1} are missing")
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
            seq = event.seq
            batch.last = event
        self.seq = seq
        return batch

    # -- orders -------------------------------------------------------------------------

    def _on_placed(self, e: OrderPlaced) -> None:
        order = Order(
            e.order_id, e.account, e.market, e.side, e.type, e.time_in_force, e.self_trade_prevention, e.price,
            e.quantity, e.quote_quantity, e.client_order_id, e.ts,
        )  # fmt: skip
        order.arrival_price = e.arrival_price
        if self._parents:
            order.parent_id = self._parents.pop(order.id, 0)
        self.open[order.id] = order
        self._batch.new_orders[order.id] = order
        if order.quantity == 0:
            self._budget_orders[order.id] = order

    def _on_filled(self, e: OrderFilled) -> None:
        lots, notional, ts = e.quantity, e.notional, e.ts
        maker = self._touch(e.maker_order_id)
        maker.filled += lots
        maker.filled_notional += notional
        maker.fees += e.maker_fee
        maker.remaining -= lots
        maker.updated = ts
        maker.status = transition(maker.status, FILL_PART if maker.remaining else FILL_REST)
        taker = self._touch(e.taker_order_id)
        taker.filled += lots
        taker.filled_notional += notional
        taker.fees += e.taker_fee
        taker.updated = ts
        if taker.quantity:  # an order by quote amount keeps remaining 0 and never fills "the rest"
            taker.remaining -= lots
            taker.status = transition(taker.status, FILL_PART if taker.remaining else FILL_REST)
        else:
            taker.status = transition(taker.status, FILL_PART)
        self._close_if_done(maker)
        self._close_if_done(taker)
        batch = self._batch
        market, trade_id, price, seq = e.market, e.trade_id, e.price, e.seq
        batch.trades.append(
            {"market": market, "trade_id": trade_id, "seq": seq, "ts": ts, "price": price, "quantity": lots,
             "notional": notional, "taker_side": str(e.taker_side)}
        )  # fmt: skip
        for role, order, fee in ((MAKER, maker, e.maker_fee), (TAKER, taker, e.taker_fee)):
            batch.fills.append(
                {"id": fill_id(seq, role), "account": order.account, "market": market, "trade_id": trade_id,
                 "order_id": order.id, "side": str(order.side), "role": "taker" if role else "maker",
                 "price": price, "quantity": lots, "notional": notional, "fee": fee, "ts": ts}
            )  # fmt: skip

    def _on_closed(self, e: OrderCanceled | OrderExpired) -> None:
        order = self._touch(e.order_id)
        action = Action.CANCEL if type(e) is OrderCanceled else Action.EXPIRE
        order.status = transition(order.status, action)
        order.remaining = e.remaining
        order.reason = e.reason
        order.updated = e.ts
        self._close_if_done(order)

    def _on_reduced(self, e: OrderReduced) -> None:
        order = self._touch(e.order_id)
        order.status = transition(order.status, Action.REDUCE)
        order.quantity = e.quantity
        order.remaining = e.remaining
        order.updated = e.ts

    def _on_conditional_placed(self, e: ConditionalOrderPlaced) -> None:
        order = Order(
            e.order_id, e.account, e.market, e.side, e.type, e.time_in_force, e.self_trade_prevention, e.price,
            e.quantity, e.quote_quantity, e.client_order_id, e.ts,
        )  # fmt: skip
        order.stop_price = e.stop_price
        order.trailing_distance = e.trailing_distance
        order.trailing_bps = e.trailing_bps
        order.activation_price = e.activation_price
        self.open[order.id] = order
        self._batch.new_orders[order.id] = order

    def _on_triggered(self, e: OrderTriggered) -> None:
        order = self._touch(e.order_id)
        order.status = transition(order.status, Action.TRIGGER)
        order.stop_price = e.stop_price
        order.reason = TRIGGERED_REASON
        order.updated = e.ts
        self._close_if_done(order)
        self._parents[e.child_id] = order.id

    def _on_conditional_canceled(self, e: ConditionalOrderCanceled) -> None:
        order = self._touch(e.order_id)
        order.status = transition(order.status, Action.CANCEL)
        order.reason = e.reason
        order.updated = e.ts
        self._close_if_done(order)

    def _on_list_updated(self, e: OrderListUpdated) -> None:
        links = self._batch.links
        for order_id in e.order_ids:
            order = self.open.get(order_id)
            if order is not None:
                if order.list_id == e.list_id:
                    continue
                order.list_id = e.list_id
            links.append({"b_id": order_id, "b_list": e.list_id})

    def _on_balance_changed(self, e: BalanceChanged) -> None:
        if not self._budget_orders:
            return
        for order in list(self._budget_orders.values()):  # open at the end of its command: budget spent
            self._touch(order.id)
            order.status = transition(order.status, Action.BUDGET_SPENT)
            order.updated = e.ts
            self._close_if_done(order)
        self._budget_orders.clear()

    def _touch(self, order_id: int) -> Order:
        """The open order ``order_id``, marked as changed in this batch."""
        order = self.open.get(order_id)
        if order is None:
            raise ValueError(f"history: an event changes order {order_id}, which is not open in the projection")
        batch = self._batch
        if order_id not in batch.new_orders:
            batch.changed_orders[order_id] = order
        return order

    def _close_if_done(self, order: Order) -> None:
        if not order.is_open:
            del self.open[order.id]
            self._budget_orders.pop(order.id, None)

    # -- funds --------------------------------------------------------------------------

    def _on_deposited(self, e: Deposited) -> None:
        row = {"seq": e.seq, "account": e.account, "asset": e.asset, "amount": e.amount, "ts": e.ts}
        self._batch.deposits.append(row)

    def _on_withdrawn(self, e: Withdrawn) -> None:
        self._batch.withdrawals.append(
            {"seq": e.seq, "account": e.account, "asset": e.asset, "amount": e.amount, "fee": e.fee,
             "address": e.address, "ts": e.ts}
        )  # fmt: skip

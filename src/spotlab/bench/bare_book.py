"""A bare price-time order book: the fair reference the engine benchmark compares against.

It matches exactly what ``spotlab.core`` matches for the benchmark's commands
(``PlaceOrder`` with self-trade prevention NONE, and ``CancelOrder``), and nothing
else: no ledger, no holds, no fees charged, no events, no validation, no order
lifecycle. What is left is the irreducible work of a price-time book in Python.

Invariants
- Integers only: prices in ticks, quantities in lots, budgets in quote minor units.
- Order ids are assigned 1, 2, 3, ... to every placed order, the way the engine
  numbers accepted orders (the benchmark never sends an order the engine rejects).
- Price-time priority: better price first; at one price, earlier first; a fill is
  at the resting order's price.
- A level is a ``deque`` of orders; cancel is O(1): it zeroes the order's
  ``remaining`` and the matcher drops such dead orders when they reach the head.
  A level with no live order is removed at once, so no phantom level is seen.
- Sorted prices live in two heaps (asks ascending, bids as negated prices) with
  lazy deletion: a heap entry whose level is gone is dropped when it surfaces.
- Market orders by quote amount follow the engine's budget rule exactly (each
  fill takes the lots the rest of the budget affords, each costing ``notional +
  floor(notional * rate)``; a buy's budget pays the taker fee, a sell's budget is
  its gross proceeds; the walk stops where not one more lot fits), so both books
  take the same walk.

Known limitations: one market, no self-trade prevention, no FOK, no post-only.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush

from spotlab.core.commands import CancelOrder, PlaceOrder
from spotlab.core.fees import affordable_lots  # the exchange's rule for what an amount buys
from spotlab.core.markets import FEE_SCALE
from spotlab.core.orders import OrderType, Side, TimeInForce

_BUY = Side.BUY
_MARKET = OrderType.MARKET
_GTC = TimeInForce.GTC


class BareOrder:
    __slots__ = ("id", "account", "buy", "price", "remaining")

    def __init__(self, id: int, account: str, buy: bool, price: int, remaining: int) -> None:
        self.id = id
        self.account = account
        self.buy = buy
        self.price = price
        self.remaining = remaining  # 0 once filled or canceled (a dead entry in its level's deque)


class BareLevel:
    __slots__ = ("queue", "live")

    def __init__(self) -> None:
        self.queue: deque[BareOrder] = deque()
        self.live = 0  # orders in the queue that still rest


class BareBook:
    """One market's bids and asks; ``apply(command)`` for ``PlaceOrder`` and ``CancelOrder``."""

    def __init__(self, notional_unit: int, taker_rate: int) -> None:
        self.notional_unit = notional_unit  # quote minor units per tick x lot
        self.taker_rate = taker_rate  # over FEE_SCALE
        self.bids: dict[int, BareLevel] = {}
        self.asks: dict[int, BareLevel] = {}
        self.bid_heap: list[int] = []  # negated prices
        self.ask_heap: list[int] = []
        self.orders: dict[int, BareOrder] = {}
        self.next_id = 1
        self.trades = 0

    # -- commands ------------------------------------------------------------------------

    def apply(self, command) -> int:
        """Apply one command; returns the new order's id (placing) or 0 (canceling)."""
        if type(command) is CancelOrder:
            self.cancel(command.order_id)
            return 0
        return self.place(command)

    def place(self, command: PlaceOrder) -> int:
        """Match ``command``; rest what is left of a GTC limit. Returns the order's id."""
        order_id = self.next_id
        self.next_id = order_id + 1
        buy = command.side is _BUY
        if command.type is _MARKET:
            if command.quantity:
                self._match(buy, 0, command.quantity)
            else:
                self._match_budget(buy, command.quote_quantity)
            return order_id
        price = command.price
        left = self._match(buy, price, command.quantity)
        if left and command.time_in_force is _GTC:
            order = BareOrder(order_id, command.account, buy, price, left)
            self.orders[order_id] = order
            levels = self.bids if buy else self.asks
            level = levels.get(price)
            if level is None:
                level = levels[price] = BareLevel()
                if buy:
                    heappush(self.bid_heap, -price)
                else:
                    heappush(self.ask_heap, price)
            level.queue.append(order)
            level.live += 1
        return order_id

    def cancel(self, order_id: int) -> None:
        order = self.orders.pop(order_id)
        order.remaining = 0
        levels = self.bids if order.buy else self.asks
        level = levels[order.price]
        level.live -= 1
        if level.live == 0:
            del levels[order.price]  # its heap entry goes when it surfaces

    # -- matching --------------------------------------------------------------------------

    def _match(self, buy: bool, limit: int, quantity: int) -> int:
        """Take up to ``quantity`` lots from the opposite side (``limit`` 0: none); returns what is left."""
        if buy:
            levels, heap, sign = self.asks, self.ask_heap, 1
        else:
            levels, heap, sign = self.bids, self.bid_heap, -1
        limit_key = sign * limit if limit else None
        orders = self.orders
        trades = 0
        while quantity and heap:
            key = heap[0]
            level = levels.get(key * sign)
            if level is None:
                heappop(heap)  # a stale entry
                continue
            if limit_key is not None and key > limit_key:
                break
            queue = level.queue
            while quantity:
                maker = queue[0]
                left = maker.remaining
                if left == 0:
                    queue.popleft()  # canceled earlier
                    continue
                trades += 1
                if left <= quantity:
                    quantity -= left
                    maker.remaining = 0
                    queue.popleft()
                    del orders[maker.id]
                    level.live -= 1
                    if level.live == 0:
                        del levels[key * sign]
                        heappop(heap)
                        break
                else:
                    maker.remaining = left - quantity
                    quantity = 0
        self.trades += trades
        return quantity

    def _match_budget(self, buy: bool, budget: int) -> None:
        """A market order by quote amount: each fill takes only the lots the rest of the budget affords."""
        if buy:
            levels, heap, sign, rate = self.asks, self.ask_heap, 1, self.taker_rate
        else:
            levels, heap, sign, rate = self.bids, self.bid_heap, -1, 0
        orders = self.orders
        spent = 0
        while heap:
            key = heap[0]
            level = levels.get(key * sign)
            if level is None:
                heappop(heap)
                continue
            lot_cost = key * sign * self.notional_unit
            if not affordable_lots(budget - spent, lot_cost, rate):
                return  # not one lot at this price
            queue = level.queue
            while True:
                maker = queue[0]
                left = maker.remaining
                if left == 0:
                    queue.popleft()
                    continue
                lots = affordable_lots(budget - spent, lot_cost, rate)  # at least 1 here
                spent_out = lots < left
                if not spent_out:
                    lots = left
                notional = lots * lot_cost
                spent += notional + notional * rate // FEE_SCALE
                self.trades += 1
                emptied = False
                if lots == left:
                    maker.remaining = 0
                    queue.popleft()
                    del orders[maker.id]
                    level.live -= 1
                    if level.live == 0:
                        del levels[key * sign]
                        heappop(heap)
                        emptied = True
                else:
                    maker.remaining = left - lots
                if spent_out or not affordable_lots(budget - spent, lot_cost, rate):
                    return  # the budget is spent: not one more lot at this price
                if emptied:
                    break

    # -- views -----------------------------------------------------------------------------

    def best_bid(self) -> int | None:
        heap, levels = self.bid_heap, self.bids
        while heap and -heap[0] not in levels:
            heappop(heap)
        return -heap[0] if heap else None

    def best_ask(self) -> int | None:
        heap, levels = self.ask_heap, self.asks
        while heap and heap[0] not in levels:
            heappop(heap)
        return heap[0] if heap else None

    def level3(self) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """Every resting order as ``(id, price, remaining)``: bids then asks, best price first, queue order."""

        def side(levels: dict[int, BareLevel], reverse: bool) -> list[tuple[int, int, int]]:
            return [
                (order.id, price, order.remaining)
                for price in sorted(levels, reverse=reverse)
                for order in levels[price].queue
                if order.remaining
            ]

        return side(self.bids, True), side(self.asks, False)

    def __len__(self) -> int:
        return len(self.orders)

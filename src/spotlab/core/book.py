"""A price-time priority limit order book, integers only.

Invariants (``check_integrity`` verifies all of them)
- One ``BookSide`` serves both sides: levels are ordered by ``key = sign * price``
  (asks: sign +1, lowest first; bids: sign -1, highest first), so "better" is always
  "smaller key" and the matching loop never branches on the side.
- A price level is a FIFO queue: an intrusive doubly linked list of orders, oldest
  at the head. Appending, unlinking any order (cancel) and popping the head are
  O(1); ``orders`` maps id -> order for O(1) lookup.
- No empty level exists: the last order leaving a level removes the level. No
  level holds a phantom quantity: ``level.quantity`` is the sum of its orders'
  ``remaining`` and ``level.count`` their number.
- Reducing an order's quantity keeps its place in the queue.
- ``sequence`` increases by one on every change (add, remove, reduce, fill).
- The book never holds a crossed state after a command: that is the matcher's
  duty, checked by ``check_integrity``.

The book knows nothing of balances, fees or time.
"""

from __future__ import annotations

from collections.abc import Iterator

from sortedcontainers import SortedList

from spotlab.core.orders import Order, Side


class PriceLevel:
    __slots__ = ("price", "key", "head", "tail", "quantity", "count")

    def __init__(self, price: int, key: int) -> None:
        self.price = price
        self.key = key
        self.head: Order | None = None
        self.tail: Order | None = None
        self.quantity = 0
        self.count = 0

    def __iter__(self) -> Iterator[Order]:
        order = self.head
        while order is not None:
            yield order
            order = order.next

    def __repr__(self) -> str:
        return f"PriceLevel({self.price}, quantity={self.quantity}, count={self.count})"


class BookSide:
    """The levels of one side, best first by ``key``."""

    __slots__ = ("sign", "levels", "keys", "best")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.levels: dict[int, PriceLevel] = {}
        self.keys = SortedList()
        self.best: PriceLevel | None = None

    def level_for(self, price: int) -> PriceLevel:
        """The level at ``price``, created if absent."""
        level = self.levels.get(price)
        if level is None:
            key = self.sign * price
            level = PriceLevel(price, key)
            self.levels[price] = level
            self.keys.add(key)
            best = self.best
            if best is None or key < best.key:
                self.best = level
        return level

    def drop(self, level: PriceLevel) -> None:
        """Remove an emptied level."""
        del self.levels[level.price]
        keys = self.keys
        keys.remove(level.key)
        if self.best is level:
            self.best = self.levels[keys[0] * self.sign] if keys else None

    def __iter__(self) -> Iterator[PriceLevel]:
        """Levels best first."""
        sign, levels = self.sign, self.levels
        for key in self.keys:
            yield levels[key * sign]

    def __len__(self) -> int:
        return len(self.levels)


class OrderBook:
    """Bids and asks of one market."""

    __slots__ = ("market", "bids", "asks", "orders", "sequence")

    def __init__(self, market: str) -> None:
        self.market = market
        self.bids = BookSide(-1)
        self.asks = BookSide(+1)
        self.orders: dict[int, Order] = {}
        self.sequence = 0

    def side(self, side: Side) -> BookSide:
        return self.bids if side is Side.BUY else self.asks

    def opposite(self, side: Side) -> BookSide:
        return self.asks if side is Side.BUY else self.bids

    # -- changes ---------------------------------------------------------------

    def add(self, order: Order) -> None:
        """Append ``order`` at the back of its price level."""
        level = (self.bids if order.side is Side.BUY else self.asks).level_for(order.price)
        tail = level.tail
        order.level = level
        order.prev = tail
        order.next = None
        if tail is None:
            level.head = order
        else:
            tail.next = order
        level.tail = order
        level.quantity += order.remaining
        level.count += 1
        self.orders[order.id] = order
        self.sequence += 1

    def remove(self, order: Order) -> None:
        """Take ``order`` out of the book (cancel, expiry or its last fill)."""
        level = order.level
        prev, nxt = order.prev, order.next
        if prev is None:
            level.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            level.tail = prev
        else:
            nxt.prev = prev
        level.quantity -= order.remaining
        level.count -= 1
        order.prev = order.next = order.level = None
        del self.orders[order.id]
        if level.count == 0:
            (self.bids if level.key < 0 else self.asks).drop(level)
        self.sequence += 1

    def reduce(self, order: Order, lots: int) -> None:
        """Lower a resting order's remaining quantity by ``lots``, keeping its place."""
        order.remaining -= lots
        order.level.quantity -= lots
        self.sequence += 1

    # -- views -----------------------------------------------------------------

    def best_bid(self) -> PriceLevel | None:
        return self.bids.best

    def best_ask(self) -> PriceLevel | None:
        return self.asks.best

    def depth(self, levels: int | None = None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Aggregated depth (L2): ``(bids, asks)`` of ``(price, quantity)`` best first."""

        def take(side: BookSide) -> list[tuple[int, int]]:
            out = []
            for level in side:
                if levels is not None and len(out) >= levels:
                    break
                out.append((level.price, level.quantity))
            return out

        return take(self.bids), take(self.asks)

    def level3(self) -> tuple[list[Order], list[Order]]:
        """Every resting order (L3), best price first and in queue order within a price."""
        return (
            [order for level in self.bids for order in level],
            [order for level in self.asks for order in level],
        )

    def __len__(self) -> int:
        return len(self.orders)

    # -- self-check --------------------------------------------------------------

    def check_integrity(self) -> None:
        """Raise ``AssertionError`` naming the first broken invariant."""
        seen: set[int] = set()
        for side in (self.bids, self.asks):
            assert len(side.keys) == len(side.levels), f"{self.market}: keys and levels disagree"
            expected_best = side.levels[side.keys[0] * side.sign] if side.keys else None
            assert side.best is expected_best, f"{self.market}: cached best level is stale"
            for level in side:
                assert level.count > 0, f"{self.market}: empty level at {level.price}"
                assert level.key == side.sign * level.price
                quantity = count = 0
                prev = None
                for order in level:
                    assert order.prev is prev, f"{self.market}: broken back link at order {order.id}"
                    assert order.level is level and order.price == level.price
                    assert order.remaining > 0, f"{self.market}: order {order.id} rests with nothing left"
                    assert self.orders.get(order.id) is order, f"{self.market}: order {order.id} not indexed"
                    assert (side is self.bids) == (order.side is Side.BUY), f"order {order.id} on the wrong side"
                    seen.add(order.id)
                    quantity += order.remaining
                    count += 1
                    prev = order
                assert level.tail is prev, f"{self.market}: tail of level {level.price} is stale"
                assert (quantity, count) == (level.quantity, level.count), (
                    f"{self.market}: level {level.price} says {level.quantity} lots in {level.count} orders, "
                    f"holds {quantity} in {count}"
                )
        assert seen == set(self.orders), f"{self.market}: phantom orders in the index"
        bid, ask = self.bids.best, self.asks.best
        assert bid is None or ask is None or bid.price < ask.price, (
            f"{self.market}: crossed book, bid {bid.price} >= ask {ask.price}"
        )

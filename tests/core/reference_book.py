"""A naive, obviously correct order book: the oracle the real engine is tested against.

Test use only. Integers only (prices in ticks, quantities in lots); no ledger, no
fees, no time. Speed does not matter, clarity does:

- the book is one plain list of resting orders; "priority order" is computed by
  sorting that list on every look: better price first, then earlier arrival (the
  order id, which grows with every accepted order; reducing keeps it);
- an incoming order walks the opposite side in priority order, one maker at a
  time, and decides everything (fills, self-trade expiries, stop) on that walk;
- fill-or-kill walks on paper first and changes nothing unless it fills completely.

The rules, as the spec states them:

- a trade prints at the maker's price; a limit never trades through its price;
- GTC rests what is left, IOC expires it, FOK is all or nothing (EXPIRED if not
  fillable, and then nothing at all happens), MARKET is immediate;
- market orders by quote amount (``budget``, fees not modelled: use a fee-free
  market) take at each maker the lots the rest of the budget affords and stop at
  the first price where not one more lot fits;
- LIMIT_MAKER is REJECTED if it would trade at once (no order id is used up);
- self-trade prevention, by the taker's mode, on meeting a resting order of the
  same account: NONE trades; EXPIRE_TAKER expires the taker's rest; EXPIRE_MAKER
  expires the resting order and goes on; EXPIRE_BOTH expires both;
- reduce lowers the total quantity (above what has filled, below what it was)
  and keeps the queue place; cancel and cancel-all remove.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BUY, SELL = "buy", "sell"
LIMIT, MARKET, LIMIT_MAKER = "limit", "market", "limit_maker"
GTC, IOC, FOK = "GTC", "IOC", "FOK"
NONE, EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH = "NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"


class RefError(Exception):
    """A refused command; ``code`` is the ``ErrorCode`` value the engine should raise."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class RefOrder:
    id: int
    account: str
    side: str
    price: int
    quantity: int
    remaining: int
    filled: int = 0
    status: str = "NEW"


@dataclass
class Result:
    """What one command did: ``happenings`` in order, and the incoming order's id and final status."""

    happenings: list[tuple] = field(
        default_factory=list
    )  # ("fill", maker, taker, price, lots) | ("expire", id) | ("cancel", id)
    order_id: int | None = None
    status: str | None = None


class ReferenceBook:
    def __init__(self) -> None:
        self.resting: list[RefOrder] = []
        self.orders: dict[int, RefOrder] = {}  # every accepted order, open or not
        self.next_id = 1

    # -- views ---------------------------------------------------------------------

    def side(self, side: str) -> list[RefOrder]:
        """The resting orders of one side in priority order."""
        if side == BUY:
            return sorted((o for o in self.resting if o.side == BUY), key=lambda o: (-o.price, o.id))
        return sorted((o for o in self.resting if o.side == SELL), key=lambda o: (o.price, o.id))

    def level3(self) -> tuple[list[tuple[int, str, int, int]], list[tuple[int, str, int, int]]]:
        """``(bids, asks)`` as ``(id, account, price, remaining)`` in priority order."""
        return tuple([(o.id, o.account, o.price, o.remaining) for o in self.side(s)] for s in (BUY, SELL))

    # -- commands -------------------------------------------------------------------

    def place(
        self,
        account: str,
        side: str,
        type: str,
        time_in_force: str = GTC,
        stp: str = EXPIRE_MAKER,
        price: int = 0,
        quantity: int = 0,
        budget: int = 0,
    ) -> Result:
        """Place an order: a limit or limit_maker at ``price``, a market by ``quantity`` lots or by ``budget``."""
        opposite = self.side(SELL if side == BUY else BUY)

        def crosses(maker: RefOrder) -> bool:
            if type == MARKET:
                return True
            return maker.price <= price if side == BUY else maker.price >= price

        if type == LIMIT_MAKER and any(crosses(m) for m in opposite):
            return Result(status="REJECTED")

        # The walk, on paper.
        happenings: list[tuple] = []
        order_id = self.next_id
        lots_left = quantity  # for orders by quantity
        budget_left = budget  # for orders by amount
        filled = 0
        stopped_by = None
        for maker in opposite:
            if not crosses(maker):
                break
            if budget:
                if budget_left // maker.price == 0:
                    stopped_by = "budget"
                    break
            elif lots_left == 0:
                break
            if stp != NONE and maker.account == account:
                if stp in (EXPIRE_MAKER, EXPIRE_BOTH):
                    happenings.append(("expire", maker.id))
                if stp in (EXPIRE_TAKER, EXPIRE_BOTH):
                    stopped_by = "self-trade"
                    break
                continue
            if budget:
                lots = min(maker.remaining, budget_left // maker.price)
                budget_left -= lots * maker.price
            else:
                lots = min(maker.remaining, lots_left)
                lots_left -= lots
            filled += lots
            happenings.append(("fill", maker.id, order_id, maker.price, lots))
            if budget and budget_left // maker.price == 0:
                stopped_by = "budget"  # not one more lot at this price
                break

        # The decision.
        if time_in_force == FOK and filled < quantity:
            self.next_id += 1
            self.orders[order_id] = RefOrder(order_id, account, side, price, quantity, quantity, status="EXPIRED")
            return Result([], order_id, "EXPIRED")

        # Apply the walk.
        self.next_id += 1
        taker = RefOrder(order_id, account, side, price, quantity, quantity - filled, filled)
        self.orders[order_id] = taker
        for happening in happenings:
            maker = self.orders[happening[1]]
            if happening[0] == "expire":
                maker.status = "EXPIRED"
                self.resting.remove(maker)
            else:
                lots = happening[4]
                maker.remaining -= lots
                maker.filled += lots
                maker.status = "PARTIALLY_FILLED" if maker.remaining else "FILLED"
                if not maker.remaining:
                    self.resting.remove(maker)
        if budget:
            taker.remaining = 0
            taker.status = "FILLED" if stopped_by == "budget" and filled else "EXPIRED"
        elif taker.remaining == 0:
            taker.status = "FILLED"
        elif type != MARKET and time_in_force == GTC and stopped_by is None:
            taker.status = "PARTIALLY_FILLED" if filled else "NEW"
            self.resting.append(taker)
        else:
            taker.status = "EXPIRED"
        return Result(happenings, order_id, taker.status)

    def cancel(self, account: str, order_id: int) -> Result:
        order = self._open_order(account, order_id)
        order.status = "CANCELED"
        self.resting.remove(order)
        return Result([("cancel", order_id)], order_id, order.status)

    def cancel_all(self, account: str) -> Result:
        mine = sorted((o for o in self.resting if o.account == account), key=lambda o: o.id)
        for order in mine:
            order.status = "CANCELED"
            self.resting.remove(order)
        return Result([("cancel", o.id) for o in mine])

    def reduce(self, account: str, order_id: int, new_quantity: int) -> Result:
        """Lower the order's total quantity to ``new_quantity``; it keeps its place in the queue."""
        order = self._open_order(account, order_id)
        if not order.filled < new_quantity < order.quantity:
            raise RefError("INVALID_ARGUMENT")
        order.quantity = new_quantity
        order.remaining = new_quantity - order.filled
        return Result([], order_id, order.status)

    def _open_order(self, account: str, order_id: int) -> RefOrder:
        order = self.orders.get(order_id)
        if order is None or order.account != account:
            raise RefError("ORDER_NOT_FOUND")
        if order not in self.resting:
            raise RefError("ORDER_NOT_OPEN")
        return order

"""Matching: an incoming order against the opposite side of one book.

Invariants
- Price-time priority: the best price first, and at one price the oldest order
  first. A trade prints at the resting (maker) order's price.
- A limit never trades through its own price; a market order has no limit.
- Matching is done in two steps that share one walk: ``plan`` reads the book and
  says which makers trade how much (it changes nothing), ``execute`` applies a
  plan to the book. Fill-or-kill asks ``plan`` before any fill, and market orders
  learn their exact cost from it before funds are held, so the answer they get is
  the walk that then happens.
- Self-trade prevention is decided by the taker's mode; a maker expired by it
  appears in the plan with ``lots == 0`` in the place where it was met.
- An order that pays from a budget (a market buy "spend 100 USDT", or a market
  sell "receive 100 USDT") takes from each maker only the lots the rest of the
  budget affords, that fill's own fee included for buys, and stops at the first
  maker from whom not one more lot fits.

The matcher knows nothing of balances; it only sees the book and numbers.
"""

from __future__ import annotations

from spotlab.core.book import OrderBook
from spotlab.core.fees import affordable_lots
from spotlab.core.markets import FEE_SCALE
from spotlab.core.orders import Order, SelfTradePrevention, Side

#: Why a plan stopped before its cap: its own order met under EXPIRE_TAKER/EXPIRE_BOTH,
#: its budget spent, or (``None``) the book or the limit price ran out.
SELF_TRADE = "self-trade prevention"
BUDGET_SPENT = "budget spent"

_NONE = SelfTradePrevention.NONE
_EXPIRE_MAKER = SelfTradePrevention.EXPIRE_MAKER
_EXPIRE_BOTH = SelfTradePrevention.EXPIRE_BOTH


class Plan:
    """What an incoming order would do: ``entries`` of ``(maker, price, lots)`` in matching order."""

    __slots__ = ("entries", "lots", "cost", "stop")

    def __init__(self) -> None:
        self.entries: list[tuple[Order, int, int]] = []
        self.lots = 0  # total lots that trade
        self.cost = 0  # notional plus per-fill fees at the budget's rate
        self.stop: str | None = None


NOTHING = Plan()  # the plan of an order that meets nothing: shared, never changed


def would_cross(book: OrderBook, side: Side, price: int) -> bool:
    """Whether a limit order at ``price`` would trade at once (the post-only test)."""
    opposite = book.asks if side is Side.BUY else book.bids
    best = opposite.best
    return best is not None and best.key <= opposite.sign * price


def plan(
    book: OrderBook,
    side: Side,
    account: str,
    stp: SelfTradePrevention,
    limit: int,
    max_lots: int,
    notional_unit: int,
    budget: int | None = None,
    rate: int = 0,
) -> Plan:
    """Walk the opposite side for an incoming ``side`` order without changing anything.

    ``limit`` is in ticks (0: no limit); ``max_lots`` caps the lots; ``budget`` (quote
    minor units) optionally caps ``notional + floor(notional * rate)`` summed per fill.
    A plan that trades nothing is the shared ``NOTHING``; plans are never mutated.
    """
    opposite = book.asks if side is Side.BUY else book.bids
    level = opposite.best
    if level is None:
        return NOTHING
    sign = opposite.sign
    limit_key = sign * limit if limit else None
    if limit_key is not None and level.key > limit_key:
        return NOTHING
    result = Plan()
    entries = result.entries
    check_self = stp is not _NONE
    remaining = max_lots
    total_cost = 0
    deeper = None  # iterator over the keys past the best level, made only when needed
    while True:
        price = level.price
        lot_cost = price * notional_unit
        if budget is not None and not affordable_lots(budget - total_cost, lot_cost, rate):
            result.stop = BUDGET_SPENT  # nothing can trade at this price, so nothing happens here
            break
        maker = level.head
        while maker is not None and remaining:
            if check_self and maker.account == account:
                if stp is _EXPIRE_MAKER or stp is _EXPIRE_BOTH:
                    entries.append((maker, price, 0))
                if stp is not _EXPIRE_MAKER:
                    result.stop = SELF_TRADE
                    break
                maker = maker.next
                continue
            lots = maker.remaining
            if lots > remaining:
                lots = remaining
            if budget is not None:
                # each fill pays its own rounded-down fee, so affordability is per fill
                afford = affordable_lots(budget - total_cost, lot_cost, rate)
                if afford < lots:
                    lots = afford
                    result.stop = BUDGET_SPENT
                    if not lots:
                        break
            entries.append((maker, price, lots))
            remaining -= lots
            notional = lots * lot_cost
            total_cost += notional + notional * rate // FEE_SCALE
            if budget is not None and result.stop is None and not affordable_lots(budget - total_cost, lot_cost, rate):
                result.stop = BUDGET_SPENT  # spent: not one more lot at this price
            if result.stop is not None:
                break
            maker = maker.next
        if result.stop is not None or remaining == 0:
            break
        if deeper is None:
            deeper = iter(opposite.keys)
            next(deeper)  # the best level, done
        key = next(deeper, None)
        if key is None or (limit_key is not None and key > limit_key):
            break
        level = opposite.levels[key * sign]
    result.lots = max_lots - remaining
    result.cost = total_cost
    return result


def execute(book: OrderBook, plan: Plan) -> None:
    """Apply ``plan`` to ``book``: makers lose the traded lots; filled and self-trade-expired makers leave."""
    for maker, _price, lots in plan.entries:
        if lots == 0:  # expired by self-trade prevention, keeps its remaining for the record
            book.remove(maker)
        elif lots == maker.remaining:
            book.remove(maker)
            maker.remaining = 0
        else:
            maker.remaining -= lots
            maker.level.quantity -= lots
            book.sequence += 1

"""US tax lots: match disposals to acquisition lots by FIFO, LIFO, HIFO or specific identification.

``match_lots(events, method)`` walks ``spotlab.tax.events.TaxEvent``s oldest first (the order given;
``tax_events`` already sorts them). Every acquisition opens a lot; every disposal takes quantity from the
open lots of its asset, in the method's order, splitting a lot when it needs only part of it; every
removal (a withdrawal) takes quantity the same way without realising a gain. The result is one
``TaxLine`` per (disposal, lot) piece, the removals' pieces, and the lots still open.

Rules
- **fifo**: oldest lot first. **lifo**: newest lot first. **hifo**: highest cost per unit first (the lot's
  cost / quantity when it was opened, fees included, compared exactly; ties: the oldest). rp2 ranks by spot
  price without fees instead; the two orders differ only when fees per unit differ between lots.
  Only lots opened before the disposal (earlier in the walk) are candidates: no method reaches into the future.
- **specific**: ``select`` maps a disposal's id to ``[(lot_id, quantity), ...]``; the quantities must sum
  to the disposal's quantity and each lot must be of that asset, open, and hold that much when the
  disposal happens, and every id in ``select`` must be a disposal or removal of the walk. Anything else
  refuses the whole call (``SpotlabError``, ``INVALID_ARGUMENT``, with the figures): no partial result.
  Disposals and removals not in ``select`` use ``fallback`` (default fifo).
- **Proceeds and cost**: a disposal's net proceeds (gross minus its fees) and a lot's cost are split
  over the pieces by ``spotlab.tax.model.share`` (pro rata, rounded half-even to the money unit, the last
  piece takes the exact remainder), so the lines of one disposal sum to its net proceeds and the pieces
  of one lot sum to its cost.
- **Term**: "long" when the sale date is on or after ``long_term_from(date_acquired)`` (the IRS rule, see
  ``spotlab.tax.model``), else "short". rp2 differs: it counts 365 elapsed days as long-term.
- A disposal or removal larger than the open lots of its asset is refused (the exchange never lets an
  account sell what it does not hold, so this means the history is incomplete).

Invariant (property-tested): after every event the open lots of an asset sum to the quantity acquired
minus the quantity disposed and removed, and the lines' gains sum to their proceeds minus their costs.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, localcontext
from typing import NamedTuple

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.tax.events import ACQUIRE, DISPOSE, REMOVE, TaxEvent
from spotlab.tax.model import (
    EXACT,
    LONG,
    NS_PER_DAY,
    QUANTITY_PLACES,
    SHORT,
    OpenLot,
    TaxLine,
    day_date,
    day_number,
    long_term_from,
    money_of,
    money_unit,
    money_units,
    quantity_of,
    quantity_units,
    share,
)

METHODS = ("fifo", "lifo", "hifo", "specific")


class Removed(NamedTuple):
    """A piece of a lot that left the exchange (a withdrawal): no gain, the audit trail of where lots went."""

    asset: str
    quantity: Decimal
    cost_basis: Decimal
    lot_id: str
    removal_id: str
    time_ns: int


class LotResult(NamedTuple):
    lines: list[TaxLine]
    open_lots: list[OpenLot]
    removed: list[Removed]


class _Lot:
    __slots__ = ("id", "asset", "time_ns", "day", "long_from", "quantity", "cost", "rank")

    def __init__(self, id: str, asset: str, time_ns: int, quantity: int, cost: int, rank: int) -> None:  # noqa: A002
        self.id = id
        self.asset = asset
        self.time_ns = time_ns
        self.day = time_ns // NS_PER_DAY  # UTC day number
        long_from = _LONG_FROM.get(self.day)
        if long_from is None:
            long_from = _LONG_FROM[self.day] = day_number(long_term_from(day_date(self.day)))
        self.long_from = long_from
        self.quantity = quantity
        self.cost = cost
        self.rank = rank


_LONG_FROM: dict[int, int] = {}

#: HIFO's key is ``cost x 10^72 // quantity``: two different costs per unit ``a/b > c/d`` differ by at least
#: ``1/(b x d)``, so with quantities below 10^36 units the keys differ by at least 1 and keep their order;
#: equal costs per unit give equal keys. Exact, and far cheaper than comparing ``Fraction``s.
_HIFO_SCALE = 10**72


class _Book:
    """The open lots of one asset, in one method's order (emptied lots are dropped lazily, when met)."""

    __slots__ = ("method", "lots", "held")

    def __init__(self, method: str) -> None:
        self.method = method
        self.lots: deque[_Lot] | list = deque() if method == "fifo" else []
        self.held = 0

    def add(self, lot: _Lot) -> None:
        self.held += lot.quantity
        if self.method == "hifo":
            heapq.heappush(self.lots, (-(lot.cost * _HIFO_SCALE // lot.quantity), lot.rank, lot))
        else:
            self.lots.append(lot)

    def take(self, quantity: int) -> list[tuple[_Lot, int, int]]:
        """Take ``quantity`` (at most ``held``) in the method's order: ``[(lot, quantity taken, cost taken)]``."""
        self.held -= quantity
        lots, method, pieces = self.lots, self.method, []
        while quantity:
            if method == "fifo":
                lot = lots[0]
            elif method == "lifo":
                lot = lots[-1]
            else:
                lot = lots[0][2]
            have = lot.quantity
            if have <= quantity:  # the whole lot (or an emptied one, dropped)
                if have:
                    pieces.append((lot, have, lot.cost))
                    quantity -= have
                    lot.quantity = lot.cost = 0
                if method == "fifo":
                    lots.popleft()
                elif method == "lifo":
                    lots.pop()
                else:
                    heapq.heappop(lots)
            else:
                cost = share(lot.cost, quantity, have)
                pieces.append((lot, quantity, cost))
                lot.quantity = have - quantity
                lot.cost -= cost
                break
        return pieces

    def open(self) -> list[_Lot]:
        lots = [entry[2] for entry in self.lots] if self.method == "hifo" else list(self.lots)
        return sorted((lot for lot in lots if lot.quantity), key=lambda lot: lot.rank)


def match_lots(
    events: Iterable[TaxEvent],
    method: str = "fifo",
    *,
    money_places: int = 2,
    select: Mapping[str, Sequence[tuple[str, Decimal]]] | None = None,
    fallback: str = "fifo",
    period: tuple[date, date] | None = None,
) -> LotResult:
    """Match ``events`` (oldest first) into lines, removals and open lots (see the module docstring).

    With ``period`` (first and last sale date), only the lines of disposals in it are made (all disposals
    are still matched, in order): a report of one year needs no lines of the others.
    """
    with localcontext(EXACT):
        return _match_lots(events, method, money_places, select, fallback, period)


def _match_lots(events, method, money_places, select, fallback, period) -> LotResult:
    method = _method(method)
    if method == "specific":
        fallback = _method(fallback)
        if fallback == "specific":
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "the fallback of specific identification is "
                               "fifo, lifo or hifo", fallback=fallback)  # fmt: skip
        book_method = fallback
        chosen = _parse_select(select or {})
        by_id: dict[str, _Lot] = {}
    else:
        if select:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"lots are selected only with method='specific', "
                               f"not {method!r}", method=method)  # fmt: skip
        book_method = method
        chosen = {}
        by_id = None
    places = money_places
    unit = money_unit(places)
    no_fees = Decimal(0) * unit
    new = tuple.__new__
    first_day, last_day = (day_number(period[0]), day_number(period[1])) if period else (-(10**9), 10**9)
    books: dict[str, _Book] = {}
    lines: list[TaxLine] = []
    removed: list[Removed] = []
    rank = 0
    seen: set[str] = set()
    for event in events:
        action = event.action
        book = books.get(event.asset)
        if book is None:
            book = books[event.asset] = _Book(book_method)
        scaled = event.quantity.scaleb(QUANTITY_PLACES)  # quantity_units, inlined: this loop is the hot path
        quantity = int(scaled)
        if quantity != scaled or quantity <= 0:
            quantity_units(event.quantity, event.id)  # raises, saying why
        if action == ACQUIRE:
            rank += 1
            scaled = event.amount.scaleb(places)
            cost = int(scaled)
            if cost != scaled:
                money_units(event.amount, places, event.id)  # raises
            lot = _Lot(event.id, event.asset, event.time_ns, quantity, cost, rank)
            book.add(lot)
            if by_id is not None:
                if event.id in by_id:
                    raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"two acquisitions share the id {event.id!r}; "
                                       "specific identification needs unique lot ids", lot_id=event.id)  # fmt: skip
                by_id[event.id] = lot
            continue
        if action not in (DISPOSE, REMOVE):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"unknown tax event action {action!r}", action=action)
        if quantity > book.held:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"{event.id} takes {event.quantity} {event.asset} but the open lots hold only "
                f"{quantity_of(book.held)}: the history is incomplete (an earlier acquisition is missing)",
                asset=event.asset,
                needed=str(event.quantity),
                held=str(quantity_of(book.held)),
            )
        picks = chosen.get(event.id) if by_id is not None else None
        if picks is not None:
            seen.add(event.id)
        if picks is None:
            pieces = book.take(quantity)
        else:
            pieces = _chosen_pieces(event, quantity, picks, by_id)
            book.held -= quantity
        if action == REMOVE:
            for lot, take, cost in pieces:
                removed.append(Removed(event.asset, quantity_of(take), money_of(cost, places), lot.id, event.id,
                                       event.time_ns))  # fmt: skip
            continue
        sold_day = event.time_ns // NS_PER_DAY
        if not first_day <= sold_day <= last_day:
            continue
        sold = day_date(sold_day)
        fees = money_units(event.fees, places, event.id) if event.fees else 0
        proceeds = money_units(event.amount, places, event.id) - fees
        left, left_fees = quantity, fees
        for lot, take, cost in pieces:
            part = proceeds if take == left else share(proceeds, take, left)
            part_fees = share(left_fees, take, left) if left_fees else 0
            proceeds -= part
            left_fees -= part_fees
            left -= take
            lines.append(
                new(  # TaxLine(...), without the keyword machinery: once per line of the report
                    TaxLine,
                    (
                        event.asset,
                        event.quantity if take == quantity else quantity_of(take),
                        day_date(lot.day),
                        sold,
                        Decimal(part) * unit,
                        Decimal(cost) * unit,
                        Decimal(part - cost) * unit,
                        LONG if sold_day >= lot.long_from else SHORT,
                        method,
                        lot.id,
                        event.id,
                        event.reason,
                        Decimal(part_fees) * unit if part_fees else no_fees,
                        lot.time_ns,
                        event.time_ns,
                        event.order_id,
                    ),
                )
            )
    if chosen:
        unused = sorted(set(chosen) - seen)
        if unused:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"lots were chosen for {', '.join(unused)}, which is not "
                               "a disposal or removal of this history", disposal_ids=unused)  # fmt: skip
    open_lots = [
        OpenLot(asset, lot.id, quantity_of(lot.quantity), money_of(lot.cost, places), day_date(lot.day))
        for asset, book in books.items()
        for lot in book.open()
    ]
    return LotResult(lines, open_lots, removed)


def _chosen_pieces(event: TaxEvent, quantity: int, picks, by_id: dict[str, _Lot]) -> list[tuple[_Lot, int, int]]:
    total = sum(take for _, take in picks)
    if total != quantity:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"the lots chosen for {event.id} add up to {quantity_of(total)} {event.asset}, "
            f"but it disposes of {event.quantity}",
            disposal_id=event.id,
            chosen=str(quantity_of(total)),
            quantity=str(event.quantity),
        )
    wanted: dict[str, int] = {}
    for lot_id, take in picks:
        wanted[lot_id] = wanted.get(lot_id, 0) + take
    for lot_id, take in wanted.items():  # check everything before changing anything
        lot = by_id.get(lot_id)
        if lot is None or lot.asset != event.asset:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"{event.id} chooses lot {lot_id!r}, which is not an open {event.asset} lot acquired before it",
                disposal_id=event.id,
                lot_id=lot_id,
            )
        if lot.quantity < take:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"{event.id} chooses {quantity_of(take)} {event.asset} from lot {lot_id!r}, which holds "
                f"{quantity_of(lot.quantity)} then",
                disposal_id=event.id,
                lot_id=lot_id,
                held=str(quantity_of(lot.quantity)),
            )
    pieces = []
    for lot_id, take in picks:
        lot = by_id[lot_id]
        cost = share(lot.cost, take, lot.quantity)
        lot.quantity -= take
        lot.cost -= cost
        pieces.append((lot, take, cost))
    return pieces


def _parse_select(select: Mapping[str, Sequence[tuple[str, Decimal]]]) -> dict[str, list[tuple[str, int]]]:
    return {
        disposal_id: [(lot_id, quantity_units(Decimal(quantity), f"lot {lot_id}")) for lot_id, quantity in picks]
        for disposal_id, picks in select.items()
    }


def _method(method: str) -> str:
    name = str(method).lower()
    if name not in METHODS:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown lot method {method!r}; choose one of {', '.join(METHODS)}",
            method=str(method),
            choices=list(METHODS),
        )
    return name

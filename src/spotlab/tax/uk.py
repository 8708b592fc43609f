"""UK share identification for cryptoassets: the same-day rule, the 30-day rule, then the section 104 pool.

``match_uk(events)`` matches ``spotlab.tax.events.TaxEvent``s the way the HMRC Cryptoassets Manual
(CRYPTO22200-22280, TCGA 1992 ss 104, 105, 106A) says, per asset:
1. **Same day** (s105): all acquisitions of one day are one acquisition, all disposals of one day one
   disposal; the day's disposal is matched with the day's acquisition as far as possible.
2. **30 days** ("bed and breakfast", s106A(5)): what is left of a disposal is matched with acquisitions of
   the 30 days *after* it (day + 1 .. day + 30), earliest acquisition first, earliest disposal first, using
   only what the same-day rule left of those acquisitions.
3. **Section 104 pool**: everything else. Acquisitions not matched above join the pool (quantity and
   cost add up); a disposal takes the rest from the pool at the pool's average cost
   (``pool cost x quantity / pool quantity``), the day's acquisitions joining before the day's disposal.
A day is a UTC calendar day (HMRC's day is UK local time; they differ only for events between 23:00 and
midnight UTC in British Summer Time, a known limitation).

Money: a day's disposal has the sum of its gross proceeds and of its fees (incidental costs, allowable
under TCGA s38(1)(c)); its proceeds, fees and the matched acquisitions' costs are split over the lines by
``spotlab.tax.model.share`` (pro rata by quantity, half-even to the money unit, the last part takes the
remainder, as in ``spotlab.tax.lots``). A line's ``cost_basis`` is the matched cost plus its share of the
fees, so ``gain = proceeds - cost_basis``. A fee paid in tokens (CRYPTO22280) is written as two events:
a disposal of the fee tokens at market value, and that value as a fee of the main disposal.

A removal (a withdrawal: the coins leave, no gain) takes its quantity from the pool at average cost, at the
end of its day. Taking more than the pool holds is refused (``SpotlabError``), as in ``spotlab.tax.lots``.

Lines: ``rule`` is "same-day", "30-day" or "section-104"; ``term`` is ``None`` (the UK has no short/long
split); ``date_acquired`` is the matched acquisitions' day, ``None`` for the pool; ``lot_id`` lists the
matched acquisitions' ids ("section-104" for the pool) and ``disposal_id`` the day's disposals' ids.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import localcontext
from typing import NamedTuple

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.tax.events import ACQUIRE, DISPOSE, REMOVE, TaxEvent
from spotlab.tax.model import (
    EXACT,
    OpenLot,
    TaxLine,
    money_of,
    money_units,
    quantity_of,
    quantity_units,
    share,
    utc_date,
)

SAME_DAY = "same-day"
THIRTY_DAY = "30-day"
POOL = "section-104"
_WINDOW = timedelta(days=30)


class UkResult(NamedTuple):
    lines: list[TaxLine]
    pools: list[OpenLot]


class _Side:
    """A day's acquisitions or disposals of one asset, added together."""

    __slots__ = ("quantity", "money", "fees", "ids", "first_ns", "left", "left_money", "order_id", "reasons")

    def __init__(self) -> None:
        self.quantity = self.money = self.fees = 0
        self.ids: list[str] = []
        self.reasons: list[str] = []
        self.first_ns = 0
        self.order_id = 0

    def add(self, event: TaxEvent, quantity: int, money: int, fees: int) -> None:
        if not self.ids:
            self.first_ns = event.time_ns
            self.order_id = event.order_id
        self.quantity += quantity
        self.money += money
        self.fees += fees
        self.ids.append(event.id)
        if event.reason not in self.reasons:
            self.reasons.append(event.reason)


class _Asset:
    __slots__ = ("bought", "sold", "removed")

    def __init__(self) -> None:
        self.bought: dict[date, _Side] = {}
        self.sold: dict[date, _Side] = {}
        self.removed: dict[date, list[tuple[int, TaxEvent]]] = {}


def match_uk(events: Iterable[TaxEvent], *, money_places: int = 2) -> UkResult:
    """Match ``events`` by the UK rules (see the module docstring); lines come per asset, oldest disposal first."""
    with localcontext(EXACT):
        return _match_uk(events, money_places)


def _match_uk(events: Iterable[TaxEvent], money_places: int) -> UkResult:
    assets: dict[str, _Asset] = {}
    for event in events:
        found = assets.get(event.asset)
        if found is None:
            found = assets[event.asset] = _Asset()
        day = utc_date(event.time_ns)
        quantity = quantity_units(event.quantity, event.id)
        if event.action == ACQUIRE:
            side = found.bought.get(day) or found.bought.setdefault(day, _Side())
            side.add(event, quantity, money_units(event.amount, money_places, event.id), 0)
        elif event.action == DISPOSE:
            side = found.sold.get(day) or found.sold.setdefault(day, _Side())
            fees = money_units(event.fees, money_places, event.id) if event.fees else 0
            side.add(event, quantity, money_units(event.amount, money_places, event.id), fees)
        elif event.action == REMOVE:
            found.removed.setdefault(day, []).append((quantity, event))
        else:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"unknown tax event action {event.action!r}", action=event.action
            )
    lines: list[TaxLine] = []
    pools: list[OpenLot] = []
    for asset in sorted(assets):
        asset_lines, pool_quantity, pool_cost = _match_asset(asset, assets[asset], money_places)
        lines.extend(asset_lines)
        if pool_quantity:
            pools.append(OpenLot(asset, POOL, quantity_of(pool_quantity), money_of(pool_cost, money_places), None))
    return UkResult(lines, pools)


def _match_asset(asset: str, book: _Asset, places: int) -> tuple[list[TaxLine], int, int]:
    for side in (*book.bought.values(), *book.sold.values()):
        side.left, side.left_money = side.quantity, side.money
    matches: dict[date, list[tuple[str, date | None, int, int, _Side | None]]] = {day: [] for day in book.sold}
    # 1. same day
    for day, sold in book.sold.items():
        bought = book.bought.get(day)
        if bought is not None:
            _match(matches[day], SAME_DAY, day, sold, bought)
    # 2. thirty days after, earliest disposal first, earliest acquisition first
    bought_days = sorted(book.bought)
    for day in sorted(book.sold):
        sold = book.sold[day]
        for later in bought_days[bisect.bisect_right(bought_days, day) :]:
            if sold.left == 0 or later > day + _WINDOW:
                break
            if book.bought[later].left:
                _match(matches[day], THIRTY_DAY, later, sold, book.bought[later])
    # 3. the section 104 pool, day by day
    lines: list[TaxLine] = []
    pool_quantity = pool_cost = 0
    for day in sorted({*book.bought, *book.sold, *book.removed}):
        bought = book.bought.get(day)
        if bought is not None and bought.left:
            pool_quantity += bought.left
            pool_cost += bought.left_money
        sold = book.sold.get(day)
        if sold is not None:
            if sold.left:
                _check_held(asset, day, sold.left, pool_quantity, "the disposals of")
                cost = share(pool_cost, sold.left, pool_quantity)
                matches[day].append((POOL, None, sold.left, cost, None))
                pool_quantity -= sold.left
                pool_cost -= cost
                sold.left = 0
            lines.extend(_lines(asset, day, sold, matches[day], places))
        for quantity, event in book.removed.get(day, ()):
            _check_held(asset, day, quantity, pool_quantity, f"{event.id} on")
            pool_cost -= share(pool_cost, quantity, pool_quantity)
            pool_quantity -= quantity
    return lines, pool_quantity, pool_cost


def _match(into: list, rule: str, acquired: date, sold: _Side, bought: _Side) -> None:
    quantity = min(sold.left, bought.left)
    if quantity == 0:
        return
    cost = share(bought.left_money, quantity, bought.left)
    bought.left -= quantity
    bought.left_money -= cost
    sold.left -= quantity
    into.append((rule, acquired, quantity, cost, bought))


def _check_held(asset: str, day: date, quantity: int, held: int, what: str) -> None:
    if quantity > held:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{what} {asset} on {day.isoformat()} take {quantity_of(quantity)} from a section 104 pool of "
            f"{quantity_of(held)}: the history is incomplete (an earlier acquisition is missing)",
            asset=asset,
            day=day.isoformat(),
            needed=str(quantity_of(quantity)),
            held=str(quantity_of(held)),
        )


def _lines(asset: str, day: date, sold: _Side, matched: list, places: int) -> list[TaxLine]:
    proceeds, fees, left = sold.money, sold.fees, sold.quantity
    disposal_id = "+".join(sold.ids)
    out = []
    for rule, acquired, quantity, cost, bought in matched:
        part = share(proceeds, quantity, left)
        part_fees = share(fees, quantity, left)
        proceeds -= part
        fees -= part_fees
        left -= quantity
        basis = cost + part_fees
        out.append(
            TaxLine(
                asset,
                quantity_of(quantity),
                acquired,
                day,
                money_of(part, places),
                money_of(basis, places),
                money_of(part - basis, places),
                None,
                rule,
                POOL if bought is None else "+".join(bought.ids),
                disposal_id,
                "+".join(sold.reasons),
                money_of(part_fees, places),
                None if bought is None else bought.first_ns,
                sold.first_ns,
                sold.order_id,
            )
        )
    return out

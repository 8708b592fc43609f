"""What lot matching produces (``TaxLine``, ``OpenLot``) and the exact arithmetic both matchers share.

Invariants
- Inside, quantities are integers in units of 10^-18 of the asset (``QUANTITY_PLACES``) and money is
  integers in units of 10^-``money_places`` of the reporting currency. Converting in is exact or refused
  (a ``SpotlabError``), never rounded; converting out gives ``Decimal``s.
- **Splitting rule** (``share``): when part ``p`` of a whole ``w`` that still carries ``t`` (a lot's
  remaining cost, a disposal's remaining proceeds) is taken, the part gets ``t x p / w`` rounded to the
  nearest money unit, ties to even; the part that takes all that is left (``p == w``) gets exactly ``t``.
  So the parts of a lot's cost, and of a disposal's proceeds, always sum to the whole, and each part is
  within half a unit of its exact share of what remained when it was taken.
- The matchers and ``tax_events`` run inside ``localcontext(EXACT)`` (100 significant digits), so no
  ``Decimal`` operation of theirs rounds; the only roundings are the ones named here and in ``events``.
- Dates are UTC calendar dates of the event times.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal
from typing import NamedTuple

from spotlab.errors import ErrorCode, SpotlabError

QUANTITY_PLACES = 18
QUANTITY_SCALE = 10**QUANTITY_PLACES
NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH = date(1970, 1, 1)

SHORT = "short"
LONG = "long"


class TaxLine(NamedTuple):
    """One realised gain or loss: ``quantity`` of ``asset`` from one lot (US) or one matching rule (UK).

    ``gain == proceeds - cost_basis`` exactly. ``fees`` are the disposal costs inside the line (US:
    already subtracted from ``proceeds``; UK: already added to ``cost_basis``). ``term`` is "short" or
    "long" (US) or ``None`` (UK, where ``rule`` says same-day, 30-day or section-104). The audit trail:
    ``lot_id`` is the id of the acquisition event(s) the cost came from ("section-104" for the UK pool),
    ``disposal_id`` the disposal event(s), ``order_id`` the order of the disposing fill (0 if none).
    ``date_acquired`` is ``None`` for the UK pool.
    """

    asset: str
    quantity: Decimal
    date_acquired: date | None
    date_sold: date
    proceeds: Decimal
    cost_basis: Decimal
    gain: Decimal
    term: str | None
    rule: str
    lot_id: str
    disposal_id: str
    reason: str
    fees: Decimal
    acquired_ns: int | None
    sold_ns: int
    order_id: int = 0


class OpenLot(NamedTuple):
    """What is left of one acquisition (US) or of a pool (UK, ``lot_id`` "section-104")."""

    asset: str
    lot_id: str
    quantity: Decimal
    cost_basis: Decimal
    date_acquired: date | None


#: A decimal context wide enough that nothing here rounds: the matchers run inside ``localcontext(EXACT)``.
EXACT = Context(prec=100)


def quantity_units(quantity: Decimal, what: str) -> int:
    """``quantity`` in units of 10^-18, exactly (inside ``localcontext(EXACT)``: ``scaleb`` rounds to the
    context's precision, and 100 digits hold any quantity the exchange can express)."""
    scaled = quantity.scaleb(QUANTITY_PLACES)
    units = int(scaled)
    if units != scaled or units <= 0:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{what}: a quantity must be positive with at most {QUANTITY_PLACES} decimal places, got {quantity}",
            quantity=str(quantity),
        )
    return units


def money_units(amount: Decimal, places: int, what: str) -> int:
    """``amount`` in units of 10^-``places``, exactly (inside ``localcontext(EXACT)``)."""
    scaled = amount.scaleb(places)
    units = int(scaled)
    if units != scaled:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{what}: a value must be in whole units of the currency (at most {places} decimal places), "
            f"got {amount}; round it first",
            amount=str(amount),
        )
    return units


_QUANTITY_UNIT = Decimal(1).scaleb(-QUANTITY_PLACES)
_QUANTITIES: dict[int, Decimal] = {}


def quantity_of(units: int) -> Decimal:
    """``units`` of 10^-18 as a ``Decimal`` without trailing zeros (``2``, ``0.21``)."""
    found = _QUANTITIES.get(units)
    if found is None:
        if units % QUANTITY_SCALE:
            found = (Decimal(units) * _QUANTITY_UNIT).normalize(EXACT)
        else:
            found = Decimal(units // QUANTITY_SCALE)
        if len(_QUANTITIES) > 100_000:  # a bounded cache: lot sizes repeat (multiples of a market's lot)
            _QUANTITIES.clear()
        _QUANTITIES[units] = found
    return found


def money_unit(places: int) -> Decimal:
    """The currency's unit, ``10^-places``: ``Decimal(units) * money_unit(places)`` is ``units`` as money
    (exact inside ``localcontext(EXACT)``, and faster than ``scaleb``)."""
    return Decimal(1).scaleb(-places)


def money_of(units: int, places: int) -> Decimal:
    return Decimal(units) * money_unit(places)


def share(total: int, part: int, whole: int) -> int:
    """``total x part / whole`` rounded to the nearest integer, ties to even (``whole > 0``)."""
    if part == whole:
        return total
    quotient, remainder = divmod(total * part, whole)
    twice = 2 * remainder
    if twice > whole or (twice == whole and quotient & 1):
        quotient += 1
    return quotient


_DATES: dict[int, date] = {}


def day_date(day: int) -> date:
    """The date of UTC day number ``day`` (days since 1970-01-01)."""
    found = _DATES.get(day)
    if found is None:
        found = _DATES[day] = _EPOCH + timedelta(days=day)
    return found


def utc_date(time_ns: int) -> date:
    return day_date(time_ns // NS_PER_DAY)


def day_number(day: date) -> int:
    return (day - _EPOCH).days


def utc_datetime(time_ns: int) -> datetime:
    return datetime.fromtimestamp(time_ns // 1_000_000_000, UTC).replace(microsecond=(time_ns // 1000) % 1_000_000)


def long_term_from(acquired: date) -> date:
    """The first sale date on which a lot acquired on ``acquired`` is long-term under the US rule.

    IRS Publication 544 ("Holding period"): count from the day after the acquisition; the day of the sale
    counts; long-term means held *more than* one year. Rev. Rul. 66-7: the holding period is counted in
    calendar months, each starting on the same day of the month as the day after the acquisition. So the
    first long-term date is one calendar year after the day after the acquisition: bought 2021-02-05 ->
    long-term from 2022-02-06 (sold 2022-02-05 is short-term). Where that day does not exist (a holding
    period that starts on 29 February) the year ends with February and the first long-term day is 1 March:
    bought 2020-02-28 or 2020-02-29 -> long-term from 2021-03-01; bought 2023-02-28 -> from 2024-03-01
    (a sale on 2024-02-29 is exactly one year: short).
    """
    start = acquired + timedelta(days=1)
    try:
        return start.replace(year=start.year + 1)
    except ValueError:  # 29 February
        return date(start.year + 1, 3, 1)

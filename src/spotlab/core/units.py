"""Fixed-point money: integers inside, ``Decimal`` at the edges.

Invariants
- Inside spotlab a price is an integer number of ticks, a quantity an integer
  number of lots, a balance an integer number of the asset's minor units.
- ``parse_decimal`` accepts ``Decimal``, ``int`` and decimal strings. A ``float``
  (or ``bool``) is refused with ``INVALID_NUMBER``: a float cannot hold 0.1 exactly,
  so accepting one would mean rounding silently. NaN and infinities are refused too.
- ``to_units`` converts exactly or refuses: a value that is not a whole multiple
  of its step raises with the two nearest valid values; nothing is ever rounded.
- ``from_units`` is the exact inverse (``Decimal`` arithmetic with no rounding).
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded

from spotlab.errors import ErrorCode, SpotlabError

#: Exact arithmetic: any operation that would need rounding raises instead. Public for code that turns many
#: integers into ``Decimal`` s at once: ``EXACT.multiply(units, step)`` is ``from_units(units, step)`` without
#: the call.
EXACT = Context(prec=200, traps=[Inexact, Rounded, InvalidOperation])

#: Largest magnitude accepted for any amount at the edge (in whole units). Far above
#: any real balance, it keeps absurd inputs (1E+999) from reaching the engine.
MAX_MAGNITUDE = Decimal("1e30")

#: The largest integer the engine stores or logs (prices in ticks, quantities in lots,
#: amounts and notionals in minor units): what a signed 64-bit column and msgpack hold.
#: The engine refuses anything that would exceed it, so the log can always be written.
MAX_UNITS = 2**63 - 1


def parse_decimal(value: object, field: str) -> Decimal:
    """Turn an edge value into a finite ``Decimal`` or raise ``INVALID_NUMBER``."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool):
        raise SpotlabError(
            ErrorCode.INVALID_NUMBER, f"{field} must be a number, got the boolean {value!r}", field=field
        )
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        raise SpotlabError(
            ErrorCode.INVALID_NUMBER,
            f"{field} must be a Decimal, int or decimal string, not the float {value!r}: "
            f"a float cannot hold money exactly; pass Decimal({str(value)!r}) or the string {str(value)!r}",
            field=field,
            given=repr(value),
        )
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise SpotlabError(
                ErrorCode.INVALID_NUMBER, f"{field} must be a decimal number, got {value!r}", field=field
            ) from None
    else:
        raise SpotlabError(
            ErrorCode.INVALID_NUMBER,
            f"{field} must be a Decimal, int or decimal string, got {type(value).__name__}",
            field=field,
        )
    if not number.is_finite():
        raise SpotlabError(ErrorCode.INVALID_NUMBER, f"{field} must be finite, got {number}", field=field)
    if abs(number) > MAX_MAGNITUDE:
        raise SpotlabError(
            ErrorCode.INVALID_NUMBER, f"{field} {number} is too large (limit {MAX_MAGNITUDE})", field=field
        )
    return number


def to_units(value: Decimal, step: Decimal, field: str, code: ErrorCode) -> int:
    """Exact ``value / step`` as an int, or ``code`` with the nearest valid values."""
    try:
        quotient = EXACT.divide(value, step)
        if quotient == quotient.to_integral_value():
            return int(quotient)
    except (Inexact, Rounded):
        pass
    whole = EXACT.divide_int(value, step)
    if value < 0:
        whole -= 1
    below = EXACT.multiply(whole, step)
    above = EXACT.add(below, step)
    raise SpotlabError(
        code,
        f"{field} {value} is not a multiple of {step}; the nearest valid values are {below} and {above}",
        field=field,
        given=str(value),
        step=str(step),
    )


def from_units(units: int, step: Decimal) -> Decimal:
    """The ``Decimal`` worth ``units`` steps, exactly."""
    return EXACT.multiply(units, step)  # the context takes the int exactly


def exact_product(a: Decimal, b: Decimal) -> Decimal:
    """``a * b`` with no rounding (raises if it would need more than 200 digits)."""
    return EXACT.multiply(a, b)


def ratio_units(numerator: Decimal, denominator: Decimal, what: str) -> int:
    """``numerator / denominator`` when it is a whole number; used to validate specs."""
    try:
        quotient = EXACT.divide(numerator, denominator)
    except (Inexact, Rounded):
        quotient = None
    if quotient is None or quotient != quotient.to_integral_value():
        raise SpotlabError(
            ErrorCode.INVALID_MARKET_SPEC,
            f"{what}: {numerator} is not a whole multiple of {denominator}",
        )
    return int(quotient)

"""Fixed-point at the edges: exact conversion or a clear refusal, never rounding."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from spotlab.core.units import from_units, parse_decimal, to_units
from spotlab.errors import ErrorCode, SpotlabError


@pytest.mark.parametrize("value", [D("0.1"), 5, "42.5", " 7 ", D("-3")])
def test_decimals_ints_and_decimal_strings_are_accepted(value):
    assert parse_decimal(value, "x") == D(str(value).strip())


@pytest.mark.parametrize(
    "value, fragment",
    [
        (0.1, "float"),
        (1.0, "float"),
        (True, "boolean"),
        (D("NaN"), "finite"),
        (D("Infinity"), "finite"),
        ("-inf", "finite"),
        ("abc", "decimal number"),
        ("", "decimal number"),
        (None, "got NoneType"),
        ([1], "got list"),
        ("1e31", "too large"),
    ],
)
def test_everything_else_is_refused_as_invalid_number(value, fragment):
    with pytest.raises(SpotlabError) as refused:
        parse_decimal(value, "price")
    assert refused.value.code == ErrorCode.INVALID_NUMBER
    assert fragment in refused.value.message


def test_the_float_refusal_says_how_to_fix_it():
    with pytest.raises(SpotlabError) as refused:
        parse_decimal(0.1, "price")
    assert "Decimal('0.1')" in refused.value.message


@pytest.mark.parametrize(
    "value, step, units",
    [
        (D("50000.01"), D("0.01"), 5000001),
        (D("0.00001"), D("0.00001"), 1),
        (D("3"), D("0.5"), 6),
        (D("0"), D("0.1"), 0),
    ],
)
def test_values_on_the_step_convert_exactly(value, step, units):
    assert to_units(value, step, "price", ErrorCode.PRICE_NOT_ON_TICK) == units
    assert from_units(units, step) == value


@pytest.mark.parametrize(
    "value, step, below, above",
    [
        (D("50000.005"), D("0.01"), "50000.00", "50000.01"),
        (D("0.000015"), D("0.00001"), "0.00001", "0.00002"),
        (D("1.25"), D("0.5"), "1.0", "1.5"),
        (D("10000000000000000000000000.000000001"), D("0.00000001"), None, None),
    ],
)
def test_values_off_the_step_are_refused_with_the_nearest_valid_values(value, step, below, above):
    with pytest.raises(SpotlabError) as refused:
        to_units(value, step, "price", ErrorCode.PRICE_NOT_ON_TICK)
    assert refused.value.code == ErrorCode.PRICE_NOT_ON_TICK
    if below is not None:
        assert f"nearest valid values are {below} and {above}" in refused.value.message


def test_a_long_value_just_off_the_step_is_not_rounded_onto_it():
    # 40 significant digits: beyond the default decimal context's 28, still refused exactly
    value = D("1234567890123456789012345678.9012345678901")
    with pytest.raises(SpotlabError):
        to_units(value, D("0.0000000001"), "quantity", ErrorCode.QUANTITY_NOT_ON_LOT)
    assert to_units(value, D("0.0000000000001"), "quantity", ErrorCode.QUANTITY_NOT_ON_LOT) == int(
        str(value).replace(".", "")
    )

"""Decimal columns from and to text, remembering how the source wrote its numbers.

A *style* says how to write a column so that an exported file repeats the imported bytes:

- ``"fixed:N"``: every value with exactly N decimal places (Binance klines: ``93576.00000000``);
- ``"float"``: the shortest text that reads back as the same binary float (Python's ``repr``:
  ``1482.0``, ``0.09946999000000001``), which is how float sources (CCXT, freqtrade) write;
- ``"plain"``: the exact decimal without trailing zeros (``1.5``, ``20``), when neither fits.

Invariants
- Parsing is exact: a value becomes the decimal its text names (``decimal256(76, 36)``); text with
  more than 36 decimal places, or that is not a number, is refused with the line it is on.
- ``format_column(parse_column(texts), detect_style(texts)) == texts`` for every column whose
  style is ``fixed`` or ``float``.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.frames import DECIMAL


def detect_style(texts: pa.Array | pa.ChunkedArray) -> str:
    """The style (see the module docstring) that writes every value of ``texts`` back as it was."""
    texts = _combine(texts).drop_null()
    if len(texts) == 0:
        return "plain"
    plain_digits = pc.all(pc.match_substring_regex(texts, r"^-?[0-9]+(\.[0-9]+)?$")).as_py()
    if plain_digits:
        dot = pc.find_substring(texts, ".")
        places = pc.if_else(pc.equal(dot, -1), 0, pc.subtract(pc.subtract(pc.utf8_length(texts), dot), 1))
        low, high = pc.min_max(places).values()
        if low.as_py() == high.as_py():
            return f"fixed:{low.as_py()}"
    if all(repr(float(text)) == text for text in texts.to_pylist()):
        return "float"
    return "plain"


def parse_column(texts: pa.Array | pa.ChunkedArray, name: str, first_line: int = 1) -> pa.Array:
    """Text -> exact ``decimal256(76, 36)``; a value that is not a number (or too precise) is refused."""
    texts = _combine(texts)
    try:
        return pc.cast(texts, DECIMAL)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    for index, text in enumerate(texts.to_pylist()):
        if text is None:
            continue
        try:
            pc.cast(pa.array([text]), DECIMAL)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise SpotlabError(
                ErrorCode.INVALID_NUMBER,
                f"line {first_line + index}: {name} {text!r} is not a decimal number with at most 36 places",
                line=first_line + index,
                column=name,
            ) from None
    raise AssertionError("unreachable: the column failed to cast but no value did")


def decimals_from_floats(values: list, name: str) -> pa.Array:
    """Floats (or ints) -> the shortest decimals that read back as the same floats."""
    try:
        return pa.array([None if v is None else Decimal(repr(float(v))) for v in values], DECIMAL)
    except pa.ArrowInvalid:
        for index, value in enumerate(values):
            try:
                pa.array([Decimal(repr(float(value)))], DECIMAL)
            except pa.ArrowInvalid:
                raise SpotlabError(
                    ErrorCode.INVALID_NUMBER,
                    f"row {index + 1}: {name} {value!r} needs more than 36 decimal places",
                    row=index + 1,
                    column=name,
                ) from None
        raise


def format_column(values: pa.Array | pa.ChunkedArray, style: str) -> list[str | None]:
    """Decimals -> text in ``style``; nulls stay ``None``. A value that needs more places than
    ``fixed:N`` allows is written exactly (plain) rather than rounded."""
    values = _combine(values)
    if style.startswith("fixed:"):
        places = int(style.split(":", 1)[1])
        try:  # fast path; Arrow writes small values as 1E-8, so those fall back to Python
            texts = pc.cast(pc.cast(values, pa.decimal256(76, places)), pa.string())
            if not pc.any(pc.match_substring(texts, "E")).as_py():
                return texts.to_pylist()
        except pa.ArrowInvalid:  # a value with more places than the style: written exactly
            pass
        return [None if v is None else _fixed_or_plain(v, places) for v in values.to_pylist()]
    if style == "float":
        return [None if v is None else repr(float(v)) for v in values.to_pylist()]
    return [None if v is None else plain(v) for v in values.to_pylist()]


def to_floats(values: pa.Array | pa.ChunkedArray) -> list[float | None]:
    """Decimals -> the nearest binary floats (correctly rounded, via ``float(Decimal)``)."""
    return [None if v is None else float(v) for v in _combine(values).to_pylist()]


def plain(value: Decimal) -> str:
    """``Decimal('1.500')`` -> ``'1.5'``, ``Decimal('2E+1')`` -> ``'20'``."""
    return format(value.normalize(), "f")


def _fixed_or_plain(value: Decimal, places: int) -> str:
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return plain(value)
    return format(value.quantize(_QUANTA[places] if places < len(_QUANTA) else Decimal(1).scaleb(-places)), "f")


_QUANTA = [Decimal(1).scaleb(-places) for places in range(40)]


def _combine(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

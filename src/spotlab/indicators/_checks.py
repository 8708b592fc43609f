"""Input validation shared by every indicator (vectorised and streaming).

Invariants:
- Every refusal is a ``SpotlabError`` with ``ErrorCode.INVALID_ARGUMENT`` whose message names the argument,
  says what was expected and what was given; ``details`` carries the figures (name, index, length, ...).
- ``series`` returns a 1-D C-contiguous float64 array (possibly the caller's own array) with no NaN and no infinity;
  callers never mutate it. (A finite sum proves every value finite, so the element-wise scan runs only when the sum
  is not finite, to name the first bad index or to clear a sum that merely overflowed.)
- ``period`` accepts only true integers (``int`` or NumPy integer, never ``bool`` or ``float``) at or above
  ``minimum``.
- Nothing here looks at the values' meaning (prices, volumes): only shape, type and finiteness.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from spotlab.errors import ErrorCode, SpotlabError

__all__ = ["long_enough", "nan_array", "number", "period", "same_length", "scalar", "series"]


def _refuse(message: str, **details: Any) -> SpotlabError:
    return SpotlabError(ErrorCode.INVALID_ARGUMENT, message, **details)


def series(name: str, values: Any) -> np.ndarray:
    """``values`` as a 1-D float64 array; refuse other shapes, non-numbers, NaN (with its index) and infinity."""
    if isinstance(values, (str, bytes)):
        raise _refuse(f"{name} must be a 1-D sequence of numbers, got a {type(values).__name__}", name=name)
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise _refuse(f"{name} must be a 1-D sequence of numbers ({error})", name=name) from None
    if array.ndim != 1:
        raise _refuse(f"{name} must be 1-D, got an array of shape {array.shape}", name=name, shape=array.shape)
    array = np.ascontiguousarray(array)
    if math.isfinite(np.add.reduce(array)):
        return array
    bad = ~np.isfinite(array)
    if bad.any():
        index = int(np.argmax(bad))
        kind = "NaN" if math.isnan(array[index]) else "an infinite value"
        raise _refuse(
            f"{name} holds {kind} at index {index}; fill or drop gaps before computing indicators",
            name=name,
            index=index,
        )
    return array


def same_length(**arrays: np.ndarray) -> int:
    """The common length of the named arrays; refuse if they differ (naming each length)."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise _refuse(f"series must have equal lengths, got {shown}", lengths=lengths)
    return next(iter(lengths.values()), 0)


def period(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an ``int`` >= ``minimum``; refuse bools, floats and anything else."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _refuse(f"{name} must be an integer >= {minimum}, got {value!r}", name=name, minimum=minimum)
    if value < minimum:
        raise _refuse(f"{name} must be an integer >= {minimum}, got {value}", name=name, minimum=minimum)
    return int(value)


def number(name: str, value: Any, minimum: float | None = None) -> float:
    """A finite real parameter (e.g. a stddev multiplier) as ``float``, optionally >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _refuse(f"{name} must be a finite number, got {value!r}", name=name)
    if minimum is not None and value < minimum:
        raise _refuse(f"{name} must be >= {minimum}, got {value}", name=name, minimum=minimum)
    return float(value)


def scalar(name: str, value: Any) -> float:
    """One streamed observation as ``float``; refuse NaN, infinity and non-numbers."""
    if type(value) is float and value - value == 0.0:  # the common case, a finite float (NaN/inf give NaN here)
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _refuse(f"{name} must be a number, got {value!r}", name=name)
    result = float(value)
    if not math.isfinite(result):
        raise _refuse(f"{name} must be finite, got {result}; fill or drop gaps before updating", name=name)
    return result


def long_enough(name: str, length: int, needed: int, reason: str = "") -> None:
    """Refuse a series shorter than ``needed`` (the least length that yields one value)."""
    if length < needed:
        why = f" ({reason})" if reason else ""
        raise _refuse(
            f"{name} is too short: {length} values given, at least {needed} needed{why}",
            name=name,
            length=length,
            needed=needed,
        )


def nan_array(n: int) -> np.ndarray:
    """A float64 array of ``n`` NaNs: the warm-up filler every indicator starts from."""
    return np.full(n, np.nan, dtype=np.float64)

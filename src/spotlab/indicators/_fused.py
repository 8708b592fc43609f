"""``fused_multiply_add(a, b, c)``: ``a * b + c`` rounded once, in pure Python (Python 3.11 has no ``math.fma``).

The streaming indicators use it where the compiled kernels (``_compiled``) and TA-Lib's FMA build round a product
and a sum together (EMA, ATR), so one bar at a time gives the same bits as the arrays.

Invariants:
- The product is split exactly into ``p + e`` (``p = a * b`` rounded, ``e`` its error, by Veltkamp/Dekker
  splitting), and ``math.fsum`` rounds ``p + e + c`` once, correctly: the result equals a hardware FMA.
- Exact for finite inputs whose product neither overflows nor falls below ~1e-290 (where ``e`` would be
  subnormal); indicator inputs (prices, volumes, their differences) are far inside that range.
"""

from __future__ import annotations

from math import fsum

__all__ = ["fused_multiply_add"]

_SPLITTER = 134217729.0  # 2**27 + 1: splits a double into two halves of 26 bits


def fused_multiply_add(a: float, b: float, c: float) -> float:
    product = a * b
    scaled = _SPLITTER * a
    a_high = scaled - (scaled - a)
    a_low = a - a_high
    scaled = _SPLITTER * b
    b_high = scaled - (scaled - b)
    b_low = b - b_high
    error = ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low
    return fsum((product, error, c))

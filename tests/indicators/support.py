"""Helpers shared by the indicator tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from spotlab.errors import ErrorCode, SpotlabError

CPUINFO = Path("/proc/cpuinfo")


def assert_invalid(call, *words: str) -> None:
    """``call()`` is refused with ``INVALID_ARGUMENT`` and a message containing each of ``words``."""
    with pytest.raises(SpotlabError) as raised:
        call()
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT
    for word in words:
        assert word in raised.value.message


def flags_include_fma(cpuinfo: str) -> bool:
    """Whether a ``/proc/cpuinfo`` text lists the ``fma`` flag (FMA3) on a ``flags`` line (``fma4`` does not count)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and "fma" in value.split():
            return True
    return False


@cache
def cpu_has_fma() -> bool:
    """Whether this CPU has FMA, read from ``/proc/cpuinfo`` (False where that file is missing, e.g. macOS)."""
    try:
        return flags_include_fma(CPUINFO.read_text())
    except OSError:
        return False


def assert_talib_bits(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Bit for bit equal to TA-Lib, NaN positions included, on CPUs with FMA; elsewhere only the <= 1e-9 check holds.

    TA-Lib 0.8's wheels dispatch to an FMA build of their C code where the CPU has FMA, and our kernels round their
    multiply-adds once (as that build does) on every CPU. So bit-identity with TA-Lib is a property of CPUs with the
    ``fma`` flag only. Elsewhere (no ``fma`` flag, or no ``/proc/cpuinfo``) this asserts nothing and the caller's
    unconditional parity check, |ours - theirs| <= 1e-9 of the natural scale with the same NaN positions, is the
    one that applies: every call site makes that check beside this one.
    """
    if cpu_has_fma():
        np.testing.assert_array_equal(ours, theirs)

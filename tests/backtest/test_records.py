"""The plain records of a backtest."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest

from spotlab.backtest.records import EquityPoint, equity_point


def test_the_fast_equity_point_is_the_same_frozen_record_as_the_constructors():
    fast, slow = equity_point(5, D("10.5"), D("2")), EquityPoint(5, D("10.5"), D("2"))
    assert type(fast) is EquityPoint
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert dataclasses.replace(fast, equity=D(1)) == EquityPoint(5, D(1), D("2"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.equity = D(0)

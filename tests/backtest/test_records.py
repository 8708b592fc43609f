"""The plain records of a backtest."""

from __future__ import annotations

import gc
from decimal import Decimal as D

import msgspec
import pytest

from spotlab.backtest.records import EquityPoint


def test_an_equity_point_is_a_frozen_value_the_cyclic_collector_never_tracks():
    point = EquityPoint(5, D("10.5"), D("2"))
    same = EquityPoint(time_ns=5, equity=D("10.5"), invested=D("2"))
    assert point == same and hash(point) == hash(same)
    assert EquityPoint(5, D(3)).invested == D(0)
    assert repr(point) == "EquityPoint(time_ns=5, equity=Decimal('10.5'), invested=Decimal('2'))"
    assert msgspec.structs.replace(point, equity=D(1)) == EquityPoint(5, D(1), D("2"))
    with pytest.raises(AttributeError):
        point.equity = D(0)
    assert not gc.is_tracked(point)  # a run keeps one per bar: no full collections over them

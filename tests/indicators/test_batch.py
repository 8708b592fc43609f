"""``batch`` on the single-output streaming classes: a fresh instance's ``update`` values, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from spotlab import indicators
from spotlab.errors import SpotlabError

from .test_talib_parity import SERIES, _series

CASES = [
    (lambda: indicators.SMA(20), ("close",)),
    (lambda: indicators.SMA(2), ("close",)),
    (lambda: indicators.EMA(12), ("close",)),
    (lambda: indicators.WMA(9), ("close",)),
    (lambda: indicators.RSI(14), ("close",)),
    (lambda: indicators.ATR(14), ("high", "low", "close")),
    (lambda: indicators.ADX(14), ("high", "low", "close")),
    (lambda: indicators.OBV(), ("close", "volume")),
]


def _inputs(name: str) -> dict[str, np.ndarray]:
    high, low, close = _series(name)
    volume = np.abs(np.sin(np.arange(len(close), dtype=np.float64))) * 100.0 + 1.0
    return {"high": high, "low": low, "close": close, "volume": volume}


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_batch_returns_the_streamed_values_bit_for_bit(name: str, case: int) -> None:
    make, fields = CASES[case]
    columns = _inputs(name)
    arrays = [columns[field] for field in fields]
    one = make()
    streamed = np.array([one.update(*row) for row in zip(*(a.tolist() for a in arrays), strict=True)])
    batched = make().batch(*arrays)
    assert (~np.isnan(batched)).any()
    np.testing.assert_array_equal(batched, streamed)  # NaN warm-up positions included


def test_batch_refuses_a_series_too_short_for_one_value_as_the_function_does() -> None:
    with pytest.raises(SpotlabError):
        indicators.SMA(20).batch(np.arange(5, dtype=np.float64))


def test_every_single_output_class_with_a_function_has_batch_and_the_multi_output_ones_do_not() -> None:
    for cls in (indicators.SMA, indicators.EMA, indicators.WMA, indicators.RSI, indicators.ATR, indicators.ADX,
                indicators.OBV):  # fmt: skip
        assert callable(getattr(cls, "batch", None)), cls
    for cls in (indicators.MACD, indicators.Bollinger, indicators.Stochastic, indicators.Donchian):
        assert not hasattr(cls, "batch"), cls

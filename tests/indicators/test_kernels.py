"""The array kernels behind the vectorised indicators equal plain loops over the bars."""

from __future__ import annotations

import numpy as np
import pytest

from spotlab.indicators import _kernels

RNG = np.random.default_rng(5)
# lengths around the block size and across several levels of the block recursion (16, 256, 4096, ...)
LENGTHS = [1, 2, 15, 16, 17, 255, 257, 5_000]


def _loop_recurrence(u: np.ndarray, c: float, y0: float, gain: float) -> np.ndarray:
    out, value = [], y0
    for term in u.tolist():
        value = c * value + gain * term
        out.append(value)
    return np.array(out)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("c, gain", [(0.0, 1.0), (1 / 3, 2 / 3), (13 / 14, 1 / 14), (0.999, 1.0)])
def test_linear_recurrence_equals_the_loop(length: int, c: float, gain: float) -> None:
    u = 30_000 + RNG.normal(0.0, 50.0, length)
    np.testing.assert_allclose(
        _kernels.linear_recurrence(u, c, 29_000.0, gain), _loop_recurrence(u, c, 29_000.0, gain), rtol=1e-13
    )


def test_linear_recurrence_runs_one_recursion_per_row() -> None:
    u = RNG.uniform(0.0, 2.0, (3, 1_000))
    result = _kernels.linear_recurrence(u, 0.9, [1.0, 0.0, 5.0], gain=0.5)
    for row, start, got in zip(u, (1.0, 0.0, 5.0), result, strict=True):
        np.testing.assert_allclose(got, _loop_recurrence(row, 0.9, start, 0.5), rtol=1e-13)


def test_linear_recurrence_of_nothing_is_empty() -> None:
    assert _kernels.linear_recurrence(np.array([]), 0.5, 1.0).shape == (0,)


@pytest.mark.parametrize("length", LENGTHS)
def test_window_kernels_equal_each_window_computed_alone(length: int) -> None:
    values = np.round(RNG.normal(0.0, 1.0, length).cumsum() + 100.0, 2)
    before = values.copy()
    for period in sorted({1, 2, 3, 5, 14, 20, 33} & set(range(1, length + 1))):
        windows = [values[i : i + period] for i in range(length - period + 1)]
        np.testing.assert_allclose(_kernels.window_sum(values, period), [w.sum() for w in windows], rtol=1e-14)
        np.testing.assert_array_equal(_kernels.window_max(values, period), [w.max() for w in windows])
        np.testing.assert_array_equal(_kernels.window_min(values, period), [w.min() for w in windows])
        weights = np.arange(1, period + 1)
        np.testing.assert_allclose(
            _kernels.weighted_window_sum(values, period), [(w * weights).sum() for w in windows], rtol=1e-14
        )
        np.testing.assert_allclose(
            _kernels.window_variance(values, period), [w.var() for w in windows], rtol=1e-9, atol=1e-12
        )
    np.testing.assert_array_equal(values, before)  # inputs are never modified


def test_window_variance_is_exactly_zero_on_flat_windows_at_any_price() -> None:
    values = 30_000 + RNG.normal(0.0, 20.0, 2_000)
    values[700:760] = 30_123.457  # far from the group's reference value
    variance = _kernels.window_variance(values, 20)
    assert np.all(variance[700:741] == 0.0)
    assert np.all(variance >= 0.0) and np.all(variance[:680] > 0.0)


def test_sequential_sum_adds_left_to_right() -> None:
    assert _kernels.sequential_sum(np.array([1e16, 1.0, -1e16])) == 0.0  # (1e16 + 1) rounds back to 1e16

"""Fast array kernels shared by the vectorised indicators: recursions and rolling windows without Python loops.

- ``linear_recurrence(u, c, y0)``: ``y[i] = c*y[i-1] + u[i]`` with ``y[-1] = y0`` (EMA, Wilder smoothing). The series is
  cut into blocks of ``BLOCK`` values; each block's response to its own inputs is one matrix product with the
  ``BLOCK x BLOCK`` table of powers of ``c`` (BLAS), and the value carried from block to block is the same recursion
  over the block ends (solved by calling this function again, one level per factor of ``BLOCK``).
- ``window_sum(x, p)`` / ``window_max`` / ``window_min``: the sum / max / min of each run of ``p`` consecutive values,
  built by doubling (windows of 1, 2, 4, ... values combined), so O(n log p) vector operations and no running sum.
- ``weighted_window_sum(x, p)``: sum of ``(j+1) * x[i-p+1+j]`` over each window (newest weighted ``p``), as blocked
  matrix products with the weights (BLAS), each output a dot product of its own window only.
- ``window_variance(x, p)``: population variance of each window from window sums of deviations to a nearby value.

Invariants and precision:
- Every function returns a new float64 array; inputs are never modified.
- Window sums are sums of at most ``p`` terms combined in a tree: no value outside the window takes part, so there is
  no drift over long series (unlike a running sum or a cumulative sum), whatever the price level.
- Matrix products are cut into slices small enough for OpenBLAS to run them on the calling thread.
- ``linear_recurrence`` runs the same recursion in a different order of float operations than the one-value-at-a-time
  loop: for ``0 <= c < 1`` and inputs of one sign the two agree to a few units in the last place (relative); with mixed
  signs, to a few units in the last place of the largest input magnitudes involved.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BLOCK",
    "linear_recurrence",
    "sequential_sum",
    "weighted_window_sum",
    "window_max",
    "window_min",
    "window_sum",
    "window_variance",
]

BLOCK = 16


def sequential_sum(values: np.ndarray) -> float:
    """Left-to-right float sum (the order TA-Lib adds its seed windows in)."""
    total = 0.0
    for value in values.tolist():
        total += value
    return total


def _powers(c: float, count: int) -> np.ndarray:
    """``c**0 .. c**(count-1)`` by repeated multiplication."""
    powers = np.empty(count, dtype=np.float64)
    powers[0] = 1.0
    for index in range(1, count):
        powers[index] = powers[index - 1] * c
    return powers


def linear_recurrence(u: np.ndarray, c: float, y0, gain: float = 1.0) -> np.ndarray:
    """``y[..., i] = c * y[..., i-1] + gain * u[..., i]`` with ``y[..., -1] = y0``; ``u`` is 1-D or 2-D (a row each).

    ``y0`` is a float (1-D ``u``) or one float per row. Returns a float64 array shaped like ``u``.
    """
    u = np.asarray(u, dtype=np.float64)
    rows = u[None, :] if u.ndim == 1 else u
    start = np.asarray(y0, dtype=np.float64).reshape(rows.shape[0])
    result = _recurrence(rows, float(c), float(gain), start)
    return result[0] if u.ndim == 1 else result


def _recurrence(rows: np.ndarray, c: float, gain: float, start: np.ndarray) -> np.ndarray:
    count, length = rows.shape
    if length == 0:
        return np.empty((count, 0))
    blocks, full = -(-length // BLOCK), length // BLOCK
    # one row per block: its BLOCK inputs, then (last column) the value carried in from the block before
    matrix = np.empty((count * blocks, BLOCK + 1))
    cube = matrix.reshape(count, blocks, BLOCK + 1)
    cube[:, :full, :BLOCK] = rows[:, : full * BLOCK].reshape(count, full, BLOCK)
    if full < blocks:
        cube[:, full, : length - full * BLOCK] = rows[:, full * BLOCK :]
        cube[:, full, length - full * BLOCK : BLOCK] = 0.0
    powers = _powers(c, BLOCK + 1)
    offsets = np.arange(BLOCK)
    lags = offsets[None, :] - offsets[:, None]
    table = np.empty((BLOCK + 1, BLOCK))
    table[:BLOCK] = np.where(lags >= 0, powers[np.abs(lags)] * gain, 0.0)  # input i's weight in output j
    table[BLOCK] = powers[1:]  # the carried value's weight in output j
    cube[:, 0, BLOCK] = start
    if blocks > 1:
        ends = _product(matrix[:, :BLOCK], table[:BLOCK, -1], _GEMV_ROWS).reshape(count, blocks)  # own inputs only
        cube[:, 1:, BLOCK] = _recurrence(ends[:, :-1], powers[BLOCK], 1.0, start)
    return _product(matrix, table, _GEMM_ROWS).reshape(count, blocks * BLOCK)[:, :length]


# OpenBLAS runs a product on one thread below these sizes (rows * columns * inner <= 262144 for a matrix product,
# rows * inner < 9216 for a matrix-vector product); products are cut into such slices so that a busy machine never
# makes the indicator wait for a second BLAS thread (which can cost 10x), and the figures stay single-core like TA-Lib.
_GEMM_ROWS = 960
_GEMV_ROWS = 512


def _product(matrix: np.ndarray, table: np.ndarray, rows: int) -> np.ndarray:
    """``matrix @ table`` computed in slices of ``rows`` rows."""
    out = np.empty((matrix.shape[0],) + table.shape[1:])
    for first in range(0, matrix.shape[0], rows):
        np.matmul(matrix[first : first + rows], table, out=out[first : first + rows])
    return out


def _doubled(values: np.ndarray, period: int, combine) -> np.ndarray:
    """Combine each run of ``period`` values (last axis) with ``combine(older, newer)`` in O(log period) passes."""
    length = values.shape[-1]
    result: np.ndarray | None = None  # result[..., s] covers the ``covered`` values starting at s
    covered = 0
    power, span = values, 1  # power[..., s] covers the ``span`` values starting at s
    remaining = period
    while True:
        if remaining & 1:
            if result is None:
                result = power
            else:
                # a run of ``span`` values (starting at s), then the ``covered`` values after it (starting at s+span)
                result = combine(power[..., : power.shape[-1] - covered], result[..., span:])
            covered += span
        remaining >>= 1
        if not remaining:
            break
        power = combine(power[..., :-span], power[..., span:])
        span *= 2
    return result[..., result.shape[-1] - (length - period + 1) :]


def window_sum(values: np.ndarray, period: int) -> np.ndarray:
    """Sum of each ``period`` consecutive values (along the last axis): ``len(values) - period + 1`` results."""
    return values.astype(np.float64, copy=True) if period == 1 else _doubled(values, period, np.add)


def window_max(values: np.ndarray, period: int) -> np.ndarray:
    """Maximum of each ``period`` consecutive values."""
    return values.astype(np.float64, copy=True) if period == 1 else _doubled(values, period, np.maximum)


def window_min(values: np.ndarray, period: int) -> np.ndarray:
    """Minimum of each ``period`` consecutive values."""
    return values.astype(np.float64, copy=True) if period == 1 else _doubled(values, period, np.minimum)


def weighted_window_sum(values: np.ndarray, period: int) -> np.ndarray:
    """``sum_j (j+1) * x[i-period+1+j]`` for each window (oldest weighted 1, newest ``period``).

    Blocks of ``size >= period - 1`` values: each block's outputs are one matrix product with the block and one with
    the tail of the block before (BLAS), every output a dot product of at most ``period`` terms.
    """
    length = len(values)
    size = max(BLOCK, -(-(period - 1) // 8) * 8)
    blocks = -(-length // size)
    matrix = np.zeros(blocks * size)
    matrix[:length] = values
    matrix = matrix.reshape(blocks, size)
    rows, columns = np.arange(size)[:, None], np.arange(size)[None, :]
    lag = columns - rows  # output j minus input i, within one block
    current = np.where((lag >= 0) & (lag < period), period - lag, 0).astype(np.float64)
    slice_rows = max(1, 262144 // (size * size))
    result = _product(matrix, current, slice_rows)
    if period > 1 and blocks > 1:
        tail = size - period + 1
        lag_back = columns + size - rows[tail:]  # from input tail+i of the block before to output j
        previous = np.where(lag_back < period, period - lag_back, 0).astype(np.float64)
        result[1:] += _product(matrix[:-1, tail:], previous, slice_rows)
    return result.reshape(-1)[period - 1 : length].copy()


_VARIANCE_GROUP = 256  # windows per shared reference value in ``window_variance``


def window_variance(values: np.ndarray, period: int) -> np.ndarray:
    """Population variance of each ``period`` consecutive values: mean(d^2) - mean(d)^2 with d = x - r.

    ``r`` is one of the input values, shared by a group of ``_VARIANCE_GROUP`` neighbouring windows (the first value
    of the group's first window), so ``d`` stays of the size of the local price moves and the subtraction loses only
    a few bits; a window whose values are all equal gets exactly 0, and no result is negative.
    """
    count = len(values) - period + 1
    group = _VARIANCE_GROUP
    groups = -(-count // group)
    padded = np.empty(groups * group + period - 1)
    padded[: len(values)] = values
    padded[len(values) :] = values[-1]
    segments = np.lib.stride_tricks.as_strided(
        padded, shape=(groups, group + period - 1), strides=(group * padded.itemsize, padded.itemsize), writeable=False
    )
    moves = segments - segments[:, :1]
    mean_move = window_sum(moves, period).reshape(-1)[:count]
    np.multiply(moves, moves, out=moves)
    variance = window_sum(moves, period).reshape(-1)[:count]
    np.divide(variance, period, out=variance)
    np.divide(mean_move, period, out=mean_move)
    np.multiply(mean_move, mean_move, out=mean_move)
    np.subtract(variance, mean_move, out=variance)
    np.maximum(variance, 0.0, out=variance)
    if period > 1:
        steps = np.diff(values)
        np.abs(steps, out=steps)
        variance[window_sum(steps, period - 1) == 0.0] = 0.0  # every value of the window equal
    return variance

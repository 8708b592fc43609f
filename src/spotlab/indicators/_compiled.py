"""Compiled (numba) loops behind the vectorised indicators, each in TA-Lib's order of floating-point operations.

Every kernel is one pass over the bars written after TA-Lib's C algorithm (running sums that add the new value,
emit, then subtract the oldest; EMAs seeded with the left-to-right mean of their first window, then
``e = (x - e) * k + e`` with the multiply-add rounded once; Wilder averages as ``a = (a * (p - 1) + x) / p``), so
the outputs are bit-identical to TA-Lib's FMA build (the one it runs on CPUs with FMA) and, on every CPU, to the
streaming classes, which run the same operations one bar at a time. WMA and Bollinger's deviation are the
exceptions to TA-Lib bit-identity (within 1e-9; see their kernels), not to streaming bit-identity.

Invariants:
- Inputs are already validated by the callers (``_checks``): 1-D C-contiguous float64 arrays without NaN/inf,
  Python ``int`` periods in range, series long enough for one value. Kernels neither check nor modify them.
- Every kernel returns new float64 arrays as long as its input, NaN during the warm-up (TA-Lib's lookback).
- Kernels are few and monomorphic (float64 arrays, int64 periods, float64 multipliers) and compiled lazily with
  ``cache=True``: the first call in a fresh checkout compiles (about 0.5 s each), later processes load the cache.
- ``nogil=True``: the loops release the GIL, so threads may run indicators side by side.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["adx", "atr", "bbands", "ema", "macd", "obv", "rsi", "sma", "stoch", "wma"]

_JIT = {"cache": True, "nogil": True}
RESUM = 1024  # WMA recomputes its window sums from the values every RESUM outputs
CANCELLATION = 2.0**-16  # Bollinger re-bases when its variance is below this share of the largest squared move


@intrinsic
def _fused(typing_context, a, b, c):
    """``a * b + c`` rounded once (LLVM's ``llvm.fma.f64``: the FMA instruction, or libm's exact fallback)."""

    def codegen(context, builder, signature, arguments):
        return builder.fma(*arguments)

    return types.float64(types.float64, types.float64, types.float64), codegen


@njit(**_JIT)
def _nan_array(length):
    out = np.empty(length)
    out[:] = np.nan
    return out


@njit(**_JIT)
def _running_mean(values, start, period, out):
    """SMA of ``values[start:]`` into ``out`` (first value at ``start + period - 1``): TA-Lib's running sum."""
    total = 0.0
    for index in range(start, start + period - 1):
        total += values[index]
    trailing = start
    for index in range(start + period - 1, len(values)):
        total += values[index]
        out[index] = total / period
        total -= values[trailing]
        trailing += 1


@njit(**_JIT)
def sma(values, period):
    out = _nan_array(len(values))
    _running_mean(values, 0, period, out)
    return out


@njit(**_JIT)
def _ema_into(values, period, first, k, out):
    """EMA written to ``out[first:]``: the mean of ``values[first-period+1 .. first]`` at ``first``, then the update."""
    total = 0.0
    for index in range(first - period + 1, first + 1):
        total += values[index]
    value = total / period
    out[first] = value
    for index in range(first + 1, len(values)):
        value = _fused(values[index] - value, k, value)
        out[index] = value


@njit(**_JIT)
def ema(values, period):
    out = _nan_array(len(values))
    _ema_into(values, period, period - 1, 2.0 / (period + 1), out)
    return out


@njit(**_JIT)
def wma(values, period):
    """TA-Lib's running weighted sum (add ``p * x``, emit, subtract the plain sum), summed afresh every RESUM bars."""
    out = _nan_array(len(values))
    divider = float((period * (period + 1)) // 2)
    weight = float(period)
    window_sum = 0.0
    weighted_sum = 0.0
    for index in range(period - 1):
        value = values[index]
        window_sum += value
        weighted_sum += value * (index + 1)
    trailing_value = 0.0
    for index in range(period - 1, len(values)):
        value = values[index]
        window_sum += value
        window_sum -= trailing_value
        weighted_sum += value * weight
        trailing_value = values[index - period + 1]
        if (index - period + 1) % RESUM == RESUM - 1:  # start afresh now and then: no drift over long series
            window_sum = 0.0
            weighted_sum = 0.0
            for offset in range(period):
                past = values[index - period + 1 + offset]
                window_sum += past
                weighted_sum += past * (offset + 1)
        out[index] = weighted_sum / divider
        weighted_sum -= window_sum
    return out


@njit(**_JIT)
def macd(values, fast, slow, signal):
    """TA-Lib's MACD (``fast <= slow``) in one pass: both EMAs seeded at index slow-1 (the fast one with the mean of
    the ``fast`` values ending there), the signal EMA seeded at slow+signal-2 with the mean of the line so far.

    The three recursions run side by side in registers (each as ``_ema_into`` would run it alone), so the only
    arrays written are the three outputs, each once."""
    length = len(values)
    first = slow + signal - 2
    line_out, signal_out, histogram_out = np.empty(length), np.empty(length), np.empty(length)
    line_out[:first] = np.nan
    signal_out[:first] = np.nan
    histogram_out[:first] = np.nan
    slow_k, fast_k, signal_k = 2.0 / (slow + 1), 2.0 / (fast + 1), 2.0 / (signal + 1)
    slow_total = 0.0
    for index in range(slow):
        slow_total += values[index]
    fast_total = 0.0
    for index in range(slow - fast, slow):
        fast_total += values[index]
    slow_value = slow_total / slow
    fast_value = fast_total / fast
    line = fast_value - slow_value
    signal_total = 0.0
    signal_total += line
    for index in range(slow, first + 1):
        value = values[index]
        fast_value = _fused(value - fast_value, fast_k, fast_value)
        slow_value = _fused(value - slow_value, slow_k, slow_value)
        line = fast_value - slow_value
        signal_total += line
    signal_value = signal_total / signal
    line_out[first] = line
    signal_out[first] = signal_value
    histogram_out[first] = line - signal_value
    for index in range(first + 1, length):
        value = values[index]
        fast_value = _fused(value - fast_value, fast_k, fast_value)
        slow_value = _fused(value - slow_value, slow_k, slow_value)
        line = fast_value - slow_value
        signal_value = _fused(line - signal_value, signal_k, signal_value)
        line_out[index] = line
        signal_out[index] = signal_value
        histogram_out[index] = line - signal_value
    return line_out, signal_out, histogram_out


@njit(**_JIT)
def _rsi_value(gain, loss):
    total = gain + loss
    return 100.0 * (gain / total) if total != 0.0 else 0.0


@njit(**_JIT)
def rsi(values, period):
    out = _nan_array(len(values))
    gain = 0.0
    loss = 0.0
    previous = values[0]
    for index in range(1, period + 1):
        change = values[index] - previous
        previous = values[index]
        if change < 0.0:
            loss -= change
        else:
            gain += change
    share = 1.0 / period
    loss *= share
    gain *= share
    out[period] = _rsi_value(gain, loss)
    keep = float(period - 1)
    for index in range(period + 1, len(values)):
        change = values[index] - previous
        previous = values[index]
        loss *= keep
        gain *= keep
        if change < 0.0:
            loss -= change
        else:
            gain += change
        loss *= share
        gain *= share
        out[index] = _rsi_value(gain, loss)
    return out


@njit(**_JIT)
def _window_moves(values, start, period, pivot):
    """Sums of ``d`` and ``d * d`` over ``values[start : start + period]`` (``d = x - pivot``, left to right) and
    the largest ``d * d``."""
    moves = 0.0
    squares = 0.0
    peak = 0.0
    for index in range(start, start + period):
        move = values[index] - pivot
        square = move * move
        moves += move
        squares += square
        if square > peak:
            peak = square
    return moves, squares, peak


@njit(**_JIT)
def _variance(moves, squares, period):
    average_move = moves / period
    return squares / period - average_move * average_move


@njit(**_JIT)
def bbands(values, period, width):
    """SMA (TA-Lib's running sum) +/- ``width`` population deviations, O(1) per bar (amortised).

    The variance is mean(d^2) - mean(d)^2 from running sums of the moves d = x - pivot (add the newest, emit,
    subtract the oldest). A re-base (pivot = the window's first value, both sums added afresh) happens at the first
    window, then every ``period`` windows, and also at once whenever the variance comes out below CANCELLATION
    times the largest d^2 summed since the last re-base (a past jump would otherwise leave its rounding in the sums).
    A window of ``period`` equal values (``run`` of equal closes) has a deviation of exactly 0."""
    length = len(values)
    upper, middle, lower = np.empty(length), np.empty(length), np.empty(length)
    upper[: period - 1] = np.nan
    middle[: period - 1] = np.nan
    lower[: period - 1] = np.nan
    total = 0.0
    run = 0
    previous = values[0]
    for index in range(period - 1):
        value = values[index]
        total += value
        run = run + 1 if value == previous else 1
        previous = value
    pivot = values[0]
    moves = 0.0
    squares = 0.0
    peak = 0.0
    until_rebase = 0  # windows left before the next periodic re-base (0: this one)
    for index in range(period - 1, length):
        value = values[index]
        start = index - period + 1
        total += value
        run = run + 1 if value == previous else 1
        previous = value
        fresh = until_rebase == 0
        if fresh:
            until_rebase = period
            pivot = values[start]
            moves, squares, peak = _window_moves(values, start, period, pivot)
        else:
            move = value - pivot
            square = move * move
            moves += move
            squares += square
            if square > peak:
                peak = square
        until_rebase -= 1
        mean = total / period
        leaving = values[start]
        total -= leaving
        if run >= period:
            deviation = 0.0
        else:
            variance = _variance(moves, squares, period)
            if not fresh and variance < peak * CANCELLATION:
                until_rebase = period - 1
                pivot = values[start]
                moves, squares, peak = _window_moves(values, start, period, pivot)
                variance = _variance(moves, squares, period)
            deviation = (np.sqrt(variance) if variance > 0.0 else 0.0) * width
        move = leaving - pivot
        moves -= move
        squares -= move * move
        middle[index] = mean
        upper[index] = mean + deviation
        lower[index] = mean - deviation
    return upper, middle, lower


@njit(**_JIT)
def stoch(highs, lows, closes, k_period, k_smooth, d_period):
    """Fast %K from the window's highest high / lowest low (TA-Lib's rescans), then two running-sum SMAs."""
    length = len(closes)
    fast = _nan_array(length)
    highest_index = -1
    lowest_index = -1
    highest = 0.0
    lowest = 0.0
    spread = 0.0
    for today in range(k_period - 1, length):
        trailing = today - k_period + 1
        low = lows[today]
        if lowest_index < trailing:
            lowest_index = trailing
            lowest = lows[trailing]
            for index in range(trailing + 1, today + 1):
                if lows[index] < lowest:
                    lowest_index = index
                    lowest = lows[index]
            spread = highest - lowest
        elif low <= lowest:
            lowest_index = today
            lowest = low
            spread = highest - lowest
        high = highs[today]
        if highest_index < trailing:
            highest_index = trailing
            highest = highs[trailing]
            for index in range(trailing + 1, today + 1):
                if highs[index] > highest:
                    highest_index = index
                    highest = highs[index]
            spread = highest - lowest
        elif high >= highest:
            highest_index = today
            highest = high
            spread = highest - lowest
        fast[today] = (closes[today] - lowest) / spread * 100.0 if spread != 0.0 else 0.0
    slow_k = _nan_array(length)
    _running_mean(fast, k_period - 1, k_smooth, slow_k)
    slow_d = _nan_array(length)
    _running_mean(slow_k, k_period + k_smooth - 2, d_period, slow_d)
    slow_k[: k_period + k_smooth + d_period - 3] = np.nan
    return slow_k, slow_d


@njit(**_JIT)
def _true_range(high, low, previous_close):
    greatest = high - low
    gap = abs(previous_close - high)
    if gap > greatest:
        greatest = gap
    gap = abs(previous_close - low)
    if gap > greatest:
        greatest = gap
    return greatest


@njit(**_JIT)
def atr(highs, lows, closes, period):
    """Mean of the first ``period`` true ranges at index ``period``, then ``a = (a * (p - 1) + tr) / p``."""
    out = _nan_array(len(closes))
    total = 0.0
    for index in range(1, period + 1):
        total += _true_range(highs[index], lows[index], closes[index - 1])
    value = total / period
    out[period] = value
    keep = float(period - 1) / float(period)
    share = 1.0 - keep
    for index in range(period + 1, len(closes)):
        value = _fused(value, keep, _true_range(highs[index], lows[index], closes[index - 1]) * share)
        out[index] = value
    return out


@njit(**_JIT)
def _directional_index(plus_dm, minus_dm, true_range):
    """DX from the smoothed sums, or -1.0 where TA-Lib skips the bar (smoothed TR or DI sum is 0)."""
    if true_range == 0.0:
        return -1.0
    minus_di = 100.0 * (minus_dm / true_range)
    plus_di = 100.0 * (plus_dm / true_range)
    total = minus_di + plus_di
    if total == 0.0:
        return -1.0
    return 100.0 * (abs(minus_di - plus_di) / total)


@njit(**_JIT)
def adx(highs, lows, closes, period):
    """TA-Lib's ADX: DM and TR summed over bars 1..p-1, Wilder-smoothed from bar p; DX averaged from bar 2p-1."""
    length = len(closes)
    out = _nan_array(length)
    plus_dm = 0.0
    minus_dm = 0.0
    true_range = 0.0
    dx_total = 0.0
    value = 0.0
    keep = float(period - 1)
    for today in range(1, length):
        up = highs[today] - highs[today - 1]
        down = lows[today - 1] - lows[today]
        if today >= period:
            minus_dm -= minus_dm / period
            plus_dm -= plus_dm / period
        if down > 0.0 and up < down:
            minus_dm += down
        elif up > 0.0 and up > down:
            plus_dm += up
        bar_range = _true_range(highs[today], lows[today], closes[today - 1])
        if today >= period:
            true_range = true_range - (true_range / period) + bar_range
            dx = _directional_index(plus_dm, minus_dm, true_range)
            if today < 2 * period - 1:
                if dx >= 0.0:
                    dx_total += dx
            elif today == 2 * period - 1:
                if dx >= 0.0:
                    dx_total += dx
                value = dx_total / period
                out[today] = value
            else:
                if dx >= 0.0:
                    value = ((value * keep) + dx) / period
                out[today] = value
        else:
            true_range += bar_range
    return out


@njit(**_JIT)
def obv(closes, volumes):
    out = np.empty(len(closes))
    value = volumes[0]
    previous = closes[0]
    for index in range(len(closes)):
        close = closes[index]
        if close > previous:
            value += volumes[index]
        elif close < previous:
            value -= volumes[index]
        out[index] = value
        previous = close
    return out

"""Compiled (numba) loops behind the vectorised indicators, each in TA-Lib's order of floating-point operations.

Every kernel is one pass over the bars written after TA-Lib's C algorithm (running sums that add the new value,
emit, then subtract the oldest; EMAs seeded with the left-to-right mean of their first window, then
``e = (x - e) * k + e``; Wilder averages as ``a = (a * (p - 1) + x) / p``), so the outputs are bit-identical to
TA-Lib's and to the streaming classes, which run the same operations one bar at a time.

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
    """TA-Lib's MACD (``fast <= slow``): both EMAs seeded at index slow-1, the signal EMA over the line."""
    length = len(values)
    fast_line = _nan_array(length)
    slow_line = _nan_array(length)
    _ema_into(values, slow, slow - 1, 2.0 / (slow + 1), slow_line)
    _ema_into(values, fast, slow - 1, 2.0 / (fast + 1), fast_line)
    line = fast_line - slow_line
    first = slow + signal - 2
    signal_line = _nan_array(length)
    _ema_into(line, signal, first, 2.0 / (signal + 1), signal_line)
    line[:first] = np.nan
    return line, signal_line, line - signal_line


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
def bbands(values, period, width):
    """SMA (running sum); population variance of each window as mean(d^2) - mean(d)^2, d = x - the window's first x."""
    length = len(values)
    upper, middle, lower = _nan_array(length), _nan_array(length), _nan_array(length)
    total = 0.0
    for index in range(period - 1):
        total += values[index]
    for index in range(period - 1, length):
        total += values[index]
        mean = total / period
        total -= values[index - period + 1]
        first = values[index - period + 1]
        moves = 0.0
        squares = 0.0
        for inner in range(index - period + 1, index + 1):
            move = values[inner] - first
            moves += move
            squares += move * move
        moves /= period
        variance = squares / period - moves * moves
        deviation = (np.sqrt(variance) if variance > 0.0 else 0.0) * width
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

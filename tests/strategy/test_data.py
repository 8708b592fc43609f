"""What a strategy sees: only closed bars, growing one at a time; indicators fed the same bars."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from spotlab import indicators
from spotlab.errors import SpotlabError
from spotlab.strategy import Strategy
from tests.backtest.support import HOUR_NS, T0, Scripted, run

ROWS = [(100, 102, 99, 101), (101, 104, 100, 103), (103, 103, 97, 98), (98, 99, 95, 96), (96, 100, 96, 99)]


class Peeker(Strategy):
    """Records, at each bar, what its data shows, and tries to read one bar further."""

    def init(self):
        self.views = []
        self.lengths = []
        self.beyond = []

    def on_bar(self, bar):
        data = self.data[bar.market]
        close = data.close
        self.views.append(close)
        self.lengths.append(len(close))
        assert close[-1] == float(bar.close)  # the bar just closed
        assert data.last == bar and data[-1] == bar
        assert self.now_ns == bar.close_time_ns
        try:
            close[len(close)]
        except IndexError:
            self.beyond.append("IndexError")


def test_a_strategy_sees_the_bar_just_closed_and_nothing_beyond():
    strategy = Peeker()
    run(strategy, ROWS)
    assert strategy.lengths == [1, 2, 3, 4, 5]
    assert strategy.beyond == ["IndexError"] * 5
    # a view taken at bar 2 still shows three closes after the run: it never grows under its holder
    assert strategy.views[2].tolist() == [101.0, 103.0, 98.0]
    assert strategy.views[-1].tolist() == [101.0, 103.0, 98.0, 96.0, 99.0]


def test_the_arrays_are_read_only():
    strategy = Peeker()
    run(strategy, ROWS)
    with pytest.raises(ValueError):
        strategy.views[-1][0] = 1.0


def test_bars_carry_exact_decimals_and_their_times():
    strategy = Scripted()
    run(strategy, ROWS)
    first = strategy.seen[0]
    assert (first.open, first.high, first.low, first.close) == (Decimal(100), Decimal(102), Decimal(99), Decimal(101))
    assert (first.open_time_ns, first.close_time_ns) == (T0, T0 + HOUR_NS)


class WithIndicators(Strategy):
    def init(self):
        self.ema = self.indicator(indicators.EMA, 3)
        self.high_ema = self.indicator(indicators.EMA, 2, source="high")
        self.atr = self.indicator(indicators.ATR, 2)
        self.at_bar = []

    def on_bar(self, bar):
        self.at_bar.append((len(self.ema), self.ema[-1]))


def test_streaming_indicators_give_the_vectorised_numbers_bar_by_bar():
    strategy = WithIndicators()
    run(strategy, ROWS)
    closes = np.array([r[3] for r in ROWS], dtype=float)
    highs = np.array([r[1] for r in ROWS], dtype=float)
    lows = np.array([r[2] for r in ROWS], dtype=float)
    np.testing.assert_array_equal(strategy.ema.values, indicators.ema(closes, 3))
    np.testing.assert_array_equal(strategy.high_ema.values, indicators.ema(highs, 2))
    np.testing.assert_array_equal(strategy.atr.values, indicators.atr(highs, lows, closes, 2))
    # during on_bar the series already holds the bar that just closed
    assert [n for n, _ in strategy.at_bar] == [1, 2, 3, 4, 5]


def test_an_indicator_needs_a_known_source():
    class Bad(Strategy):
        def init(self):
            self.indicator(indicators.EMA, 3, source="typical")

    with pytest.raises(SpotlabError, match="source must name bar fields"):
        run(Bad(), ROWS)


class StreamedSMA(indicators.SMA):
    """The SMA without its batch form: a backtest feeds it bar by bar."""

    __slots__ = ()
    batch = None


class BothWays(Strategy):
    """Declares the same SMA twice, one prepared by the backtest at once, one fed bar by bar, and looks at both."""

    def init(self):
        self.prepared_sma = self.indicator(indicators.SMA, 2)
        self.streamed_sma = self.indicator(StreamedSMA, 2)
        self.seen = {"prepared": [], "streamed": []}

    def on_bar(self, bar):
        for name, series in (("prepared", self.prepared_sma), ("streamed", self.streamed_sma)):
            try:
                series[len(series)]
                beyond = "readable"
            except IndexError:
                beyond = "IndexError"
            shown = (len(series), series[-1], series[0], *series[-2:], *series.values.tolist(), beyond)
            self.seen[name].append(repr(shown))  # repr: NaN warm-up values compare equal


def test_an_indicator_prepared_at_once_shows_exactly_what_one_fed_bar_by_bar_shows():
    strategy = BothWays()
    run(strategy, ROWS)
    assert strategy.prepared_sma.prepared and not strategy.streamed_sma.prepared
    assert strategy.seen["prepared"] == strategy.seen["streamed"]
    assert [entry.split(",")[0] for entry in strategy.seen["prepared"]] == ["(1", "(2", "(3", "(4", "(5"]
    assert all(entry.endswith("'IndexError')") for entry in strategy.seen["prepared"])  # never a future value
    with pytest.raises(ValueError):
        strategy.prepared_sma.values[0] = 1.0  # read-only, as the streamed one


def test_a_prepared_indicator_starts_from_the_warm_up_bars():
    from spotlab.backtest import run_backtest
    from tests.backtest.support import bars, spec

    rows = ROWS + [(99, 101, 98, 100), (100, 100, 97, 97)]
    warm, rest = bars(*rows)[:3], bars(*rows)[3:]
    strategy = BothWays()
    run_backtest(strategy, {"TST/USDT": rest}, {"USDT": Decimal(1000)}, warmup={"TST/USDT": warm},
                 markets=[spec()], progress=False)  # fmt: skip
    assert strategy.prepared_sma.prepared
    assert strategy.seen["prepared"] == strategy.seen["streamed"]
    closes = np.array([r[3] for r in rows], dtype=float)
    np.testing.assert_array_equal(strategy.prepared_sma.values, indicators.sma(closes, 2))


def test_preloaded_bars_must_be_revealed_in_their_order():
    from spotlab.strategy.data import MarketData
    from tests.backtest.support import bars

    first, second = bars(*ROWS[:2])
    data = MarketData("TST/USDT")
    data._preload([first, second])
    assert len(data) == 0 and data.close.tolist() == []  # nothing shown before it is revealed
    with pytest.raises(SpotlabError, match="preloaded order"):
        data._append(second)
    data._append(first)
    assert data.close.tolist() == [101.0] and len(data) == 1

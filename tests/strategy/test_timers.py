"""Timers run on the clock, not on the bars: ``every`` repeats, ``at`` fires once, in due order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from spotlab.clock import ns_to_datetime
from spotlab.errors import SpotlabError
from spotlab.strategy import Strategy
from spotlab.strategy.timers import Timers
from tests.backtest.support import HOUR_NS, T0, flat, run

MINUTE_NS = 60_000_000_000


class Clocked(Strategy):
    def init(self):
        self.calls = []
        self.every(timedelta(minutes=90), "slow")
        self.at(ns_to_datetime(T0 + 20 * MINUTE_NS), "once")

    def on_timer(self, name):
        self.calls.append((name, (self.now_ns - T0) // MINUTE_NS))

    def on_bar(self, bar):
        self.calls.append(("bar", (self.now_ns - T0) // MINUTE_NS))


def test_timers_fire_at_their_clock_times_between_and_after_bars():
    strategy = Clocked()
    run(strategy, flat(100, 4))  # bars close at 60, 120, 180, 240 minutes
    assert strategy.calls == [
        ("once", 20), ("bar", 60), ("slow", 90), ("bar", 120), ("bar", 180), ("slow", 180), ("bar", 240),
    ]  # fmt: skip


def test_a_timer_due_at_a_bar_close_fires_after_that_bar():
    strategy = Clocked()
    run(strategy, flat(100, 2))
    assert ("bar", 60) in strategy.calls
    assert strategy.calls.index(("bar", 60)) < strategy.calls.index(("slow", 90))


def test_a_timer_in_the_past_is_refused():
    class Late(Strategy):
        def on_bar(self, bar):
            self.at(ns_to_datetime(T0), "too-late")

    with pytest.raises(SpotlabError, match="cannot be due in the past"):
        run(Late(), flat(100, 1))


def test_the_timer_queue_orders_by_due_time_then_by_setting_order_and_cancels_by_name():
    timers = Timers()
    timers.add(5, "b")
    timers.add(5, "a")
    timers.add(3, "rep", every_ns=4)
    assert [timers.pop_due(100) for _ in range(4)] == [(3, "rep"), (5, "b"), (5, "a"), (7, "rep")]
    timers.cancel("rep")
    assert timers.next_due() is None
    assert timers.pop_due(HOUR_NS) is None

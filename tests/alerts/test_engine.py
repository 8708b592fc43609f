"""Trigger semantics: an alert fires when its rule becomes true on a closed candle and re-arms when false."""

from __future__ import annotations

from spotlab.alerts.engine import AlertEngine
from spotlab.alerts.evaluate import Bar

MINUTE = 60 * 10**9


def bar(minute: int, close: float) -> Bar:
    return Bar(minute * MINUTE, close, close, close, close, 1.0)


def feed(engine: AlertEngine, closes: list[float], start: int = 0, market: str = "BTC/USDT") -> list[list[int]]:
    return [[t.alert_id for t in engine.on_closed(market, "1m", bar(start + i, c))] for i, c in enumerate(closes)]


def test_fires_on_becoming_true_stays_quiet_while_true_rearms_on_false():
    engine = AlertEngine()
    engine.watch(1, "alice", "BTC/USDT", "1m", "close > 10")
    assert feed(engine, [9, 11, 12, 13, 9, 11, 10, 11]) == [[], [1], [], [], [], [1], [], [1]]


def test_a_rule_already_true_on_its_first_candle_fires_once():
    engine = AlertEngine()
    engine.watch(1, "alice", "BTC/USDT", "1m", "close > 10")
    assert feed(engine, [11, 12]) == [[1], []]


def test_unknown_neither_fires_nor_rearms():
    engine = AlertEngine()
    engine.watch(1, "alice", "BTC/USDT", "1m", "close / (close - 10) > 0")  # unknown when close == 10
    assert feed(engine, [11, 10, 12, 10, 9, 12]) == [[1], [], [], [], [], [1]]


def test_a_firing_carries_the_candle_and_the_values():
    engine = AlertEngine()
    engine.watch(7, "alice", "BTC/USDT", "1m", "close > sma(3)")
    fired = [t for c, i in zip([10, 10, 10, 13], range(4)) for t in engine.on_closed("BTC/USDT", "1m", bar(i, c))]
    assert len(fired) == 1
    (one,) = fired
    assert (one.alert_id, one.account, one.market, one.interval) == (7, "alice", "BTC/USDT", "1m")
    assert one.candle_open_time == 3 * MINUTE and one.rule == "close > sma(3)"
    assert one.values == {"close": 13.0, "sma(3)": 11.0}


def test_only_its_own_market_and_interval_reach_an_alert():
    engine = AlertEngine()
    engine.watch(1, "alice", "BTC/USDT", "1m", "close > 10")
    assert engine.on_closed("ETH/USDT", "1m", bar(0, 11)) == []
    assert engine.on_closed("BTC/USDT", "5m", bar(0, 11)) == []
    assert [t.alert_id for t in engine.on_closed("BTC/USDT", "1m", bar(0, 11))] == [1]


def test_a_candle_seen_before_is_ignored():
    engine = AlertEngine()
    engine.watch(1, "alice", "BTC/USDT", "1m", "close > 10")
    assert feed(engine, [9, 11]) == [[], [1]]
    assert feed(engine, [9, 11], start=0) == [[], []]  # the same minutes again: nothing moves
    assert feed(engine, [9, 11], start=2) == [[], [1]]
    assert engine.last_candle(1) == 3 * MINUTE and engine.last_candle(2) is None


def test_priming_warms_up_and_sets_the_armed_state_without_firing():
    engine = AlertEngine()
    history = [bar(i, c) for i, c in enumerate([9, 9, 12])]  # true at the last primed candle: disarmed
    engine.watch(1, "alice", "BTC/USDT", "1m", "close > sma(2)", history=history)
    assert feed(engine, [13, 14, 1, 20], start=3) == [[], [], [], [1]]


def test_unwatch_and_rewatch():
    engine = AlertEngine()
    engine.watch(1, "alice", "BTC/USDT", "1m", "close > 10")
    engine.watch(2, "bob", "BTC/USDT", "1m", "close > 5")
    assert engine.watched("BTC/USDT", "1m") == [1, 2] and len(engine) == 2
    assert engine.unwatch(1) and not engine.unwatch(1)
    assert feed(engine, [11]) == [[2]]
    engine.watch(2, "bob", "ETH/USDT", "1m", "close > 5")  # re-watching moves it, armed again
    assert engine.keys() == {("ETH/USDT", "1m")}
    assert feed(engine, [11], start=1, market="ETH/USDT") == [[2]]

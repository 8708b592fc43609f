"""The alert engine: every watched rule, fed each closed candle of its market and interval.

Trigger semantics (edge-triggered, one firing per episode):
- A new (or changed, or re-enabled) alert starts *armed*. It may be primed with recent closed candles
  (``watch(..., history=...)``): they warm its indicators and set its armed state, but never fire.
- On each closed candle the rule is evaluated at that candle (``spotlab.alerts.evaluate.RuleState``):
  ``True`` while armed fires (a ``Triggered`` with the values behind it) and disarms; ``False`` re-arms;
  ``None`` (unknown: warming up, division by zero) changes nothing.
- A candle at or before the last one an alert has seen is ignored (a replayed or amended candle
  never fires twice); so is any candle of another market or interval.

Invariants
- Pure of I/O and of time: candles come in as ``Bar``s, firings go out as values; recording and
  delivery belong to ``AlertService``.
- Thread-safe: one lock guards the watches, so the API may add and remove alerts while a candle
  thread evaluates. State per alert is bounded (its indicators' windows).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from spotlab.alerts.evaluate import Bar, RuleState
from spotlab.alerts.rules import Rule, parse

__all__ = ["AlertEngine", "Triggered"]


@dataclass(frozen=True, slots=True)
class Triggered:
    alert_id: int
    account: str
    market: str  # engine symbol, BTC/USDT
    interval: str
    rule: str
    candle_open_time: int  # UTC ns
    values: dict[str, float | None] = field(default_factory=dict)


class _Watch:
    __slots__ = ("alert_id", "account", "market", "interval", "state", "armed", "last_time")

    def __init__(self, alert_id: int, account: str, market: str, interval: str, rule: Rule) -> None:
        self.alert_id, self.account, self.market, self.interval = alert_id, account, market, interval
        self.state = RuleState(rule)
        self.armed = True
        self.last_time: int | None = None

    def step(self, bar: Bar) -> Triggered | None:
        if self.last_time is not None and bar.time_ns <= self.last_time:
            return None
        self.last_time = bar.time_ns
        evaluation = self.state.update(bar)
        if evaluation.result is None:
            return None
        if not evaluation.result:
            self.armed = True
            return None
        if not self.armed:
            return None
        self.armed = False
        return Triggered(
            self.alert_id, self.account, self.market, self.interval, self.state.rule.text, bar.time_ns,
            evaluation.values,
        )  # fmt: skip


class AlertEngine:
    """Watches alert rules per (market, interval); ``on_closed`` says which fire on a closed candle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: dict[tuple[str, str], dict[int, _Watch]] = {}
        self._where: dict[int, tuple[str, str]] = {}

    def watch(
        self, alert_id: int, account: str, market: str, interval: str, rule: str | Rule, history: Iterable[Bar] = ()
    ) -> None:
        """Start (or restart, armed) watching an alert; ``history``: closed candles to prime it, oldest first."""
        parsed = rule if isinstance(rule, Rule) else parse(rule)
        watch = _Watch(alert_id, account, market, interval, parsed)
        for bar in history:
            watch.step(bar)  # warms up and sets the armed state; a priming firing is discarded
        with self._lock:
            self._forget(alert_id)
            self._watches.setdefault((market, interval), {})[alert_id] = watch
            self._where[alert_id] = (market, interval)

    def unwatch(self, alert_id: int) -> bool:
        """Stop watching; ``False`` if it was not watched."""
        with self._lock:
            return self._forget(alert_id)

    def _forget(self, alert_id: int) -> bool:
        key = self._where.pop(alert_id, None)
        if key is None:
            return False
        watches = self._watches[key]
        del watches[alert_id]
        if not watches:
            del self._watches[key]
        return True

    def watched(self, market: str, interval: str) -> list[int]:
        with self._lock:
            return sorted(self._watches.get((market, interval), ()))

    def last_candle(self, alert_id: int) -> int | None:
        """Open time of the newest candle the alert has evaluated (or been primed with), if any."""
        with self._lock:
            key = self._where.get(alert_id)
            return None if key is None else self._watches[key][alert_id].last_time

    def keys(self) -> set[tuple[str, str]]:
        """The (market, interval) pairs some alert watches."""
        with self._lock:
            return set(self._watches)

    def __len__(self) -> int:
        return len(self._where)

    def on_closed(self, market: str, interval: str, bar: Bar) -> list[Triggered]:
        """Evaluate every alert on ``(market, interval)`` at the closed candle ``bar``; the firings, by alert id."""
        with self._lock:
            watches = list(self._watches.get((market, interval), {}).values())
            fired = [watch.step(bar) for watch in watches]
        return sorted((t for t in fired if t is not None), key=lambda t: t.alert_id)

"""``AlertService``: alert rules per account, stored, watched, fired on closed candles and handed to deliveries.

One service backs the REST routes and the candle feed:

- ``create`` / ``update`` / ``delete`` validate (the rule parses, the interval exists, the webhook URL is
  http(s)), change the store and keep the engine's watches in step;
- ``on_candles(closed)`` takes closed candles (``spotlab.marketdata.candles.Candle``: integer ticks and lots),
  turns them into analysis floats with the market's spec, lets the engine evaluate, records every firing
  (``alert_triggers``) and hands each one (``Fired``) to the sinks: the WebSocket channel ``alerts`` and the
  webhook worker, wired by the app.

Invariants
- Isolation: every call names the account; another account's alert is ``NOT_FOUND``.
- A refused call changes nothing: validation comes before the store, and the engine follows the store.
- The webhook secret is derived, never stored: ``"whsec_" + hex HMAC-SHA256(server_key,
  "spotlab-alert-webhook:" + nonce)`` with a random per-alert nonce; it is shown once, by ``create``.
- Prices in the values are floats for analysis only (never used as money).
- A sink that raises is logged and does not stop the others or the candle feed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from spotlab.alerts.destinations import literal_block_reason
from spotlab.alerts.engine import AlertEngine, Triggered
from spotlab.alerts.evaluate import Bar
from spotlab.alerts.rules import parse, warmup
from spotlab.alerts.store import AlertRecord, AlertStore, TriggerRecord
from spotlab.clock import Clock, ns_to_datetime
from spotlab.core.markets import MarketSpec
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.candles import INTERVALS, Candle

__all__ = [
    "AlertService",
    "Fired",
    "value_text",
    "values_text",
    "MAX_NOTE",
    "MAX_URL",
    "PRIME_CANDLES",
    "alert_message",
    "to_bar",
]

log = logging.getLogger(__name__)

MAX_URL = 500
MAX_NOTE = 200
#: At most this many recent closed candles prime a new watch (at least the rule's warm-up is asked for).
PRIME_CANDLES = 1000

#: ``recent(market, interval, limit) -> closed candles, oldest first`` (the history's candles), for priming.
RecentCandles = Callable[[str, str, int], list[Candle]]


@dataclass(frozen=True, slots=True)
class Fired:
    """A recorded firing, ready to deliver."""

    triggered: Triggered
    trigger_id: int
    fired_at: int
    webhook_url: str | None
    webhook_secret: str | None


def iso(ns: int) -> str:
    return ns_to_datetime(ns).isoformat(timespec="microseconds").replace("+00:00", "Z")


def value_text(value: float | None) -> str | None:
    """An analysis value as plain decimal digits (``"42150.5"``, at most 30 decimals), as every number on the wire;
    ``None`` for unknown."""
    if value is None or not math.isfinite(value):
        return None
    text = format(Decimal(repr(value)), "f")
    whole, _, fraction = text.partition(".")
    fraction = fraction[:30].rstrip("0")
    return whole + "." + fraction if fraction else whole


def values_text(values: dict[str, float | None]) -> dict[str, str | None]:
    return {name: value_text(value) for name, value in values.items()}


def alert_message(fired: Fired) -> dict[str, Any]:
    """The firing as the ``alerts`` channel message and the webhook body (the same JSON object; values as
    decimal strings)."""
    t = fired.triggered
    return {
        "type": "alert",
        "channel": "alerts",
        "alert_id": t.alert_id,
        "trigger_id": fired.trigger_id,
        "market": t.market.replace("/", "-"),
        "interval": t.interval,
        "rule": t.rule,
        "candle_open_time": iso(t.candle_open_time),
        "values": values_text(t.values),
        "time": iso(fired.fired_at),
    }


def to_bar(candle: Candle, spec: MarketSpec) -> Bar:
    """A candle in ticks and lots as analysis floats (prices in quote units, volume in base units)."""
    return Bar(
        candle.open_time,
        float(spec.price(candle.open)),
        float(spec.price(candle.high)),
        float(spec.price(candle.low)),
        float(spec.price(candle.close)),
        float(spec.quantity(candle.base_volume)),
    )


def _invalid(message: str, field: str) -> SpotlabError:
    return SpotlabError(ErrorCode.INVALID_ARGUMENT, message, field=field)


def check_interval(interval: str) -> str:
    if interval not in INTERVALS:
        raise _invalid(f"unknown interval {str(interval)[:10]!r}; use one of {', '.join(INTERVALS)}", "interval")
    return interval


def check_webhook_url(url: str | None, allow_private: bool = False) -> str | None:
    """``url`` if it may receive webhooks (``spotlab.alerts.destinations``), None for none, else INVALID_ARGUMENT."""
    if url is None or url == "":
        return None
    parts = urlsplit(url) if len(url) <= MAX_URL else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        raise _invalid(
            f"webhook_url must be an http(s) URL of at most {MAX_URL} characters without credentials", "webhook_url"
        )
    reason = None if allow_private else literal_block_reason(parts.hostname)
    if reason is not None:
        raise _invalid(
            f"webhook_url must point to a public address ({reason}); the operator can allow private ones "
            "with SPOTLAB_WEBHOOK_ALLOW_PRIVATE=1",
            "webhook_url",
        )
    return url


def check_note(note: str) -> str:
    if len(note) > MAX_NOTE:
        raise _invalid(f"note may be at most {MAX_NOTE} characters, got {len(note)}", "note")
    return note


class AlertService:
    """Alerts of every account: the store, the engine and the sinks (see the module docstring)."""

    def __init__(
        self,
        store: AlertStore,
        server_key: bytes,
        clock: Clock,
        spec_of: Callable[[str], MarketSpec],
        recent: RecentCandles | None = None,
        allow_private_webhooks: bool = False,
    ) -> None:
        self.store = store
        self._allow_private = allow_private_webhooks
        self.engine = AlertEngine()
        self._server_key = server_key
        self._clock = clock
        self._spec_of = spec_of
        self._recent = recent
        self._sinks: list[Callable[[Fired], None]] = []
        self.fired = 0

    # -- wiring --------------------------------------------------------------------------------------

    def add_sink(self, sink: Callable[[Fired], None]) -> Callable[[], None]:
        """Hand every firing to ``sink`` (called on the candle feed's thread); returns the remover."""
        self._sinks.append(sink)
        return lambda: self._sinks.remove(sink) if sink in self._sinks else None

    def set_recent(self, recent: RecentCandles | None) -> None:
        self._recent = recent

    def load(self) -> int:
        """Watch every enabled alert (primed from recent candles when available); how many."""
        records = self.store.all_enabled()
        for record in records:
            self._watch(record)
        return len(records)

    # -- alerts --------------------------------------------------------------------------------------

    def secret(self, record: AlertRecord) -> str:
        digest = hmac.new(self._server_key, b"spotlab-alert-webhook:" + record.secret_nonce.encode(), hashlib.sha256)
        return "whsec_" + digest.hexdigest()

    def create(
        self, account: str, market: str, interval: str, rule: str, webhook_url: str | None = None, note: str = ""
    ) -> tuple[AlertRecord, str]:
        """A new, enabled alert and its webhook secret (shown only here). ``market`` is an engine symbol."""
        self._spec_of(market)  # UNKNOWN_MARKET before anything changes
        parsed = parse(rule)
        record = self.store.create(
            account, market, check_interval(interval), parsed.text,
            check_webhook_url(webhook_url, self._allow_private), check_note(note),
            secrets.token_hex(16), self._clock.now_ns(),
        )  # fmt: skip
        self._watch(record)
        return record, self.secret(record)

    def get(self, account: str, alert_id: int) -> AlertRecord:
        return self.store.get(account, alert_id)

    def list(self, account: str) -> list[AlertRecord]:
        return self.store.list(account)

    def update(self, account: str, alert_id: int, **changes: Any) -> AlertRecord:
        """Change ``rule``, ``webhook_url``, ``note``, ``enabled``; a changed or re-enabled alert restarts armed."""
        if "rule" in changes:
            changes["rule"] = parse(changes["rule"]).text
        if "webhook_url" in changes:
            changes["webhook_url"] = check_webhook_url(changes["webhook_url"], self._allow_private)
        if "note" in changes:
            changes["note"] = check_note(changes["note"])
        before = self.store.get(account, alert_id)
        record = self.store.update(account, alert_id, self._clock.now_ns(), **changes)
        if not record.enabled:
            self.engine.unwatch(alert_id)
        elif record.rule != before.rule or not before.enabled:
            self._watch(record)
        return record

    def delete(self, account: str, alert_id: int) -> None:
        self.store.delete(account, alert_id)
        self.engine.unwatch(alert_id)

    def triggers(self, account: str, alert_id: int, limit: int = 100, before: int | None = None) -> list[TriggerRecord]:
        return self.store.triggers(account, alert_id, limit, before)

    def _watch(self, record: AlertRecord) -> None:
        history: list[Bar] = []
        if self._recent is not None:
            try:
                spec = self._spec_of(record.market)
                wanted = max(PRIME_CANDLES, warmup(parse(record.rule)) + 1)
                candles = self._recent(record.market, record.interval, wanted)
                history = [to_bar(c, spec) for c in candles if c.closed]
            except Exception:  # priming is a warm start, not a condition of watching
                log.exception("could not prime alert %d from recent candles; it warms up live", record.id)
                history = []
        self.engine.watch(record.id, record.account, record.market, record.interval, record.rule, history)

    # -- the candle feed -----------------------------------------------------------------------------

    def on_candles(self, closed: list[Candle]) -> list[Fired]:
        """Evaluate the watched alerts on each closed candle; record and hand out every firing."""
        keys = self.engine.keys()
        fired: list[Fired] = []
        for candle in closed:
            if not candle.closed or (candle.market, candle.interval) not in keys:
                continue
            bar = to_bar(candle, self._spec_of(candle.market))
            for triggered in self.engine.on_closed(candle.market, candle.interval, bar):
                one = self._record(triggered)
                if one is not None:
                    fired.append(one)
        for one in fired:
            for sink in list(self._sinks):
                try:
                    sink(one)
                except Exception:
                    log.exception("an alert sink %r failed on firing %d", sink, one.trigger_id)
        return fired

    def _record(self, triggered: Triggered) -> Fired | None:
        now = self._clock.now_ns()
        trigger_id = self.store.record_trigger(
            triggered.alert_id, triggered.account, triggered.candle_open_time, now, triggered.values
        )
        if trigger_id is None:  # deleted meanwhile
            return None
        self.fired += 1
        try:
            record = self.store.get(triggered.account, triggered.alert_id)
        except SpotlabError:
            return None
        url = record.webhook_url
        return Fired(triggered, trigger_id, now, url, self.secret(record) if url else None)


def message_bytes(message: dict[str, Any]) -> bytes:
    """The webhook body: compact JSON, UTF-8 (signed exactly as sent)."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode()

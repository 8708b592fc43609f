"""The alert tables on SQLite and PostgreSQL, and ``AlertService`` over them: isolation, limits, cascades,
derived secrets, priming from recent candles, and firings recorded and handed to the sinks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spotlab import Exchange
from spotlab.alerts.service import AlertService
from spotlab.alerts.store import AlertStore
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.candles import Candle
from spotlab.store.sql import sql_engine

MINUTE = 60 * 10**9
KEY = b"k" * 32


@pytest.fixture
def store(store_url) -> Iterator[AlertStore]:
    engine = sql_engine(store_url, "alerts")
    yield AlertStore(engine, max_per_account=3)
    engine.dispose()


def add(store: AlertStore, account: str = "alice", rule: str = "close > 1") -> int:
    return store.create(account, "BTC/USDT", "1m", rule, None, "", "nonce-" + account, 0).id


def test_each_account_reads_and_changes_only_its_own_alerts(store):
    mine, theirs = add(store, "alice"), add(store, "bob")
    assert [a.id for a in store.list("alice")] == [mine]
    with pytest.raises(SpotlabError) as caught:
        store.get("alice", theirs)
    assert caught.value.code is ErrorCode.NOT_FOUND
    for change in (lambda: store.update("alice", theirs, 1, enabled=False), lambda: store.delete("alice", theirs)):
        with pytest.raises(SpotlabError):
            change()
    assert store.get("bob", theirs).enabled is True
    with pytest.raises(SpotlabError):
        store.triggers("alice", theirs)


def test_the_limit_per_account_is_enforced_in_the_insert(store):
    for _ in range(3):
        add(store)
    with pytest.raises(SpotlabError) as caught:
        add(store)
    assert caught.value.code is ErrorCode.LIMIT_REACHED and len(store.list("alice")) == 3
    add(store, "bob")  # another account has its own allowance


def test_deleting_an_alert_deletes_its_triggers_and_deliveries(store):
    alert = add(store)
    trigger = store.record_trigger(alert, "alice", 0, 1, {"close": 2.0, "sma(2)": None})
    store.record_delivery(trigger, 1, "failed", 503, "HTTP 503", 2)
    store.record_delivery(trigger, 0, "gave_up", None, "1 attempts failed", 3)
    (recorded,) = store.triggers("alice", alert)
    assert (recorded.values, recorded.delivery) == ({"close": 2.0, "sma(2)": None}, "gave_up")
    assert [d.outcome for d in store.deliveries(trigger)] == ["failed", "gave_up"]
    store.delete("alice", alert)
    assert store.deliveries(trigger) == []
    assert store.record_trigger(alert, "alice", 60, 61, {}) is None  # a late firing of a deleted alert: dropped


def candle(minute: int, ticks: int) -> Candle:
    """A closed 1m candle at ``minute`` whose prices are all ``ticks``."""
    return Candle("BTC/USDT", "1m", minute * MINUTE, ticks, ticks, ticks, ticks, 100, 1, 1, True)


def test_the_service_primes_records_and_hands_firings_to_its_sinks(clock):
    exchange = Exchange.open(clock=clock)
    spec = exchange.market_spec("BTC/USDT")
    engine = sql_engine(None, "alerts")
    recent = [candle(0, 100), candle(1, 300)]  # closes in ticks; the last one above sma(2)
    service = AlertService(AlertStore(engine), KEY, clock, exchange.market_spec, lambda *_: recent)
    handed = []
    service.add_sink(handed.append)
    record, secret = service.create("alice", "BTC/USDT", "1m", "close > sma(2)", "https://example.com/h")
    assert secret == service.secret(service.get("alice", record.id)) and secret.startswith("whsec_")
    other, other_secret = service.create("alice", "BTC/USDT", "1m", "close > sma(2)")
    assert other_secret != secret  # a secret per alert
    assert service.engine.last_candle(record.id) == MINUTE  # primed with the recent candles
    assert service.on_candles([candle(2, 400)]) == []  # still true: primed as disarmed, so no firing
    assert service.on_candles([candle(3, 100)]) == []  # false: re-arms
    (fired, fired_other) = service.on_candles([candle(4, 500)])
    assert (fired.triggered.alert_id, fired_other.triggered.alert_id) == (record.id, other.id)
    assert fired.webhook_url == "https://example.com/h" and fired.webhook_secret == secret
    assert fired_other.webhook_url is None and fired_other.webhook_secret is None
    close = float(spec.price(500))
    assert fired.triggered.values == {"close": close, "sma(2)": (close + float(spec.price(100))) / 2}
    assert handed == [fired, fired_other]
    assert [t.id for t in service.triggers("alice", record.id)] == [fired.trigger_id]
    engine.dispose()
    exchange.close()


def test_the_service_refuses_before_storing(clock):
    exchange = Exchange.open(clock=clock)
    service = AlertService(AlertStore(sql_engine(None, "alerts")), KEY, clock, exchange.market_spec)
    for args, code in [
        (("NOPE/USDT", "1m", "close > 1"), ErrorCode.UNKNOWN_MARKET),
        (("BTC/USDT", "2m", "close > 1"), ErrorCode.INVALID_ARGUMENT),
        (("BTC/USDT", "1m", "close >"), ErrorCode.INVALID_ARGUMENT),
    ]:
        with pytest.raises(SpotlabError) as caught:
            service.create("alice", *args)
        assert caught.value.code is code
    with pytest.raises(SpotlabError):
        service.create("alice", "BTC/USDT", "1m", "close > 1", "javascript:alert(1)")
    assert service.list("alice") == [] and len(service.engine) == 0
    exchange.close()

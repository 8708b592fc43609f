"""Candles in the history read model: built from the exchange's trades, persisted, continued and rebuilt.

The oracle is the vectorised resampler (``candles_from_trades``) over the trades of the event log: whatever
path the history took (live batches, catch-up after a restart, a rebuild beside a fresh file), its stored
candles of every interval equal the resampling of the log's trades, field for field.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from spotlab import Exchange, SimulatedClock, SpotlabError
from spotlab.core.events import OrderFilled
from spotlab.marketdata.candles import INTERVALS, Candle, candles_from_trades
from spotlab.store.history import History
from tests.support import after_close

START = datetime(2024, 1, 5, 23, 50, tzinfo=UTC)  # a Friday night: trades cross into Saturday
SECOND = 1_000_000_000
MARKETS = {"BTC/USDT": ("30000", "5", "0.001"), "ETH/USDT": ("2000", "1", "0.01")}


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


def setup_accounts(ex: Exchange) -> None:
    for name in ("maker", "taker"):
        if name not in ex.accounts():
            ex.create_account(name)
            ex.deposit(name, "BTC", "100")
            ex.deposit(name, "ETH", "1000")
            ex.deposit(name, "USDT", "10000000")


def trade(ex: Exchange, market: str, price: str, quantity: str) -> None:
    ex.place_order("maker", market, "sell", "limit", price, quantity)
    ex.place_order("taker", market, "buy", "market", quantity=quantity)


def random_trades(ex: Exchange, clock: SimulatedClock, seed: int, count: int) -> None:
    """``count`` trades over both markets, some in the same second, some hours apart."""
    rng = random.Random(seed)
    setup_accounts(ex)
    for _ in range(count):
        clock.advance(seconds=rng.choice([0, 1, 7, 40, 95, 600, 3 * 3600]))
        market = rng.choice(list(MARKETS))
        mid, step, lot = MARKETS[market]
        price = int(mid) + int(step) * rng.randint(-20, 20)
        trade(ex, market, str(price), str(Decimal(lot) * rng.choice([1, 2, 5])))


def expected_candles(ex: Exchange, market: str, interval: str) -> list[Candle]:
    fills = [e for e in ex.events() if type(e) is OrderFilled and e.market == market]
    columns = np.array([(e.ts, e.price, e.quantity, e.notional) for e in fills], dtype=np.int64).reshape(-1, 4).T
    candles = candles_from_trades(*columns, interval).to_candles(market, interval)
    return candles


def stored(history: History, market: str, interval: str) -> list[Candle]:
    return history.candles(market, interval, start_ns=0, limit=1000)


def assert_candles_match_the_log(ex: Exchange, history: History) -> None:
    assert history.wait(ex.last_sequence) and history.failure is None
    for market in MARKETS:
        for interval in INTERVALS:
            want, got = expected_candles(ex, market, interval), stored(history, market, interval)
            assert [c.open_time for c in got] == [c.open_time for c in want], (market, interval)
            for ours, theirs in zip(got, want, strict=True):
                theirs.closed = ours.closed  # the log has no clock: compare the figures
                assert ours == theirs
            assert all(c.closed for c in got[:-1]) and not got[-1].closed  # closed by the next trade


# -- built, stored, continued -------------------------------------------------------------------


def test_the_stored_candles_of_every_interval_are_the_log_trades_resampled(store_url, clock):
    with Exchange.open(store_url, clock=clock) as ex, History.open(store_url) as history:
        history.attach(ex)
        random_trades(ex, clock, seed=1, count=120)
        assert_candles_match_the_log(ex, history)


def test_a_restart_continues_the_open_candle_including_trades_written_while_closed(store_url, clock):
    ex = Exchange.open(store_url, clock=clock)
    history = History.open(store_url)
    history.attach(ex)
    random_trades(ex, clock, seed=2, count=40)
    assert history.wait(ex.last_sequence)
    open_minute = history.candles("BTC/USDT", "1m", limit=1)[0]
    history.close()
    clock.advance(seconds=1)
    trade(ex, "BTC/USDT", "30000", "0.001")  # only in the log
    ex.close()

    ex = after_close(Exchange.open, store_url, clock=clock)
    history = History.open(store_url)
    try:
        history.attach(ex)
        trade(ex, "BTC/USDT", "30010", "0.002")  # the same minute as before the restart, once live again
        assert history.wait(ex.last_sequence)
        newest = history.candles("BTC/USDT", "1m", limit=1)[0]
        if newest.open_time == open_minute.open_time:  # the minute went on: the restart continued it
            assert newest.trade_count == open_minute.trade_count + 2
            assert newest.open == open_minute.open
        random_trades(ex, clock, seed=3, count=30)
        assert_candles_match_the_log(ex, history)
    finally:
        history.close()
        ex.close()


def test_a_restart_in_the_middle_of_a_minute_continues_that_minute(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    clock.set(START + timedelta(seconds=5))
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        setup_accounts(ex)
        trade(ex, "BTC/USDT", "30000", "0.001")
    clock.advance(seconds=10)
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        trade(ex, "BTC/USDT", "30100", "0.002")
        assert history.wait(ex.last_sequence)
        (minute,) = history.candles("BTC/USDT", "1m")
        assert (minute.open, minute.high, minute.close, minute.trade_count) == (
            3_000_000,
            3_010_000,
            3_010_000,
            2,
        )  # ticks of 0.01
        assert (minute.base_volume, minute.closed) == (300, False)  # lots of 0.00001


def test_a_history_file_beside_an_old_log_rebuilds_every_candle(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    with Exchange.open(url, clock=clock) as ex:
        random_trades(ex, clock, seed=4, count=60)  # the log only: no history followed it
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        assert_candles_match_the_log(ex, history)


def test_a_history_file_from_before_candles_is_rebuilt_with_them(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        random_trades(ex, clock, seed=5, count=30)
        assert history.wait(ex.last_sequence)
    side = sqlite3.connect(tmp_path / "spotlab-history.sqlite", isolation_level=None)
    side.execute("DROP TABLE history_candles")  # as a file written before candles existed
    side.close()
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        assert_candles_match_the_log(ex, history)


def test_an_out_of_order_trade_in_the_log_stops_the_projector_instead_of_a_wrong_candle(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        setup_accounts(ex)
        trade(ex, "BTC/USDT", "30000", "0.001")
        assert history.wait(ex.last_sequence)
        history._candles._last_ts["BTC/USDT"] += 3600 * SECOND  # pretend a trade an hour later was seen
        trade(ex, "BTC/USDT", "30000", "0.001")
        assert history.wait(ex.last_sequence, timeout=2) is False
        assert "time order" in str(history.failure)


# -- queries ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minutes(tmp_path_factory):
    """Trades in 12 consecutive minutes of BTC/USDT (one per minute, at price 30000 + 5 x minute)."""
    clock = SimulatedClock(START)
    url = f"sqlite:///{tmp_path_factory.mktemp('candles')}/spotlab.sqlite"
    ex = Exchange.open(url, clock=clock)
    history = History.open(url)
    history.attach(ex)
    setup_accounts(ex)
    for minute in range(12):
        clock.set(START + timedelta(minutes=minute, seconds=30))
        trade(ex, "BTC/USDT", str(30000 + 5 * minute), "0.001")
    assert history.wait(ex.last_sequence)
    yield history
    history.close()
    ex.close()


def at(minute: int) -> int:
    return int((START + timedelta(minutes=minute)).timestamp()) * SECOND


def opens(candles: list[Candle]) -> list[int]:
    return [(c.open_time - at(0)) // (60 * SECOND) for c in candles]


def test_without_start_the_newest_candles_come_oldest_first(minutes):
    assert opens(minutes.candles("BTC/USDT", "1m")) == list(range(12))
    assert opens(minutes.candles("BTC/USDT", "1m", limit=3)) == [9, 10, 11]
    assert opens(minutes.candles("BTC/USDT", "1m", end_ns=at(5), limit=3)) == [3, 4, 5]  # end is inclusive


def test_with_start_the_first_candles_from_there(minutes):
    assert opens(minutes.candles("BTC/USDT", "1m", start_ns=at(4), limit=3)) == [4, 5, 6]
    assert opens(minutes.candles("BTC/USDT", "1m", start_ns=at(4) + 1, end_ns=at(6))) == [5, 6]
    assert minutes.candles("BTC/USDT", "1m", start_ns=at(20)) == []
    assert minutes.candles("ETH/USDT", "1m") == []


def test_longer_intervals_gather_the_minutes(minutes):
    five = minutes.candles("BTC/USDT", "5m")
    assert [(c.trade_count, c.open, c.close) for c in five] == [
        (5, 3_000_000, 3_002_000), (5, 3_002_500, 3_004_500), (2, 3_005_000, 3_005_500),
    ]  # fmt: skip
    days = minutes.candles("BTC/USDT", "1d")  # 23:50..00:01 spans two UTC days
    assert [(c.open_time, c.trade_count) for c in days] == [(at(-(23 * 60 + 50)), 10), (at(10), 2)]
    (week,) = minutes.candles("BTC/USDT", "1w")
    assert week.open_time == int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * SECOND  # Monday


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"market": "DOGE/USDT", "interval": "1m"}, "UNKNOWN_MARKET"),
        ({"market": "BTC/USDT", "interval": "2m"}, "INVALID_ARGUMENT"),
        ({"market": "BTC/USDT", "interval": "1m", "limit": 0}, "INVALID_ARGUMENT"),
        ({"market": "BTC/USDT", "interval": "1m", "limit": 1001}, "INVALID_ARGUMENT"),
        ({"market": "BTC/USDT", "interval": "1m", "start_ns": 5, "end_ns": 4}, "INVALID_ARGUMENT"),
        ({"market": "BTC/USDT", "interval": "1m", "start_ns": "0"}, "INVALID_ARGUMENT"),
    ],
)
def test_bad_candle_queries_are_refused_with_a_code(minutes, arguments, code):
    with pytest.raises(SpotlabError) as refused:
        minutes.candles(**arguments)
    assert refused.value.code == code


# -- telling others -------------------------------------------------------------------------------


def test_subscribers_hear_of_updates_after_the_commit_and_of_each_close_once(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    heard: list[tuple[list[Candle], list[Candle]]] = []
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        seen_in_sql = []

        def listener(updated, closed):
            heard.append((updated, closed))
            seen_in_sql.append(history.candles("BTC/USDT", "1m", limit=1))

        unsubscribe = history.subscribe_candles(listener)
        history.subscribe_candles(lambda updated, closed: 1 / 0)  # a broken one does not stop the others
        setup_accounts(ex)
        trade(ex, "BTC/USDT", "30000", "0.001")  # 23:50:00
        assert history.wait(ex.last_sequence)
        updated, closed = heard[-1]
        assert closed == [] and [c.interval for c in updated] == list(INTERVALS)
        assert seen_in_sql[-1] == [c for c in updated if c.interval == "1m"]  # committed before the call
        clock.advance(seconds=61)
        trade(ex, "BTC/USDT", "30005", "0.001")
        assert history.wait(ex.last_sequence)
        updated, closed = heard[-1]
        assert [(c.interval, c.closed, c.close) for c in closed] == [
            ("1m", True, 3_000_000),
            ("3m", True, 3_000_000),
        ]  # 23:50 and 23:48
        assert history.close_candles_until(clock.now_ns()) == []  # nothing has ended yet
        ended = history.close_candles_until(int((START + timedelta(minutes=5)).timestamp()) * SECOND)
        assert [c.interval for c in ended] == ["5m", "1m", "3m"]  # oldest first: 23:50, 23:51, 23:51
        assert heard[-1] == ([], ended)
        assert history.candles("BTC/USDT", "5m")[0].closed  # stored closed
        unsubscribe()
        count = len(heard)
        trade(ex, "BTC/USDT", "30010", "0.001")
        assert history.wait(ex.last_sequence) and len(heard) == count


def test_with_the_exchanges_clock_the_projector_closes_quiet_periods_itself(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    closed_minutes = []
    heard = threading.Event()

    def listener(updated, closed):
        closed_minutes.extend(c for c in closed if c.interval == "1m")
        if closed_minutes:
            heard.set()

    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex, clock=clock, close_check_seconds=0.01)
        history.subscribe_candles(listener)
        setup_accounts(ex)
        trade(ex, "BTC/USDT", "30000", "0.001")
        assert history.wait(ex.last_sequence)
        assert not heard.wait(0.1)  # the minute has not ended: nothing closes
        clock.advance(seconds=60)  # no later trade: only the clock can close it
        assert heard.wait(5)
        assert [(c.open_time, c.closed) for c in closed_minutes] == [(int(START.timestamp()) * SECOND, True)]
        assert history.candles("BTC/USDT", "1m")[0].closed


def test_candle_book_is_a_copy_as_of_the_applied_sequence(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/spotlab.sqlite"
    with Exchange.open(url, clock=clock) as ex, History.open(url) as history:
        history.attach(ex)
        setup_accounts(ex)
        trade(ex, "ETH/USDT", "2000", "0.01")
        assert history.wait(ex.last_sequence)
        seq, book = history.candle_book()
        assert seq == ex.last_sequence
        assert book.current("ETH/USDT", "1h") == history.candles("ETH/USDT", "1h")[0]
        book.add("ETH/USDT", clock.now_ns(), 1, 1, 1)  # changing the copy changes nothing stored
        assert history.candle_book()[1].current("ETH/USDT", "1h").trade_count == 1

"""Downloading candles through CCXT, against a local server speaking Binance's protocol (tests/marketdata/fake_binance).

The server serves the 744 real BTCUSDT 1h candles of January 2025 and answers at most 200 per
request, so a full download takes four pages.
"""

from __future__ import annotations

import subprocess
import sys
from collections import deque
from decimal import Decimal

import pytest

from spotlab.errors import SpotlabError
from spotlab.marketdata.datastore import DataStore
from spotlab.marketdata.download import download_candles, expected_candles, open_exchange, parse_time, rehost
from tests.api.live import free_port
from tests.marketdata.fake_binance import HOUR_MS, FakeBinance, Kline, read_binance_csv, serving
from tests.shared_data import DATA

KLINES = read_binance_csv(DATA / "quantedge-ta" / "btcusdt-1h.csv")
FIRST = KLINES[0].open_time  # 2025-01-01 00:00 UTC
AFTER = KLINES[-1].open_time + HOUR_MS  # 2025-02-01 00:00 UTC: every served candle has closed


@pytest.fixture
def fake() -> FakeBinance:
    return FakeBinance(list(KLINES), max_limit=200)


@pytest.fixture
def url(fake):
    with serving(fake) as base:
        yield base


@pytest.fixture
def store(tmp_path) -> DataStore:
    return DataStore(tmp_path / "history")


def download(url, store, **options):
    options = {"since": FIRST, "now": AFTER, "backoff_seconds": 0.0, **options}
    return download_candles(open_exchange("binance", api_url=url), store, "BTC/USDT", "1h", **options)


def stored(store) -> list[Kline]:
    """The stored candles in the served layout (normalised decimal strings)."""
    table = store.read_candles("binance", "BTC/USDT", "1h")
    times = table.column("open_time").cast("int64").to_pylist()
    prices = [[plain(value) for value in table.column(name).to_pylist()] for name in ("open", "high", "low", "close",
                                                                                     "volume")]  # fmt: skip
    return [Kline(time, *values) for time, *values in zip(times, *prices)]


def plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def served(klines: list[Kline]) -> list[Kline]:
    return [
        Kline(k.open_time, *(plain(Decimal(v)) for v in (k.open, k.high, k.low, k.close, k.volume))) for k in klines
    ]


def start_times(fake) -> list[int]:
    return [int(query["startTime"]) for query in fake.requests]


def test_a_full_download_pages_through_the_server_and_stores_exactly_the_served_candles(fake, url, store):
    pages = []
    result = download(url, store, on_page=pages.append)
    assert stored(store) == served(KLINES)
    assert (result.pages, result.candles, result.resumed) == (4, 744, False)
    assert (result.first_open_time, result.last_open_time) == (FIRST, KLINES[-1].open_time)
    assert [p.candles for p in pages] == [200, 400, 600, 744] and {p.expected for p in pages} == {744}
    assert start_times(fake) == [FIRST + n * 200 * HOUR_MS for n in range(4)]
    assert store.read_candles("binance", "BTC/USDT", "1h").column("quote_volume").null_count == 744  # CCXT lists


def test_values_enter_as_the_shortest_decimal_of_ccxts_float(fake, url, store):
    fake.klines = [Kline(FIRST, "0.1", "0.30000000000000004", "0.1", "0.2", "123456.789")]
    download(url, store)
    [row] = store.read_candles("binance", "BTC/USDT", "1h").to_pylist()
    assert (row["open"], row["high"], row["close"], row["volume"]) == (
        Decimal("0.1"), Decimal("0.30000000000000004"), Decimal("0.2"), Decimal("123456.789")
    )  # fmt: skip


class CountingStore(DataStore):
    def __init__(self, root) -> None:
        super().__init__(root)
        self.writes: list[int] = []

    def write_candles(self, exchange, market, interval, table, **options):
        self.writes.append(table.num_rows)
        return super().write_candles(exchange, market, interval, table, **options)


@pytest.mark.parametrize(("flush_candles", "writes"), [(1, [200, 200, 200, 144]), (400, [400, 344]), (20_000, [744])])
def test_pages_are_written_in_batches_of_flush_candles(url, tmp_path, flush_candles, writes):
    store = CountingStore(tmp_path / "history")
    download(url, store, flush_candles=flush_candles)
    assert store.writes == writes and stored(store) == served(KLINES)


def test_a_second_run_fetches_nothing_again(fake, url, store):
    download(url, store)
    fake.requests.clear()
    again = download(url, store)
    assert (again.resumed, again.candles, again.pages) == (True, 0, 0)
    assert start_times(fake) == [] and again.start == AFTER  # nothing left to ask for
    assert len(stored(store)) == 744


def test_an_interrupted_download_resumes_after_the_last_stored_candle_without_duplicates(fake, url, store):
    fake.fail_after_pages = 2
    with pytest.raises(SpotlabError) as failed:
        download(url, store, retries=2)
    assert failed.value.code == "SOURCE_UNAVAILABLE" and "after 3 attempts" in failed.value.message
    assert stored(store) == served(KLINES[:400])  # the two pages that arrived are written before the error

    fake.fail_after_pages = None
    fake.requests.clear()
    result = download(url, store)
    assert result.resumed and result.start == KLINES[400].open_time
    assert start_times(fake)[0] == KLINES[400].open_time  # not --since
    assert (result.candles, result.pages) == (344, 2)
    assert stored(store) == served(KLINES)


def test_until_stops_at_the_last_candle_closed_by_then_and_a_later_run_continues(fake, url, store):
    until = KLINES[300].open_time + HOUR_MS // 2  # in the middle of candle 300
    first = download(url, store, until=until)
    assert stored(store) == served(KLINES[:300])  # candle 300 had not closed by --until
    assert first.last_open_time == KLINES[299].open_time and first.end == until
    assert {int(query["endTime"]) for query in fake.requests} == {until - HOUR_MS}

    download(url, store)
    assert stored(store) == served(KLINES)


def test_the_still_open_candle_is_never_stored(fake, url, store):
    now = KLINES[500].open_time + 59 * 60_000  # candle 500 is open, the server already serves it
    fake.now_ms = now
    result = download(url, store, now=now, until=AFTER)  # an --until in the future is cut to now
    assert result.end == now and result.last_open_time == KLINES[499].open_time
    assert stored(store) == served(KLINES[:500])

    fake.now_ms = None
    download(url, store)  # once it has closed, the next run stores it
    assert stored(store) == served(KLINES)


def test_rate_limit_refusals_are_retried_with_exponential_back_off(fake, url, store):
    fake.fail_with = deque([429, 429, 418])
    waits: list[float] = []
    result = download(url, store, backoff_seconds=0.5, sleep=waits.append)
    assert waits == [0.5, 1.0, 2.0]
    assert result.candles == 744 and stored(store) == served(KLINES)
    assert len(fake.requests) == 4 + 3


def test_a_source_that_keeps_refusing_stops_with_rate_limited_and_keeps_what_it_stored(fake, url, store):
    download(url, store, until=KLINES[200].open_time)  # one page stored
    fake.fail_with = deque([429] * 10)
    with pytest.raises(SpotlabError) as failed:
        download(url, store, retries=3)
    assert failed.value.code == "RATE_LIMITED" and "the next run resumes" in failed.value.message
    assert len(fake.fail_with) == 10 - 4  # one try and three retries, no more
    assert stored(store) == served(KLINES[:200])


def test_an_unknown_market_is_refused_with_suggestions_and_nothing_is_stored(url, store):
    with pytest.raises(SpotlabError) as failed:
        download_candles(open_exchange("binance", api_url=url), store, "BTC/USDC", "1h", since=FIRST, now=AFTER)
    assert failed.value.code == "UNKNOWN_MARKET" and "did you mean BTC/USDT" in failed.value.message
    assert store.datasets() == []


@pytest.mark.parametrize(
    ("exchange", "interval", "message"),
    [
        ("binanse", "1h", "unknown exchange 'binanse'; did you mean binance"),
        ("binance", "2m", "unknown interval '2m'"),
        ("binance", "1M", "unknown interval '1M'"),  # calendar months are not fixed-length
    ],
)
def test_an_unknown_exchange_or_interval_is_refused(url, store, exchange, interval, message):
    with pytest.raises(SpotlabError) as failed:
        download_candles(open_exchange(exchange, api_url=url), store, "BTC/USDT", interval, since=FIRST, now=AFTER)
    assert failed.value.code == "INVALID_ARGUMENT" and message in failed.value.message


def test_an_unreachable_exchange_is_reported_after_the_retries():
    closed = f"http://127.0.0.1:{free_port()}"
    waits: list[float] = []
    with pytest.raises(SpotlabError) as failed:
        download_candles(
            open_exchange("binance", api_url=closed), None, "BTC/USDT", "1h", since=FIRST, retries=2, sleep=waits.append
        )
    assert failed.value.code == "SOURCE_UNAVAILABLE" and "binance could not be reached after 3 attempts" in str(
        failed.value
    )
    assert waits == [1.0, 2.0]


def test_a_first_download_needs_a_start(url, store):
    with pytest.raises(SpotlabError, match="say where to start with --since"):
        download(url, store, since=None)


def test_batches_need_at_least_one_candle(url, store):
    with pytest.raises(SpotlabError, match="flush_candles must be at least 1"):
        download(url, store, flush_candles=0)


def test_rehosting_keeps_each_endpoints_path():
    urls = {"public": "https://api.binance.com/api/v3", "nested": {"x": "https://fapi.binance.com/fapi/v1"}, "n": 3}
    assert rehost(urls, "http://127.0.0.1:9") == {
        "public": "http://127.0.0.1:9/api/v3",
        "nested": {"x": "http://127.0.0.1:9/fapi/v1"},
        "n": 3,
    }


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2025-01-01", FIRST),
        ("2025-01-01T01:00", FIRST + HOUR_MS),
        ("2025-01-01T02:00:00+01:00", FIRST + HOUR_MS),
        (str(FIRST), FIRST),  # epoch ms
    ],
)
def test_times_are_utc_unless_they_say_otherwise(text, ms):
    assert parse_time(text) == ms


def test_a_malformed_time_is_refused():
    with pytest.raises(SpotlabError, match="expected a UTC date or time like 2024-01-01"):
        parse_time("yesterday")


@pytest.mark.parametrize(
    ("interval", "start", "end", "count"),
    [
        ("1h", 0, 3 * HOUR_MS, 3),
        ("1h", 1, 3 * HOUR_MS, 2),  # the first candle opens at 01:00
        ("1h", 0, 3 * HOUR_MS - 1, 2),  # the third has not closed
        ("1h", 5 * HOUR_MS, 5 * HOUR_MS, 0),
        ("1w", FIRST, FIRST + 28 * 24 * HOUR_MS, 3),  # 2025-01-01 is a Wednesday: weeks from Monday 6, 13, 20
    ],
)
def test_the_expected_count_is_the_candles_that_open_after_the_start_and_close_by_the_end(interval, start, end, count):
    assert expected_candles(interval, start, end) == count


def test_an_end_before_the_start_is_refused(url, store):
    with pytest.raises(SpotlabError, match="nothing to download: the end"):
        download(url, store, until=FIRST - HOUR_MS)


# ---------------------------------------------------------------------------------------- the command


def spotlab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "spotlab.cli", "data", "download", *args], capture_output=True, text=True, timeout=120
    )


def test_the_command_downloads_and_resumes_with_a_progress_bar_on_stderr_only(fake, url, tmp_path):
    common = ["--exchange", "binance", "--market", "BTC/USDT", "--interval", "1h", "--data-dir", str(tmp_path),
              "--api-url", url]  # fmt: skip
    first = spotlab(*common, "--since", "2025-01-01", "--until", "2025-01-15")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"stored 336 1h candles of binance BTC/USDT in 2 pages from 2025-01-01T00:00Z to 2025-01-14T23:00Z "
        f"(open times); new; catalogue {tmp_path / 'history'}"
    ]
    assert "336/336" in first.stderr  # the bar, finished
    second = spotlab(*common, "--until", "2025-02-01")
    assert second.returncode == 0, second.stderr
    assert "stored 408 1h candles" in second.stdout and "resumed after the stored candles" in second.stdout
    assert stored(DataStore(tmp_path / "history")) == served(KLINES)


def test_the_command_reports_errors_as_code_and_message(url, tmp_path):
    result = spotlab("--exchange", "binance", "--market", "DOGE/USDT", "--since", "2025-01-01",
                     "--data-dir", str(tmp_path), "--api-url", url)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error UNKNOWN_MARKET: binance has no market 'DOGE/USDT'" in result.stderr
    assert "━" not in result.stderr  # no empty progress bar before the refusal

"""Download closed candles from a real exchange through CCXT into the data catalogue, resumably.

``download_candles`` pages through the exchange's OHLCV endpoint (``fetch_ohlcv``, as many candles
per request as the exchange allows, e.g. 1,000 on Binance) and stores the checked pages in batches
of ``flush_candles`` (20,000 by default: the catalogue rewrites a year's file on each write, so one
write per page would make a long download quadratic). Whatever has arrived is also written when
the download ends, fails or is interrupted (Ctrl-C); only a killed process loses the batch in flight.

Invariants
- Only closed candles are stored: a candle is kept when its whole period has ended by the end of
  the download, ``end = min(until, now)``; the still-open candle never is. The first candle kept
  is the first that opens at or after the start.
- Resumable: when the store already holds candles of this exchange, market and interval, the
  download starts one interval after the last of them (``--since`` only places the start of a
  first download, or a later start than the stored data reaches; it never re-fetches what is
  stored). Running twice stores nothing twice.
- Exact values: CCXT hands prices and volumes over as floats; each enters as the shortest decimal
  that reads back as the same float (``Decimal(repr(x))``, see ``frames``). CCXT's OHLCV lists
  carry no quote volume or trade count: those columns are null.
- Pages are checked before they are stored: open times strictly increasing and on the interval's
  grid; anything else stops the download with an error (nothing of that page is stored).
- Rate-limit aware: CCXT's own throttle is on (``enableRateLimit``); on top of it, a request refused
  for rate limiting (429/418), lost to the network or failed on the exchange's side ("try again":
  CCXT's ``OperationFailed``) is retried after 1, 2, 4, ... x ``backoff_seconds``,
  at most ``retries`` times, then the download stops with a clear error (stored pages stay stored).

Known limitations: CCXT's exchanges differ; this module is tested against Binance's protocol (a local
server speaking it). Per-exchange settings (spot markets only, no authenticated calls) are data in
``EXCHANGE_OPTIONS``. A source that answers an empty page before ``end`` ends the download there
(the exchange has no later candles yet); gaps inside the exchange's own history stay gaps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from difflib import get_close_matches
from typing import Protocol
from urllib.parse import urlsplit

import ccxt
import pyarrow as pa

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.frames import CANDLE_SCHEMA
from spotlab.marketdata.intervals import INTERVAL_MS, interval_ms, period_start

#: Options given to a CCXT exchange before its markets are loaded: spot markets only, nothing
#: that needs an API key, no clock sync (each key is that exchange's own option name).
EXCHANGE_OPTIONS: dict[str, dict] = {
    "binance": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "adjustForTimeDifference": False},
}
DEFAULT_PAGE_SIZE = 500  # when an exchange does not say how many candles one request may ask for


class CandleStore(Protocol):
    """What the download needs of the data catalogue (``spotlab.marketdata.datastore.DataStore``)."""

    def write_candles(self, exchange: str, market: str, interval: str, table: pa.Table) -> object: ...

    def last_candle_time(self, exchange: str, market: str, interval: str) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported after each stored page: candles stored so far out of those expected (an upper bound)."""

    pages: int
    candles: int
    expected: int
    last_open_time: int | None  # epoch ms of the last stored candle


@dataclass(frozen=True, slots=True)
class DownloadResult:
    exchange: str
    market: str
    interval: str
    start: int  # epoch ms: the first open time asked for
    end: int  # epoch ms: candles closed by then were asked for
    resumed: bool  # True when the start came from candles already stored
    pages: int
    candles: int
    first_open_time: int | None
    last_open_time: int | None


def open_exchange(exchange_id: str, *, api_url: str | None = None, timeout_ms: int = 10_000) -> ccxt.Exchange:
    """A CCXT exchange by id, rate limiting on; ``api_url`` sends every API call to that host instead.

    ``api_url`` (``http://host:port``) keeps each endpoint's path and replaces its scheme and host: a
    mirror, a test net behind a proxy, or a local server speaking the exchange's protocol.
    """
    if exchange_id not in ccxt.exchanges:
        close = get_close_matches(exchange_id, ccxt.exchanges, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " (see ccxt.exchanges for the list)"
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"unknown exchange {exchange_id!r}{hint}", exchange=exchange_id)
    client = getattr(ccxt, exchange_id)({"enableRateLimit": True, "timeout": timeout_ms})
    for name, value in EXCHANGE_OPTIONS.get(exchange_id, {}).items():
        client.options[name] = value
    if api_url is not None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"--api-url must look like http://host:port, got {api_url!r}"
            )
        client.urls["api"] = rehost(client.urls["api"], f"{parts.scheme}://{parts.netloc}")
    return client


def rehost(urls, origin: str):
    """``urls`` (a URL or nested dict of them) with every scheme and host replaced by ``origin``."""
    if isinstance(urls, dict):
        return {name: rehost(value, origin) for name, value in urls.items()}
    if isinstance(urls, str) and urls.startswith(("http://", "https://")):
        parts = urlsplit(urls)
        return origin + parts.path
    return urls


def parse_time(text: str) -> int:
    """Epoch ms of ``2024-01-01``, ``2024-01-01T12:00``, ``2024-01-01T12:00:00+01:00`` (no zone: UTC) or epoch ms."""
    if text.strip().isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"expected a UTC date or time like 2024-01-01 or 2024-01-01T12:00 (or epoch ms), got {text!r}",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def ohlcv_table(rows: list[list]) -> pa.Table:
    """CCXT OHLCV lists ``[ms, open, high, low, close, volume]`` as a ``CANDLE_SCHEMA`` table."""
    columns: list[list] = [[], [], [], [], [], []]
    for row in rows:
        columns[0].append(int(row[0]))
        for index in range(1, 6):
            value = row[index]
            if value is None or isinstance(value, bool):
                raise SpotlabError(ErrorCode.INVALID_NUMBER, f"the exchange sent a candle with a missing value: {row}")
            columns[index].append(Decimal(repr(value)))
    size = len(rows)
    try:
        return pa.Table.from_arrays(
            [pa.array(columns[0], CANDLE_SCHEMA.field("open_time").type)]
            + [pa.array(columns[i], CANDLE_SCHEMA.field(i).type) for i in range(1, 6)]
            + [pa.nulls(size, CANDLE_SCHEMA.field("quote_volume").type), pa.nulls(size, pa.int64())],
            schema=CANDLE_SCHEMA,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise SpotlabError(ErrorCode.INVALID_NUMBER, f"a candle value does not fit the catalogue: {error}") from None


def expected_candles(interval: str, start: int, end: int) -> int:
    """How many ``interval`` candles open at or after ``start`` and close by ``end`` (epoch ms, UTC periods)."""
    length = interval_ms(interval)
    first = period_start(interval, start)
    if first < start:
        first += length
    return max(0, (end - first) // length)


def download_candles(
    client: ccxt.Exchange,
    store: CandleStore,
    market: str,
    interval: str,
    *,
    since: int | None = None,
    until: int | None = None,
    now: int | None = None,
    page_size: int | None = None,
    retries: int = 5,
    backoff_seconds: float = 1.0,
    flush_candles: int = 20_000,
    on_page: Callable[[Progress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadResult:
    """Download ``market``'s closed ``interval`` candles from ``since`` (epoch ms) up to ``until`` into ``store``.

    ``now`` (epoch ms, default the wall clock) bounds ``until``: a candle that has not closed is never
    stored. Checked pages are written once ``flush_candles`` have gathered (1: every page), at the end,
    and before any error or interrupt propagates. Raises ``SpotlabError`` for an unknown market or interval,
    bad times, and a source that stays unreachable or rate limited after ``retries`` retries (the pages
    that arrived before are stored).
    """
    length = check_interval(client, interval)
    call = Retrying(client, retries, backoff_seconds, sleep)
    markets = call(client.load_markets)
    if market not in markets:
        close = get_close_matches(market, list(markets), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise SpotlabError(ErrorCode.UNKNOWN_MARKET, f"{client.id} has no market {market!r}{hint}", market=market)
    now = now if now is not None else int(time.time() * 1000)
    end = now if until is None else min(until, now)
    last = store.last_candle_time(client.id, market, interval)
    if last is None and since is None:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"nothing of {client.id} {market} {interval} is stored yet: say where to start with --since",
        )
    resumed = last is not None and (since is None or last + length > since)
    start = last + length if resumed else since
    if start > end:
        after = "the last stored candle" if resumed else "--since"
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"nothing to download: the end ({end} ms, --until or now) is before the start ({start} ms, after {after})",
            start=start,
            end=end,
        )
    limit = page_size or ohlcv_limit(client)
    expected = expected_candles(interval, start, end)
    cursor, pages, candles, first_time, last_time = start, 0, 0, None, None
    pending = Pending(store, client.id, market, interval, flush_candles)
    try:
        while cursor + length <= end:
            rows = call(client.fetch_ohlcv, market, interval, cursor, limit, {"until": end - length})
            rows = [row for row in rows if row[0] >= cursor and row[0] + length <= end]
            if not rows:
                break  # the exchange has nothing later (yet)
            check_page(rows, interval, cursor)
            pending.add(ohlcv_table(rows))
            pages += 1
            candles += len(rows)
            first_time = rows[0][0] if first_time is None else first_time
            last_time = rows[-1][0]
            cursor = last_time + length
            if on_page is not None:
                on_page(Progress(pages, candles, expected, last_time))
    except BaseException:
        pending.flush()  # keep what arrived, then report why the download stopped
        raise
    pending.flush()
    return DownloadResult(client.id, market, interval, start, end, resumed, pages, candles, first_time, last_time)


def check_interval(client: ccxt.Exchange, interval: str) -> int:
    """The length of ``interval`` in ms, when both spotlab's catalogue and the exchange know it."""
    length = interval_ms(interval)
    offered = getattr(client, "timeframes", None) or {}
    if interval not in offered:
        both = [name for name in INTERVAL_MS if name in offered]
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{client.id} has no {interval!r} candles; it offers {', '.join(both) or 'none spotlab stores'}",
            interval=interval,
        )
    return length


def ohlcv_limit(client: ccxt.Exchange) -> int:
    """The most candles one request may ask for, as CCXT describes the exchange's spot market."""
    features = (getattr(client, "features", None) or {}).get("spot") or {}
    return int((features.get("fetchOHLCV") or {}).get("limit") or DEFAULT_PAGE_SIZE)


def check_page(rows: list[list], interval: str, cursor: int) -> None:
    previous = cursor - 1
    for row in rows:
        opened = row[0]
        if opened <= previous or period_start(interval, opened) != opened:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"the exchange sent candles out of order or off the {interval} grid at {opened} (after {previous}); "
                "nothing of that page was stored",
            )
        previous = opened


class Pending:
    """Checked pages waiting to be written to the store together (one merge per batch, not per page)."""

    def __init__(self, store: CandleStore, exchange: str, market: str, interval: str, flush_candles: int) -> None:
        if flush_candles < 1:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"flush_candles must be at least 1, got {flush_candles}")
        self.store, self.key, self.flush_candles = store, (exchange, market, interval), flush_candles
        self.tables: list[pa.Table] = []
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        self.tables.append(table)
        self.rows += table.num_rows
        if self.rows >= self.flush_candles:
            self.flush()

    def flush(self) -> None:
        if self.tables:
            self.store.write_candles(*self.key, pa.concat_tables(self.tables))
            self.tables, self.rows = [], 0


class Retrying:
    """Calls into CCXT, retrying rate-limit refusals and network failures with exponential back-off."""

    def __init__(self, client: ccxt.Exchange, retries: int, backoff_seconds: float, sleep) -> None:
        if retries < 0 or backoff_seconds < 0:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "retries and back-off cannot be negative")
        self.client, self.retries, self.backoff, self.sleep = client, retries, backoff_seconds, sleep
        self.retried = 0  # retries made so far, over all calls

    def __call__(self, method, *args):
        attempt = 0
        while True:
            try:
                return method(*args)
            except ccxt.BadSymbol as error:
                raise SpotlabError(ErrorCode.UNKNOWN_MARKET, f"{self.client.id} refused the market: {error}") from None
            except ccxt.OperationFailed as error:  # rate limits, timeouts, refused connections, "try again" errors
                if attempt >= self.retries:
                    raise self.gave_up(error, attempt) from None
                self.sleep(self.backoff * 2**attempt)
                attempt += 1
                self.retried += 1
            except ccxt.BaseError as error:
                raise SpotlabError(
                    ErrorCode.INVALID_ARGUMENT, f"{self.client.id} refused the request: {short(error)}"
                ) from None

    def gave_up(self, error: Exception, attempts: int) -> SpotlabError:
        tries = f"after {attempts + 1} attempt{'s' if attempts else ''}"
        if isinstance(error, ccxt.DDoSProtection):
            return SpotlabError(
                ErrorCode.RATE_LIMITED, f"{self.client.id} kept refusing requests for rate limiting {tries}; "
                "try again later (what was downloaded is kept: the next run resumes)",
            )  # fmt: skip
        return SpotlabError(
            ErrorCode.SOURCE_UNAVAILABLE,
            f"{self.client.id} could not be reached {tries}: {short(error)} "
            "(what was downloaded is kept: the next run resumes)",
        )


def short(error: Exception, size: int = 200) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= size else text[: size - 3] + "..."

"""A small real HTTP server on 127.0.0.1 that answers like Binance's public spot API, for download tests.

It serves two endpoints, enough for CCXT's ``binance`` to load its markets and page through klines:

- ``GET /api/v3/exchangeInfo``: the markets in ``symbols`` (``BTCUSDT`` -> ``BTC/USDT`` by default);
- ``GET /api/v3/klines?symbol=&interval=&startTime=&endTime=&limit=``: the served candles whose open
  time is in ``[startTime, endTime]``, oldest first, at most ``min(limit, max_limit)`` of them
  (Binance: default 500, at most 1000). Without ``startTime`` it answers the latest ones, like Binance.
  Only candles that have opened by ``now_ms`` exist; the last of them is still open while
  ``now_ms`` is inside its period, and it is served anyway (as Binance does).

Faults on demand: ``fail_with`` is a queue of HTTP statuses answered to the next kline requests
instead of data (429 or 418 with Binance's -1003 body and ``Retry-After``; 5xx with a plain-text
page); ``fail_after_pages=k`` answers 503 to every
kline request after the first ``k`` (a server gone away mid-download). Every kline request's
parameters are kept in ``requests`` so tests can see where a download started.
"""

from __future__ import annotations

import csv
import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Kline:
    """One served candle, prices as the exchange's decimal strings."""

    open_time: int  # ms
    open: str
    high: str
    low: str
    close: str
    volume: str

    def row(self, interval_ms: int) -> list:
        """Binance's kline layout: open time, OHLCV strings, close time, quote volume, count, taker volumes."""
        quote = str(Decimal(self.volume) * Decimal(self.close))
        return [self.open_time, self.open, self.high, self.low, self.close, self.volume,
                self.open_time + interval_ms - 1, quote, 1, "0", "0", "0"]  # fmt: skip


def read_binance_csv(path: Path) -> list[Kline]:
    """The real BTCUSDT 1h file (``open_time`` in microseconds) as klines with millisecond open times."""
    with path.open(newline="") as handle:
        return [
            Kline(int(row["open_time"]) // 1000, row["open"], row["high"], row["low"], row["close"], row["volume"])
            for row in csv.DictReader(handle)
        ]


@dataclass
class FakeBinance:
    """What the server serves and how it misbehaves; tests change the fields between downloads."""

    klines: list[Kline]
    interval: str = "1h"
    interval_ms: int = HOUR_MS
    now_ms: int | None = None  # None: every kline has opened (and closed)
    max_limit: int = 1000
    symbols: dict[str, tuple[str, str]] = field(default_factory=lambda: {"BTCUSDT": ("BTC", "USDT")})
    fail_with: deque[int] = field(default_factory=deque)
    fail_after_pages: int | None = None
    requests: list[dict[str, str]] = field(default_factory=list)
    pages_served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def exchange_info(self) -> dict:
        return {
            "timezone": "UTC",
            "serverTime": self.now_ms or 0,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [symbol_info(symbol, base, quote) for symbol, (base, quote) in self.symbols.items()],
        }

    def klines_answer(self, query: dict[str, str]) -> tuple[int, object]:
        """``(status, body)`` of one kline request."""
        with self.lock:
            self.requests.append(query)
            if self.fail_with:
                status = self.fail_with.popleft()
                if status >= 500:
                    return status, "Service Unavailable"  # the gateway's plain-text page
                return status, {"code": -1003, "msg": f"Too many requests (fake binance answers {status})"}
            if self.fail_after_pages is not None and self.pages_served >= self.fail_after_pages:
                return 503, "Service Unavailable"
            if query.get("symbol") not in self.symbols:
                return 400, {"code": -1121, "msg": "Invalid symbol."}
            if query.get("interval") != self.interval:
                return 400, {"code": -1120, "msg": "Invalid interval."}
            self.pages_served += 1
        limit = min(int(query.get("limit", 500)), self.max_limit)
        opened = [k for k in self.klines if self.now_ms is None or k.open_time <= self.now_ms]
        start, end = query.get("startTime"), query.get("endTime")
        chosen = [k for k in opened if (start is None or k.open_time >= int(start))]
        chosen = [k for k in chosen if end is None or k.open_time <= int(end)]
        chosen = chosen[:limit] if start is not None else chosen[-limit:]
        return 200, [k.row(self.interval_ms) for k in chosen]


def symbol_info(symbol: str, base: str, quote: str) -> dict:
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"],
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "permissions": ["SPOT"],
        "permissionSets": [["SPOT"]],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.00", "stepSize": "0.00001"},
        ],
    }


def handler_for(fake: FakeBinance) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            url = urlsplit(self.path)
            query = {name: values[-1] for name, values in parse_qs(url.query).items()}
            if url.path == "/api/v3/exchangeInfo":
                self.answer(200, fake.exchange_info())
            elif url.path == "/api/v3/klines":
                self.answer(*fake.klines_answer(query))
            else:
                self.answer(404, {"code": -1, "msg": f"fake binance does not serve {url.path}"})

        def answer(self, status: int, body: object) -> None:
            text = body if isinstance(body, str) else json.dumps(body)
            raw = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(raw)))
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's name)
            pass  # quiet tests

    return Handler


@contextmanager
def serving(fake: FakeBinance) -> Iterator[str]:
    """Serve ``fake`` on a free port of 127.0.0.1; yields the base URL (``http://127.0.0.1:PORT``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-binance", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

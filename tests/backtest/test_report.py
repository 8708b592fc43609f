"""The backtest report: exact JSON and CSV exports, a self-contained and escaped HTML page, drawn in a real browser.

The inputs are real: the first days of BTCUSDT 1h (../shared/data) traded by a small moving-average rule, with
the fills, round trips and equity worked out here in Decimal, so every figure is plausible and exact.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D
from html.parser import HTMLParser
from pathlib import Path

import msgspec
import numpy as np
import pytest

from spotlab.backtest.records import EquityPoint, RoundTrip
from spotlab.backtest.report import (
    EQUITY_HEADER,
    FILLS_HEADER,
    JSON_FORMAT,
    MAX_CANDLES,
    TRADES_HEADER,
    Bars,
    FillMark,
    ReportData,
    display_interval,
    format_time,
    html_string,
    json_document,
    write_csv,
    write_html,
    write_json,
)
from spotlab.errors import SpotlabError
from tests.conftest import REQUIRE_SERVICES
from tests.shared_data import DATA

M = "BTC/USDT"
HOUR = 3600 * 10**9
MINUTE = 60 * 10**9
FEE_RATE = D("0.001")


def btc_bars(count: int, market: str = M) -> Bars:
    with open(DATA / "quantedge-ta" / "btcusdt-1h.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:count]
    return Bars(
        market=market,
        open_time_ns=[int(r["open_time"]) * 1000 for r in rows],  # the file has microseconds
        **{name: [D(r[name]) for r in rows] for name in ("open", "high", "low", "close", "volume")},
    )


def sma(values: list[D], length: int) -> list[float | None]:
    return [None if i + 1 < length else float(sum(values[i + 1 - length : i + 1]) / length) for i in range(len(values))]


def rsi(values: list[D], length: int = 14) -> list[float | None]:
    """Cutler's RSI, an oscillator in 0..100 (not on the price scale), so it belongs in a panel of its own."""
    moves = [float(b - a) for a, b in zip(values, values[1:])]
    out: list[float | None] = [None] * length
    for i in range(length, len(values)):
        window = moves[i - length : i]
        gain, loss = sum(m for m in window if m > 0), -sum(m for m in window if m < 0)
        out.append(100.0 if loss == 0 else 100 - 100 / (1 + gain / loss))
    return out


def sample(count: int = 240, title: str = "SMA(20) cross on BTC/USDT", **changes) -> ReportData:
    """Buy 0.05 BTC at the close when it crosses above SMA(20), sell it back when it crosses below; 0.1 % fee."""
    bars = btc_bars(count)
    average = sma(list(bars.close), 20)
    cash, held, quantity = D("10000"), D(0), D("0.05")
    fills: list[FillMark] = []
    trades: list[RoundTrip] = []
    equity: list[EquityPoint] = []
    for i, (t, close) in enumerate(zip(bars.open_time_ns, bars.close)):
        fill_time = t + HOUR  # at the close
        if average[i] is not None and held == 0 and close > D(str(average[i])):
            fee = (close * quantity * FEE_RATE).quantize(D("0.00000001"))
            cash -= close * quantity + fee
            held = quantity
            fills.append(FillMark(M, fill_time, "buy", close, quantity, fee))
        elif average[i] is not None and held > 0 and close < D(str(average[i])):
            fee = (close * quantity * FEE_RATE).quantize(D("0.00000001"))
            cash += close * quantity - fee
            held = D(0)
            entry = fills[-1]
            fills.append(FillMark(M, fill_time, "sell", close, quantity, fee))
            cost = entry.price * quantity + entry.fee
            pnl = close * quantity - fee - cost
            trades.append(RoundTrip(M, "long", entry.time_ns, fill_time, quantity, entry.price, close, pnl,
                                    entry.fee + fee, cost))  # fmt: skip
        equity.append(EquityPoint(fill_time, cash + held * close, held * close))
    fields = dict(
        title=title,
        currency="USDT",
        bars=[bars],
        equity=equity,
        trades=trades,
        fills=fills,
        indicators={M: {"SMA(20)": average, "RSI(14)": rsi(list(bars.close))}},
        metrics=[
            ("Total return", f"{(equity[-1].equity / equity[0].equity - 1) * 100:.2f} %"),
            ("Round trips", str(len(trades))),
        ],  # fmt: skip
        metrics_json={
            "total_return": equity[-1].equity / equity[0].equity - 1,
            "round_trips": len(trades),
            "sharpe": 1.25,
            "profit_factor": float("inf"),
        },  # fmt: skip
        parameters={"fast": 20, "quantity": quantity, "fee_rate": FEE_RATE, "markets": [M]},
    )
    return ReportData(**(fields | changes))


@pytest.fixture(scope="module")
def data() -> ReportData:
    return sample()


def parse_time(text: str) -> int:
    """The exports' ISO-8601 UTC back to nanoseconds, exactly."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z", text)
    assert match, text
    seconds = int(datetime.fromisoformat(match[1]).replace(tzinfo=UTC).timestamp())
    return seconds * 10**9 + int((match[2] or "").ljust(9, "0"))


def plotted(page: str, div_id: str) -> list[dict]:
    """The traces plotly draws in ``div_id``, with typed arrays (base64) decoded to numpy."""
    call = re.search(rf'Plotly\.newPlot\(\s*"{div_id}",\s*', page)
    assert call, f"no chart {div_id!r} in the page"
    traces, _ = json.JSONDecoder().raw_decode(page, call.end())

    def decode(value):
        if isinstance(value, dict) and set(value) == {"dtype", "bdata"}:
            return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        if isinstance(value, dict):
            return {k: decode(v) for k, v in value.items()}
        return value

    return [decode(trace) for trace in traces]


# --- exports ----------------------------------------------------------------------------------------------------


def test_format_time_is_iso_utc_with_a_fraction_only_when_there_is_one():
    assert format_time(0) == "1970-01-01T00:00:00Z"
    assert format_time(1735689600 * 10**9) == "2025-01-01T00:00:00Z"
    assert format_time(1735693200 * 10**9 - 1) == "2025-01-01T00:59:59.999999999Z"
    assert format_time(1735689600 * 10**9 + 250_000_000) == "2025-01-01T00:00:00.25Z"


def test_the_json_export_round_trips_every_amount_and_time_exactly(data, tmp_path):
    path = write_json(data, tmp_path / "report.json")
    back = json.loads(path.read_text(encoding="utf-8"))
    assert back["format"] == JSON_FORMAT and back["title"] == data.title and back["currency"] == "USDT"
    assert len(back["trades"]) == len(data.trades) >= 3 and len(back["fills"]) == len(data.fills)
    for row, trade in zip(back["trades"], data.trades):
        assert RoundTrip(row["market"], row["side"], parse_time(row["entry_time"]), parse_time(row["exit_time"]),
                         *(D(row[name]) for name in TRADES_HEADER[4:])) == trade  # fmt: skip
    for row, fill in zip(back["fills"], data.fills):
        assert FillMark(row["market"], parse_time(row["time"]), row["side"], D(row["price"]), D(row["quantity"]),
                        D(row["fee"])) == fill  # fmt: skip
    assert [EquityPoint(parse_time(r["time"]), D(r["equity"]), D(r["invested"])) for r in back["equity"]] == list(
        data.equity
    )
    assert D(back["metrics"]["total_return"]) == data.metrics_json["total_return"]  # a Decimal, as an exact string
    assert back["metrics"]["profit_factor"] == "Infinity"  # strict JSON has no infinite number
    assert back["parameters"] == {"fast": 20, "quantity": "0.05", "fee_rate": "0.001", "markets": [M]}
    assert back["metrics_table"] == [list(row) for row in data.metrics]
    assert back["markets"] == [{"market": M, "bars": 240, "first_bar": "2025-01-01T00:00:00Z",
                                "last_bar": "2025-01-10T23:00:00Z"}]  # fmt: skip
    assert json_document(data) == back


def test_the_csv_exports_round_trip_exactly_under_their_documented_headers(data, tmp_path):
    written = write_csv(data, tmp_path / "new" / "dir")
    assert [p.name for p in written] == ["trades.csv", "equity.csv", "fills.csv"]

    def rows(name: str, header: tuple[str, ...]) -> list[dict[str, str]]:
        text = (tmp_path / "new" / "dir" / name).read_text(encoding="utf-8")
        assert text.splitlines()[0] == ",".join(header) and "\r" not in text
        return list(csv.DictReader(text.splitlines()))

    trades = [RoundTrip(r["market"], r["side"], parse_time(r["entry_time"]), parse_time(r["exit_time"]),
                        *(D(r[name]) for name in TRADES_HEADER[4:]))
              for r in rows("trades.csv", TRADES_HEADER)]  # fmt: skip
    assert trades == list(data.trades)
    equity = [EquityPoint(parse_time(r["time"]), D(r["equity"]), D(r["invested"])) for r in rows("equity.csv",
              EQUITY_HEADER)]  # fmt: skip
    assert equity == list(data.equity)
    fills = [FillMark(r["market"], parse_time(r["time"]), r["side"], D(r["price"]), D(r["quantity"]), D(r["fee"]))
             for r in rows("fills.csv", FILLS_HEADER)]  # fmt: skip
    assert fills == list(data.fills)
    first = rows("fills.csv", FILLS_HEADER)[0]
    assert first["price"] == str(data.fills[0].price) and first["fee"] == str(data.fills[0].fee)  # the exact strings


def test_an_empty_backtest_exports_headers_only_and_empty_lists(data, tmp_path):
    empty = replace(data, equity=[], trades=[], fills=[])
    write_csv(empty, tmp_path)
    assert (tmp_path / "trades.csv").read_text() == ",".join(TRADES_HEADER) + "\n"
    assert (tmp_path / "fills.csv").read_text() == ",".join(FILLS_HEADER) + "\n"
    document = json_document(empty)
    assert (document["equity"], document["trades"], document["fills"]) == ([], [], [])
    assert "No round trips." in html_string(empty) and "No equity points." in html_string(empty)


def with_equity(point, equity):
    return msgspec.structs.replace(point, equity=equity)


BAD_INPUTS = [
    ("a float price", lambda d: replace(d, fills=[replace(d.fills[0], price=93576.0)]), "fills[0].price"),
    (
        "a NaN equity",
        lambda d: replace(d, equity=[msgspec.structs.replace(d.equity[0], equity=D("NaN"))]),
        "equity[0].equity",
    ),
    ("a float pnl", lambda d: replace(d, trades=[replace(d.trades[0], pnl=1.5)]), "trades[0].pnl"),
    ("a side that is not buy/sell", lambda d: replace(d, fills=[replace(d.fills[0], side="long")]), "'long'"),
    ("equity out of order", lambda d: replace(d, equity=list(d.equity)[::-1]), "oldest first"),
    ("a short indicator", lambda d: replace(d, indicators={M: {"SMA(20)": [1.0] * 10}}), "10 values for 240 bars"),
    ("indicators of an unknown market", lambda d: replace(d, indicators={"ETH/USDT": {}}), "'ETH/USDT'"),
    (
        "a parameter JSON cannot hold",
        lambda d: replace(d, parameters={"when": datetime(2025, 1, 1)}),
        "parameters.when",
    ),
    ("two Bars of one market", lambda d: replace(d, bars=[*d.bars, *d.bars]), "one Bars"),
]


@pytest.mark.parametrize("case, spoil, says", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_refused_before_anything_is_written(data, tmp_path, case, spoil, says):
    bad = spoil(data)
    for write in (lambda: write_json(bad, tmp_path / "r.json"), lambda: write_csv(bad, tmp_path / "csv"),
                  lambda: write_html(bad, tmp_path / "r.html")):  # fmt: skip
        with pytest.raises(SpotlabError) as refused:
            write()
        assert refused.value.code == "INVALID_ARGUMENT" and says in refused.value.message
    assert list(tmp_path.iterdir()) == []


HTML_ONLY_BAD = [
    ("bars of unequal length", lambda d: replace(d, bars=[replace(d.bars[0], volume=d.bars[0].volume[:-1])]),
     "volume has 239 values for 240"),
    ("bars out of order", lambda d: replace(d, bars=[replace(d.bars[0], open_time_ns=d.bars[0].open_time_ns[::-1])]),
     "strictly increasing"),
    ("a float in the bars", lambda d: replace(d, bars=[replace(d.bars[0], close=[float(c) for c in d.bars[0].close])]),
     "BTC/USDT close"),
    ("a fill where no bars are", lambda d: replace(d, fills=[replace(d.fills[0], market="ETH/USDT")]), "no bars"),
]  # fmt: skip


@pytest.mark.parametrize("case, spoil, says", HTML_ONLY_BAD, ids=[case[0] for case in HTML_ONLY_BAD])
def test_the_page_refuses_candles_and_fills_it_cannot_draw(data, tmp_path, case, spoil, says):
    with pytest.raises(SpotlabError) as refused:
        write_html(spoil(data), tmp_path / "r.html")
    assert refused.value.code == "INVALID_ARGUMENT" and says in refused.value.message
    assert not (tmp_path / "r.html").exists()


# --- the page ---------------------------------------------------------------------------------------------------


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_the_page_is_self_contained_no_cdn_no_link_no_remote_resource(data):
    page = html_string(data)
    tags = Tags()
    tags.feed(page)
    scripts = [attrs for tag, attrs in tags.tags if tag == "script"]
    assert scripts and all("src" not in attrs for attrs in scripts)  # every script inline
    assert [tag for tag, _ in tags.tags if tag in ("link", "img", "iframe", "object", "embed")] == []
    remote = [(tag, attrs) for tag, attrs in tags.tags for value in attrs.values()
              if value and re.match(r"\s*(https?:)?//", value)]  # fmt: skip
    assert remote == []
    assert page.count("plotly.js v") == 1  # the library embedded once, whatever the number of charts
    assert "cdn.plot.ly/plotly" not in page.split("</head>")[1]  # nothing in the body asks for the CDN build


def test_the_page_shows_exact_decimals_and_the_same_input_gives_the_same_bytes(data):
    page = html_string(data)
    assert page == html_string(data)
    trade = data.trades[0]
    for text in (str(trade.pnl), str(trade.entry_price), str(trade.fees), str(data.fills[0].fee)):
        assert text in page
    assert f"<td class=n>{data.metrics[0][1]}</td>" in page
    sells = next(t for t in plotted(page, "market-0") if t.get("name") == "sell")
    first_sell = next(f for f in data.fills if f.side == "sell")
    assert sells["customdata"][0][:4] == ["sell", str(first_sell.price), str(first_sell.quantity),
                                          str(first_sell.fee)]  # fmt: skip


def test_an_oscillator_gets_its_own_panel_and_a_moving_average_stays_on_the_price(data):
    traces = {t.get("name"): t for t in plotted(html_string(data), "market-0")}
    assert traces["SMA(20)"]["yaxis"] == "y" and traces["RSI(14)"]["yaxis"] == "y3"
    assert traces["volume"]["yaxis"] == "y2" and traces["buy"]["yaxis"] == "y"


PAYLOAD = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def hostile(data: ReportData) -> ReportData:
    market = "EVIL" + PAYLOAD
    bars = replace(data.bars[0], market=market)
    return replace(
        data,
        title=PAYLOAD,
        currency="U<b>SDT",
        bars=[bars],
        fills=[replace(f, market=market) for f in data.fills],
        indicators={market: {PAYLOAD: data.indicators[M]["SMA(20)"]}},
        metrics=[(PAYLOAD, PAYLOAD)],
        parameters={PAYLOAD: PAYLOAD, "nested": {"x": PAYLOAD}},
        trades=[replace(t, market=market) for t in data.trades],
    )


def test_every_text_from_the_caller_is_escaped(data):
    page = html_string(hostile(data))
    assert PAYLOAD not in page and "<img" not in page and "<b>SDT" not in page
    assert "window.__pwned=1</script>" not in page  # not even inside the charts' JSON
    assert page.count("<script") == 1 + 2  # plotly.js, one chart of the market and the equity chart
    assert "<title>&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page


# --- large inputs -----------------------------------------------------------------------------------------------


def test_up_to_the_limit_every_bar_is_drawn_beyond_it_a_coarser_interval():
    hourly = [i * HOUR for i in range(MAX_CANDLES)]
    assert display_interval(hourly) is None
    year_of_minutes = np.arange(525_600, dtype=np.int64) * MINUTE + 1735689600 * 10**9
    assert display_interval(year_of_minutes) == 4 * HOUR  # 2,190 candles of 4h; 2h would be 4,380
    assert display_interval([i * 7 * MINUTE for i in range(5000)], max_candles=1000) == 7 * 24 * HOUR  # 7m: 1w fits
    weekly = display_interval([i * 24 * HOUR for i in range(5000)], max_candles=1000)
    assert weekly == 7 * 24 * HOUR


def test_resampled_candles_keep_first_open_extremes_last_close_and_summed_volume(data):
    page = html_string(data, max_candles=30)  # 240 hours -> 20 candles of 12h
    assert "240 bars, shown as 20 candles of 12h (resampled for display)" in page
    traces = {t.get("name"): t for t in plotted(page, "market-0")}
    candles, volume = traces["price"], traces["volume"]
    bars = data.bars[0]
    assert candles["x"][:2] == ["2025-01-01 00:00:00.000", "2025-01-01 12:00:00.000"]
    for k in range(20):
        part = slice(12 * k, 12 * k + 12)
        assert candles["open"][k] == float(bars.open[part][0]) and candles["close"][k] == float(bars.close[part][-1])
        assert candles["high"][k] == float(max(bars.high[part])) and candles["low"][k] == float(min(bars.low[part]))
        assert volume["y"][k] == pytest.approx(float(sum(bars.volume[part])))  # display floats; the exports are exact
    assert len([f for t in ("buy", "sell") for f in traces[t]["x"]]) == len(data.fills)  # markers never thinned


def test_a_long_equity_curve_keeps_its_peaks_and_deepest_drawdown(data):
    page = html_string(data, max_line_points=40)
    equity, drawdown = plotted(page, "equity")
    values = [float(p.equity) for p in data.equity]
    assert len(equity["y"]) <= 42 and max(equity["y"]) == max(values) and min(equity["y"]) == min(values)
    assert min(drawdown["y"]) == pytest.approx(min(html_drawdowns(values)))


def html_drawdowns(values: list[float]) -> list[float]:
    peak = float("-inf")
    out = []
    for v in values:
        peak = max(peak, v)
        out.append((v / peak - 1) * 100)
    return out


@pytest.mark.slow
def test_a_year_of_minute_bars_makes_a_page_that_stays_small(tmp_path):
    n = 525_600
    start = 1735689600 * 10**9
    closes = [D(90000 + (i % 977) - (i % 313)) for i in range(n)]
    bars = Bars(M, [start + i * MINUTE for i in range(n)], closes, [c + 5 for c in closes], [c - 5 for c in closes],
                closes, [D("1.5")] * n)  # fmt: skip
    equity = [EquityPoint(start + i * MINUTE, D(10000) + (i % 1000)) for i in range(n)]
    began = time.perf_counter()
    path = write_html(sample(240, bars=[bars], equity=equity, trades=[], fills=[], indicators={}), tmp_path / "y.html")
    assert time.perf_counter() - began < 30
    page = path.read_text()
    assert "525,600 bars, shown as 2,190 candles of 4h" in page
    assert path.stat().st_size < 6_000_000  # plotly.js is ~4.8 MB of it


# --- in a real browser ------------------------------------------------------------------------------------------


def browser_executable() -> str | None:
    """Debian's chromium if installed, else playwright's own download; None when there is no browser."""
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            own = pw.chromium.executable_path
        return own if own and Path(own).exists() else None
    except Exception:  # noqa: BLE001 - no playwright, no browser
        return None


@pytest.fixture(scope="module")
def browser():
    executable = browser_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        executable = None
    if executable is None:
        problem = ("no headless Chromium for the report's browser test: `apt-get install -y chromium` "
                   "(or `pip install playwright && playwright install --with-deps chromium`)")  # fmt: skip
        if REQUIRE_SERVICES:
            pytest.fail(f"{problem}; SPOTLAB_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(problem)
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_offline(browser, path: Path):
    """Open ``path`` with every request but file:// aborted; returns the page and what was refused or went wrong."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    refused: list[str] = []
    errors: list[str] = []

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", only_files)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    try:
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0", timeout=15_000)
    except Exception as error:  # noqa: BLE001 - say why nothing was drawn
        pytest.fail(f"no chart was drawn ({type(error).__name__}); requests refused: {refused}; errors: {errors}")
    page.wait_for_timeout(300)  # let plotly finish its asynchronous second draw
    return page, refused, errors


DRAWN = """() => Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(d => [d.id, {
  candles: d.querySelectorAll('.boxlayer .trace path').length,
  volume: d.querySelectorAll('.barlayer .point path').length,
  markers: d.querySelectorAll('.scatterlayer .trace path.point').length,
  lines: [...d.querySelectorAll('.scatterlayer .trace path.js-line')].filter(p => p.getAttribute('d')).length,
  fills: [...d.querySelectorAll('.scatterlayer .trace path.js-fill')].filter(p => p.getAttribute('d')).length,
}]))"""


@pytest.mark.slow  # a real Chromium parses the 4.8 MB of plotly.js: ~4 s
def test_in_a_browser_offline_every_chart_draws_with_no_error_and_no_request(browser, data, tmp_path):
    page, refused, errors = open_offline(browser, write_html(data, tmp_path / "report.html"))
    drawn = page.evaluate(DRAWN)
    assert set(drawn) == {"market-0", "equity"}
    market, equity = drawn["market-0"], drawn["equity"]
    assert market["candles"] == len(data.bars[0].close)  # one drawn candle (body and wicks) per bar
    assert market["volume"] == len(data.bars[0].volume)
    assert market["markers"] == len(data.fills)  # one marker per fill
    assert market["lines"] == 2  # SMA(20) over the price, RSI(14) below
    assert equity["lines"] == 2 and equity["fills"] == 1  # the equity curve; the drawdown as a filled area
    assert page.locator("table").count() == 3 and page.locator("tbody tr").count() == 2 + 4 + len(data.trades)
    assert (refused, errors) == ([], [])
    page.close()


@pytest.mark.slow  # a real Chromium parses the 4.8 MB of plotly.js: ~4 s
def test_in_a_browser_hostile_text_stays_text(browser, data, tmp_path):
    page, refused, errors = open_offline(browser, write_html(hostile(data), tmp_path / "hostile.html"))
    assert page.evaluate("window.__pwned") is None
    assert page.title() == PAYLOAD  # escaped in the markup, shown as the very text it was
    assert page.locator("img").count() == 0
    assert page.evaluate(DRAWN)["market-0"]["markers"] == len(data.fills)
    assert (refused, errors) == ([], [])
    page.close()

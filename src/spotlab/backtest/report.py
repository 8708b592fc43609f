"""The backtest report: one self-contained HTML page (plotly) and exact JSON and CSV exports.

The input is a plain ``ReportData`` (candles, equity points, round trips, fills, indicator values, formatted
metrics, parameters), so the report depends on no backtester internals. ``write_html``, ``write_json`` and
``write_csv`` write files; ``html_string`` and ``json_document`` give the same content in memory.

Invariants
- The page opens with no network: plotly.js is embedded inline once; there is no ``<script src>``, ``<link>``,
  font or image from anywhere; plotly's logo link is off.
- Every text from the caller (title, currency, market, indicator names, metric labels and values, parameter
  names and values) is HTML-escaped before it reaches the page or a chart label, and plotly's JSON writes ``<``
  as ``\\u003c``: no input can add markup or close a ``<script>``.
- Money is exact wherever it is written as text: a ``Decimal`` appears as ``str(decimal)`` in the tables, the
  hover labels, the JSON and the CSV. Floats exist only as chart coordinates (display only).
- Times are ISO-8601 UTC (``2025-01-01T00:00:00Z``), with the fraction to the nanosecond when there is one.
- The same input gives the same bytes (chart ids are fixed, no timestamps of the run are written).
- Bad input raises ``SpotlabError(INVALID_ARGUMENT)`` before anything is written.

Large inputs (display only; tables and exports are never thinned)
- Candles: up to ``MAX_CANDLES`` bars per market are drawn as they are. Beyond that the bars are resampled to
  the finest interval of ``1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d 3d 1w`` (then multiples of it) that is a
  multiple of the bars' own interval and gives at most ``MAX_CANDLES`` candles: a year of 1m bars (525,600)
  becomes 2,190 candles of 4h. Buckets are aligned to UTC (weeks start on Monday); a candle takes the first
  open, the highest high, the lowest low, the last close and the summed volume; indicators show their value
  at each bucket's last bar; the chart's title names the interval. Fill markers are never thinned.
- Equity and drawdown: the drawdown is computed at full resolution; beyond ``MAX_LINE_POINTS`` points each of
  ``MAX_LINE_POINTS // 2`` consecutive slices keeps its lowest and its highest point, so peaks and the deepest
  drawdown survive.
- An indicator is drawn over the price when its values lie within half the lowest low and twice the highest
  high; otherwise (an oscillator such as RSI) in its own panel below the volume.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from spotlab.backtest.records import EquityPoint, RoundTrip
from spotlab.errors import ErrorCode, SpotlabError

MAX_CANDLES = 4000
MAX_LINE_POINTS = 8000
JSON_FORMAT = "spotlab-backtest-report/1"
TRADES_HEADER = ("market", "side", "entry_time", "exit_time", "quantity", "entry_price", "exit_price", "pnl", "fees",
                 "cost")  # fmt: skip
EQUITY_HEADER = ("time", "equity", "invested")
FILLS_HEADER = ("market", "time", "side", "price", "quantity", "fee")

_SECOND = 10**9
_LADDER = tuple(s * _SECOND for s in (60, 180, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400, 259200, 604800))
_WEEK = 604800 * _SECOND
_MONDAY = 4 * 86400 * _SECOND  # 1970-01-01 was a Thursday: weekly buckets start 4 days later
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
_UP, _DOWN = "#26a69a", "#ef5350"


@dataclass(frozen=True, slots=True)
class Bars:
    """One market's candles, oldest first; every sequence has the same length."""

    market: str  # "BTC/USDT"
    open_time_ns: Sequence[int]
    open: Sequence[Decimal]
    high: Sequence[Decimal]
    low: Sequence[Decimal]
    close: Sequence[Decimal]
    volume: Sequence[Decimal]


@dataclass(frozen=True, slots=True)
class FillMark:
    """One of the strategy's fills, drawn as a marker on its market's candles."""

    market: str
    time_ns: int
    side: str  # "buy" or "sell"
    price: Decimal
    quantity: Decimal
    fee: Decimal  # in the report currency


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything a report shows, as plain values; the writers check it and change nothing when it is refused."""

    title: str
    currency: str  # the report currency, e.g. "USDT"
    bars: Sequence[Bars]
    equity: Sequence[EquityPoint]
    trades: Sequence[RoundTrip]
    fills: Sequence[FillMark]
    indicators: Mapping[str, Mapping[str, Sequence[float | None]]]  # market -> name -> values aligned to its bars
    metrics: Sequence[tuple[str, str]]  # (label, formatted value) rows, formatted by the caller
    metrics_json: Mapping[str, Any]  # JSON-ready metrics for the JSON export
    parameters: Mapping[str, Any]  # the strategy's parameters, shown and exported


def format_time(time_ns: int) -> str:
    """``1735689600000000000`` -> ``"2025-01-01T00:00:00Z"``; a fraction only when there is one (to the ns)."""
    seconds, fraction = divmod(time_ns, _SECOND)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{fraction:09d}".rstrip("0") + "Z" if fraction else text + "Z"


def _shown_time(time_ns: int) -> str:
    """For people: ``2025-01-01 00:00:00`` (UTC, to the second; the exports keep every nanosecond)."""
    return datetime.fromtimestamp(time_ns // _SECOND, UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- checks ---------------------------------------------------------------------------------------------------


def _refuse(message: str, **details: Any) -> SpotlabError:
    return SpotlabError(ErrorCode.INVALID_ARGUMENT, message, **details)


def _money(value: Any, what: str) -> Decimal:
    if type(value) is not Decimal or not value.is_finite():
        raise _refuse(f"{what} must be a finite Decimal (e.g. Decimal('1.5')), got {value!r}", field=what)
    return value


def _check_time(value: Any, what: str) -> int:
    if type(value) is not int:
        raise _refuse(f"{what} must be an int of UTC nanoseconds, got {value!r}", field=what)
    return value


def _check(data: ReportData, *, for_html: bool) -> None:
    """Raise on anything the writers cannot render exactly; changes nothing."""
    _jsonable(data.parameters, "parameters")
    _jsonable(data.metrics_json, "metrics_json")
    markets = [bars.market for bars in data.bars]
    if len(set(markets)) != len(markets):
        raise _refuse(f"each market may have one Bars, got {markets}", markets=markets)
    lengths = {bars.market: _check_bars(bars) if for_html else len(bars.open_time_ns) for bars in data.bars}
    for market, series in data.indicators.items():
        if market not in lengths:
            raise _refuse(f"indicators for {market!r}, which has no bars; markets: {markets}", market=market)
        for name, values in series.items():
            if len(values) != lengths[market]:
                raise _refuse(f"indicator {name!r} of {market} has {len(values)} values for {lengths[market]} bars; "
                              "give one value (or None) per bar", market=market, indicator=name)  # fmt: skip
    previous = None
    for i, point in enumerate(data.equity):
        time_ns = _check_time(point.time_ns, f"equity[{i}].time_ns")
        if previous is not None and time_ns < previous:
            raise _refuse(f"equity points must be oldest first; equity[{i}] is earlier than the one before", index=i)
        previous = time_ns
        _money(point.equity, f"equity[{i}].equity")
        _money(point.invested, f"equity[{i}].invested")
    for i, trade in enumerate(data.trades):
        for name in ("entry_time_ns", "exit_time_ns"):
            _check_time(getattr(trade, name), f"trades[{i}].{name}")
        for name in ("quantity", "entry_price", "exit_price", "pnl", "fees", "cost"):
            _money(getattr(trade, name), f"trades[{i}].{name}")
    for i, fill in enumerate(data.fills):
        if fill.side not in ("buy", "sell"):
            raise _refuse(f"fills[{i}].side must be 'buy' or 'sell', got {fill.side!r}", index=i)
        if for_html and fill.market not in lengths:
            raise _refuse(f"fills[{i}] is in {fill.market!r}, which has no bars to draw it on", index=i)
        _check_time(fill.time_ns, f"fills[{i}].time_ns")
        for name in ("price", "quantity", "fee"):
            _money(getattr(fill, name), f"fills[{i}].{name}")


def _check_bars(bars: Bars) -> int:
    n = len(bars.open_time_ns)
    for name in ("open", "high", "low", "close", "volume"):
        if len(getattr(bars, name)) != n:
            raise _refuse(f"{bars.market}: {name} has {len(getattr(bars, name))} values for {n} open times",
                          market=bars.market)  # fmt: skip
    times = np.asarray(bars.open_time_ns, dtype=np.int64)
    if n > 1 and not bool(np.all(np.diff(times) > 0)):
        raise _refuse(f"{bars.market}: open_time_ns must be strictly increasing (oldest first)", market=bars.market)
    return n


# --- JSON and CSV ---------------------------------------------------------------------------------------------


def _jsonable(value: Any, where: str) -> Any:
    """Decimals as exact strings; non-finite floats as "NaN"/"Infinity"/"-Infinity" (JSON has no such numbers)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else ("NaN" if math.isnan(value) else ("Infinity", "-Infinity")[value < 0])
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise _refuse(f"{where} is a {type(value).__name__}, which the JSON export cannot write exactly; "
                  "give str, int, Decimal, float, bool, None, lists or mappings", field=where)  # fmt: skip


def trade_record(trade: RoundTrip) -> dict[str, str]:
    """One round trip as the JSON export writes it (``TRADES_HEADER`` keys, exact strings)."""
    return dict(zip(TRADES_HEADER, _trade_row(trade), strict=True))


def _trade_row(trade: RoundTrip) -> list[str]:
    return [trade.market, trade.side, format_time(trade.entry_time_ns), format_time(trade.exit_time_ns),
            *(str(getattr(trade, name)) for name in TRADES_HEADER[4:])]  # fmt: skip


def _equity_row(point: EquityPoint) -> list[str]:
    return [format_time(point.time_ns), str(point.equity), str(point.invested)]


def _fill_row(fill: FillMark) -> list[str]:
    return [fill.market, format_time(fill.time_ns), fill.side, str(fill.price), str(fill.quantity), str(fill.fee)]


def json_document(data: ReportData) -> dict[str, Any]:
    """The JSON export as a dict: every Decimal an exact string, every time ISO-8601 UTC.

    Keys: ``format``, ``title``, ``currency``, ``parameters``, ``metrics`` (``metrics_json``), ``metrics_table``
    (the [label, value] rows), ``markets`` (name, bar count, first and last bar), ``equity``, ``trades`` and
    ``fills`` (lists of objects keyed like the CSV headers).
    """
    _check(data, for_html=False)
    return {
        "format": JSON_FORMAT,
        "title": data.title,
        "currency": data.currency,
        "parameters": _jsonable(data.parameters, "parameters"),
        "metrics": _jsonable(data.metrics_json, "metrics_json"),
        "metrics_table": [[str(label), str(value)] for label, value in data.metrics],
        "markets": [
            {
                "market": b.market,
                "bars": len(b.open_time_ns),
                "first_bar": format_time(b.open_time_ns[0]) if len(b.open_time_ns) else None,
                "last_bar": format_time(b.open_time_ns[-1]) if len(b.open_time_ns) else None,
            }
            for b in data.bars
        ],  # fmt: skip
        "equity": [dict(zip(EQUITY_HEADER, _equity_row(p))) for p in data.equity],
        "trades": [trade_record(t) for t in data.trades],
        "fills": [dict(zip(FILLS_HEADER, _fill_row(f))) for f in data.fills],
    }


def write_json(data: ReportData, path: str | Path) -> Path:
    """Write ``json_document(data)`` as UTF-8, indented, keys in a fixed order."""
    text = json.dumps(json_document(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path


def _csv_text(header: Sequence[str], rows: Sequence[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_csv(data: ReportData, directory: str | Path) -> list[Path]:
    """Write ``trades.csv``, ``equity.csv`` and ``fills.csv`` into ``directory`` (made if missing).

    Headers: trades ``market,side,entry_time,exit_time,quantity,entry_price,exit_price,pnl,fees,cost``;
    equity ``time,equity,invested``; fills ``market,time,side,price,quantity,fee``. Amounts are the Decimals'
    exact strings (money in the report currency, quantities in the base asset), times ISO-8601 UTC; UTF-8,
    ``\\n`` line ends, one header row even when there are no rows.
    """
    _check(data, for_html=False)
    files = {
        "trades.csv": _csv_text(TRADES_HEADER, [_trade_row(t) for t in data.trades]),
        "equity.csv": _csv_text(EQUITY_HEADER, [_equity_row(p) for p in data.equity]),
        "fills.csv": _csv_text(FILLS_HEADER, [_fill_row(f) for f in data.fills]),
    }
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8", newline="")
        written.append(directory / name)
    return written


# --- charts ---------------------------------------------------------------------------------------------------


def _floats(values: Sequence[Any], what: str) -> np.ndarray:
    try:
        return np.fromiter((float(_money(v, what)) for v in values), dtype=np.float64, count=len(values))
    except SpotlabError:
        raise
    except (TypeError, ValueError) as error:  # pragma: no cover - _money already refuses what float() cannot take
        raise _refuse(f"{what}: {error}") from None


def _x(times_ns: np.ndarray) -> list[str]:
    """Plotly date strings (UTC, to the millisecond)."""
    return [s.replace("T", " ") for s in np.datetime_as_string(times_ns.astype("datetime64[ns]"), unit="ms")]


def _label(interval_ns: int) -> str:
    for unit, size in (("w", _WEEK), ("d", 86400 * _SECOND), ("h", 3600 * _SECOND), ("m", 60 * _SECOND)):
        if interval_ns % size == 0:
            return f"{interval_ns // size}{unit}"
    return f"{interval_ns / _SECOND:g}s"


def _buckets(times: np.ndarray, interval: int) -> np.ndarray:
    offset = _MONDAY if interval % _WEEK == 0 else 0
    return (times - offset) // interval


def display_interval(open_time_ns: Sequence[int], max_candles: int = MAX_CANDLES) -> int | None:
    """The candle interval (ns) the chart resamples to, or ``None`` when the bars are drawn as they are."""
    times = np.asarray(open_time_ns, dtype=np.int64)
    if len(times) <= max_candles:
        return None
    base = int(np.min(np.diff(times)))

    def count(interval: int) -> int:
        keys = _buckets(times, interval)
        return int(np.count_nonzero(np.diff(keys))) + 1

    candidates = [step for step in _LADDER if step > base and step % base == 0]
    interval = candidates[-1] if candidates else base
    for step in candidates:
        if count(step) <= max_candles:
            return step
    while count(interval) > max_candles:
        interval *= 2
    return interval


def _split_indicators(series: Mapping[str, Sequence[float | None]], low: float, high: float):
    over, under = {}, {}
    for name, values in series.items():
        array = np.array(values, dtype=np.float64)  # None -> NaN
        finite = array[np.isfinite(array)]
        on_price = finite.size == 0 or (finite.min() >= low / 2 and finite.max() <= high * 2)
        (over if on_price else under)[name] = array
    return over, under


def _market_figure(bars: Bars, indicators, fills: Sequence[FillMark], currency: str, max_candles: int):
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    times = np.asarray(bars.open_time_ns, dtype=np.int64)
    columns = {name: _floats(getattr(bars, name), f"{bars.market} {name}")
               for name in ("open", "high", "low", "close", "volume")}  # fmt: skip
    interval = display_interval(times, max_candles)
    last = np.arange(len(times))
    title = f"{html.escape(bars.market)}: {len(times):,} bars"
    if interval is not None:
        keys = _buckets(times, interval)
        starts = np.flatnonzero(np.r_[True, np.diff(keys) != 0])
        last = np.r_[starts[1:] - 1, len(times) - 1]
        columns = {"open": columns["open"][starts], "close": columns["close"][last],
                   "high": np.maximum.reduceat(columns["high"], starts),
                   "low": np.minimum.reduceat(columns["low"], starts),
                   "volume": np.add.reduceat(columns["volume"], starts)}  # fmt: skip
        times = keys[starts] * interval + (_MONDAY if interval % _WEEK == 0 else 0)
        title += f", shown as {len(starts):,} candles of {_label(interval)} (resampled for display)"
    over, under = _split_indicators(indicators, float(np.min(columns["low"])), float(np.max(columns["high"])))
    rows, heights = (3, [0.6, 0.15, 0.25]) if under else (2, [0.78, 0.22])
    figure = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=heights)
    x = _x(times)
    figure.add_trace(go.Candlestick(x=x, name="price", increasing_line_color=_UP, decreasing_line_color=_DOWN,
                                    **{k: columns[k] for k in ("open", "high", "low", "close")}), 1, 1)  # fmt: skip
    figure.add_trace(go.Bar(x=x, y=columns["volume"], name="volume", marker_color="#90a4ae"), 2, 1)
    for row, lines in ((1, over), (3, under)):
        for name, values in lines.items():
            figure.add_trace(go.Scatter(x=x, y=values[last], mode="lines", name=html.escape(name), line_width=1.2),
                             row, 1)  # fmt: skip
    for side, symbol, color in (("buy", "triangle-up", "#1565c0"), ("sell", "triangle-down", "#ff6f00")):
        marks = [f for f in fills if f.side == side]
        if marks:
            figure.add_trace(go.Scatter(
                x=_x(np.array([f.time_ns for f in marks], dtype=np.int64)), y=[float(f.price) for f in marks],
                mode="markers", name=side, marker={"symbol": symbol, "size": 11, "color": color,
                                                   "line": {"width": 1, "color": "#263238"}},
                customdata=[[side, str(f.price), str(f.quantity), str(f.fee), format_time(f.time_ns)] for f in marks],
                hovertemplate="<b>%{customdata[0]}</b> %{customdata[2]} @ %{customdata[1]}<br>fee %{customdata[3]} "
                              f"{html.escape(currency)}<br>%{{customdata[4]}}<extra></extra>",
            ), 1, 1)  # fmt: skip
    figure.update_layout(title=title, height=680 if under else 560, template="plotly_white", hovermode="closest",
                         margin={"l": 60, "r": 20, "t": 60, "b": 30}, legend={"orientation": "h", "y": 1.02,
                         "x": 1, "xanchor": "right", "yanchor": "bottom"}, xaxis_rangeslider_visible=False)  # fmt: skip
    figure.update_yaxes(title_text="price", row=1, col=1)
    figure.update_yaxes(title_text="volume", row=2, col=1)
    return figure


def _envelope(values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices to draw: all of them, or each slice's lowest and highest point (and the first and last)."""
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    slices = max(1, max_points // 2)
    starts = np.linspace(0, n, slices, endpoint=False).astype(np.int64)
    keep = {0, n - 1}
    for start, end in zip(starts, np.r_[starts[1:], n]):
        part = values[start:end]
        keep.update((start + int(np.argmin(part)), start + int(np.argmax(part))))
    return np.array(sorted(keep), dtype=np.int64)


def _equity_figure(equity: Sequence[EquityPoint], currency: str, max_points: int):
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    times = np.array([p.time_ns for p in equity], dtype=np.int64)
    values = np.array([float(p.equity) for p in equity], dtype=np.float64)
    peak = np.maximum.accumulate(values)
    drawdown = np.where(peak > 0, (values / np.where(peak > 0, peak, 1) - 1) * 100, 0.0)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.68, 0.32])
    shown = _envelope(values, max_points)
    figure.add_trace(go.Scatter(x=_x(times[shown]), y=values[shown], mode="lines", name="equity",
                                line={"color": "#1565c0", "width": 1.5}), 1, 1)  # fmt: skip
    shown = _envelope(drawdown, max_points)
    figure.add_trace(go.Scatter(x=_x(times[shown]), y=drawdown[shown], mode="lines", name="drawdown", fill="tozeroy",
                                line={"color": _DOWN, "width": 1}, fillcolor="rgba(239,83,80,0.35)"), 2, 1)  # fmt: skip
    figure.update_layout(title=f"Equity ({html.escape(currency)}) and drawdown (max {drawdown.min():.2f} %)",
                         height=520, template="plotly_white", margin={"l": 60, "r": 20, "t": 60, "b": 30},
                         showlegend=False)  # fmt: skip
    figure.update_yaxes(title_text=html.escape(currency), row=1, col=1)
    figure.update_yaxes(title_text="drawdown", ticksuffix=" %", row=2, col=1)
    return figure


# --- the page -------------------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#263238;background:#fafafa}
h1{font-size:1.5em;margin:0 0 4px} h2{font-size:1.15em;margin:28px 0 8px} .sub{color:#607d8b;margin:0 0 16px}
.chart{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:12px 0;padding:4px}
.tables{display:flex;flex-wrap:wrap;gap:32px} table{border-collapse:collapse;background:#fff;font-size:.9em}
th,td{border:1px solid #e0e0e0;padding:4px 10px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eceff1} .note{color:#607d8b}
tr.win td:nth-child(8),tr.win td:nth-child(10){color:#2e7d32}
tr.loss td:nth-child(8),tr.loss td:nth-child(10){color:#c62828}
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1, row_class=None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f'<td{" class=n" if j >= numeric_from else ""}>{html.escape(str(c))}</td>'
                        for j, c in enumerate(row))  # fmt: skip
        body.append(f'<tr class="{row_class(i)}">{cells}</tr>' if row_class else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _parameter_text(value: Any) -> str:
    if isinstance(value, (str, Decimal, int, float)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(_jsonable(value, "parameters"), ensure_ascii=False)


def _trades_section(trades: Sequence[RoundTrip], currency: str) -> str:
    def row(trade: RoundTrip) -> list[str]:
        ratio = f"{(trade.pnl / trade.cost * 100).quantize(Decimal('0.01'))} %" if trade.cost else ""
        return [trade.market, trade.side, _shown_time(trade.entry_time_ns), _shown_time(trade.exit_time_ns),
                str(trade.quantity), str(trade.entry_price), str(trade.exit_price),
                str(trade.pnl), str(trade.fees), ratio]  # fmt: skip

    header = ["market", "side", "entry", "exit", "quantity", "entry price", "exit price", f"pnl ({currency})",
              f"fees ({currency})", "return"]  # fmt: skip
    if not trades:
        return '<p class="note">No round trips.</p>'
    return _table(header, [row(t) for t in trades], numeric_from=4,
                  row_class=lambda i: "win" if trades[i].pnl > 0 else "loss")  # fmt: skip


def html_string(data: ReportData, *, max_candles: int = MAX_CANDLES, max_line_points: int = MAX_LINE_POINTS) -> str:
    """The report page as one self-contained HTML document (see the module docstring for its invariants)."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    _check(data, for_html=True)
    figures = []
    for i, bars in enumerate(data.bars):
        if len(bars.open_time_ns):
            fills = [f for f in data.fills if f.market == bars.market]
            figure = _market_figure(bars, data.indicators.get(bars.market, {}), fills, data.currency, max_candles)
            figures.append((f"market-{i}", figure))
    if data.equity:
        figures.append(("equity", _equity_figure(data.equity, data.currency, max_line_points)))
    charts = [pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id=div_id, config=_PLOTLY_CONFIG)
              for div_id, figure in figures]  # fmt: skip
    period = ""
    if data.equity:
        period = f"{_shown_time(data.equity[0].time_ns)} to {_shown_time(data.equity[-1].time_ns)}, "
    markets = ", ".join(bars.market for bars in data.bars)
    parameters = [(str(name), _parameter_text(value)) for name, value in data.parameters.items()]
    title = html.escape(data.title)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{_STYLE}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>',
        f"<h1>{title}</h1>",
        f'<p class="sub">{html.escape(period + markets)}; amounts in {html.escape(data.currency)}; times UTC</p>',
        *(f'<div class="chart">{chart}</div>' for chart in charts),
        "" if data.equity else '<p class="note">No equity points.</p>',
        '<div class="tables"><div><h2>Metrics</h2>', _table(["metric", "value"], list(data.metrics)),
        "</div><div><h2>Parameters</h2>", _table(["parameter", "value"], parameters), "</div></div>",
        f"<h2>Round trips ({len(data.trades):,})</h2>", _trades_section(data.trades, data.currency),
        "</body></html>", ""])  # fmt: skip


def write_html(data: ReportData, path: str | Path, **limits: int) -> Path:
    """Write ``html_string(data, **limits)`` to ``path`` as UTF-8."""
    text = html_string(data, **limits)
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path

"""From a ``BacktestResult`` to the report's plain input (``spotlab.backtest.report.ReportData``).

- Candles: every market's bars as played.
- Indicators: each streaming indicator the strategy declared, by market, aligned to its bars,
  named ``ClassName#k`` (k counts the market's indicators from 1, in declaration order). An
  indicator with several outputs per bar (MACD, Bollinger, ...) gives one line per output
  (``MACD#1.signal``); NaN during warm-up becomes a gap (``None``).
- Fill markers: every fill of the strategy, fees converted into the report currency at the
  rate of the fill's moment (the same rate the result's ``fees_paid`` uses).
- Metrics: ``Metrics.rows()`` for the table and ``Metrics.to_dict()`` for the JSON; the
  strategy's parameters as given (``Strategy.params``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from spotlab.backtest.report import Bars, FillMark, ReportData

if TYPE_CHECKING:
    from spotlab.backtest.result import BacktestResult


def report_data(result: BacktestResult, title: str | None = None) -> ReportData:
    strategy = result.strategy
    bars = [
        Bars(market, [b.open_time_ns for b in series], [b.open for b in series], [b.high for b in series],
             [b.low for b in series], [b.close for b in series], [b.volume for b in series])
        for market, series in result.bars.items()
    ]  # fmt: skip
    fills = [
        FillMark(f.market, f.time_ns, f.side, f.price, f.quantity, f.fee * rate)
        for f, rate in zip(result.fills, result.fill_rates, strict=True)
    ]
    metrics = result.metrics
    markets = ", ".join(result.bars)
    return ReportData(
        title=title or f"{type(strategy).__name__} on {markets}",
        currency=result.report_currency,
        bars=bars,
        equity=result.equity,
        trades=result.trades,
        fills=fills,
        indicators=_indicators(strategy, result.bars),
        metrics=metrics.rows() if metrics is not None else [],
        metrics_json=metrics.to_dict() if metrics is not None else {},
        parameters={name: _plain(value) for name, value in strategy.params.items()},
    )


def _indicators(strategy, bars) -> dict[str, dict[str, list[float | None]]]:
    out: dict[str, dict[str, list[float | None]]] = {}
    for market, declared in getattr(strategy, "_indicators", {}).items():
        lines: dict[str, list[float | None]] = {}
        length = len(bars.get(market, ()))
        for k, series in enumerate(declared, 1):
            name = f"{type(series.indicator).__name__}#{k}"
            values = [series[i] for i in range(len(series))]
            if len(values) != length:
                continue  # declared on another market's bars or late: not aligned, not drawn
            if values and hasattr(values[-1], "_fields"):  # a named tuple of outputs
                for field in values[-1]._fields:
                    lines[f"{name}.{field}"] = [_number(getattr(v, field, None)) for v in values]
            elif values and isinstance(values[-1], tuple):
                for j in range(len(values[-1])):
                    lines[f"{name}.{j}"] = [_number(v[j]) for v in values]
            else:
                lines[name] = [_number(v) for v in values]
        if lines:
            out[market] = lines
    return out


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def _plain(value: Any) -> Any:
    """Parameters as JSON-friendly values: Decimals and timedeltas as text."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)

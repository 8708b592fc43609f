"""What a backtest hands back: its records, the exchange it ran on, and its statistics.

Invariants
- ``fills`` and ``fill_rates`` are parallel: ``fill_rates[i]`` converts fill i's quote asset into
  the report currency at the prices of its moment. ``fees_paid`` and ``trades`` derive from them.
- ``metrics`` is computed on first use by ``spotlab.backtest.metrics.compute_metrics`` (benchmark:
  buy and hold the first market, its first open to its last close).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from spotlab.backtest.accounting import round_trips
from spotlab.backtest.records import EquityPoint, RoundTrip
from spotlab.errors import SpotlabError
from spotlab.exchange.service import Exchange
from spotlab.exchange.views import Balance, OrderView
from spotlab.strategy.base import Strategy
from spotlab.strategy.data import Bar, StrategyFill


@dataclass(eq=False)
class BacktestResult:
    strategy: Strategy
    report_currency: str
    account: str  # the strategy's account on ``exchange``
    equity: list[EquityPoint]
    fills: list[StrategyFill]
    fill_rates: list[Decimal]
    orders: list[OrderView]
    final_balances: dict[str, Balance]
    exchange: Exchange
    benchmark_market: str
    benchmark_start_price: Decimal
    benchmark_end_price: Decimal
    refusals: list[tuple[int, str, SpotlabError]] = field(default_factory=list)  # (time_ns, where, error)
    commands: int = 0  # exchange commands the fill model sent (the strategy's not counted)
    bars: dict[str, list[Bar]] = field(default_factory=dict)  # every market's bars, as played

    @cached_property
    def trades(self) -> list[RoundTrip]:
        """Closed round trips (``spotlab.backtest.accounting.round_trips``)."""
        return round_trips(zip(self.fills, self.fill_rates, strict=True))

    @property
    def fees_paid(self) -> Decimal:
        """Every fee the account paid, in the report currency."""
        return sum((fill.fee * rate for fill, rate in zip(self.fills, self.fill_rates, strict=True)), Decimal(0))

    @property
    def final_equity(self) -> Decimal:
        return self.equity[-1].equity if self.equity else Decimal(0)

    @cached_property
    def metrics(self) -> Any:
        """The run's statistics (``spotlab.backtest.metrics.Metrics``), or None without equity points."""
        if not self.equity:
            return None
        from spotlab.backtest.metrics import compute_metrics

        return compute_metrics(
            self.equity,
            self.trades,
            fees_paid=self.fees_paid,
            benchmark_start_price=self.benchmark_start_price,
            benchmark_end_price=self.benchmark_end_price,
        )

    def write_report(self, directory: str | Path, title: str | None = None) -> Path:
        """Write ``report.html`` (self-contained), ``report.json`` and ``trades.csv``/``equity.csv``/``fills.csv``
        into ``directory`` (created if missing); returns the HTML file's path."""
        from spotlab.backtest import report
        from spotlab.backtest.report_data import report_data

        data = report_data(self, title)
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        report.write_json(data, folder / "report.json")
        report.write_csv(data, folder)
        return report.write_html(data, folder / "report.html")

    def records(self) -> tuple:
        """Everything a run recorded, as plain comparable values (two equal runs give equal records)."""
        return (tuple(self.equity), tuple(self.fills), tuple(self.trades), tuple(self.orders), self.fees_paid)

    def __repr__(self) -> str:
        return (
            f"BacktestResult({self.strategy!r}, {len(self.equity)} bars, {len(self.fills)} fills, "
            f"{len(self.trades)} round trips, final equity {self.final_equity} {self.report_currency})"
        )

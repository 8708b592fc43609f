"""Shared pieces of the backtest tests: a hand-checkable market, bars from tuples, a scripted strategy.

``TST/USDT``: tick 0.01, lot 0.001, maker fee 0.1 %, taker fee 0.2 % (different on purpose, so a
test can tell which one was charged). Bars are 1h from 2025-01-01 00:00 UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from spotlab.backtest import FillModel, run_backtest
from spotlab.backtest.result import BacktestResult
from spotlab.core.markets import Asset, MarketSpec
from spotlab.strategy import Bar, Strategy, StrategyFill

HOUR_NS = 3_600_000_000_000
T0 = 1_735_689_600_000_000_000  # 2025-01-01 00:00 UTC
TST = Asset("TST", 8)
USDT = Asset("USDT", 8)


def spec(maker: str = "0.001", taker: str = "0.002") -> MarketSpec:
    return MarketSpec(
        "TST/USDT", TST, USDT, Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal("1"),
        Decimal(maker), Decimal(taker),
    )  # fmt: skip


def bars(*rows: tuple, market: str = "TST/USDT") -> list[Bar]:
    """Bars from ``(open, high, low, close)`` or ``(open, high, low, close, volume)`` rows, one hour apart."""
    out = []
    for i, row in enumerate(rows):
        o, h, low, c, *rest = (Decimal(str(v)) for v in row)
        volume = rest[0] if rest else Decimal(1000)
        out.append(Bar(market, T0 + i * HOUR_NS, T0 + (i + 1) * HOUR_NS, o, h, low, c, volume))
    return out


def flat(price, count: int) -> list[tuple]:
    return [(price, price, price, price)] * count


class Scripted(Strategy):
    """Runs ``script[i](self, bar)`` when bar i closes; records what it saw."""

    def __init__(self, script: dict[int, Callable[[Strategy, Bar], None]] | None = None) -> None:
        super().__init__()
        self.script = script or {}
        self.seen: list[Bar] = []
        self.filled: list[StrategyFill] = []

    def on_bar(self, bar: Bar) -> None:
        self.seen.append(bar)
        action = self.script.get(len(self.seen) - 1)
        if action is not None:
            action(self, bar)

    def on_fill(self, fill: StrategyFill) -> None:
        self.filled.append(fill)


def run(strategy: Strategy, rows, *, balances=None, model: FillModel | None = None, market_spec=None, **kw):
    result: BacktestResult = run_backtest(
        strategy,
        {"TST/USDT": bars(*rows)},
        balances or {"USDT": Decimal(10000)},
        fill_model=model or FillModel(depth_quantity=Decimal(10)),
        markets=[market_spec or spec()],
        progress=False,
        **kw,
    )
    result.exchange.check_invariants()  # conservation, no negative balance, book integrity, holds
    return result


def buy_one(strategy: Strategy, bar: Bar) -> None:
    """A script step: a market buy of one TST."""
    strategy.buy("TST/USDT", Decimal(1))


def sell_one(strategy: Strategy, bar: Bar) -> None:
    """A script step: a market sell of one TST."""
    strategy.sell("TST/USDT", Decimal(1))
